"""Hidden exceptions: an agent granted what the pinned KB forbids.

For an exchange whose reply grants something (a return, a refund, a voucher, a reissue), the
passages that fit it (region first, then the question's cluster and shared words) are checked:
a time window the customer is past, an excluded item the customer names, an "only once" limit
already used, a compensation amount the KB does not allow. The finding quotes the passage.
"""

from __future__ import annotations

import re

from keel.audit import facts
from keel.audit.exchange import Exchange
from keel.audit.lexicon import EXCEPTION_MARK, GIVE, REPEAT, content_tokens, item_tokens
from keel.audit.policy import PolicyBook, PolicyPassage
from keel.audit.schema import Dialog, Finding, FindingKind
from keel.text import normalize

_NEG_BEFORE_ZH = re.compile(r"(?:未|没|没有|不|还没)$")
_NEG_BEFORE_EN = re.compile(r"\b(?:not|never|un|no)\s*$")


def _negated(text: str, token: str) -> bool:
    """Is every mention of *token* in *text* negated (未拆封, not opened)?"""
    low = text.lower()
    spots = [m.start() for m in re.finditer(re.escape(token), low)]
    if not spots:
        return False
    return all(
        _NEG_BEFORE_ZH.search(low[max(0, s - 3) : s]) or _NEG_BEFORE_EN.search(low[max(0, s - 7) : s]) for s in spots
    )


def candidate_passages(
    book: PolicyBook, ex: Exchange, region: str | None, by_cluster: list[tuple[int, float]]
) -> list[PolicyPassage]:
    """Passages that fit the exchange: its cluster's best ones, then the best by shared words."""
    tokens = content_tokens(ex.question + " " + (ex.grant or ""))
    order: list[int] = []
    for i, _ in by_cluster[:3] + book.by_tokens(tokens, region, k=4):
        if i not in order:
            order.append(i)
    return [book.passages[i] for i in order]


_TIME_WORDS = frozenset({"day", "days", "天", "within", "内"})


def _window_violation(
    ex: Exchange, region: str | None, book: PolicyBook, passages: list[PolicyPassage], tokens: frozenset[str]
) -> tuple[PolicyPassage, str, int] | None:
    """The window that fits the exchange best (shared words; passages that fit the cluster first)."""
    if ex.elapsed is None:
        return None
    rank = {p.doc_id: i for i, p in enumerate(passages)}
    words = tokens - _TIME_WORDS
    best: tuple[float, int, PolicyPassage, str] | None = None
    for p in book.passages:
        if not p.windows or not p.applies_to(region):
            continue
        bonus = 1.0 - 0.3 * rank[p.doc_id] if p.doc_id in rank else 0.0
        if region is not None and region in p.regions:
            bonus += 1.0  # a passage written for this region is the better evidence
        for w in p.windows:
            if w.quality != ex.quality_claim:
                continue
            if region is not None and "all" not in w.regions and region not in w.regions:
                continue
            shared = len(words & w.tokens)
            if not shared:
                continue
            score = shared + bonus
            # region unknown: of equally fitting windows take the longest (never accuse on a guess)
            if best is None or (score, w.days) > (best[0], best[1]):
                best = (score, w.days, p, w.sentence)
    if best is None:
        return None
    ex.kb_decided = True
    _, days, passage, sentence = best
    return (passage, sentence, days) if ex.elapsed > days else None


def _item_violation(ex: Exchange, passages: list[PolicyPassage]) -> tuple[PolicyPassage, str, str] | None:
    q_tokens = item_tokens(ex.question)
    for p in passages:
        for rule in p.prohibitions:
            if rule.unless_quality and ex.quality_claim:
                continue
            for item in rule.items:
                if item <= q_tokens and not any(_negated(ex.question, t) for t in item):
                    ex.kb_decided = True
                    return p, rule.sentence, " ".join(sorted(item))
    return None


def _once_violation(
    ex: Exchange, passages: list[PolicyPassage], tokens: frozenset[str]
) -> tuple[PolicyPassage, str] | None:
    if not REPEAT.find(normalize(ex.question)):
        return None
    for p in passages:
        for rule in p.prohibitions:
            if rule.once and len(tokens & rule.tokens) >= 2:
                ex.kb_decided = True
                return p, rule.sentence
    return None


def _compensation_violation(ex: Exchange, passages: list[PolicyPassage]) -> tuple[PolicyPassage, str, list[str]] | None:
    grant = ex.grant or ""
    offered = facts.amounts(grant)
    if not offered or not GIVE.find(normalize(grant)):
        return None
    for p in passages:
        for rule in p.prohibitions:
            if rule.compensation:
                ex.kb_decided = True
                allowed = {v for d, v in p.values if d == "amt"}
                extra = [a for a in offered if a not in allowed]
                return (p, rule.sentence, extra) if extra else None
    return None


def hidden_exception(
    dialog: Dialog, ex: Exchange, region: str | None, book: PolicyBook, by_cluster: list[tuple[int, float]]
) -> Finding | None:
    """A finding when the exchange's grant contradicts a passage; marks ``ex.kb_decided``."""
    passages = candidate_passages(book, ex, region, by_cluster)
    tokens = content_tokens(ex.question + " " + ex.answer)
    why: str | None = None
    hit: tuple[PolicyPassage, str] | None = None
    window = _window_violation(ex, region, book, passages, tokens)
    item = _item_violation(ex, passages)
    once = _once_violation(ex, passages, tokens)
    comp = _compensation_violation(ex, passages)
    if ex.grant is None:
        return None
    if window:
        hit, why = (window[0], window[1]), f"customer is {ex.elapsed} days in; the KB window is {window[2]} days"
    elif item:
        hit, why = (item[0], item[1]), f"the KB excludes {item[2]!r}"
    elif once:
        hit, why = once, "the KB allows this only once and the customer says it was already done"
    elif comp:
        hit, why = (comp[0], comp[1]), f"offered {', '.join(comp[2])}; the KB allows no other compensation"
    elif (mark := EXCEPTION_MARK.find(normalize(ex.answer))) and passages:
        ruled = next((p for p in passages if p.prohibitions or p.windows), None)
        if ruled is not None:
            rule = ruled.prohibitions[0].sentence if ruled.prohibitions else ruled.windows[0].sentence
            hit, why = (ruled, rule), f"the agent calls it an exception ({mark!r}) against this policy"
    if hit is None or why is None:
        return None
    passage, sentence = hit
    return Finding(
        kind=FindingKind.HIDDEN_EXCEPTION,
        dialog_id=dialog.dialog_id,
        turns=ex.agent_turns,
        summary=f"granted {ex.grant[:80]!r}: {why} ({passage.doc_id})",
        evidence={
            "grant": ex.grant,
            "question": ex.question[:200],
            "reason": why,
            "passage_id": passage.doc_id,
            "passage_rule": sentence,
            "passage_text": passage.excerpt(),
        },
    )
