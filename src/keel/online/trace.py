"""One trace row per turn: what each stage saw and decided, typed as :class:`Trace`, redacted before it is written."""

from __future__ import annotations

from typing import Any

from pydantic import Field, ValidationError
from sqlalchemy import Connection, insert, select

from keel.db import Database
from keel.db.engine import utcnow
from keel.db.schema import traces
from keel.domain import Action, Decision, Frozen, Lang
from keel.online.emotion import Emotion
from keel.online.guard.check import Violation
from keel.online.model.parse import Proposal
from keel.online.router.route import Route
from keel.online.rules.schema import Constraint, RuleHit
from keel.redact import redact_value

#: the columns of a trace row that ``traces_for`` puts beside the record (they are not part of it)
ROW_KEYS = frozenset({"turn_id", "created_at", "action", "latency_ms"})


class TraceRules(Frozen):
    hits: tuple[RuleHit, ...]
    action: Action | None  # what the highest-priority hits force
    rule: str | None  # the rule that forces it
    forbid: tuple[Constraint, ...]
    soothe: bool
    ruleset: str  # the rule file's content hash (first 12)


class TraceState(Frozen):
    known_user: bool
    keys: tuple[str, ...]  # the state fields used (not their values)
    action: Action | None
    reason: str
    state_query: bool


class TracePassage(Frozen):
    id: str
    score: float


class TraceRetrieval(Frozen):
    kb_version: int
    support: float
    passages: tuple[TracePassage, ...]


class TraceModel(Frozen):
    name: str
    latency_ms: float | None
    prompt_tokens: int | None
    completion_tokens: int | None
    raw: str | None  # the model's output, cut at 1500 characters
    cached_tokens: int | None
    retried: bool | None
    error: str | None  # the model call failed (timeout, unreachable, ...)


class TraceGuard(Frozen):
    violations: tuple[Violation, ...]


class Trace(Frozen):
    """One turn. A turn a human agent holds has only the message, the decision and the handoff."""

    message: str
    lang: Lang
    user_id: str | None
    decision: Decision
    handoff_id: int | None = None
    stage_ms: dict[str, float] = Field(default_factory=dict)
    rules: TraceRules | None = None
    state: TraceState | None = None
    route: Route | None = None  # None: the router is off, or did not read this message
    emotion: Emotion | None = None
    retrieval: TraceRetrieval | None = None  # None: nothing was retrieved (a forced decision)
    model: TraceModel | None = None  # None: the model was not asked
    proposal: Proposal | None = None
    guard: TraceGuard | None = None
    reply: str | None = None
    identity: str | None = None  # the identity check's status (online/identity.py: IdentityStatus)


def write_trace(
    conn: Connection,
    turn_id: str,
    conversation_id: str,
    action: str,
    latency_ms: float,
    data: dict[str, Any],
    tenant: str,
) -> None:
    """Validate *data* as a :class:`Trace` and store it redacted (the keys given, as JSON)."""
    trace = Trace.model_validate(data)
    record = trace.model_dump(mode="json", include=set(trace.model_fields_set))
    conn.execute(
        insert(traces).values(
            turn_id=turn_id,
            tenant=tenant,
            conversation_id=conversation_id,
            created_at=utcnow(),
            action=action,
            latency_ms=round(latency_ms),
            data=redact_value(record),
        )
    )


def traces_for(db: Database, conversation_id: str, tenant: str) -> list[dict[str, Any]]:
    """A conversation's trace rows as stored: the row's columns (``ROW_KEYS``) and the redacted record."""
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


def parse_trace(row: dict[str, Any]) -> Trace | None:
    """The typed record of a row from :func:`traces_for`; None for a record written before ``Trace``."""
    try:
        return Trace.model_validate({k: v for k, v in row.items() if k not in ROW_KEYS})
    except ValidationError:
        return None
