"""The online path for one customer message.

message ─► red-line rules ─► user state ─► retrieval (pinned KB version) ─► model ─► decision
        ─► output guard ─► reply | handoff, with a redacted trace row per turn.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from pydantic import Field
from sqlalchemy import desc, select

from keel.db.schema import traces
from keel.domain import Action, ChatMessage, Decision, Frozen, Lang, Modifier, Passage, Reason, Role
from keel.errors import InvalidInput, KeelError, NotFound
from keel.online import conversations as convs
from keel.online import handoff as queue
from keel.online.decide import DecisionInput, decide, grounded, pre_decide, state_decision
from keel.online.emotion import Emotion, assess_emotion
from keel.online.guard import GuardKind, GuardReport, Scaffold, Violation, check_reply
from keel.online.guard.claims import sentences
from keel.online.guard.stage import guard_context
from keel.online.kb.retrieve import Retrieval, retrieve, search_query
from keel.online.kb.store import resolve_version
from keel.online.model.base import Generation, GenerationRequest
from keel.online.model.parse import Proposal, parse_structured, reply_schema
from keel.online.prompt import REPLY_PREFIX, pipeline_messages, prompt_scaffold
from keel.online.router.banks import Need
from keel.online.router.route import Route, route
from keel.online.rules import RuleHit, evaluate_rules
from keel.online.rules.schema import Constraint, RuleVerdict, TemplateName
from keel.online.runtime import Runtime
from keel.online.state.answer import StatusAnswer, status_answer
from keel.online.state.model import UserState
from keel.online.state.policy import StateSignal, assess_state
from keel.online.trace import write_trace
from keel.text import TermMatcher, detect_lang, normalize, search_terms

_SOOTHING = TermMatcher(
    ["抱歉", "对不起", "理解您", "理解你", "不便", "久等", "sorry", "apolog*", "understand", "frustrat*"]
)


class MessageRequest(Frozen):
    conversation_id: str
    text: str
    user_id: str | None = None
    kb_version: int | None = None  # pin for this message (evaluation); None = config / current


class TurnResult(Frozen):
    conversation_id: str
    turn_id: str
    reply: str | None  # None when a human agent holds the conversation
    decision: Decision
    rule_hits: tuple[RuleHit, ...] = ()
    kb_version: int | None = None
    passage_ids: tuple[str, ...] = ()
    handoff_id: int | None = None
    held_by_human: bool = False
    lang: Lang
    latency_ms: float = 0.0
    stage_ms: dict[str, float] = Field(default_factory=dict)
    # for the evaluation's leak / invented-action metrics; never serialised to callers
    scaffold: Scaffold | None = Field(None, exclude=True)
    state_text: str = Field("", exclude=True)


def check_message(text: str, max_chars: int) -> str:
    """Reject what cannot be a customer message, with one readable line."""
    if "\x00" in text or "\ufffd" in text:
        raise InvalidInput("the message contains binary data or invalid UTF-8")
    stripped = text.strip()
    if not stripped:
        raise InvalidInput("the message is empty")
    if len(stripped) > max_chars:
        raise InvalidInput(f"the message is {len(stripped)} characters; the limit is {max_chars}")
    controls = sum(1 for ch in stripped if ord(ch) < 32 and ch not in "\n\r\t")
    if controls > max(3, len(stripped) // 20):
        raise InvalidInput("the message looks like binary data, not text")
    return stripped


class _Clock:
    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.last = self.start
        self.stages: dict[str, float] = {}

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.stages[stage] = round(self.stages.get(stage, 0.0) + (now - self.last) * 1000, 3)
        self.last = now

    def total(self) -> float:
        return round((time.perf_counter() - self.start) * 1000, 3)


def _is_small_talk(rt: Runtime, norm: str) -> bool:
    return len(norm) <= 24 and rt.rules.topic_hit("small_talk", norm) is not None


def _template(rt: Runtime, name: str, lang: Lang, **values: Any) -> str:
    return rt.rules.template(name, lang, **values)


#: a quoted fallback says at most this much of the passage
QUOTE_CHARS = 320


def _best_sentences(rt: Runtime, passage: Passage, question: str) -> str:
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


def _extractive(
    rt: Runtime, retrieval: Retrieval | None, lang: Lang, question: str, prefer: tuple[str, ...] = ()
) -> str | None:
    if retrieval is None or not retrieval.passages:
        return None
    top = next((p for p in retrieval.passages if p.doc_id in prefer), retrieval.passages[0])
    return _template(rt, "extractive", lang, title=top.title, text=_best_sentences(rt, top, question))


def _status(
    rt: Runtime, user: UserState | None, routed: Route | None, signal: StateSignal, norm: str, text: str, lang: Lang
) -> StatusAnswer | None:
    """A status question about the customer's own record, answered from the record (None: not one)."""
    if user is None or not signal.state_query or rt.rules.topic_hit("status_question", norm) is None:
        return None
    if routed is not None and routed.need is not Need.ACCOUNT:
        return None
    return status_answer(user, text, lang, rt.today(), rt.cfg.business)


