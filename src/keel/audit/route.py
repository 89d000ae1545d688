"""Routing: every dialog goes to exactly one dataset, by a fixed precedence, with its reason."""

from __future__ import annotations

from collections.abc import Iterable

from keel.audit.schema import Finding, FindingKind, Route

#: First matching finding decides; a dialog with none goes to FAQ SFT (grounded in the KB) or style SFT.
PRECEDENCE: tuple[tuple[FindingKind, Route, str], ...] = (
    (
        FindingKind.STATE_DEPENDENT,
        Route.RUNTIME_STATE,
        "states one customer's order, ticket or account state: inject it at run time, never learn it",
    ),
    (
        FindingKind.DISPUTED,
        Route.BUSINESS_OWNER,
        "agents disagree on this topic and no KB policy decides: the business owner must write the rule",
    ),
    (
        FindingKind.VOLATILE,
        Route.KB_RULES,
        "promotion, date or temporary/regional term: keep it in the versioned KB, not in weights",
    ),
    (
        FindingKind.HIDDEN_EXCEPTION,
        Route.PREFERENCE,
        "the agent granted what the KB forbids: rejected side of a pair (chosen = the policy answer)",
    ),
    (
        FindingKind.INCONSISTENT,
        Route.PREFERENCE,
        "the answer contradicts other agents and the KB: rejected side of a pair (chosen = the KB value)",
    ),
    (
        FindingKind.SOOTHING_ONLY,
        Route.PREFERENCE,
        "empathy without resolution: rejected side of a pair (chosen = soothe and resolve or hand off)",
    ),
)
FAQ_REASON = "clean, and the answers state facts found in the pinned KB"
STYLE_REASON = "clean; no KB fact to pin, so it teaches tone and behaviour only"


def expected_route(kinds: Iterable[FindingKind], grounded: bool) -> Route:
    """The route for a dialog with these finding kinds (also used for the generator's labels)."""
    present = set(kinds)
    for kind, route, _ in PRECEDENCE:
        if kind in present:
            return route
    return Route.FAQ_SFT if grounded else Route.STYLE_SFT


def route_dialog(findings: Iterable[Finding], grounded: bool) -> tuple[Route, str]:
    """(route, reason) for one dialog; the reason names the deciding finding."""
    by_kind: dict[FindingKind, Finding] = {}
    for f in findings:
        by_kind.setdefault(f.kind, f)
    for kind, route, why in PRECEDENCE:
        if kind in by_kind:
            return route, f"{kind.value}: {why} — {by_kind[kind].summary}"
    return (Route.FAQ_SFT, FAQ_REASON) if grounded else (Route.STYLE_SFT, STYLE_REASON)
