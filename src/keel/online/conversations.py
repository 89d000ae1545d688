"""Conversations and their messages, durable in the database."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from keel.db import Database
from keel.db.engine import utcnow
from keel.db.schema import conversations, messages
from keel.domain import Action, ChatMessage, Frozen, Reason, Role
from keel.errors import Conflict, InvalidInput, NotFound

_CONV_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")


class ConversationStatus(StrEnum):
    BOT = "bot"  # the bot answers
    HUMAN = "human"  # handed off: a human agent holds it; the bot stays silent
    CLOSED = "closed"


class StoredMessage(Frozen):
    seq: int
    role: Role
    content: str
    turn_id: str | None = None
    author: str | None = None
    created_at: datetime


class Conversation(Frozen):
    id: str
    tenant: str
    user_id: str | None
    lang: str | None
    status: ConversationStatus
    created_at: datetime
    updated_at: datetime
    messages: tuple[StoredMessage, ...] = ()

    def history(self) -> tuple[ChatMessage, ...]:
        return tuple(ChatMessage(role=m.role, content=m.content) for m in self.messages)


class Memory(Frozen):
    """What a conversation remembers between turns: the bot's last decision and the identity check."""

    last_action: Action | None = None
    last_reason: Reason | None = None
    verified: bool = False
    verify_failures: int = 0
    pending_question: str | None = None  # the account question asked before the identity check

    @property
    def asked_to_verify(self) -> bool:
        return self.last_reason is Reason.VERIFY_IDENTITY


def load_memory(conn: Connection, conversation_id: str, tenant: str) -> Memory:
    row = _row(conn, conversation_id, tenant)
    if row is None:
        return Memory()
    return Memory(
        last_action=Action(row.last_action) if row.last_action else None,
        last_reason=Reason(row.last_reason) if row.last_reason in set(Reason) else None,
        verified=row.verified_at is not None,
        verify_failures=row.verify_failures or 0,
        pending_question=row.pending_question,
    )


def remember(conn: Connection, conversation_id: str, tenant: str, memory: Memory) -> None:
    """Store what the conversation remembers after a turn (the verification time is kept once set)."""
    values: dict[str, Any] = {
        "last_action": memory.last_action.value if memory.last_action else None,
        "last_reason": memory.last_reason.value if memory.last_reason else None,
        "verify_failures": memory.verify_failures,
        "pending_question": memory.pending_question,
    }
    where = (conversations.c.id == conversation_id, conversations.c.tenant == tenant)
    conn.execute(update(conversations).where(*where).values(**values))
    if memory.verified:
        conn.execute(
            update(conversations).where(*where, conversations.c.verified_at.is_(None)).values(verified_at=utcnow())
        )


def check_conversation_id(conversation_id: str) -> str:
    if not _CONV_ID.match(conversation_id or ""):
        raise InvalidInput("conversation ids use 1-128 letters, digits, '.', '_', ':' or '-'")
    return conversation_id


def _row(conn: Connection, conversation_id: str, tenant: str, lock: bool = False) -> Any:
    stmt = select(conversations).where(conversations.c.id == conversation_id, conversations.c.tenant == tenant)
    return conn.execute(stmt.with_for_update() if lock else stmt).first()