def _compose(
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
        return _template(rt, TemplateName.OUT_OF_SCOPE, lang)
    if decision.reason is Reason.SMALL_TALK and proposal is None:
        return _template(rt, TemplateName.SMALL_TALK, lang)
    if decision.action is Action.HANDOFF:
        name = "model_failed" if decision.reason is Reason.MODEL_FAILED else "handoff"
        return _template(rt, name, lang)
    if decision.reason is Reason.MODEL_MALFORMED:
        return _extractive(rt, retrieval, lang, question) or _template(rt, "clarify", lang)
    if decision.reason is Reason.NO_GROUNDING:
        return _template(rt, "clarify", lang)
    if proposal is not None and proposal.reply:
        return proposal.reply
    return _template(rt, decision.action.value if decision.action is not Action.ANSWER else "clarify", lang)


def _with_soothing(rt: Runtime, reply: str, decision: Decision, lang: Lang) -> str:
    if decision.soothe and not _SOOTHING.find(normalize(reply)):
        return f"{_template(rt, 'soothe', lang)}{'' if lang is Lang.ZH else ' '}{reply}"
    return reply


def _fallback(
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
        quoted = _extractive(rt, retrieval, lang, question, cites)
        if quoted:
            return quoted, decision.model_copy(
                update={"reason": Reason.GUARD, "detail": f"guard blocked ({kinds}); quoted the KB instead"}
            )
    if decision.action in (Action.CLARIFY, Action.REFUSE):
        return _template(rt, decision.action.value, lang), decision.model_copy(
            update={"reason": Reason.GUARD, "detail": f"guard blocked ({kinds}); fixed wording used"}
        )
    return _template(rt, "handoff", lang), decision.model_copy(
        update={"action": Action.HANDOFF, "reason": Reason.GUARD, "detail": f"guard blocked ({kinds}); handed off"}
    )


def _clarified_before(rt: Runtime, conversation_id: str) -> bool:
    with rt.db.engine.connect() as conn:
        last = conn.scalar(
            select(traces.c.action)
            .where(traces.c.tenant == rt.tenant, traces.c.conversation_id == conversation_id)
            .order_by(desc(traces.c.created_at))
            .limit(1)
        )
    return last == Action.CLARIFY.value


def _constraints(verdict: RuleVerdict, routed: Route | None) -> tuple[Constraint, ...]:
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


def handle_message(rt: Runtime, req: MessageRequest) -> TurnResult:
    """Run one customer message through the whole online path and persist the turn."""
    clock = _Clock()
    text = check_message(req.text, rt.cfg.limits.max_message_chars)
    convs.check_conversation_id(req.conversation_id)
    user = rt.state.get(req.user_id, rt.tenant) if req.user_id else None
    if req.user_id and user is None:
        raise NotFound(f"unknown user {req.user_id!r}")
    lang = detect_lang(text, Lang(rt.cfg.default_lang))
    turn_id = uuid.uuid4().hex
    clock.lap("validate")

    # the customer's message is durable before anything else can fail
    tenant = rt.tenant
    with rt.db.begin() as conn:
        status = convs.ensure_conversation(conn, req.conversation_id, req.user_id, tenant, lang.value)
        prior = convs.load_history(conn, req.conversation_id, rt.cfg.limits.max_history_turns, tenant)
        convs.append_message(conn, req.conversation_id, Role.USER, text, turn_id=turn_id, tenant=tenant)
        if status is convs.ConversationStatus.CLOSED:
            convs.set_status(conn, req.conversation_id, convs.ConversationStatus.BOT, tenant)
        human = status is convs.ConversationStatus.HUMAN
        held = queue.open_handoff_id(conn, req.conversation_id, tenant) if human else None
        if human:
            if held is not None:
                queue.append_customer_context(conn, held)
            decision = Decision(
                action=Action.HANDOFF,
                reason=Reason.HUMAN_HOLDS,
                detail="a human agent holds this conversation",
                confidence=1.0,
            )
            write_trace(
                conn,
                turn_id,
                req.conversation_id,
                decision.action.value,
                clock.total(),
                {
                    "message": text,
                    "lang": lang,
                    "user_id": req.user_id,
                    "decision": decision,
                    "handoff_id": held,
                    "stage_ms": clock.stages,
                },
                tenant,
            )
    clock.lap("store_in")
    if human:
        return TurnResult(
            conversation_id=req.conversation_id,
            turn_id=turn_id,
            reply=None,
            decision=decision,
            handoff_id=held,
            held_by_human=True,
            lang=lang,
            latency_ms=clock.total(),
            stage_ms=clock.stages,
        )

    norm = normalize(text)
    need_vec = rt.rules.uses_embeddings or rt.router is not None
    qvec = rt.embedder.query([text])[0] if need_vec else None
    clock.lap("embed")
    verdict = evaluate_rules(rt.rules, text, qvec)
    clock.lap("rules")
    earlier = [m.content for m in prior if m.role is Role.USER]
    routed = None
    if rt.router is not None and qvec is not None:
        # a short follow-up is read together with the customer's previous message
        context = search_query(text, earlier)
        cvec = qvec if context == text else rt.embedder.query([context])[0]
        routed = route(rt.router.head, context, cvec, rt.cfg.router, rt.embedder.query)
    clock.lap("route")
    account = routed is not None and routed.need is Need.ACCOUNT
    signal = assess_state(
        user, norm, lang, rt.rules, rt.cfg.decision, rt.today(), account_hint=account, business=rt.cfg.business
    )
    clock.lap("state")
    emotion = assess_emotion(text, lang)
    clock.lap("emotion")

    inp = DecisionInput(rules=verdict, state=signal, emotion=emotion, route=routed)
    retrieval: Retrieval | None = None
    scaffold: Scaffold | None = None
    proposal: Proposal | None = None
    generation: Generation | None = None
    model_error = ""
    forced = pre_decide(inp, rt.cfg.router)
    answered = None if forced is not None else _status(rt, user, routed, signal, norm, text, lang)
    if forced is not None:
        decision = forced
    elif answered is not None:
        decision = state_decision(inp, answered.ref)
    else:
        version = resolve_version(rt.db, req.kb_version or rt.cfg.kb_version, rt.tenant)
        index = rt.indexes.get(version, rt.tenant)
        if qvec is None:
            qvec = rt.embedder.query([text])[0]
            clock.lap("embed")
        query = search_query(text, earlier)
        svec = qvec if query == text else rt.embedder.query([query])[0]
        region = user.region if user and user.region else rt.rules.region_named([*earlier, text])
        retrieval = retrieve(index, query, svec, lang=lang, region=region, today=rt.today(), cfg=rt.cfg.retrieval)
        clock.lap("retrieve")
        constraints = _constraints(verdict, routed)
        soothe = emotion.needs_soothing or verdict.soothe
        brand = {"brand_en": rt.cfg.brand_en, "brand_zh": rt.cfg.brand_zh}
        messages = pipeline_messages(
            **brand,
            lang=lang,
            passages=retrieval.passages,
            state_facts=signal.facts,
            constraints=constraints,
            soothe=soothe,
            history=prior,
            message=text,
        )
        scaffold = prompt_scaffold(
            **brand,
            lang=lang,
            passages=retrieval.passages,
            state_facts=signal.facts,
            constraints=constraints,
            soothe=soothe,
        )
        gen_cfg = rt.cfg.generation
        request = GenerationRequest(
            messages=messages,
            max_new_tokens=gen_cfg.max_new_tokens,
            temperature=gen_cfg.temperature,
            top_p=gen_cfg.top_p,
            seed=gen_cfg.seed,
            assistant_prefix=REPLY_PREFIX,
            timeout_s=gen_cfg.timeout_s,
            json_schema=reply_schema(len(retrieval.passages)),
        )
        clock.lap("prompt")
        try:
            generation, proposal = _generate(rt, request, retrieval.passage_ids, text)
        except KeelError as exc:
            model_error = exc.message
        except Exception as exc:  # a backend bug must not reach the customer
            model_error = f"{exc.__class__.__name__}: {exc}"[:300]
        clock.lap("model")
        inp = DecisionInput(
            rules=verdict,
            state=signal,
            emotion=emotion,
            retrieval=retrieval,
            proposal=proposal,
            model_error=model_error,
            small_talk=_is_small_talk(rt, norm),
            clarified_before=_clarified_before(rt, req.conversation_id),
            route=routed,
        )
        decision = decide(inp, rt.cfg.retrieval, rt.cfg.decision, rt.cfg.router)
        clock.lap("decide")

    composed = (
        answered.reply if answered is not None else _compose(rt, decision, verdict, proposal, retrieval, lang, text)
    )
    reply = _with_soothing(rt, composed, decision, lang)
    report = GuardReport()
    if proposal is not None and proposal.ok and decision.reason in (Reason.MODEL, Reason.SMALL_TALK):
        ctx = guard_context(
            user=user,
            signal=signal,
            retrieval=retrieval,
            proposal=proposal,
            decision=decision,
            customer_text="\n".join([*earlier, text]),
            scaffold=scaffold,
            fixed=rt.rules.fixed_wording(),
            forbidden=tuple((t, rt.rules.topics[t]) for t in verdict.forbid_topics if t in rt.rules.topics),
            cfg=rt.cfg.retrieval,
        )
        report = check_reply(reply, ctx)
        if decision.action is Action.ANSWER and detect_lang(reply, lang) is not lang:
            report = GuardReport(
                violations=(*report.violations, Violation(kind=GuardKind.LANGUAGE, evidence="reply language differs"))
            )
        if not report.passed:
            reply, decision = _fallback(
                rt, decision, report, retrieval, lang, grounded(inp, rt.cfg.retrieval), text, proposal.cites
            )
            reply = _with_soothing(rt, reply, decision, lang)
    clock.lap("guard")

    handoff_id = None
    with rt.db.begin() as conn:
        convs.append_message(conn, req.conversation_id, Role.ASSISTANT, reply, turn_id=turn_id, tenant=tenant)
        if decision.action is Action.HANDOFF:
            handoff_id = queue.enqueue(
                conn,
                req.conversation_id,
                tenant,
                decision.reason.value,
                decision.detail,
                _handoff_context(req, user, signal, verdict, emotion, decision, retrieval),
            )
        clock.lap("store_out")
        write_trace(
            conn,
            turn_id,
            req.conversation_id,
            decision.action.value,
            clock.total(),
            _trace(
                req,
                text,
                lang,
                verdict,
                routed,
                signal,
                emotion,
                retrieval,
                generation,
                proposal,
                model_error,
                decision,
                report,
                reply,
                handoff_id,
                rt,
                clock,
            ),
            tenant,
        )
    return TurnResult(
        conversation_id=req.conversation_id,
        turn_id=turn_id,
        reply=reply,
        decision=decision,
        rule_hits=verdict.hits,
        kb_version=retrieval.version if retrieval else None,
        passage_ids=retrieval.passage_ids if retrieval else (),
        handoff_id=handoff_id,
        lang=lang,
        latency_ms=clock.total(),
        stage_ms=clock.stages,
        scaffold=scaffold,
        state_text=signal.agent_facts or signal.facts,
    )


def _handoff_context(
    req: MessageRequest,
    user: UserState | None,
    signal: StateSignal,
    verdict: RuleVerdict,
    emotion: Emotion,
    decision: Decision,
    retrieval: Retrieval | None,
) -> dict[str, Any]:
    return {
        "user_id": req.user_id,
        "why": decision.detail,
        "reason": decision.reason.value,
        "soothe": Modifier.SOOTHE in decision.modifiers,
        "rule_hits": [h.model_dump(mode="json") for h in verdict.hits],
        "emotion": emotion.model_dump(mode="json"),
        "state": signal.agent_facts or signal.facts,
        "risk_level": user.risk_level.value if user else None,
        "complaints_90d": user.complaints_90d if user else None,
        "kb_version": retrieval.version if retrieval else None,
        "passages": list(retrieval.passage_ids) if retrieval else [],
        "message": req.text,
    }


def _trace(
    req: MessageRequest,
    text: str,
    lang: Lang,
    verdict: RuleVerdict,
    routed: Route | None,
    signal: StateSignal,
    emotion: Emotion,
    retrieval: Retrieval | None,
    generation: Generation | None,
    proposal: Proposal | None,
    model_error: str,
    decision: Decision,
    report: GuardReport,
    reply: str,
    handoff_id: int | None,
    rt: Runtime,
    clock: _Clock,
) -> dict[str, Any]:
    return {
        "message": text,
        "lang": lang,
        "user_id": req.user_id,
        "rules": {
            "hits": verdict.hits,
            "action": verdict.action,
            "rule": verdict.action_rule,
            "forbid": verdict.forbid,
            "soothe": verdict.soothe,
            "ruleset": rt.rules.content_hash[:12],
        },
        "state": {
            "known_user": signal.known_user,
            "keys": signal.keys,
            "action": signal.action,
            "reason": signal.reason,
            "state_query": signal.state_query,
        },
        "route": routed,
        "emotion": emotion,
        "retrieval": None
        if retrieval is None
        else {
            "kb_version": retrieval.version,
            "support": retrieval.support,
            "passages": [{"id": p.doc_id, "score": p.score} for p in retrieval.passages],
        },
        "model": None
        if generation is None and not model_error
        else {
            "name": rt.model.name,
            "latency_ms": generation.latency_ms if generation else None,
            "prompt_tokens": generation.prompt_tokens if generation else None,
            "completion_tokens": generation.completion_tokens if generation else None,
            "raw": (generation.text[:1500] if generation else None),
            "cached_tokens": generation.cached_tokens if generation else None,
            "retried": generation.retried if generation else None,
            "error": model_error or None,
        },
        "proposal": proposal,
        "decision": decision,
        "guard": {"violations": report.violations},
        "reply": reply,
        "handoff_id": handoff_id,
        "stage_ms": dict(clock.stages),
    }


def history_messages(conv: convs.Conversation) -> tuple[ChatMessage, ...]:
    return conv.history()
