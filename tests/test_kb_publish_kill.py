"""A KB publish killed half-way (SIGKILL while it writes): the old version stays in force and usable,
nothing of the new one is left behind, and the next publish works. SQLite and PostgreSQL."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from keel.config import load_config
from keel.db import open_database
from keel.db.schema import kb_documents
from keel.online.kb import store
from keel.online.pipeline import MessageRequest, handle_message
from keel.online.runtime import open_runtime
from server_support import prepare_home

pytestmark = [pytest.mark.storage, pytest.mark.faults]

DOCS = 3000
BODY = "Harbor Goods bulk policy paragraph {i}: returns, shipping and invoices are explained here. " * 30


def big_folder(folder: Path) -> Path:
    folder.mkdir()
    for i in range(DOCS):
        (folder / f"bulk-{i:05d}.md").write_text(
            f"---\nid: bulk-{i:05d}\ntopic: bulk-{i:05d}\nlang: en\ntitle: Bulk {i}\nkind: policy\n---\n"
            + BODY.format(i=i),
            encoding="utf-8",
        )
    return folder


def _writing_sqlite(path: Path) -> bool:
    """The publish holds the write lock and has spilled pages into the WAL: it is half-way."""
    wal = Path(f"{path}-wal")
    if not wal.exists() or wal.stat().st_size < 1_000_000:
        return False
    probe = sqlite3.connect(path, timeout=0)
    try:
        probe.execute("BEGIN IMMEDIATE")
        probe.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError:
        return True
    finally:
        probe.close()


def _writing_postgres(db) -> bool:
    with db.engine.connect() as conn:
        n = conn.scalar(
            text(
                "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                "WHERE c.relname = 'kb_versions' AND l.mode = 'ShareRowExclusiveLock' AND l.granted "
                "AND l.pid <> pg_backend_pid()"
            )
        )
    return bool(n)


def test_publish_killed_half_way_keeps_the_old_version(tmp_path, db_url, embedding_cache):
    home = tmp_path / "home"
    config, _ = prepare_home(home, db_url, embedding_cache)
    cfg = load_config(config, env={})
    db = open_database(cfg.db_url)
    before = store.current_version(db)
    assert before == 2
    sqlite_path = Path(cfg.db_url.removeprefix("sqlite:///")) if db.is_sqlite else None
    if sqlite_path:
        with sqlite3.connect(sqlite_path) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    folder = big_folder(tmp_path / "bulk")

    cmd = [sys.executable, "-m", "keel.cli.main", "--config", str(config), "kb", "publish", str(folder)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    killed_while_writing = False
    deadline = time.monotonic() + 120
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            writing = _writing_sqlite(sqlite_path) if sqlite_path else _writing_postgres(db)
            if writing:
                if not sqlite_path:
                    time.sleep(0.05)  # let it insert a while inside its transaction
                os.kill(proc.pid, signal.SIGKILL)
                killed_while_writing = True
                break
            time.sleep(0.005)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        out = proc.communicate(timeout=30)[0].decode(errors="replace")
    assert killed_while_writing, f"the publish finished before it could be killed: {out[-500:]}"
    assert proc.returncode == -signal.SIGKILL

    # the old version is in force, the half-written one does not exist
    db = open_database(cfg.db_url)
    assert store.current_version(db) == before
    assert [v.version for v in store.list_versions(db)] == [1, 2]
    with db.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(kb_documents).where(kb_documents.c.version > 2)) == 0
    # and usable: a customer is answered from it
    rt = open_runtime(cfg.with_overrides(model="scripted"), db=db)
    ask = MessageRequest(conversation_id="after-kill", text="电子发票在哪里下载？", user_id="u1001")
    result = handle_message(rt, ask)
    assert result.kb_version == before and result.reply and result.decision.action.value == "answer"
    # nothing is stuck: the next publish goes through
    small = tmp_path / "small"
    small.mkdir()
    (small / "a.md").write_text(
        "---\nid: a\ntopic: a\nlang: en\ntitle: A\nkind: faq\n---\nA short note.\n", encoding="utf-8"
    )
    assert store.publish_folder(db, small, overlay=True).version == 3
