"""Kill the server (SIGKILL) in the middle of a load: after a restart nothing acknowledged is lost and
no handoff is delivered to two agents. Several workers share the database. Runs on SQLite and on
PostgreSQL. Also: everything written during a run (every table, every log file) is free of
personal data outside the transcript itself."""

from __future__ import annotations

import itertools
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import inspect, select

from keel.db import open_database
from keel.db.schema import conversations, handoffs, messages, traces
from keel.redact import find_personal_data
from server_support import KeelServer, prepare_home

pytestmark = [pytest.mark.storage, pytest.mark.faults]

TEXTS = [
    "电子发票在哪里下载？",
    "转人工",
    "How long does delivery to Ireland take?",
    "I want to speak to a human",
    "退货运费谁出？",
]
USERS = ["u1001", "u1006", "u1002", None]


class Load:
    """Clients sending messages until told to stop (or a bound is reached); they record every 200."""

    def __init__(self, url: str, key: str, clients: int, max_messages: int, max_s: float) -> None:
        self.url, self.key = url, key
        self.clients, self.max_messages, self.max_s = clients, max_messages, max_s
        self.acked: list[dict] = []
        self.failed = 0
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._counter = itertools.count()

    def _client(self, n: int) -> None:
        headers = {"Authorization": f"Bearer {self.key}"}
        deadline = time.monotonic() + self.max_s
        with httpx.Client(base_url=self.url, headers=headers, timeout=30) as http:
            turn = 0
            while not self.stop.is_set() and time.monotonic() < deadline:
                i = next(self._counter)
                if i >= self.max_messages:
                    return
                text = TEXTS[i % len(TEXTS)]
                user = USERS[n % len(USERS)]
                conv = f"load-{n}-{turn // 2}"  # two turns per conversation
                turn += 1
                try:
                    r = http.post(f"/v1/conversations/{conv}/messages", json={"text": text, "user_id": user})
                except httpx.HTTPError:
                    with self._lock:
                        self.failed += 1
                    if self.stop.is_set():
                        return
                    time.sleep(0.05)
                    continue
                if r.status_code == 200:
                    with self._lock:
                        self.acked.append({"conv": conv, "text": text, **r.json()})

    def run(self) -> ThreadPoolExecutor:
        pool = ThreadPoolExecutor(self.clients)
        for n in range(self.clients):
            pool.submit(self._client, n)
        return pool


def test_sigkill_mid_load_loses_nothing_acknowledged(tmp_path, db_url, embedding_cache):  # noqa: PLR0915
    config, key = prepare_home(tmp_path / "home", db_url, embedding_cache)
    server = KeelServer(config, workers=2, name="first").start()
    load = Load(server.url, key, clients=6, max_messages=600, max_s=90)
    pool = load.run()
    try:
        deadline = time.monotonic() + 90
        while len(load.acked) < 40 and time.monotonic() < deadline:
            time.sleep(0.05)
        server.kill()  # mid-load: requests are in flight in both workers
    finally:
        load.stop.set()
        pool.shutdown(wait=True)
        server.kill()
    acked = list(load.acked)
    assert len(acked) >= 40, f"only {len(acked)} messages were acknowledged before the kill"

    restarted = KeelServer(config, workers=2, name="second").start()
    try:
        db = open_database(db_url or f"sqlite:///{tmp_path / 'home' / 'keel.sqlite'}", create=False)
        with db.engine.connect() as conn:
            stored = {
                (r.turn_id, r.role): r.content
                for r in conn.execute(select(messages.c.turn_id, messages.c.role, messages.c.content))
            }
            trace_ids = set(conn.scalars(select(traces.c.turn_id)))
            queued = {r.id: r for r in conn.execute(select(handoffs))}
            held = {r.id for r in conn.execute(select(conversations.c.id).where(conversations.c.status == "human"))}
        lost = []
        for a in acked:
            if stored.get((a["turn_id"], "user")) != a["text"]:
                lost.append(("message", a["turn_id"]))
            if stored.get((a["turn_id"], "assistant")) != a["reply"]:
                lost.append(("reply", a["turn_id"]))
            if a["turn_id"] not in trace_ids:
                lost.append(("trace", a["turn_id"]))
            if a["handoff_id"] and a["handoff_id"] not in queued:
                lost.append(("handoff", a["handoff_id"]))
        assert lost == [], f"lost after SIGKILL: {lost[:10]}"
        # no torn turn: every reply has its trace, every open handoff holds its conversation
        replies = [t for (t, role) in stored if role == "assistant"]
        assert set(replies) <= trace_ids
        assert {h.conversation_id for h in queued.values() if h.status == "queued"} <= held
        assert sum(1 for a in acked if a["handoff_id"]) > 0

        # agents pull the queue concurrently through both workers: each handoff exactly once
        def agent(name: str) -> list[int]:
            won = []
            with httpx.Client(base_url=restarted.url, headers={"X-API-Key": key}, timeout=30) as http:
                for _ in range(500):
                    r = http.post("/v1/handoffs/claim-next", json={"agent": name})
                    assert r.status_code == 200, r.text
                    h = r.json()["handoff"]
                    if h is None:
                        return won
                    assert h["claimed_by"] == name
                    won.append(h["id"])
            return won

        with ThreadPoolExecutor(5) as agents:
            claimed = [hid for won in agents.map(agent, [f"agent-{i}" for i in range(5)]) for hid in won]
        expected = sorted(h.id for h in queued.values() if h.status == "queued")
        assert sorted(claimed) == expected, "a handoff was claimed twice or not at all"
    finally:
        restarted.stop()


