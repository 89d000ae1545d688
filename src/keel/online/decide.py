"""The decision: rules and state are the floor; the model's proposal is accepted only within them."""

from __future__ import annotations

from dataclasses import dataclass

from keel.config import DecisionConfig, RetrievalConfig, RouterConfig
from keel.domain import Action, Decision, Modifier, Reason
from keel.online.emotion import Emotion
from keel.online.kb.retrieve import Retrieval
from keel.online.model.parse import Proposal
from keel.online.router.banks import Need
from keel.online.router.route import Route
from keel.online.rules.schema import RuleVerdict
from keel.online.state.policy import StateSignal


@dataclass(frozen=True)
class DecisionInput:
    rules: RuleVerdict
    state: StateSignal
    emotion: Emotion
    retrieval: Retrieval | None = None
    proposal: Proposal | None = None
    model_error: str = ""
    small_talk: bool = False
    clarified_before: bool = False  # the previous bot turn already asked for details
    route: Route | None = None  # what the behaviour router read (None: routing disabled)
    uncovered: tuple[str, ...] = ()  # questions of the message no passage covers (answered partially)


def grounded(inp: DecisionInput, cfg: RetrievalConfig) -> bool:
    """Is there something to answer from: a supporting passage, or the user's own state?"""
    if inp.state.state_query and inp.state.known_user:
        return True
    r = inp.retrieval
    if r is None or not r.passages:
        return False
    return r.support >= cfg.strong_support or (r.support >= cfg.min_support and r.lexical_overlap)


def _support_scale(support: float, cfg: RetrievalConfig) -> float:
    """0 at 0.08 below the grounding threshold, 1 at 0.07 above it."""
    low, high = cfg.min_support - 0.08, cfg.min_support + 0.07
    return max(0.0, min(1.0, (support - low) / (high - low)))


_STOP_ACTIONS = {Need.UNSAFE: Action.REFUSE, Need.OVERRIDE: Action.REFUSE, Need.PERSON: Action.HANDOFF}


def _routed(route: Route, modifiers: tuple[Modifier, ...], stop: bool, cfg: RouterConfig) -> Decision | None:
    """What a confident route decides without the model; *stop*: the classes that outrank the state."""
    action: Action | None = None
    reason = Reason.ROUTER
    if stop:
        if route.stops(cfg):
            action = _STOP_ACTIONS.get(route.need)
            if route.need is Need.UNSAFE and Modifier.SOOTHE in modifiers:
                action = Action.HANDOFF  # a distressed customer (self-harm talk the rules missed) goes to a person
    elif not route.gray:
        if route.need is Need.OUT_OF_SCOPE and route.p >= cfg.out_of_scope_threshold:
            action, reason = Action.REFUSE, Reason.OUT_OF_SCOPE
        elif route.need is Need.CHITCHAT:
            action, reason = Action.ANSWER, Reason.SMALL_TALK
    if action is None:
        return None
    detail = f"router: {route.need.value} p={route.p:.2f} ({route.by})"
    return Decision(action=action, modifiers=modifiers, reason=reason, detail=detail, confidence=route.p)


def pre_decide(inp: DecisionInput, cfg: RouterConfig) -> Decision | None:
    """Decisions that need no model, by priority: a forcing red-line rule, a route that stops the normal
    path (unsafe, override, person), a forcing state policy, then out of scope and small talk."""
    modifiers = _modifiers(inp, forced=True)
    if inp.rules.action is not None:
        top = inp.rules.hits[0] if inp.rules.hits else None
        detail = f"rule {inp.rules.action_rule}" + (f" matched {top.evidence!r}" if top else "")
        return Decision(action=inp.rules.action, modifiers=modifiers, reason=Reason.RULE, detail=detail, confidence=1.0)
    if inp.route is not None and (routed := _routed(inp.route, modifiers, stop=True, cfg=cfg)):
        return routed
    if inp.state.action is not None:
        return Decision(
            action=inp.state.action, modifiers=modifiers, reason=Reason.STATE, detail=inp.state.reason, confidence=1.0
        )
    if inp.route is not None:
        return _routed(inp.route, modifiers, stop=False, cfg=cfg)
    return None


