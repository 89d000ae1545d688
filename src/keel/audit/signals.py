"""Findings read from one dialog alone: soothing-only replies, volatile and state-dependent content."""

from __future__ import annotations

import re

from keel.audit import facts
from keel.audit.exchange import Exchange
from keel.audit.lexicon import (
    CHECKED_EN,
    CHECKED_ZH,
    CLOSING,
    CONDITIONAL_EN,
    DISCOUNT,
    EMPATHY,
    ORDER_ID,
    RESOLUTION,
    STATE_RISK,
    STATUS_EN,
    STATUS_ZH,
    TICKET_ID,
    TIME_LIMITED,
    content_tokens,
)
from keel.audit.policy import PolicyBook
from keel.audit.schema import Dialog, Finding, FindingKind, Speaker
from keel.text import TermMatcher, normalize

_SENTENCE = re.compile(r"(?<=[。！？!?；;])|(?<=\.)\s+|\n+")
_ARROW = re.compile(r"→|->")


def _snip(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ---------------------------------------------------------------- soothing only
_CLAUSE = re.compile(r"[,.!?;:，。！？；：～~]")


def resolves(answer: str) -> bool:
    """Does the reply carry resolution content: a value, a path, an action, a next step, or any
    clause of substance that is not empathy?"""
    norm = normalize(answer)
    if facts.values(answer) or _ARROW.search(answer) or RESOLUTION.find(norm) or ORDER_ID.search(answer):
        return True
    for sentence in _SENTENCE.split(norm):  # a question back moves things on, a closing one does not
        if sentence and ("?" in sentence or "？" in sentence) and CLOSING.find(sentence) is None:
            return True
    for clause in _CLAUSE.split(norm):
        if (
            clause.strip()
            and EMPATHY.find(clause) is None
            and CLOSING.find(clause) is None
            and len(content_tokens(clause)) >= 3
        ):
            return True
    return False


def soothing_only(dialog: Dialog, ex: Exchange) -> Finding | None:
    if not ex.substantive:
        return None
    norm = normalize(ex.answer)
    empathy = EMPATHY.find(norm)
    if empathy is None or resolves(ex.answer):
        return None
    return Finding(
        kind=FindingKind.SOOTHING_ONLY,
        dialog_id=dialog.dialog_id,
        turns=ex.agent_turns,
        summary=f"empathy ({empathy!r}) with no answer, step or handoff to: {_snip(ex.question, 80)!r}",
        evidence={"question": _snip(ex.question), "reply": _snip(ex.answer, 300), "empathy": empathy},
    )


# ---------------------------------------------------------------- state dependent
def _status_sentence(sentence: str) -> str | None:
    for m in STATUS_EN.finditer(sentence):
        if not CONDITIONAL_EN.search(sentence[max(0, m.start() - 16) : m.start() + 12]):
            return m.group(0)
    m2 = STATUS_ZH.search(sentence)
    if m2:
        return m2.group(0)
    norm = normalize(sentence)
    risk = STATE_RISK.find(norm)
    if risk:
        return risk
    if (CHECKED_EN.search(sentence) or CHECKED_ZH.search(sentence)) and re.search(
        r"deliver|dispatch|ship|transit|signed|发货|签收|运输|派送|代收", norm
    ):
        return _snip(sentence, 80)
    return None


def state_dependent(dialog: Dialog, agent_turns: set[int]) -> Finding | None:
    """Order/ticket numbers anywhere; order, ticket or account state told by an agent."""
    turns: list[int] = []
    hits: list[str] = []
    for i, turn in enumerate(dialog.turns):
        ids = ORDER_ID.findall(turn.text) + TICKET_ID.findall(turn.text)
        if ids:
            turns.append(i)
            hits.extend(f"id {x}" for x in ids[:2])
            continue
        if i in agent_turns:
            for sentence in _SENTENCE.split(turn.text):
                if sentence and (found := _status_sentence(sentence)):
                    turns.append(i)
                    hits.append(f"state: {found}")
                    break
    if not turns:
        return None
    return Finding(
        kind=FindingKind.STATE_DEPENDENT,
        dialog_id=dialog.dialog_id,
        turns=tuple(turns),
        summary="; ".join(dict.fromkeys(hits))[:200],
        evidence={"signals": list(dict.fromkeys(hits))[:6]},
    )


# ---------------------------------------------------------------- volatile knowledge
class VolatileDetector:
    """Promotions, codes and changed facts from the KB; dates and time-limited wording from language."""

    def __init__(self, book: PolicyBook, cache_size: int = 1 << 15) -> None:
        self.terms = TermMatcher(list(book.volatile_terms))
        self.values = book.volatile_values
        self._cache: dict[str, list[str]] = {}
        self._cache_size = cache_size

    def hits(self, text: str) -> list[str]:
        found = self._cache.get(text)
        if found is None:
            found = self._hits(text)
            if len(self._cache) >= self._cache_size:
                self._cache.clear()
            self._cache[text] = found
        return found

    def _hits(self, text: str) -> list[str]:
        out: list[str] = []
        for sentence in _SENTENCE.split(text):
            if not sentence or _status_sentence(sentence):
                continue  # a date of this customer's own order is state, not knowledge
            norm = normalize(sentence)
            if term := self.terms.find(norm):
                out.append(f"promotion {term!r} (KB)")
            for value in sorted(facts.values(sentence) & self.values):
                out.append(f"value {value[1]} from a promotion or a recently changed KB fact")
            for d in facts.dates_in(sentence):
                out.append(f"date {d!r}")
            if term := TIME_LIMITED.find(norm):
                out.append(f"time-limited {term!r}")
            if (term := DISCOUNT.find(norm)) or facts.percents(sentence):
                out.append(f"discount {term or facts.percents(sentence)[0]!r}")
        return out

    def detect(self, dialog: Dialog) -> Finding | None:
        turns: list[int] = []
        hits: list[str] = []
        for i, turn in enumerate(dialog.turns):
            if turn.role is not Speaker.AGENT:
                continue
            found = self.hits(turn.text)
            if found:
                turns.append(i)
                hits.extend(found)
        if not turns:
            return None
        uniq = list(dict.fromkeys(hits))
        return Finding(
            kind=FindingKind.VOLATILE,
            dialog_id=dialog.dialog_id,
            turns=tuple(turns),
            summary="; ".join(uniq)[:200],
            evidence={"signals": uniq[:8]},
        )
