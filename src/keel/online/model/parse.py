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
