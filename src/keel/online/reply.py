"""Compose: the text the customer reads for a decision — the model's reply, a fixed wording, or the KB's own words.

A quoted fallback says the sentences of the best passage that answer the question (by e5 similarity),
never its first characters; soothing is prepended when the decision asks for it and the reply does not.
"""

from __future__ import annotations

from typing import Any

from keel.domain import Action, Decision, Lang, Passage, Reason
from keel.online.guard import GuardReport
from keel.online.guard.claims import sentences
from keel.online.guard.stage import names_region
from keel.online.kb.retrieve import Retrieval
from keel.online.model.parse import Proposal
from keel.online.rules.schema import RuleVerdict, TemplateName
from keel.online.runtime import Runtime
from keel.text import TermMatcher, normalize, search_terms

_SOOTHING = TermMatcher(
    ["抱歉", "对不起", "理解您", "理解你", "不便", "久等", "sorry", "apolog*", "understand", "frustrat*"]
)


def template(rt: Runtime, name: str, lang: Lang, **values: Any) -> str:
    return rt.rules.template(name, lang, **values)


#: a quoted fallback says at most this much of the passage
QUOTE_CHARS = 320


def best_sentences(rt: Runtime, passage: Passage, question: str) -> str:
    """The sentences of *passage* that answer *question* best (e5 similarity, then shared words), in order."""
    body = passage.full_text or passage.text
    sents = [x for x in sentences(body.replace("\n", "\n ")) if len(x) > 1]
    if len(body) <= QUOTE_CHARS or len(sents) <= 1:
        return body if len(body) <= QUOTE_CHARS else body[:QUOTE_CHARS].rsplit(" ", 1)[0] + "…"
    q = rt.embedder.query([question])[0]
    vecs = rt.embedder.passage(sents)
    q_terms = set(search_terms(question))
    scores = [float(v @ q) + 0.02 * len(q_terms & set(search_terms(x))) for v, x in zip(vecs, sents, strict=True)]
    keep: list[int] = []
    used = 0
    for i in sorted(range(len(sents)), key=lambda i: -scores[i]):
        if keep and used + len(sents[i]) > QUOTE_CHARS:
            continue
        keep.append(i)
        used += len(sents[i])
        if len(keep) == 2:
            break
    joiner = "" if passage.lang is Lang.ZH else " "
    return joiner.join(sents[i] for i in sorted(keep))


def extractive(
    rt: Runtime, retrieval: Retrieval | None, lang: Lang, question: str, prefer: tuple[str, ...] = ()
) -> str | None:
    # the cited passage, else the best one, is quoted when it applies to this customer's region or its
    # title says whose it is; a lower-ranked passage is not quoted in its place (it answers something else)
    passages = retrieval.passages if retrieval else ()
    candidates = [p for p in passages if p.doc_id in prefer] + list(passages[:1])
    usable = [p for p in candidates if p.for_region or names_region(normalize(p.title), p.regions, rt.rules.regions)]
    if not usable:
        return None
    top = usable[0]
    return template(rt, "extractive", lang, title=top.title, text=best_sentences(rt, top, question))


def compose(
    rt: Runtime,
    decision: Decision,
    verdict: RuleVerdict,
    proposal: Proposal | None,
    retrieval: Retrieval | None,
    lang: Lang,
    question: str,
) -> str:
    if decision.reason is Reason.RULE:
        return verdict.reply.get(lang) or next(iter(verdict.reply.values()))
    if decision.reason is Reason.OUT_OF_SCOPE:
        return template(rt, TemplateName.OUT_OF_SCOPE, lang)
    if decision.reason is Reason.SMALL_TALK and proposal is None:
        return template(rt, TemplateName.SMALL_TALK, lang)
    if decision.action is Action.HANDOFF:
        name = "model_failed" if decision.reason is Reason.MODEL_FAILED else "handoff"
        return template(rt, name, lang)
    if decision.reason is Reason.MODEL_MALFORMED:
        return extractive(rt, retrieval, lang, question) or template(rt, "clarify", lang)
    if decision.reason is Reason.NO_GROUNDING:
        return template(rt, "clarify", lang)
    if proposal is not None and proposal.reply:
        return proposal.reply
    return template(rt, decision.action.value if decision.action is not Action.ANSWER else "clarify", lang)


def with_soothing(rt: Runtime, reply: str, decision: Decision, lang: Lang) -> str:
    if decision.soothe and not _SOOTHING.find(normalize(reply)):
        return f"{template(rt, 'soothe', lang)}{'' if lang is Lang.ZH else ' '}{reply}"
    return reply


def fallback(
    rt: Runtime,
    decision: Decision,
    report: GuardReport,
    retrieval: Retrieval | None,
    lang: Lang,
    is_grounded: bool,
    question: str,
    cites: tuple[str, ...],
) -> tuple[str, Decision]:
    """A safe reply after the guard blocked one: quote the KB if grounded, else hand off."""
    kinds = ",".join(sorted({v.kind.value for v in report.violations}))
    if decision.action is Action.ANSWER and is_grounded:
        quoted = extractive(rt, retrieval, lang, question, cites)
        if quoted:
            return quoted, decision.model_copy(
                update={"reason": Reason.GUARD, "detail": f"guard blocked ({kinds}); quoted the KB instead"}
            )
    if decision.action in (Action.CLARIFY, Action.REFUSE):
        return template(rt, decision.action.value, lang), decision.model_copy(
            update={"reason": Reason.GUARD, "detail": f"guard blocked ({kinds}); fixed wording used"}
        )
    return template(rt, "handoff", lang), decision.model_copy(
        update={"action": Action.HANDOFF, "reason": Reason.GUARD, "detail": f"guard blocked ({kinds}); handed off"}
    )


_PARTIAL = {
    Lang.ZH: "关于{parts}，我们的帮助资料里没有答案；如需要，我可以为您转接人工客服。",
    Lang.EN: "I couldn't find {parts} in our help pages; a human agent can help with that part — just ask and "
    "I'll connect you.",
}


def with_partial(rt: Runtime, reply: str, decision: Decision, uncovered: tuple[str, ...], lang: Lang) -> str:
    """An answer to part of a message says which part it leaves to a person (the business's ``partial``
    template, with ``{parts}``; a built-in wording when it has none)."""
    if not uncovered or decision.action is not Action.ANSWER:
        return reply
    parts = "、".join(f"“{u}”" for u in uncovered) if lang is Lang.ZH else ", ".join(f'"{u}"' for u in uncovered)
    texts = rt.rules.templates.get("partial")
    note = (texts.get(lang) if texts else None) or _PARTIAL[lang]
    return f"{reply}{'' if lang is Lang.ZH else ' '}{note.format(parts=parts)}"
