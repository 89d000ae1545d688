"""The online path for one customer message, stage by stage.

receive (+ identity) ─► assess (rules, router, state, emotion) ─► decide ─► retrieve ─► write (prompt, model) ─► decide
        ─► compose ─► guard ─► persist: a reply | a handoff, and one redacted trace row per turn.
A forcing rule, a stopping route, a forcing state policy or a status answer decide before retrieval and
the model; the model only writes within what was decided.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, replace
from typing import Any

from pydantic import Field

from keel.domain import Action, ChatMessage, Decision, Frozen, Lang, Modifier, Reason, Role
from keel.errors import InvalidInput, NotFound
from keel.online import conversations as convs
from keel.online import handoff as queue
from keel.online.assess import Assessment, assess
from keel.online.decide import DecisionInput, decide, grounded, pre_decide, state_decision
from keel.online.emotion import Emotion
from keel.online.guard import GuardKind, GuardReport, Scaffold, Violation, check_reply
from keel.online.guard.stage import guard_context
from keel.online.identity import (
    Identity,
    check_identity,
    identity_decision,
    identity_reply,
    remembered,
    with_verified,
)
from keel.online.kb.retrieve import Retrieval
from keel.online.model.base import Generation
from keel.online.model.parse import Proposal
from keel.online.reply import compose, fallback, with_partial, with_soothing
from keel.online.router.banks import Need
from keel.online.router.route import Route
from keel.online.rules import RuleHit
from keel.online.rules.schema import RuleVerdict
from keel.online.runtime import Runtime
from keel.online.state.answer import StatusAnswer, status_answer
from keel.online.state.model import UserState
from keel.online.state.policy import StateSignal
from keel.online.trace import write_trace
from keel.online.write import Written, find_passages, uncovered_parts, write
from keel.text import detect_lang


class MessageRequest(Frozen):
    conversation_id: str
    text: str
    user_id: str | None = None
    kb_version: int | None = None  # pin for this message (evaluation); None = config / current
    identity_token: str | None = None  # the front end's signed token (identity method `token`)
    # the caller has verified the customer itself (in-process callers: the evaluation, `keel ask --verified`);
    # the HTTP API never sets it
    verified: bool = False


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


@dataclass(frozen=True)
class _Turn:
    """A received message: validated, stored, with the conversation it belongs to."""

    req: MessageRequest
    turn_id: str
    text: str
    lang: Lang
    user: UserState | None
    prior: tuple[ChatMessage, ...]
    memory: convs.Memory
    identity: Identity
    held: TurnResult | None = None  # a human agent holds the conversation: this is the whole result

    @property
    def earlier(self) -> list[str]:
        return [m.content for m in self.prior if m.role is Role.USER]

    @property
    def known(self) -> UserState | None:
        """The customer's record, when this turn may use it (the identity check passed or is not asked)."""
        return self.user if self.identity.trusted else None

    @property
    def question(self) -> str:
        """What to answer: the message, or the account question remembered until the identity check passed."""
        return self.identity.pending if self.identity.pending and self.identity.verified else self.text

    @property
    def clarified_before(self) -> bool:
        last = self.memory
        return last.last_action is Action.CLARIFY and last.last_reason is not Reason.VERIFY_IDENTITY


