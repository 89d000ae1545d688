"""Retrieve and write: the passages for the message, the prompt around them, the model's proposal.

Retrieval is pinned to a KB version and ranked for the customer's region and today; the prompt's
static part comes first (the engine reuses its cache), then this turn's notes, passages and the
customer block; the model fills the reply schema, and an unparseable output is retried once.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from keel.domain import ChatMessage
from keel.errors import KeelError
from keel.online.assess import Assessment
from keel.online.decide import DecisionInput, grounded
from keel.online.guard.claims import content_terms
from keel.online.guard.leak import Scaffold
from keel.online.kb.retrieve import Retrieval, retrieve, search_query
from keel.online.kb.store import resolve_version
from keel.online.model.base import Generation, GenerationRequest
from keel.online.model.parse import Proposal, parse_structured, reply_schema
from keel.online.prompt import REPLY_PREFIX, pipeline_messages, prompt_scaffold
from keel.online.router.route import Route, split_clauses
from keel.online.rules.schema import Constraint, RuleVerdict
from keel.online.runtime import Runtime
from keel.online.state.model import UserState


@dataclass(frozen=True)
class Written:
    retrieval: Retrieval
    scaffold: Scaffold
    generation: Generation | None
    proposal: Proposal | None
    model_error: str = ""  # why there is no proposal (backend failure)


def find_passages(rt: Runtime, a: Assessment, user: UserState | None, kb_version: int | None) -> Retrieval:
    """The passages of the pinned KB version for this message (a short follow-up keeps its context)."""
    version = resolve_version(rt.db, kb_version or rt.cfg.kb_version, rt.tenant)
    index = rt.indexes.get(version, rt.tenant)
    qvec = a.qvec if a.qvec is not None else rt.embedder.query([a.text])[0]
    query = search_query(a.text, list(a.earlier))
    svec = qvec if query == a.text else rt.embedder.query([query])[0]
    return retrieve(
        index, query, svec, lang=a.lang, region=_region(rt, a, user), today=rt.today(), cfg=rt.cfg.retrieval
    )


def _region(rt: Runtime, a: Assessment, user: UserState | None) -> str | None:
    """The customer's region: from their record, else named in the conversation."""
    return user.region if user and user.region else rt.rules.region_named([*a.earlier, a.text])


def _grounds(rt: Runtime, a: Assessment, found: Retrieval) -> bool:
    """Would *found* ground this message, by the decision's own test?"""
    inp = DecisionInput(rules=a.verdict, state=a.signal, emotion=a.emotion, retrieval=found)
    return grounded(inp, rt.cfg.retrieval)


def uncovered_parts(rt: Runtime, a: Assessment, user: UserState | None, whole: Retrieval) -> tuple[str, ...]:
    """The questions of a several-question message that no passage covers (the rest can be answered).

    Only when the message as a whole is grounded: each sentence that asks something is retrieved on
    its own, and one whose best passage would not ground a question, and whose passages do not include
    the whole message's best one, is left to a person.
    """
    clauses = [c for c in split_clauses(a.text) if _asks(c)]
    if len(clauses) < 2 or not _grounds(rt, a, whole):
        return ()
    index = rt.indexes.get(whole.version, rt.tenant)  # the version the whole message was retrieved from
    region = _region(rt, a, user)
    vecs = rt.embedder.query(clauses)
    missing = []
    for i, (clause, vec) in enumerate(zip(clauses, vecs, strict=True)):
        if i and len(content_terms(clause)) < (2 if _CJK.search(clause) else 3):
            continue  # a short follow-up ("is there a minimum?") belongs to the question before it
        found = retrieve(index, clause, vec, lang=a.lang, region=region, today=rt.today(), cfg=rt.cfg.retrieval)
        # a clause about what the answer's own passage covers ("which ways can I pay? is a card the only
        # option?") is part of that answer even when it is too short to ground on its own
        same_topic = bool(whole.passages) and whole.passages[0].topic in {p.topic for p in found.passages[:3]}
        if not _grounds(rt, a, found) and not same_topic:
            missing.append(clause)
    return tuple(missing) if len(missing) < len(clauses) else ()


