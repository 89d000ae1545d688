"""A conversation as turns, each with its trace shaped for display (tolerant of older or partial traces)."""

from __future__ import annotations

from typing import Any

from keel.console.i18n import Translator
from keel.console.views import message_item
from keel.online.conversations import Conversation


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def trace_view(trace: dict[str, Any]) -> dict[str, Any]:
    """The fields a person reads, with safe defaults when a stage did not run."""
    stages = {k: float(v) for k, v in _as_dict(trace.get("stage_ms")).items() if isinstance(v, int | float)}
    slowest = max(stages.values(), default=0.0) or 1.0
    rules = _as_dict(trace.get("rules"))
    retrieval = trace.get("retrieval")
    return {
        "turn_id": trace.get("turn_id", ""),
        "action": trace.get("action", ""),
        "latency_ms": trace.get("latency_ms", 0),
        "decision": _as_dict(trace.get("decision")),
        "proposal": trace.get("proposal") if isinstance(trace.get("proposal"), dict) else None,
        "rule_hits": _as_list(rules.get("hits")),
        "rule_action": rules.get("action"),
        "rule_forbid": _as_list(rules.get("forbid")),
        "ruleset": rules.get("ruleset", ""),
        "state": _as_dict(trace.get("state")),
        "emotion": _as_dict(trace.get("emotion")),
        "retrieval": _as_dict(retrieval) if isinstance(retrieval, dict) else None,
        "model": _as_dict(trace.get("model")) or None,
        "violations": _as_list(_as_dict(trace.get("guard")).get("violations")),
        "guard_ran": "guard" in trace,
        "stages": [
            {"name": name, "ms": round(ms, 1), "share": round(ms / slowest * 100)} for name, ms in stages.items()
        ],
        "handoff_id": trace.get("handoff_id"),
    }


def turns(t: Translator, conv: Conversation, traces: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages grouped by turn (a customer message and the bot's reply); agents' replies stand alone."""
    by_turn = {tr["turn_id"]: tr for tr in traces if tr.get("turn_id")}
    groups: list[dict[str, Any]] = []
    for m in conv.messages:
        item = message_item(t, m)
        if m.turn_id and groups and groups[-1]["turn_id"] == m.turn_id:
            groups[-1]["messages"].append(item)
            continue
        trace = by_turn.get(m.turn_id) if m.turn_id else None
        groups.append(
            {
                "turn_id": m.turn_id,
                "messages": [item],
                "trace": trace_view(trace) if trace else None,
                "traced": m.turn_id is not None,
            }
        )
    return groups
