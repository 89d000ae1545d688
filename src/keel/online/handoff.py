"""The durable handoff queue: enqueue with full context, claim, reply, release, close."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, insert, select, update

from keel.db import Database
from keel.db.engine import utcnow
from keel.db.schema import conversations, handoffs
from keel.domain import Frozen, Reason, Role
from keel.errors import Conflict, InvalidInput, NotFound
from keel.online.conversations import ConversationStatus, append_message, set_status
from keel.redact import redact, redact_value


class HandoffStatus(StrEnum):
    QUEUED = "queued"
    CLAIMED = "claimed"
    RELEASED = "released"  # given back to the bot
    CLOSED = "closed"


OPEN_STATUSES = (HandoffStatus.QUEUED, HandoffStatus.CLAIMED)
_OPEN = tuple(s.value for s in OPEN_STATUSES)  # as stored
MAX_REPLY_CHARS = 8000


class Handoff(Frozen):
    id: int
    conversation_id: str
    tenant: str
    status: HandoffStatus
    reason: Reason  # why the turn handed off (the decision's reason)
    detail: str
    context: dict[str, Any]
    claimed_by: str | None
    created_at: datetime
    updated_at: datetime
    claimed_at: datetime | None
    closed_at: datetime | None


def _to_handoff(row: Any) -> Handoff:
    return Handoff(
        id=row.id,
        conversation_id=row.conversation_id,
        tenant=row.tenant,
        status=HandoffStatus(row.status),
        reason=Reason(row.reason),
        detail=row.detail,
        context=row.context,
        claimed_by=row.claimed_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
        claimed_at=row.claimed_at,
        closed_at=row.closed_at,
    )


def open_handoff_id(conn: Connection, conversation_id: str, tenant: str) -> int | None:
    return conn.scalar(
        select(handoffs.c.id).where(
            handoffs.c.tenant == tenant,
            handoffs.c.conversation_id == conversation_id,
            handoffs.c.status.in_(_OPEN),
        )
    )


def enqueue(
    conn: Connection, conversation_id: str, tenant: str, reason: Reason | str, detail: str, context: dict[str, Any]
) -> int:
    """Queue the conversation for a human (one open handoff per conversation) and hold it.

    *reason* is the decision's :class:`Reason` (or its value); the row stores the value.

    Call it in the transaction that locked the conversation (``append_message`` does), so two
    turns of one conversation cannot both open a handoff.
    """
    existing = open_handoff_id(conn, conversation_id, tenant)
    now = utcnow()
    if existing is not None:
        conn.execute(update(handoffs).where(handoffs.c.id == existing).values(updated_at=now))
        return existing
    result = conn.execute(
        insert(handoffs).values(
            conversation_id=conversation_id,
            tenant=tenant,
            status=HandoffStatus.QUEUED.value,
            reason=Reason(reason).value,
            detail=redact(detail),
            context=redact_value(context),  # the agent reads the verbatim transcript; the context is metadata
            created_at=now,
            updated_at=now,
        )
    )
    set_status(conn, conversation_id, ConversationStatus.HUMAN, tenant)
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def get_handoff(db: Database, handoff_id: int, tenant: str) -> Handoff:
    with db.engine.connect() as conn:
        row = conn.execute(select(handoffs).where(handoffs.c.id == handoff_id, handoffs.c.tenant == tenant)).first()
    if row is None:
        raise NotFound(f"handoff {handoff_id} not found")
    return _to_handoff(row)


def list_handoffs(db: Database, statuses: tuple[HandoffStatus, ...] = OPEN_STATUSES, *, tenant: str) -> list[Handoff]:
    with db.engine.connect() as conn:
        rows = conn.execute(
            select(handoffs)
            .where(handoffs.c.status.in_([s.value for s in statuses]), handoffs.c.tenant == tenant)
            .order_by(handoffs.c.id)
        ).all()
    return [_to_handoff(r) for r in rows]


def _check_agent(agent: str) -> None:
    if not agent.strip():
        raise InvalidInput("an agent name is required to claim a handoff")
    if any(ord(ch) < 32 for ch in agent):
        raise InvalidInput("an agent name cannot contain control characters")


def claim(db: Database, handoff_id: int, agent: str, tenant: str) -> Handoff:
    """Atomically claim a queued handoff; a handoff is never delivered to two agents."""
    _check_agent(agent)
    with db.begin() as conn:
        changed = conn.execute(
            update(handoffs)
            .where(
                handoffs.c.id == handoff_id,
                handoffs.c.tenant == tenant,
                handoffs.c.status == HandoffStatus.QUEUED.value,
            )
            .values(status=HandoffStatus.CLAIMED.value, claimed_by=agent, claimed_at=utcnow(), updated_at=utcnow())
        ).rowcount
    current = get_handoff(db, handoff_id, tenant)
    if not changed and current.claimed_by != agent:
        who = f" by {current.claimed_by}" if current.claimed_by else ""
        raise Conflict(f"handoff {handoff_id} is {current.status.value}{who}; it cannot be claimed")
    return current


def claim_next(db: Database, agent: str, tenant: str) -> Handoff | None:
    """The oldest queued handoff, claimed for *agent*; ``None`` when the queue is empty.

    PostgreSQL: ``SELECT … FOR UPDATE SKIP LOCKED`` — concurrent agents skip each other's rows
    instead of waiting. SQLite: the write transaction is exclusive, and the update is
    conditional on the handoff still being queued, so no handoff is delivered twice.
    """
    _check_agent(agent)
    with db.begin() as conn:
        candidate = conn.scalar(
            select(handoffs.c.id)
            .where(handoffs.c.tenant == tenant, handoffs.c.status == HandoffStatus.QUEUED.value)
            .order_by(handoffs.c.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        if candidate is None:
            return None
        now = utcnow()
        changed = conn.execute(
            update(handoffs)
            .where(handoffs.c.id == candidate, handoffs.c.status == HandoffStatus.QUEUED.value)
            .values(status=HandoffStatus.CLAIMED.value, claimed_by=agent, claimed_at=now, updated_at=now)
        ).rowcount
        if not changed:  # cannot happen under either lock; never hand out a row we did not win
            return None
    return get_handoff(db, candidate, tenant)


def reply(db: Database, handoff_id: int, agent: str, text: str, tenant: str) -> Handoff:
    """Write the human's reply into the same conversation (claiming the handoff if still queued)."""
    text = text.strip()
    if not text:
        raise InvalidInput("the reply is empty")
    if "\x00" in text:
        raise InvalidInput("the reply contains binary data")
    if len(text) > MAX_REPLY_CHARS:
        raise InvalidInput(f"the reply is {len(text)} characters; the limit is {MAX_REPLY_CHARS}")
    current = get_handoff(db, handoff_id, tenant)
    if current.status is HandoffStatus.QUEUED:
        current = claim(db, handoff_id, agent, tenant)
    if current.status is not HandoffStatus.CLAIMED:
        raise Conflict(f"handoff {handoff_id} is {current.status.value}; reopen it before replying")
    if current.claimed_by != agent:
        raise Conflict(f"handoff {handoff_id} is held by {current.claimed_by}")
    with db.begin() as conn:
        append_message(conn, current.conversation_id, Role.AGENT, text, author=agent, tenant=tenant)
        conn.execute(update(handoffs).where(handoffs.c.id == handoff_id).values(updated_at=utcnow()))
    return get_handoff(db, handoff_id, tenant)