def _receive(rt: Runtime, req: MessageRequest, clock: _Clock) -> _Turn:
    """Validate the message and make it durable before anything else can fail."""
    text = check_message(req.text, rt.cfg.limits.max_message_chars)
    convs.check_conversation_id(req.conversation_id)
    user = rt.state.get(req.user_id, rt.tenant) if req.user_id else None
    if req.user_id and user is None:
        raise NotFound(f"unknown user {req.user_id!r}")
    lang = detect_lang(text, Lang(rt.cfg.default_lang))
    turn_id = uuid.uuid4().hex
    clock.lap("validate")
    tenant = rt.tenant
    held: TurnResult | None = None
    with rt.db.begin() as conn:
        status = convs.ensure_conversation(conn, req.conversation_id, req.user_id, tenant, lang.value)
        prior = convs.load_history(conn, req.conversation_id, rt.cfg.limits.max_history_turns, tenant)
        memory = convs.load_memory(conn, req.conversation_id, tenant)
        convs.append_message(conn, req.conversation_id, Role.USER, text, turn_id=turn_id, tenant=tenant)
        if status is convs.ConversationStatus.CLOSED:
            convs.set_status(conn, req.conversation_id, convs.ConversationStatus.BOT, tenant)
        if status is convs.ConversationStatus.HUMAN:
            handoff_id = queue.open_handoff_id(conn, req.conversation_id, tenant)
            if handoff_id is not None:
                queue.append_customer_context(conn, handoff_id)
            decision = Decision(
                action=Action.HANDOFF,
                reason=Reason.HUMAN_HOLDS,
                detail="a human agent holds this conversation",
                confidence=1.0,
            )
            data: dict[str, Any] = {"message": text, "lang": lang, "user_id": req.user_id, "decision": decision}
            data |= {"handoff_id": handoff_id, "stage_ms": clock.stages}
            write_trace(conn, turn_id, req.conversation_id, decision.action.value, clock.total(), data, tenant)
            held = TurnResult(
                conversation_id=req.conversation_id,
                turn_id=turn_id,
                reply=None,
                decision=decision,
                handoff_id=handoff_id,
                held_by_human=True,
                lang=lang,
                stage_ms=clock.stages,
            )
    clock.lap("store_in")
    if held is not None:
        held = held.model_copy(update={"latency_ms": clock.total()})
    identity = check_identity(rt.cfg.business.identity, user, memory, text, req.identity_token, req.verified)
    if identity.verified and identity.pending:  # the remembered question is answered in its own language
        lang = detect_lang(identity.pending, lang)
    return _Turn(
        req=req,
        turn_id=turn_id,
        text=text,
        lang=lang,
        user=user,
        prior=tuple(prior),
        memory=memory,
        identity=identity,
        held=held,
    )


def handle_message(rt: Runtime, req: MessageRequest) -> TurnResult:
    """Run one customer message through the whole online path and persist the turn."""
    clock = _Clock()
    turn = _receive(rt, req, clock)
    if turn.held is not None:
        return turn.held
    a = assess(rt, turn.question, turn.lang, turn.known, turn.earlier, clock.lap)
    inp = a.decision_input()
    forced = pre_decide(inp, rt.cfg.router)
    forced = identity_decision(turn.identity, _account_question(a), forced) or forced
    answered = None if forced is not None else _status(rt, turn.known, a)
    written: Written | None = None
    if forced is not None:
        decision = forced
    elif answered is not None:
        decision = state_decision(inp, answered.ref)
    else:
        retrieval = find_passages(rt, a, turn.known, req.kb_version)
        uncovered = uncovered_parts(rt, a, turn.known, retrieval)
        clock.lap("retrieve")
        written = write(rt, a, retrieval, turn.prior, clock.lap, uncovered)
        inp = replace(
            inp,
            uncovered=uncovered,
            retrieval=retrieval,
            proposal=written.proposal,
            model_error=written.model_error,
            small_talk=_is_small_talk(rt, a.norm),
            clarified_before=turn.clarified_before,
        )
        decision = decide(inp, rt.cfg.retrieval, rt.cfg.decision, rt.cfg.router)
        clock.lap("decide")
    reply, decision, report = _guarded_reply(rt, turn, a, inp, decision, written, answered)
    reply = with_verified(reply, turn.identity, a.lang)
    clock.lap("guard")
    return _persist(rt, turn, a, written, decision, report, reply, clock)


def _account_question(a: Assessment) -> bool:
    """Is the message about the customer's own orders, tickets or account?"""
    return a.signal.state_query or (a.routed is not None and a.routed.need is Need.ACCOUNT)


def _status(rt: Runtime, user: UserState | None, a: Assessment) -> StatusAnswer | None:
    """A status question about the customer's own record, answered from the record (None: not one)."""
    if user is None or not a.signal.state_query or rt.rules.topic_hit("status_question", a.norm) is None:
        return None
    if a.routed is not None and a.routed.need is not Need.ACCOUNT:
        return None
    return status_answer(user, a.text, a.lang, rt.today(), rt.cfg.business)


