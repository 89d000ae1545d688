"""Open Keel's database: SQLite in WAL mode on one machine, PostgreSQL beyond (one URL decides)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

from keel.db.schema import LATER_COLUMNS, conversations, messages, metadata, traces
from keel.errors import ConfigError, RuntimeFailure

#: any constant: the PostgreSQL advisory lock that serialises schema creation between workers
_SCHEMA_LOCK = 0x6B65656C


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Database:
    """A handle on Keel's database; pass it to the stores that need it."""

    engine: Engine
    url: str

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A write transaction that reads what it writes against.

        SQLite: ``BEGIN IMMEDIATE`` takes the write lock before the first read, so a
        read-then-write (next sequence number, one open handoff per conversation) cannot
        interleave with another process's. PostgreSQL: rows are locked where it matters
        (``FOR UPDATE`` on the conversation, ``SKIP LOCKED`` on the handoff queue).
        """
        with self.engine.begin() as conn:
            if self.is_sqlite:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            yield conn


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a killed process loses no commit
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _engine(url: str) -> Engine:
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        raise ConfigError(f"use a driver in the database URL: postgresql+psycopg://… (got {url.split(':')[0]}://)")
    try:
        if url.startswith("sqlite"):
            return create_engine(url, future=True)
        return create_engine(url, future=True, pool_pre_ping=True, pool_size=8, max_overflow=24, pool_timeout=30)
    except (ArgumentError, NoSuchModuleError, ImportError, ValueError) as exc:  # bad URL or missing driver
        raise ConfigError(f"cannot use database URL {url!r}: {exc}") from None


def open_database(url: str, create: bool = True) -> Database:
    """Connect (WAL for SQLite), create missing tables and bring an older schema up to date."""
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        if str(path) != ":memory:":
            path.parent.mkdir(parents=True, exist_ok=True)
    engine = _engine(url)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    db = Database(engine=engine, url=url)
    if create:
        try:
            with db.begin() as conn:  # several workers may start at once: one creates, the others wait
                if db.is_postgres:
                    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _SCHEMA_LOCK})
                _migrate(conn)
                metadata.create_all(conn)
                _add_columns(conn)
        except OperationalError as exc:
            raise RuntimeFailure(f"database unavailable: {exc.orig}") from None
    return db


def _add_columns(conn: Connection) -> None:
    """Columns added after a database was made (nullable, so old rows stay valid)."""
    for name, columns in LATER_COLUMNS.items():
        table = metadata.tables[name]
        have = {c["name"] for c in inspect(conn).get_columns(name)}
        for column in columns:
            if column not in have:
                kind = table.c[column].type.compile(dialect=conn.dialect)
                conn.execute(text(f"ALTER TABLE {name} ADD COLUMN {column} {kind}"))


def _migrate(conn: Connection) -> None:
    """Databases made before tenancy: conversations keyed by (tenant, id); messages and traces carry the tenant."""
    names = set(inspect(conn).get_table_names())
    if "messages" not in names or "tenant" in {c["name"] for c in inspect(conn).get_columns("messages")}:
        return
    convs = [dict(r._mapping) for r in conn.execute(text("SELECT * FROM conversations"))]
    tenant_of = {c["id"]: c["tenant"] for c in convs}
    msgs = [dict(r._mapping) for r in conn.execute(text("SELECT * FROM messages"))]
    trs = [dict(r._mapping) for r in conn.execute(text("SELECT * FROM traces"))] if "traces" in names else []
    for name in ("messages", "traces", "conversations"):
        conn.execute(text(f"DROP TABLE IF EXISTS {name}"))
    conn.execute(text("DROP INDEX IF EXISTS ix_traces_conversation_id"))
    metadata.create_all(conn, tables=[conversations, messages, traces])
    # raw rows (text columns as stored) go back through plain SQL so no type conversion touches them
    for table, rows in ((conversations, convs), (messages, msgs), (traces, trs)):
        for row in rows:
            if table is not conversations:
                row["tenant"] = tenant_of.get(row["conversation_id"], "default")
            cols = ", ".join(row)
            conn.execute(text(f"INSERT INTO {table.name} ({cols}) VALUES ({', '.join(':' + c for c in row)})"), row)
