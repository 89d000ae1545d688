"""Tables of Keel's own database (conversations, handoffs, traces, KB versions, console agents)."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

# a conversation id is the client's; it names a conversation within its tenant only
conversations = Table(
    "conversations",
    metadata,
    Column("tenant", String(64), primary_key=True, default="default"),
    Column("id", String(128), primary_key=True),
    Column("user_id", String(128), nullable=True),
    Column("lang", String(8), nullable=True),
    Column("status", String(16), nullable=False),  # bot | human | closed
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # what the conversation remembers between turns (online/conversations.py: Memory)
    Column("last_action", String(16), nullable=True),  # the bot's last decision
    Column("last_reason", String(32), nullable=True),
    Column("verified_at", DateTime(timezone=True), nullable=True),  # the customer passed the identity check
    Column("verify_failures", Integer, nullable=True),
    Column("pending_question", Text, nullable=True),  # asked before the identity check; answered once it passes
)
#: columns added after the first release: an older database gains them when it is opened
LATER_COLUMNS = {
    "conversations": ("last_action", "last_reason", "verified_at", "verify_failures", "pending_question"),
}

messages = Table(
    "messages",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tenant", String(64), nullable=False, default="default"),
    Column("conversation_id", String(128), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("role", String(16), nullable=False),
    Column("content", Text, nullable=False),
    Column("turn_id", String(64), nullable=True),
    Column("author", String(128), nullable=True),  # agent name for human replies
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("tenant", "conversation_id", "seq", name="uq_message_seq"),
    ForeignKeyConstraint(["tenant", "conversation_id"], ["conversations.tenant", "conversations.id"]),
)

traces = Table(
    "traces",
    metadata,
    Column("turn_id", String(64), primary_key=True),
    Column("tenant", String(64), nullable=False, default="default"),
    Column("conversation_id", String(128), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("action", String(16), nullable=False),
    Column("latency_ms", Integer, nullable=False),
    Column("data", JSON, nullable=False),  # redacted
)
Index("ix_traces_conversation", traces.c.tenant, traces.c.conversation_id, traces.c.created_at)

handoffs = Table(
    "handoffs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("conversation_id", String(128), nullable=False),
    Column("tenant", String(64), nullable=False, default="default"),
    Column("status", String(16), nullable=False),  # queued | claimed | released | closed
    Column("reason", String(32), nullable=False),
    Column("detail", Text, nullable=False, default=""),
    Column("context", JSON, nullable=False),
    Column("claimed_by", String(128), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("claimed_at", DateTime(timezone=True), nullable=True),
    Column("closed_at", DateTime(timezone=True), nullable=True),
)
Index("ix_handoffs_status", handoffs.c.status, handoffs.c.id)
Index("ix_handoffs_conversation", handoffs.c.tenant, handoffs.c.conversation_id)

kb_versions = Table(
    "kb_versions",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("tenant", String(64), nullable=False, default="default"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("note", Text, nullable=False, default=""),
    Column("source", Text, nullable=False, default=""),
    Column("parent", Integer, nullable=True),
    Column("doc_count", Integer, nullable=False),
    Column("content_hash", String(64), nullable=False),
)

kb_documents = Table(
    "kb_documents",
    metadata,
    Column("version", Integer, ForeignKey("kb_versions.version"), primary_key=True),
    Column("doc_id", String(200), primary_key=True),
    Column("topic", String(200), nullable=False),
    Column("lang", String(8), nullable=False),
    Column("title", Text, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("regions", JSON, nullable=False),
    Column("valid_from", String(10), nullable=True),
    Column("valid_to", String(10), nullable=True),
    Column("tags", JSON, nullable=False),
    Column("body", Text, nullable=False),
    Column("content_hash", String(64), nullable=False),
)

# the single row says which version is in force; flipping it is the atomic publish / rollback
kb_head = Table(
    "kb_head",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("version", Integer, ForeignKey("kb_versions.version"), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# human agents of the web console: local accounts, scrypt-hashed passwords (see keel.console.auth)
agents = Table(
    "agents",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tenant", String(64), nullable=False, default="default"),
    Column("name", String(64), nullable=False),
    Column("role", String(32), nullable=False),  # agent | knowledge_owner | reviewer | admin
    Column("password_hash", String(255), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("tenant", "name", name="uq_agent_name"),
)

# keys of the service API: only the sha256 of a key is stored; the key itself is shown once
api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tenant", String(64), nullable=False),
    Column("name", String(64), nullable=False),
    Column("key_sha256", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),  # the first characters, to recognise a key in a list
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked", Boolean, nullable=False, default=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("tenant", "name", name="uq_api_key_name"),
)