def _finish(
    db: Database,
    handoff_id: int,
    status: HandoffStatus,
    conv_status: ConversationStatus,
    agent: str | None,
    tenant: str,
) -> Handoff:
    current = get_handoff(db, handoff_id, tenant)
    if current.status not in OPEN_STATUSES:
        raise Conflict(f"handoff {handoff_id} is already {current.status.value}")
    if agent and current.claimed_by and current.claimed_by != agent:
        raise Conflict(f"handoff {handoff_id} is held by {current.claimed_by}")
    with db.begin() as conn:
        changed = conn.execute(
            update(handoffs)
            .where(handoffs.c.id == handoff_id, handoffs.c.tenant == tenant, handoffs.c.status.in_(_OPEN))
            .values(status=status.value, updated_at=utcnow(), closed_at=utcnow())
        ).rowcount
        if not changed:
            raise Conflict(f"handoff {handoff_id} changed meanwhile; reload it")
        conn.execute(
            update(conversations)
            .where(conversations.c.id == current.conversation_id, conversations.c.tenant == tenant)
            .values(status=conv_status.value, updated_at=utcnow())
        )
    return get_handoff(db, handoff_id, tenant)


def release(db: Database, handoff_id: int, agent: str | None = None, *, tenant: str) -> Handoff:
    """Give the conversation back to the bot."""
    return _finish(db, handoff_id, HandoffStatus.RELEASED, ConversationStatus.BOT, agent, tenant)


def close(db: Database, handoff_id: int, agent: str | None = None, *, tenant: str) -> Handoff:
    """Resolved by the human; a later customer message reopens the conversation with the bot."""
    return _finish(db, handoff_id, HandoffStatus.CLOSED, ConversationStatus.CLOSED, agent, tenant)


def append_customer_context(conn: Connection, handoff_id: int) -> None:
    conn.execute(update(handoffs).where(handoffs.c.id == handoff_id).values(updated_at=utcnow()))
