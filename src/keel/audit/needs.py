"""What each customer message of an audited dialog needed, as the human agent's handling shows it.

The router's offline loop (``keel router add --from-audit RUN``) turns an audit run into router
examples. A historical agent decided every exchange: looked up this customer's own state, only
soothed an upset customer, handed the customer to a person, or answered. The audit already wrote
those decisions (its findings, per dialog, in ``datasets/*.jsonl``); this module reads them back:

======================================================  ============
the agent's handling of the exchange                    need
======================================================  ============
stated this customer's order/ticket/account state       ``account``
    (a ``state_dependent`` finding on the reply)
soothed only (a ``soothing_only`` finding)              ``complaint``
greeting, thanks, small talk (nothing substantive)      ``chitchat``
empathy in the reply (an upset customer, or only a      skipped: ambiguous
    warm agent)
handed off or escalated to a person                     ``person``
answered                                                ``question``
======================================================  ============

The first matching row decides. Texts that differ only in their digits (order numbers, ticket ids)
count once: the bank wants phrasings, not one example per order.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from keel.audit.exchange import Exchange, dialog_lang, is_substantive, split_exchanges
from keel.audit.lexicon import EMPATHY
from keel.audit.read import BadRecord, parse_record
from keel.audit.schema import Dialog, FindingKind, InputFormat
from keel.domain import Frozen, Lang
from keel.errors import InvalidInput
from keel.online.router.banks import Example, Need, dedup_key
from keel.text import TermMatcher, normalize

#: the agent passes the customer to a person (handoff or escalation)
HANDOFF = TermMatcher(
    [
        "transfer you",
        "transferred you",
        "transferring you",
        "connect you with",
        "put you through",
        "escalat*",
        "a specialist",
        "human agent",
        "live agent",
        "a colleague will",
        "转接",
        "转人工",
        "人工客服",
        "人工专员",
        "专员",
        "升级给",
        "同事联系您",
    ]
)
#: longer customer turns are no router example (a pasted email, a log)
MAX_TEXT_CHARS = 400


class AuditNeeds(Frozen):
    """Router examples read from one audit run, and what was left out."""

    run: str
    examples: tuple[Example, ...]
    by_need: dict[str, int]
    skipped: dict[str, int]  # why exchanges gave no example: ambiguous, duplicate, too_long


def _finding_turns(record: dict[str, Any], kind: FindingKind) -> set[int]:
    """The turns the findings of *kind* in a dataset record point at."""
    out: set[int] = set()
    for f in record.get("findings") or []:
        if isinstance(f, dict) and f.get("kind") == kind.value:
            out.update(int(t) for t in f.get("turns") or [])
    return out


def need_of(ex: Exchange, account_turns: set[int], soothing_turns: set[int]) -> Need | None:
    """The need the agent's handling of one exchange shows, or None when it is ambiguous."""
    turns = {*ex.customer_turns, *ex.agent_turns}
    if account_turns & turns:
        return Need.ACCOUNT
    if soothing_turns & turns:
        return Need.COMPLAINT
    if not is_substantive(ex.question):
        return Need.CHITCHAT
    answer = normalize(ex.answer)
    if EMPATHY.find(answer):
        return None
    return Need.PERSON if HANDOFF.find(answer) else Need.QUESTION


def _records(run_dir: Path) -> Iterator[dict[str, Any]]:
    folder = run_dir / "datasets"
    files = sorted(folder.glob("*.jsonl")) if folder.is_dir() else []
    if not (run_dir / "manifest.json").is_file() or not files:
        raise InvalidInput(f"{run_dir}: not an audit run folder (no manifest.json and datasets/*.jsonl)")
    for path in files:
        with path.open(encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except ValueError:
                    raise InvalidInput(f"{path}:{n}: not JSON") from None
                if not isinstance(record, dict) or not isinstance(record.get("dialog"), dict):
                    raise InvalidInput(f"{path}:{n}: no dialog in this dataset record")
                yield record


def _dialog(record: dict[str, Any]) -> Dialog | None:
    try:
        return parse_record(record["dialog"], 0, InputFormat.JSONL)
    except BadRecord:
        return None


class ExchangeNeed(Frozen):
    """One exchange of an audited dialog and the need its agent's handling shows (None: ambiguous)."""

    dialog_id: str
    index: int  # the exchange's place in the dialog
    text: str  # the customer's turns
    lang: Lang
    need: Need | None


def exchange_needs(run_dir: Path) -> Iterator[ExchangeNeed]:
    """Every exchange of the run's routed dialogs, in dataset order; unreadable dialogs are left out."""
    for record in _records(run_dir):
        dialog = _dialog(record)
        if dialog is None:
            continue
        account = _finding_turns(record, FindingKind.STATE_DEPENDENT)
        soothing = _finding_turns(record, FindingKind.SOOTHING_ONLY)
        lang = Lang(dialog_lang(dialog))
        for ex in split_exchanges(dialog):
            yield ExchangeNeed(
                dialog_id=dialog.dialog_id,
                index=ex.index,
                text=ex.question.strip(),
                lang=lang,
                need=need_of(ex, account, soothing),
            )


def needs_from_run(run_dir: Path) -> AuditNeeds:
    """Router examples from the run: one per phrasing, tagged ``audit:<run folder name>``."""
    source = f"audit:{run_dir.name}"
    seen: set[str] = set()
    examples: list[Example] = []
    skipped: Counter[str] = Counter()
    for got in exchange_needs(run_dir):
        if got.need is None:
            skipped["ambiguous"] += 1
        elif len(got.text) > MAX_TEXT_CHARS:
            skipped["too_long"] += 1
        elif dedup_key(got.text) in seen:
            skipped["duplicate"] += 1
        else:
            seen.add(dedup_key(got.text))
            examples.append(Example(text=got.text, need=got.need, lang=got.lang, source=source))
    return AuditNeeds(
        run=str(run_dir),
        examples=tuple(examples),
        by_need=dict(Counter(e.need.value for e in examples)),
        skipped=dict(skipped),
    )
