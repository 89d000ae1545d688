"""Parse the model's structured output (``ACTION: …`` / ``REPLY: …``) into a validated proposal."""

from __future__ import annotations

import json
import re

from keel.domain import Action, Frozen

_ACTION = re.compile(r"^\s*\**\s*(?:ACTION|动作|行动)\s*\**\s*[:：]\s*\**\s*([A-Za-z_\u4e00-\u9fff]+)", re.I | re.M)
_REPLY = re.compile(r"^\s*\**\s*(?:REPLY|回复|答复)\s*\**\s*[:：]\s*(.*)", re.I | re.M | re.S)
_ALIASES = {
    "answer": Action.ANSWER,
    "回答": Action.ANSWER,
    "clarify": Action.CLARIFY,
    "澄清": Action.CLARIFY,
    "追问": Action.CLARIFY,
    "refuse": Action.REFUSE,
    "拒绝": Action.REFUSE,
    "handoff": Action.HANDOFF,
    "hand_off": Action.HANDOFF,
    "转人工": Action.HANDOFF,
}
_TAIL = re.compile(r"\n\s*(?:ACTION|动作)\s*[:：].*\Z", re.I | re.S)


class Proposal(Frozen):
    """The model's proposal for this turn. ``ok`` is False when its output was malformed."""

    action: Action | None
    reply: str
    confidence: float | None = None  # probability of the proposed action, when known
    ok: bool = True
    error: str = ""
    stated: bool = True  # False: the action was read from the reply by the judge
    stated_action: Action | None = None  # what the ACTION line said, if anything
    cites: tuple[str, ...] = ()  # ids of the passages the reply says it relies on
    structured: bool = True  # the output was the JSON object asked for (False: repaired from plain text)


_ECHO = re.compile(
    r"(<回复>|<reply>|给客户的回复|your reply to the customer|answer=回答|answer, clarify =|answer\|clarify)", re.I
)


_ACTION_ANY = re.compile(r"\**\s*(?:ACTION|动作|行动)\s*\**\s*[:：]\s*\**\s*([A-Za-z_\u4e00-\u9fff]+)\**", re.I)
_REPLY_LABEL = re.compile(r"\**\s*(?:REPLY|回复|答复)\s*\**\s*[:：]\s*", re.I)


def parse_reply_first(text: str, prefix: str, customer: str) -> Proposal:
    """A reply and an optional ``ACTION: …`` line (either order); a missing action is inferred."""
    from keel.judge import judge_reply

    full = (prefix + text).strip()
    m_action = _ACTION_ANY.search(full)
    body = _ACTION_ANY.sub(" ", full)
    body = _REPLY_LABEL.sub("", body).strip()
    if not body:
        return Proposal(action=None, reply="", ok=False, error="empty REPLY")
    if _ECHO.search(body):
        return Proposal(action=None, reply=body[:2000], ok=False, error="the model echoed the instructions")
    stated = _ALIASES.get(m_action.group(1).strip().lower()) if m_action else None
    judged = judge_reply(body, customer).action
    if stated is not None and stated is judged:
        return Proposal(action=stated, reply=body[:4000], stated_action=stated)
    # the customer receives the text: when the label disagrees with it, the text decides
    return Proposal(action=judged, reply=body[:4000], stated=False, stated_action=stated)


def parse_proposal(text: str, prefix: str = "", choice_probs: dict[str, float] | None = None) -> Proposal:
    """Accept ``ACTION: x`` + ``REPLY: y`` (also a JSON object with the same keys)."""
    full = (prefix + text).strip()
    stripped = full.strip("`").removeprefix("json").strip()
    if stripped.startswith("{"):
        try:
            obj = json.loads(stripped)
            action = _ALIASES.get(str(obj.get("action", "")).strip().lower())
            reply = str(obj.get("reply", "")).strip()
            if action and reply:
                conf = (choice_probs or {}).get(action.value)
                return Proposal(action=action, reply=reply, confidence=conf)
        except (json.JSONDecodeError, AttributeError):
            pass
    m_action = _ACTION.search(full)
    m_reply = _REPLY.search(full)
    if not m_action:
        return Proposal(action=None, reply=full[:2000], ok=False, error="no ACTION line")
    action = _ALIASES.get(m_action.group(1).strip().lower())
    if action is None:
        return Proposal(action=None, reply=full[:2000], ok=False, error=f"unknown action {m_action.group(1)!r}")
    reply = m_reply.group(1).strip() if m_reply else ""
    reply = _TAIL.sub("", reply).strip()
    if not reply:
        return Proposal(action=action, reply="", ok=False, error="empty REPLY")
    conf = (choice_probs or {}).get(action.value)
    return Proposal(action=action, reply=reply[:4000], confidence=conf)


