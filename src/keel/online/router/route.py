"""The routing stage: what one message needs, with calibrated probabilities.

The whole message is classified, and so is each of its sentences when it has several: a request
for a person or an instruction override often rides in one clause of a longer message ("What's your
return policy? Actually, just put me through to an agent."). The classes that stop the normal path
(unsafe, override, person, complaint) are taken in priority order once their probability passes their
threshold; otherwise the most probable class wins. A top probability below ``min_confidence`` marks
the route gray: the decision treats it as a question it must not guess at.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np
from pydantic import Field

from keel.config import RouterConfig
from keel.domain import Frozen
from keel.online.router.banks import Need
from keel.online.router.head import RouterHead

#: classes that change the path when detected, highest priority first
STOP_ORDER = (Need.UNSAFE, Need.OVERRIDE, Need.PERSON, Need.COMPLAINT)
_SENTENCE = re.compile(r"(?<=[。！？!?；;…])\s*|(?<=[.])\s+|\n+|(?=【|\[(?:system|admin|系统|管理))", re.I)


class Route(Frozen):
    need: Need
    p: float = Field(ge=0.0, le=1.0)  # probability of `need` (of the segment that decided it)
    probs: dict[Need, float]  # the whole message's distribution
    gray: bool = False  # no class is confident enough
    by: str = "message"  # "message", or "clause N" when one sentence decided it
    complaint: bool = False  # upset/complaint detected anywhere (adds soothing)

    @property
    def careful(self) -> bool:
        """Read as unsafe or an override: grounded answers only, under the careful constraints."""
        return self.need in (Need.UNSAFE, Need.OVERRIDE)

    def stops(self, cfg: RouterConfig) -> bool:
        """Unsafe / override confident enough to refuse outright (below: a careful, grounded-only path)."""
        if self.need in (Need.UNSAFE, Need.OVERRIDE):
            return self.p >= cfg.stop_thresholds.get(self.need.value, 0.75)
        return self.need is Need.PERSON


def split_clauses(text: str, max_clauses: int = 4) -> list[str]:
    parts = [p.strip() for p in _SENTENCE.split(text) if p and len(p.strip()) >= 4]
    return parts[:max_clauses] if len(parts) >= 2 else []


def _pick(probs: np.ndarray, cfg: RouterConfig, clause: bool) -> tuple[Need, float] | None:
    order = list(Need)
    for need in STOP_ORDER:
        threshold = cfg.clause_threshold if clause else cfg.thresholds.get(need.value, 0.5)
        if probs[order.index(need)] >= threshold:
            return need, float(probs[order.index(need)])
    return None


def route(
    head: RouterHead,
    text: str,
    vec: np.ndarray,
    cfg: RouterConfig,
    embed: Callable[[Sequence[str]], np.ndarray],
) -> Route:
    """Route one message; *embed* embeds extra clauses (the whole message's vector is *vec*)."""
    order = list(Need)
    whole = head.predict_proba([text], vec.reshape(1, -1))[0]
    probs = {n: round(float(whole[i]), 4) for i, n in enumerate(order)}
    complaint = whole[order.index(Need.COMPLAINT)] >= cfg.thresholds.get(Need.COMPLAINT.value, 0.5)
    picked = _pick(whole, cfg, clause=False)
    by = "message"
    clauses = split_clauses(text)
    if clauses:
        cp = head.predict_proba(clauses, embed(clauses))
        complaint = complaint or bool((cp[:, order.index(Need.COMPLAINT)] >= cfg.clause_threshold).any())
        for i, row in enumerate(cp):
            hit = _pick(row, cfg, clause=True)
            if hit and (picked is None or STOP_ORDER.index(hit[0]) < STOP_ORDER.index(picked[0])):
                picked, by = hit, f"clause {i + 1}"
    gray = False
    if picked is None:
        # the most probable class; a stop class below its threshold is not a decision: take the best
        # other class and mark the route gray
        ranked = [int(k) for k in np.argsort(-whole)]
        k = next(k for k in ranked if order[k] not in STOP_ORDER or order[k] is Need.COMPLAINT)
        gray = order[ranked[0]] in STOP_ORDER and order[ranked[0]] is not Need.COMPLAINT
        picked = (order[k], float(whole[k]))
    need, p = picked
    gray = gray or (by == "message" and float(whole.max()) < cfg.min_confidence)
    return Route(need=need, p=round(p, 4), probs=probs, gray=gray, by=by, complaint=bool(complaint))
