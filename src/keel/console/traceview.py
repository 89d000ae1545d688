"""A conversation as turns, each with its trace (read as a :class:`~keel.online.trace.Trace`) shaped for display."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from keel.console.i18n import Translator
from keel.console.views import message_item
from keel.online.conversations import Conversation
from keel.online.trace import parse_trace


def _dump(model: BaseModel | None) -> dict[str, Any] | None:
    return model.model_dump(mode="json") if model is not None else None


def trace_view(row: dict[str, Any]) -> dict[str, Any]:
    """The fields a person reads; a stage that did not run (or a record older than ``Trace``) shows as empty."""
    trace = parse_trace(row)
    stages = dict(trace.stage_ms) if trace else {}
    slowest = max(stages.values(), default=0.0) or 1.0
    rules = trace.rules if trace else None
    return {
        "turn_id": row.get("turn_id", ""),
        "action": row.get("action", ""),
        "latency_ms": row.get("latency_ms", 0),
        "decision": _dump(trace.decision) if trace else {},
        "proposal": _dump(trace.proposal) if trace else None,
        "rule_hits": [h.model_dump(mode="json") for h in rules.hits] if rules else [],
        "rule_action": rules.action.value if rules and rules.action else None,
        "rule_forbid": [c.value for c in rules.forbid] if rules else [],
        "ruleset": rules.ruleset if rules else "",
        "state": _dump(trace.state) if trace and trace.state else {},
        "emotion": _dump(trace.emotion) if trace and trace.emotion else {},
        "retrieval": _dump(trace.retrieval) if trace else None,
        "model": _dump(trace.model) if trace else None,
        "violations": [v.model_dump(mode="json") for v in trace.guard.violations] if trace and trace.guard else [],
        "guard_ran": bool(trace and trace.guard),
        "stages": [
            {"name": name, "ms": round(ms, 1), "share": round(ms / slowest * 100)} for name, ms in stages.items()
        ],
        "handoff_id": trace.handoff_id if trace else None,
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