def _insert_if_missing(conn: Connection, values: dict[str, Any]) -> None:
    """Create the row unless a concurrent first message already did (no error either way)."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    conn.execute(dialect.insert(conversations).values(**values).on_conflict_do_nothing())


def ensure_conversation(
    conn: Connection, conversation_id: str, user_id: str | None, tenant: str, lang: str
) -> ConversationStatus:
    """Create the conversation on its first message and lock it; it stays bound to its first user.

    Conversation ids are scoped to the tenant: another tenant's conversation of the same id is
    neither seen nor touched.
    """
    row = _row(conn, conversation_id, tenant, lock=True)
    if row is None:
        now = utcnow()
        _insert_if_missing(
            conn,
            {
                "id": conversation_id,
                "tenant": tenant,
                "user_id": user_id,
                "lang": lang,
                "status": ConversationStatus.BOT.value,
                "created_at": now,
                "updated_at": now,
            },
        )
        row = _row(conn, conversation_id, tenant, lock=True)
    if row.user_id != user_id:
        raise Conflict(f"conversation {conversation_id!r} belongs to another user")
    return ConversationStatus(row.status)


def append_message(
    conn: Connection,
    conversation_id: str,
    role: Role,
    content: str,
    *,
    tenant: str,
    turn_id: str | None = None,
    author: str | None = None,
) -> int:
    """Append to the transcript; the conversation row is locked so sequence numbers never collide."""
    if _row(conn, conversation_id, tenant, lock=True) is None:
        raise NotFound(f"conversation {conversation_id!r} not found")
    seq = (
        conn.scalar(
            select(func.max(messages.c.seq)).where(
                messages.c.tenant == tenant, messages.c.conversation_id == conversation_id
            )
        )
        or 0
    ) + 1
    now = utcnow()
    conn.execute(
        messages.insert().values(
            tenant=tenant,
            conversation_id=conversation_id,
            seq=seq,
            role=role.value,
            content=content,
            turn_id=turn_id,
            author=author,
            created_at=now,
        )
    )
    conn.execute(
        update(conversations)
        .where(conversations.c.id == conversation_id, conversations.c.tenant == tenant)
        .values(updated_at=now)
    )
    return seq


def set_status(conn: Connection, conversation_id: str, status: ConversationStatus, tenant: str) -> None:
    conn.execute(
        update(conversations)
        .where(conversations.c.id == conversation_id, conversations.c.tenant == tenant)
        .values(status=status.value, updated_at=utcnow())
    )


def load_conversation(db: Database, conversation_id: str, tenant: str) -> Conversation:
    with db.engine.connect() as conn:
        row = _row(conn, conversation_id, tenant)
        if row is None:
            raise NotFound(f"conversation {conversation_id!r} not found")
        rows = conn.execute(
            select(messages)
            .where(messages.c.tenant == tenant, messages.c.conversation_id == conversation_id)
            .order_by(messages.c.seq)
        ).all()
    return Conversation(
        id=row.id,
        tenant=row.tenant,
        user_id=row.user_id,
        lang=row.lang,
        status=ConversationStatus(row.status),
        created_at=row.created_at,
        updated_at=row.updated_at,
        messages=tuple(
            StoredMessage(
                seq=m.seq,
                role=Role(m.role),
                content=m.content,
                turn_id=m.turn_id,
                author=m.author,
                created_at=m.created_at,
            )
            for m in rows
        ),
    )


def list_conversations(
    db: Database, tenant: str, query: str = "", limit: int = 50, offset: int = 0
) -> list[dict[str, object]]:
    """Most recent first; *query* matches the id, the user id or any message text."""
    with db.engine.connect() as conn:
        stmt = select(conversations).where(conversations.c.tenant == tenant)
        if query:
            like = f"%{query}%"
            in_messages = select(messages.c.conversation_id).where(
                messages.c.tenant == tenant, messages.c.content.like(like)
            )
            stmt = stmt.where(
                conversations.c.id.like(like) | conversations.c.user_id.like(like) | conversations.c.id.in_(in_messages)
            )
        rows = conn.execute(stmt.order_by(conversations.c.updated_at.desc()).limit(limit).offset(offset)).all()
        counts: dict[str, int] = dict(
            conn.execute(
                select(messages.c.conversation_id, func.count())
                .where(messages.c.tenant == tenant, messages.c.conversation_id.in_([r.id for r in rows]))
                .group_by(messages.c.conversation_id)
            ).all()
        )
    return [
        {
            "id": r.id,
            "user_id": r.user_id,
            "lang": r.lang,
            "status": r.status,
            "updated_at": r.updated_at,
            "messages": counts.get(r.id, 0),
        }
        for r in rows
    ]


def load_history(conn: Connection, conversation_id: str, limit: int, tenant: str) -> tuple[ChatMessage, ...]:
    """The last *limit* messages of a conversation, oldest first."""
    if limit <= 0:
        return ()
    rows = conn.execute(
        select(messages.c.role, messages.c.content)
        .where(messages.c.tenant == tenant, messages.c.conversation_id == conversation_id)
        .order_by(messages.c.seq.desc())
        .limit(limit)
    ).all()
    return tuple(ChatMessage(role=Role(r.role), content=r.content) for r in reversed(rows))
