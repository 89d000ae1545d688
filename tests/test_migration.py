"""A database made before tenancy (conversations keyed by id alone) is brought up to date on open."""

from __future__ import annotations

import sqlite3

from keel.db import open_database
from keel.online.conversations import load_conversation
from keel.online.state.providers import SqliteStateProvider
from keel.online.trace import traces_for

OLD = """
CREATE TABLE conversations (id VARCHAR(128) PRIMARY KEY, tenant VARCHAR(64) NOT NULL, user_id VARCHAR(128),
  lang VARCHAR(8), status VARCHAR(16) NOT NULL, created_at DATETIME NOT NULL, updated_at DATETIME NOT NULL);
CREATE TABLE messages (id INTEGER PRIMARY KEY AUTOINCREMENT, conversation_id VARCHAR(128) NOT NULL
  REFERENCES conversations(id), seq INTEGER NOT NULL, role VARCHAR(16) NOT NULL, content TEXT NOT NULL,
  turn_id VARCHAR(64), author VARCHAR(128), created_at DATETIME NOT NULL,
  CONSTRAINT uq_message_seq UNIQUE (conversation_id, seq));
CREATE TABLE traces (turn_id VARCHAR(64) PRIMARY KEY, conversation_id VARCHAR(128) NOT NULL,
  created_at DATETIME NOT NULL, action VARCHAR(16) NOT NULL, latency_ms INTEGER NOT NULL, data JSON NOT NULL);
CREATE INDEX ix_traces_conversation_id ON traces (conversation_id);
INSERT INTO conversations VALUES ('c1', 'default', 'u1001', 'zh', 'bot', '2026-11-01 10:00:00.000000',
  '2026-11-01 10:00:01.000000');
INSERT INTO messages (conversation_id, seq, role, content, turn_id, created_at) VALUES
  ('c1', 1, 'user', '你好', 't1', '2026-11-01 10:00:00.000000'),
  ('c1', 2, 'assistant', '您好！', 't1', '2026-11-01 10:00:01.000000');
INSERT INTO traces VALUES ('t1', 'c1', '2026-11-01 10:00:01.000000', 'answer', 12,
  '{"decision": {"action": "answer"}}');
"""


def test_old_database_is_migrated(tmp_path):
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as conn:
        conn.executescript(OLD)
        conn.execute("CREATE TABLE customer_state (user_id TEXT PRIMARY KEY, data TEXT NOT NULL)")
        conn.execute("INSERT INTO customer_state VALUES ('u9', '{\"user_id\": \"u9\", \"name\": \"Nine\"}')")
    db = open_database(f"sqlite:///{path}")
    conv = load_conversation(db, "c1", "default")
    assert [m.content for m in conv.messages] == ["你好", "您好！"] and conv.user_id == "u1001"
    assert traces_for(db, "c1", "default")[0]["decision"]["action"] == "answer"
    assert traces_for(db, "c1", tenant="acme") == []
    open_database(f"sqlite:///{path}")  # a second open changes nothing
    assert len(load_conversation(db, "c1", "default").messages) == 2
    state = SqliteStateProvider(path)
    assert state.get("u9").name == "Nine" and state.get("u9", "acme") is None