_QUESTION = re.compile(
    r"[?？]|^\s*(?:(?:also|and|plus|btw|by the way|oh)[,，]?\s+)?"
    r"(?:how|what|when|where|which|why|who|can|could|do|does|did|is|are|will|would|should)\b"
    r"|吗|呢|怎么|多少|几|什么|哪|是否|能否|可不可以|有没有",
    re.I,
)


_CJK = re.compile(r"[\u3400-\u9fff]")


def _asks(clause: str) -> bool:
    """A sentence that asks something, with enough words to be looked up on its own."""
    return bool(_QUESTION.search(clause)) and len(content_terms(clause)) >= 2


def constraints_for(verdict: RuleVerdict, routed: Route | None) -> tuple[Constraint, ...]:
    """The rules' constraints, plus the careful path's when the router read the message as risky."""
    extra: tuple[Constraint, ...] = ()
    if routed is not None and routed.careful:
        extra = (Constraint.OTHER_PERSON_DATA, Constraint.INTERNAL_INFO)
    return tuple(dict.fromkeys((*verdict.forbid, *extra)))


def _generate(
    rt: Runtime, request: GenerationRequest, passage_ids: tuple[str, ...], text: str
) -> tuple[Generation, Proposal]:
    """One model call for a structured reply; an unparseable one is retried once (the caller falls back)."""
    generation = rt.model_calls.generate(rt.model, request)
    proposal = parse_structured(generation.text, passage_ids, text)
    if not proposal.ok:
        retry = rt.model_calls.generate(
            rt.model,
            request.model_copy(update={"seed": request.seed + 1, "temperature": max(request.temperature, 0.3)}),
        )
        again = parse_structured(retry.text, passage_ids, text)
        generation = retry.model_copy(update={"latency_ms": generation.latency_ms + retry.latency_ms, "retried": True})
        proposal = again
    return generation, proposal


def _no_lap(stage: str) -> None:
    return None


def write(
    rt: Runtime,
    a: Assessment,
    retrieval: Retrieval,
    history: Sequence[ChatMessage],
    lap: Callable[[str], None] = _no_lap,
    uncovered: Sequence[str] = (),
) -> Written:
    """The prompt for this turn and the model's proposal; a backend failure is kept, not raised."""
    constraints = constraints_for(a.verdict, a.routed)
    soothe = a.emotion.needs_soothing or a.verdict.soothe
    messages = pipeline_messages(
        brand_en=rt.cfg.brand_en,
        brand_zh=rt.cfg.brand_zh,
        lang=a.lang,
        passages=retrieval.passages,
        state_facts=a.signal.facts,
        constraints=constraints,
        soothe=soothe,
        history=history,
        message=a.text,
        uncovered=uncovered,
    )
    scaffold = prompt_scaffold(
        brand_en=rt.cfg.brand_en,
        brand_zh=rt.cfg.brand_zh,
        lang=a.lang,
        passages=retrieval.passages,
        state_facts=a.signal.facts,
        constraints=constraints,
        soothe=soothe,
        uncovered=uncovered,
    )
    gen = rt.cfg.generation
    request = GenerationRequest(
        messages=messages,
        max_new_tokens=gen.max_new_tokens,
        temperature=gen.temperature,
        top_p=gen.top_p,
        seed=gen.seed,
        assistant_prefix=REPLY_PREFIX,
        timeout_s=gen.timeout_s,
        json_schema=reply_schema(len(retrieval.passages)),
    )
    lap("prompt")
    generation: Generation | None = None
    proposal: Proposal | None = None
    error = ""
    try:
        generation, proposal = _generate(rt, request, retrieval.passage_ids, a.text)
    except KeelError as exc:
        error = exc.message
    except Exception as exc:  # a backend bug must not reach the customer
        error = f"{exc.__class__.__name__}: {exc}"[:300]
    lap("model")
    return Written(retrieval=retrieval, scaffold=scaffold, generation=generation, proposal=proposal, model_error=error)