def state_decision(inp: DecisionInput, ref: str) -> Decision:
    """A status question answered from the customer's own record (no model)."""
    return Decision(
        action=Action.ANSWER,
        modifiers=_modifiers(inp, forced=True),
        reason=Reason.STATE_ANSWER,
        detail=f"status of {ref} from the customer's record",
        confidence=1.0,
    )


def _modifiers(inp: DecisionInput, forced: bool) -> tuple[Modifier, ...]:
    mods: list[Modifier] = []
    if inp.rules.soothe or inp.emotion.needs_soothing or (inp.route is not None and inp.route.complaint):
        mods.append(Modifier.SOOTHE)
    careful = inp.route is not None and inp.route.careful
    if (inp.rules.forbid or inp.rules.forbid_topics or careful or inp.uncovered) and not forced:
        mods.append(Modifier.PARTIAL)
    return tuple(mods)


def decide(inp: DecisionInput, rcfg: RetrievalConfig, dcfg: DecisionConfig, router: RouterConfig) -> Decision:
    """Final action for the turn; ``pre_decide`` first, then the model within the rules."""
    forced = pre_decide(inp, router)
    if forced is not None:
        return forced
    mods = _modifiers(inp, forced=False)
    is_grounded = grounded(inp, rcfg)
    if inp.proposal is None:
        return Decision(
            action=Action.HANDOFF,
            modifiers=mods,
            reason=Reason.MODEL_FAILED,
            detail=inp.model_error or "model unavailable",
            confidence=1.0,
        )
    if not inp.proposal.ok:
        action = Action.ANSWER if is_grounded and inp.retrieval and inp.retrieval.passages else Action.CLARIFY
        return Decision(
            action=action,
            modifiers=mods,
            reason=Reason.MODEL_MALFORMED,
            detail=f"malformed model output ({inp.proposal.error}); safe fallback",
            confidence=0.5,
        )
    proposed = inp.proposal.action or Action.CLARIFY
    p = inp.proposal.confidence if inp.proposal.confidence is not None else 0.6
    if proposed is not Action.ANSWER:
        # a more careful action than answering is always allowed
        return Decision(
            action=proposed,
            modifiers=mods,
            reason=Reason.MODEL,
            detail="model proposal accepted",
            confidence=round(p, 3),
        )
    if inp.small_talk and not is_grounded:
        return Decision(
            action=Action.ANSWER,
            modifiers=mods,
            reason=Reason.SMALL_TALK,
            detail="greeting or thanks",
            confidence=round(p, 3),
        )
    if not is_grounded:
        support = inp.retrieval.support if inp.retrieval else 0.0
        complaint = inp.route is not None and inp.route.need is Need.COMPLAINT
        # a complaint with no next step in the KB goes to a person; a question is asked about first;
        # a message that looked unsafe and that the KB does not speak to is declined
        action = Action.HANDOFF if inp.clarified_before or complaint else Action.CLARIFY
        if inp.route is not None and inp.route.careful:
            action = Action.REFUSE
        return Decision(
            action=action,
            modifiers=mods,
            reason=Reason.NO_GROUNDING,
            detail=f"no supporting passage (best similarity {support:.2f}); not guessing",
            confidence=1.0,
        )
    scale = (
        1.0
        if inp.state.state_query and inp.state.known_user
        else _support_scale(inp.retrieval.support if inp.retrieval else 0.0, rcfg)
    )
    confidence = round(p * max(scale, 0.5), 3)
    if confidence < dcfg.min_confidence:
        return Decision(
            action=Action.HANDOFF,
            modifiers=mods,
            reason=Reason.MODEL,
            detail=f"confidence {confidence:.2f} below {dcfg.min_confidence:.2f}",
            confidence=confidence,
        )
    return Decision(
        action=Action.ANSWER,
        modifiers=mods,
        reason=Reason.MODEL,
        detail="grounded answer accepted",
        confidence=confidence,
    )
