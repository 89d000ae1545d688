"""Assess: what the message is, before anything is retrieved or written.

Red-line rules, the behaviour router (with the previous message for a short follow-up), the
customer's state and the emotion, as one value. Everything here is decided without the model, so
the pipeline and the preference judge read a message the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from keel.domain import Lang
from keel.online.decide import DecisionInput
from keel.online.emotion import Emotion, assess_emotion
from keel.online.kb.retrieve import search_query
from keel.online.router.banks import Need
from keel.online.router.route import Route, route
from keel.online.rules import evaluate_rules
from keel.online.rules.schema import RuleVerdict
from keel.online.runtime import Runtime
from keel.online.state.model import UserState
from keel.online.state.policy import StateSignal, assess_state
from keel.text import normalize


@dataclass(frozen=True)
class Assessment:
    text: str
    norm: str
    lang: Lang
    earlier: tuple[str, ...]  # the customer's earlier messages in this conversation
    qvec: np.ndarray | None  # the message's e5 vector (None when nothing needed it)
    verdict: RuleVerdict
    routed: Route | None
    signal: StateSignal
    emotion: Emotion

    def decision_input(self) -> DecisionInput:
        return DecisionInput(rules=self.verdict, state=self.signal, emotion=self.emotion, route=self.routed)


def _no_lap(stage: str) -> None:
    return None


def assess(
    rt: Runtime,
    text: str,
    lang: Lang,
    user: UserState | None,
    earlier: Sequence[str] = (),
    lap: Callable[[str], None] = _no_lap,
) -> Assessment:
    """Rules → router → state → emotion for one customer message; *lap* times each stage."""
    norm = normalize(text)
    need_vec = rt.rules.uses_embeddings or rt.router is not None
    qvec = rt.embedder.query([text])[0] if need_vec else None
    lap("embed")
    verdict = evaluate_rules(rt.rules, text, qvec)
    lap("rules")
    routed = None
    if rt.router is not None and qvec is not None:
        # a short follow-up is read together with the customer's previous message
        context = search_query(text, list(earlier))
        cvec = qvec if context == text else rt.embedder.query([context])[0]
        routed = route(rt.router.head, context, cvec, rt.cfg.router, rt.embedder.query)
    lap("route")
    account = routed is not None and routed.need is Need.ACCOUNT
    signal = assess_state(
        user, norm, lang, rt.rules, rt.cfg.decision, rt.today(), account_hint=account, business=rt.cfg.business
    )
    lap("state")
    emotion = assess_emotion(text, lang)
    lap("emotion")
    return Assessment(
        text=text,
        norm=norm,
        lang=lang,
        earlier=tuple(earlier),
        qvec=qvec,
        verdict=verdict,
        routed=routed,
        signal=signal,
        emotion=emotion,
    )