def reply_schema(n_passages: int) -> dict[str, object]:
    """The JSON object the model fills: the passages it relies on, the reply, an action proposal."""
    labels = [f"P{i}" for i in range(1, n_passages + 1)]
    cite: dict[str, object] = {"type": "string", "enum": labels} if labels else {"type": "string", "enum": ["none"]}
    return {
        "type": "object",
        "properties": {
            "cites": {"type": "array", "items": cite, "maxItems": max(1, n_passages)},
            "reply": {"type": "string", "minLength": 1},
            "action": {"type": "string", "enum": [a.value for a in Action]},
        },
        "required": ["cites", "reply", "action"],
    }


_OBJECT = re.compile(r"\{.*\}", re.S)
_REPLY_FIELD = re.compile(r'"reply"\s*:\s*"((?:[^"\\]|\\.)*)', re.S)
_CITE = re.compile(r"\bP(\d{1,2})\b")


def _loads(text: str) -> dict[str, object] | None:
    """The first JSON object in *text*, repairing a missing closing quote/brace (truncated output)."""
    stripped = text.strip().removeprefix("```json").removeprefix("```").removesuffix("```").strip()
    m = _OBJECT.search(stripped)
    for candidate in (m.group(0) if m else None, stripped, stripped + '"}', stripped + '"]}', stripped + "}"):
        if not candidate:
            continue
        try:
            obj = json.loads(candidate)
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict):
            return obj
    return None


def parse_structured(text: str, passage_ids: tuple[str, ...], customer: str) -> Proposal:
    """The model's JSON reply (``reply_schema``) as a proposal; cited labels become passage ids.

    A missing or unknown action is read from the reply by the behaviour judge, and when the label
    disagrees with the text the text decides (the customer receives the text).
    """
    from keel.judge import judge_reply

    obj = _loads(text)
    if obj is None:
        m = _REPLY_FIELD.search(text)
        if not m:
            if "{" in text:  # a JSON object was started and cannot be repaired
                return Proposal(action=None, reply=text.strip()[:2000], ok=False, error="not a JSON object")
            # a server that ignored the schema: read REPLY/ACTION lines or plain text
            return parse_reply_first(text, "", customer).model_copy(update={"structured": False})
        try:
            obj = {"reply": json.loads(f'"{m.group(1)}"')}
        except json.JSONDecodeError:
            obj = {"reply": m.group(1)}
    reply = str(obj.get("reply") or "").strip()
    if not reply:
        return Proposal(action=None, reply="", ok=False, error="empty reply")
    if _ECHO.search(reply):
        return Proposal(action=None, reply=reply[:2000], ok=False, error="the model echoed the instructions")
    raw_cites = obj.get("cites") or []
    labels = raw_cites if isinstance(raw_cites, list) else [raw_cites]
    cites: list[str] = []
    for label in labels:
        m_cite = _CITE.search(str(label))
        if m_cite and 1 <= int(m_cite.group(1)) <= len(passage_ids):
            doc = passage_ids[int(m_cite.group(1)) - 1]
            if doc not in cites:
                cites.append(doc)
    stated = _ALIASES.get(str(obj.get("action") or "").strip().lower())
    judged = judge_reply(reply, customer).action
    action = stated if stated is not None and stated is judged else judged
    return Proposal(
        action=action,
        reply=reply[:4000],
        cites=tuple(cites),
        stated=stated is not None and stated is judged,
        stated_action=stated,
    )
