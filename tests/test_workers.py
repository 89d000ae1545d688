"""Several API worker processes share one database, with the model on an OpenAI-compatible server
(the local fake standing in for vLLM). SQLite (WAL) and PostgreSQL."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from fake_openai import FakeModelServer
from server_support import KeelServer, prepare_home

pytestmark = [pytest.mark.storage, pytest.mark.faults]

QUESTIONS = ["电子发票在哪里下载？", "How long does delivery to Ireland take?", "退货运费谁出？", "转人工"]


def test_workers_share_the_database_and_the_model_server(tmp_path, db_url, embedding_cache):
    with FakeModelServer(delay_s=30) as model:
        config, key = prepare_home(tmp_path / "home", db_url, embedding_cache, model=model.spec())
        with KeelServer(config, workers=3, name="workers") as server:
            pids: set[int] = set()
            for _ in range(300):  # the kernel spreads connections over workers; on a busy machine it takes a while
                pids.add(httpx.get(f"{server.url}/healthz").json()["pid"])
                if len(pids) == 3:
                    break
            headers = {"Authorization": f"Bearer {key}"}

            def converse(n: int) -> list[dict]:
                out = []
                with httpx.Client(base_url=server.url, headers=headers, timeout=60) as http:
                    for turn in range(4):
                        body = {"text": QUESTIONS[(n + turn) % len(QUESTIONS)], "user_id": "u1001" if n % 2 else None}
                        r = http.post(f"/v1/conversations/w-{n}/messages", json=body)
                        assert r.status_code == 200, r.text
                        out.append(r.json())
                return out

            with ThreadPoolExecutor(8) as pool:
                turns = [t for conv in pool.map(converse, range(8)) for t in conv]
            assert len(turns) == 32 and model.calls > 0
            with httpx.Client(base_url=server.url, headers=headers, timeout=60) as http:
                for n in range(8):
                    msgs = http.get(f"/v1/conversations/w-{n}").json()["messages"]
                    assert [m["seq"] for m in msgs] == list(range(1, len(msgs) + 1))
                    assert sum(m["role"] == "user" for m in msgs) == 4  # held turns store the message too
                traces = http.get("/v1/conversations/w-0/traces").json()["traces"]
                used = [t["model"]["name"] for t in traces if t.get("model")]
                assert used and all(name.startswith("openai:http://127.0.0.1") for name in used)

                # the model server goes down: every worker hands off, fast
                model.mode = "error"
                started = time.monotonic()
                r = http.post("/v1/conversations/down-1/messages", json={"text": "退货运费谁出？", "user_id": "u1001"})
                assert r.status_code == 200 and time.monotonic() - started < 10
                assert r.json()["decision"]["reason"] == "model_failed" and r.json()["handoff_id"]
    assert len(pids) == 3, f"requests reached {len(pids)} of 3 workers"
