"""The guard as a stage of the online path: from this turn's facts to the ``GuardContext`` of the reply.

What a model-written answer may rest on is what it cites, plus the customer's own state: a passage
that was retrieved but not cited supports nothing. A structured answer that cites nothing (and is
not about the customer's own orders) or cites a passage that does not fit the question is refused
here; a backend that ignored the schema (plain text) is checked against every retrieved passage.
"""

from __future__ import annotations

from collections.abc import Mapping

from keel.config import RetrievalConfig
from keel.domain import Action, Decision, Reason
from keel.online.guard.check import GuardContext
from keel.online.guard.leak import Scaffold
from keel.online.kb.retrieve import Retrieval
from keel.online.model.parse import Proposal
from keel.online.state.model import UserState
from keel.online.state.policy import StateSignal
from keel.text import TermMatcher, normalize

#: a cited passage this far below the grounding threshold does not fit the question
FIT_MARGIN = 0.06


def citation_problem(
    proposal: Proposal | None,
    decision: Decision,
    retrieval: Retrieval | None,
    signal: StateSignal,
    cfg: RetrievalConfig,
) -> str:
    """Why the answer's citations cannot carry it ('' when they can)."""
    if proposal is None or not proposal.structured or decision.action is not Action.ANSWER:
        return ""
    if decision.reason is not Reason.MODEL:
        return ""
    state_answer = signal.state_query and signal.known_user
    if not proposal.cites:
        return "" if state_answer else "the answer cites no passage"
    scores = {p.doc_id: p.score for p in retrieval.passages} if retrieval else {}
    for doc in proposal.cites:
        if scores.get(doc, 0.0) < cfg.min_support - FIT_MARGIN:
            return f"cites {doc}, which does not fit the question (similarity {scores.get(doc, 0.0):.2f})"
    return ""


def names_region(said: str, scoped: tuple[str, ...], regions: Mapping[str, TermMatcher] | None) -> bool:
    """Does the reply name one of the regions a passage is scoped to?"""
    for region in scoped:
        matcher = (regions or {}).get(region)
        if (matcher is not None and matcher.find(said)) or region.casefold() in said.split():
            return True
    return False


def guard_context(
    *,
    user: UserState | None,
    signal: StateSignal,
    retrieval: Retrieval | None,
    proposal: Proposal | None,
    decision: Decision,
    customer_text: str,
    scaffold: Scaffold | None,
    fixed: str,
    forbidden: tuple[tuple[str, TermMatcher], ...],
    cfg: RetrievalConfig,
    reply: str = "",
    regions: Mapping[str, TermMatcher] | None = None,
) -> GuardContext:
    passages = retrieval.passages if retrieval else ()
    cited_ids = set(proposal.cites) if proposal is not None and proposal.structured else {p.doc_id for p in passages}
    # a passage scoped to other regions supports a claim only when the reply says whose rule it is
    # ("for mainland China orders …"); stated as this customer's rule, it supports nothing
    said = normalize(reply)
    usable = [p for p in passages if p.for_region or names_region(said, p.regions, regions)]
    cited = [p for p in usable if p.doc_id in cited_ids]
    uncited = [p for p in passages if p not in cited]
    evidence = [signal.evidence, signal.facts, *(f"{p.title}\n{p.full_text or p.text}" for p in cited)]
    own = tuple(x for x in ((user.phone if user else None), (user.email if user else None)) if x)
    return GuardContext(
        evidence="\n".join(evidence),
        customer_text=customer_text,
        own_data=own,
        forbidden=forbidden,
        uncited="\n".join(f"{p.title}\n{p.full_text or p.text}" for p in uncited),
        scaffold=scaffold,
        shown="\n".join(f"{p.title}\n{p.full_text or p.text}" for p in passages) + "\n" + fixed,
        state_text=signal.agent_facts or signal.facts,
        fixed=fixed,
        handing_off=decision.action is Action.HANDOFF,
        citation_problem=citation_problem(proposal, decision, retrieval, signal, cfg),
    )
