"""The trace record is a typed Trace: written validated and redacted, read back typed; older records degrade."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from keel.console.traceview import trace_view
from keel.db import open_database
from keel.domain import Action, Decision, Lang, Reason
from keel.online.trace import Trace, parse_trace, traces_for, write_trace

HELD = {
    "message": "my number is 13912345678",
    "lang": Lang.EN,
    "user_id": "u1001",
    "decision": Decision(action=Action.HANDOFF, reason=Reason.HUMAN_HOLDS, confidence=1.0),
    "handoff_id": 7,
    "stage_ms": {"validate": 0.5},
}


def test_written_redacted_with_the_keys_given_and_read_back_typed(tmp_path):
    db = open_database(f"sqlite:///{tmp_path / 'k.sqlite'}")
    with db.begin() as conn:
        write_trace(conn, "t1", "c1", "handoff", 3.2, HELD, "default")
    (row,) = traces_for(db, "c1", "default")
    assert set(row) == {"turn_id", "created_at", "action", "latency_ms", *HELD}  # no keys a stage did not give
    trace = parse_trace(row)
    assert trace is not None and trace.decision.reason is Reason.HUMAN_HOLDS and trace.handoff_id == 7
    assert "13912345678" not in trace.message and trace.rules is None and trace.model is None
    view = trace_view(row)
    assert view["decision"]["reason"] == "human_holds" and not view["guard_ran"] and view["stages"][0]["ms"] == 0.5


def test_a_record_the_model_does_not_describe_is_refused(tmp_path):
    db = open_database(f"sqlite:///{tmp_path / 'k.sqlite'}")
    with pytest.raises(ValidationError), db.begin() as conn:
        write_trace(conn, "t1", "c1", "handoff", 1.0, {**HELD, "mood": "grumpy"}, "default")
    with pytest.raises(ValidationError):
        Trace.model_validate({**HELD, "lang": "fr"})


def test_an_older_record_shows_its_row_only():
    row = {"turn_id": "t1", "created_at": "2026-11-01T10:00:01", "action": "answer", "latency_ms": 12}
    old = {**row, "decision": {"action": "answer"}}  # written before the decision had a reason
    assert parse_trace(old) is None
    view = trace_view(old)
    assert view["action"] == "answer" and view["decision"] == {} and view["rule_hits"] == [] and view["model"] is None