PERSONAL = [
    "我的手机是13812345678，请回电",
    "My e-mail is jane.doe@example.org, please write to me",
    "身份证号11010519491231002X，帮我查下实名认证",
    "I paid with card 4111 1111 1111 1111 and was charged twice",
    "call me on +86 139 1234 5678 or +49 151 2345 6789",
    "转人工，我的电话 13900001234，邮箱 li.si@example.net",
]


def test_no_personal_data_in_traces_tables_or_logs(tmp_path, db_url, embedding_cache):
    home = tmp_path / "home"
    config, key = prepare_home(home, db_url, embedding_cache)
    with KeelServer(config, workers=2, log_level="info", name="pii") as server:
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=30) as http:
            def send(i: int) -> int:
                text = PERSONAL[i % len(PERSONAL)]
                body = {"text": text, "user_id": "u1001" if i % 2 else None}
                return http.post(f"/v1/conversations/pii-{i}/messages", json=body).status_code

            with ThreadPoolExecutor(4) as pool:
                codes = list(pool.map(send, range(36)))
            assert set(codes) == {200}
            # requests that fail, search, and the OpenAI-compatible door carry personal data too
            unknown = {"text": "hi", "user_id": "a.b@example.com"}
            assert http.post("/v1/conversations/x/messages", json=unknown).status_code == 404
            assert http.get("/v1/conversations", params={"q": "13812345678"}).status_code == 200
            chat = {"user": "u1001", "messages": [{"role": "user", "content": "my number is 13812345678"}]}
            assert http.post("/v1/chat/completions", json=chat).status_code == 200
            bad = http.post("/v1/conversations/x/messages", content=b'{"text": "13812345678 \xff"}',
                            headers={"content-type": "application/json"})
            assert bad.status_code in (400, 422)
    db = open_database(db_url or f"sqlite:///{home / 'keel.sqlite'}", create=False)
    found = []
    with db.engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            for row in conn.exec_driver_sql(f"SELECT * FROM {table}").mappings():
                for column, value in row.items():
                    if table == "messages" and column == "content":
                        continue  # the transcript is the conversation itself, kept verbatim for the agent
                    hits = find_personal_data(str(value)) if value is not None else []
                    if hits:
                        found.append((table, column, hits))
    assert found == [], found[:10]
    logs = list((home / "logs").glob("*.log")) + [p for p in home.rglob("*.log") if "logs" not in p.parts]
    assert logs and any(p.stat().st_size for p in logs)
    written = "".join(p.read_text(errors="replace") for p in logs)
    assert "/v1/conversations" in written  # the access log was on: the scan saw every request line
    for needle in ("13812345678", "jane.doe@example.org", "11010519491231002X", "4111 1111 1111 1111"):
        assert needle not in written
    assert "a.b@example.com" not in written
    assert find_personal_data(written) == []
