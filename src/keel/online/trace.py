"""One trace row per turn, redacted before it is written."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, insert, select

from keel.db import Database
from keel.db.engine import utcnow
from keel.db.schema import traces
from keel.domain import jsonable
from keel.redact import redact_value


def write_trace(
    conn: Connection,
    turn_id: str,
    conversation_id: str,
    action: str,
    latency_ms: float,
    data: dict[str, Any],
    tenant: str = "default",
) -> None:
    conn.execute(
        insert(traces).values(
            turn_id=turn_id,
            tenant=tenant,
            conversation_id=conversation_id,
            created_at=utcnow(),
            action=action,
            latency_ms=round(latency_ms),
            data=redact_value(jsonable(data)),
        )
    )


def traces_for(db: Database, conversation_id: str, tenant: str = "default") -> list[dict[str, Any]]:
    with db.engine.connect() as conn:
        rows = conn.execute(
            select(traces)
            .where(traces.c.tenant == tenant, traces.c.conversation_id == conversation_id)
            .order_by(traces.c.created_at)
        ).all()
    return [
        {
            "turn_id": r.turn_id,
            "created_at": r.created_at.isoformat(),
            "action": r.action,
            "latency_ms": r.latency_ms,
            **r.data,
        }
        for r in rows
    ]
