"""What the preference review page shows: sets with their counts, the review queue, one item.

Everything is read through :mod:`keel.prefs.store`; choices are written by ``record_choice``.
The need a reviewer confirms for the customer's message (pre-filled with the router's reading of
it) goes to the router's learned bank through ``append_examples``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keel.domain import Frozen, Lang
from keel.errors import InvalidInput, NotFound
from keel.manifest import ManifestKind, read_manifest
from keel.online.router.banks import Example, Need, append_examples, learned_bank
from keel.online.router.route import route
from keel.prefs.build import CANDIDATES, PAIRS, training_text
from keel.prefs.store import decided_ids, final_pairs, load_items, pending
from keel.text import detect_lang

if TYPE_CHECKING:
    from keel.online.runtime import Runtime

_SET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
RULE_JUDGE = "rule"


class SetSummary(Frozen):
    name: str
    items: int
    rule: int  # decided by the rule judge only
    human: int  # decided (or overridden) by a person
    pending: int  # nobody decided yet
    created: str | None
    model: str | None


class Verdict(Frozen):
    """The pair in force for one prompt: who decided, and which candidates (0-based) are better and worse."""

    judge: str  # rule | human:<name>
    chosen: int
    rejected: int

    @property
    def human(self) -> str | None:
        return self.judge.removeprefix("human:") if self.judge.startswith("human:") else None


def sets_root(home: Path) -> Path:
    return home / "prefs"


def set_dir(home: Path, name: str) -> Path:
    """The folder of set *name* under ``<home>/prefs``; never a path outside it."""
    path = sets_root(home) / name
    if not _SET_NAME.match(name) or not (path / CANDIDATES).is_file():
        raise NotFound(f"no preference set named {name!r} in {sets_root(home)}")
    return path


def _created_and_model(path: Path) -> tuple[str | None, str | None]:
    """When the set was built and from which model (both None when its manifest is missing or unreadable)."""
    try:
        man = read_manifest(path / "manifest.json", ManifestKind.PREFS)
    except InvalidInput:
        # a set from an older Keel, or a hand-made one: show what its manifest says, if anything
        try:
            raw = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None, None
        if not isinstance(raw, dict):
            return None, None
        created, model = raw.get("created"), raw.get("model")
        return (created if isinstance(created, str) else None), (model if isinstance(model, str) else None)
    return man.created_at.isoformat(), (man.model.name if man.model else None)


def summarize(path: Path) -> SetSummary:
    ids = [it["id"] for it in load_items(path)]
    judges = decided_ids(path)
    human = sum(1 for i in ids if judges.get(i, "").startswith("human"))
    rule = sum(1 for i in ids if judges.get(i) == RULE_JUDGE)
    created, model = _created_and_model(path)
    return SetSummary(
        name=path.name,
        items=len(ids),
        rule=rule,
        human=human,
        pending=len(ids) - rule - human,
        created=created,
        model=model,
    )


def list_sets(home: Path) -> list[SetSummary]:
    root = sets_root(home)
    if not root.is_dir():
        return []
    return [summarize(p) for p in sorted(root.iterdir()) if _SET_NAME.match(p.name) and (p / CANDIDATES).is_file()]


def verdicts(path: Path, items: list[dict[str, Any]]) -> dict[str, Verdict]:
    """Prompt id → the pair in force (a human's choice overrides the rule judge's), as candidate indexes."""
    by_id = {it["id"]: it for it in items}
    out: dict[str, Verdict] = {}
    for rec in final_pairs(path):
        item = by_id.get(rec["id"])
        if item is None:
            continue
        texts = [training_text(c) for c in item["candidates"]]

        def index(side: str, rec: dict[str, Any] = rec, texts: list[str] = texts) -> int | None:
            content = (rec.get(side) or [{}])[-1].get("content")
            return texts.index(content) if content in texts else None

        chosen, rejected = index("chosen"), index("rejected")
        if chosen is not None and rejected is not None:
            out[rec["id"]] = Verdict(judge=str(rec.get("judge", RULE_JUDGE)), chosen=chosen, rejected=rejected)
    return out


def review_queue(path: Path, include_rule_decided: bool) -> list[dict[str, Any]]:
    """Items no human has judged: those nobody decided first, then (if asked) the rule judge's."""
    judges = decided_ids(path)
    todo = pending(path, include_rule_decided=include_rule_decided)
    return sorted(todo, key=lambda it: judges.get(it["id"]) == RULE_JUDGE)  # stable: file order otherwise


def next_after(queue: list[dict[str, Any]], item_id: str) -> str | None:
    """The id to show after *item_id* (wrapping round), or None when it is the only one."""
    ids = [it["id"] for it in queue]
    others = [i for i in ids if i != item_id]
    if not others:
        return None
    if item_id not in ids:
        return others[0]
    pos = ids.index(item_id)
    return next((i for i in ids[pos + 1 :] + ids[:pos]), None)


def item_view(item: dict[str, Any]) -> dict[str, Any]:
    """One item for the template: the system prompt apart, the conversation, the candidates numbered from 1."""
    prompt = item.get("prompt") or []
    system = prompt[0]["content"] if prompt and prompt[0].get("role") == "system" else ""
    messages = prompt[1:] if system else prompt
    return {
        "id": item["id"],
        "lang": item.get("lang", ""),
        "findings": item.get("findings") or [],
        "system": system,
        "messages": messages,
        "expected": item.get("expected") or {"actions": [], "soothe": False, "why": ""},
        "candidates": [{**c, "number": i + 1} for i, c in enumerate(item["candidates"])],
    }


def find_item(items: list[dict[str, Any]], item_id: str) -> dict[str, Any]:
    item = next((it for it in items if it["id"] == item_id), None)
    if item is None:
        raise NotFound(f"no prompt {item_id!r} in this preference set")
    return item


def pairs_file(path: Path) -> Path:
    return path / PAIRS


def customer_message(item: dict[str, Any]) -> str:
    """The customer's last message in the item's prompt (what the reviewer labels)."""
    users = [m.get("content", "") for m in item.get("prompt") or [] if m.get("role") == "user"]
    return str(users[-1]).strip() if users else ""


class NeedGuess(Frozen):
    need: Need
    p: float


def router_guess(rt: Runtime, text: str) -> NeedGuess | None:
    """The router's reading of *text* alone, as the online stage routes it; None when routing is off."""
    if rt.router is None or not text:
        return None
    routed = route(rt.router.head, text, rt.embedder.query([text])[0], rt.cfg.router, rt.embedder.query)
    return NeedGuess(need=routed.need, p=routed.p)


def learn_need(rt: Runtime, item: dict[str, Any], need: Need, reviewer: str) -> bool:
    """Add the item's customer message with the need the reviewer confirmed; False when it was known."""
    text = customer_message(item)
    if not text:
        return False
    given = str(item.get("lang") or "")
    lang = Lang(given) if given in (Lang.ZH.value, Lang.EN.value) else detect_lang(text)
    example = Example(text=text, need=need, lang=lang, source=f"console:prefs:{reviewer}")
    return append_examples(learned_bank(rt.cfg.router_dir), [example]) == 1