def _guarded_reply(
    rt: Runtime,
    turn: _Turn,
    a: Assessment,
    inp: DecisionInput,
    decision: Decision,
    written: Written | None,
    answered: StatusAnswer | None,
) -> tuple[str, Decision, GuardReport]:
    """The reply for the decision; a model-written one passes the guard or falls back to safe words."""
    retrieval = written.retrieval if written else None
    proposal = written.proposal if written else None
    if decision.reason is Reason.VERIFY_IDENTITY:
        return identity_reply(rt.cfg.business.identity, turn.identity, a.lang), decision, GuardReport()
    text = (
        answered.reply
        if answered is not None
        else compose(rt, decision, a.verdict, proposal, retrieval, a.lang, a.text)
    )
    reply = with_partial(rt, with_soothing(rt, text, decision, a.lang), decision, inp.uncovered, a.lang)
    if (
        written is None
        or proposal is None
        or not proposal.ok
        or decision.reason not in (Reason.MODEL, Reason.SMALL_TALK)
    ):
        return reply, decision, GuardReport()
    ctx = guard_context(
        user=turn.known,
        signal=a.signal,
        retrieval=retrieval,
        proposal=proposal,
        decision=decision,
        customer_text="\n".join([*turn.earlier, a.text]),
        scaffold=written.scaffold,
        fixed=rt.rules.fixed_wording(),
        forbidden=tuple((t, rt.rules.topics[t]) for t in a.verdict.forbid_topics if t in rt.rules.topics),
        cfg=rt.cfg.retrieval,
        reply=reply,
        regions=rt.rules.regions,
    )
    report = check_reply(reply, ctx)
    if decision.action is Action.ANSWER and detect_lang(reply, a.lang) is not a.lang:
        language = Violation(kind=GuardKind.LANGUAGE, evidence="reply language differs")
        report = GuardReport(violations=(*report.violations, language))
    if report.passed:
        return reply, decision, report
    is_grounded = grounded(inp, rt.cfg.retrieval)
    reply, decision = fallback(rt, decision, report, retrieval, a.lang, is_grounded, a.text, proposal.cites)
    reply = with_partial(rt, with_soothing(rt, reply, decision, a.lang), decision, inp.uncovered, a.lang)
    return reply, decision, report


def _persist(
    rt: Runtime,
    turn: _Turn,
    a: Assessment,
    written: Written | None,
    decision: Decision,
    report: GuardReport,
    reply: str,
    clock: _Clock,
) -> TurnResult:
    """Store the reply, queue a handoff, write the trace; the result the caller sees."""
    req, tenant = turn.req, rt.tenant
    retrieval = written.retrieval if written else None
    handoff_id = None
    with rt.db.begin() as conn:
        convs.append_message(conn, req.conversation_id, Role.ASSISTANT, reply, turn_id=turn.turn_id, tenant=tenant)
        convs.remember(conn, req.conversation_id, tenant, remembered(turn.identity, decision, turn.text))
        if decision.action is Action.HANDOFF:
            context = _handoff_context(req, turn.known, a.signal, a.verdict, a.emotion, decision, retrieval)
            handoff_id = queue.enqueue(
                conn, req.conversation_id, tenant, decision.reason.value, decision.detail, context
            )
        clock.lap("store_out")
        data = _trace(
            req,
            a.text,
            a.lang,
            a.verdict,
            a.routed,
            a.signal,
            a.emotion,
            retrieval,
            written.generation if written else None,
            written.proposal if written else None,
            written.model_error if written else "",
            decision,
            report,
            reply,
            handoff_id,
            rt,
            clock,
        )
        data["identity"] = turn.identity.status.value
        write_trace(conn, turn.turn_id, req.conversation_id, decision.action.value, clock.total(), data, tenant)
    return TurnResult(
        conversation_id=req.conversation_id,
        turn_id=turn.turn_id,
        reply=reply,
        decision=decision,
        rule_hits=a.verdict.hits,
        kb_version=retrieval.version if retrieval else None,
        passage_ids=retrieval.passage_ids if retrieval else (),
        handoff_id=handoff_id,
        lang=a.lang,
        latency_ms=clock.total(),
        stage_ms=clock.stages,
        scaffold=written.scaffold if written else None,
        state_text=a.signal.agent_facts or a.signal.facts,
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
