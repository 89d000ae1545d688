"""Bounded load on loopback against ``keel serve`` with the scripted model: 1 and 4 workers, SQLite and PostgreSQL.

For every (database, workers) pair it starts a fresh server (demo KB published, one API key,
the scripted model, so what is measured is Keel: HTTP, auth, storage, embedding, rules, state,
retrieval, decision, guard, trace), warms it up, then keeps ``--concurrency`` customers sending
messages until ``--messages`` are done or ``--seconds`` have passed, whichever comes first.
It reports sustained messages per second, p50/p99 latency and errors, and the ratio of 4
workers to 1 for each database; results go to ``benchmarks/results/load.json``.

Only 127.0.0.1 is ever contacted. PostgreSQL is a throwaway local server (``keel.db.pgserver``,
unix socket); without ``initdb`` the PostgreSQL rows are skipped.

    .venv/bin/python benchmarks/load.py [--messages 600] [--seconds 60] [--concurrency 16] [--workers 1,4]
                                        [--databases sqlite,postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import httpx
import yaml
from _machine import loadavg, machine

from keel.api.background import free_port
from keel.api.keys import create_key
from keel.config import DEMO_DIR, load_config
from keel.db import open_database
from keel.db.pgserver import PostgresServer, find_pg_bin
from keel.embed import EmbeddingCache, default_embedder
from keel.online.kb import store
from keel.online.kb.index import IndexRegistry

REPO = Path(__file__).resolve().parents[1]
MESSAGES = [
    "电子发票在哪里下载？",
    "How long does delivery to Ireland take?",
    "退货运费谁出？",
    "What is your return window for EU orders?",
    "包邮门槛是多少？",
    "Can I pay in instalments?",
    "你好",
    "转人工",  # one turn in eight hands off; the conversation's later turns are held for the human
]
USERS = ["u1001", "u1006", "u1002", "u1007", "u1009", None]  # a customer keeps their user id


def prepare(home: Path, db_url: str | None, cache: Path) -> tuple[Path, str]:
    home.mkdir(parents=True)
    settings = {"home": str(home), "model": "scripted", "today": "2026-11-24", "embedding_cache_dir": str(cache)}
    if db_url:
        settings["database_url"] = db_url
    config = home / "keel.yaml"
    config.write_text(yaml.safe_dump(settings), encoding="utf-8")
    cfg = load_config(config, env={})
    db = open_database(cfg.db_url)
    store.publish_folder(db, DEMO_DIR / "kb" / "v1", note="v1")
    store.publish_folder(db, DEMO_DIR / "kb" / "v2", overlay=True, note="v2")
    IndexRegistry(db, EmbeddingCache(cfg.index_dir / "embeddings.sqlite", default_embedder())).get(
        store.resolve_version(db, None)
    )
    key = create_key(db, "default", "load").secret
    db.engine.dispose()
    return config, key


class Server:
    def __init__(self, config: Path, workers: int) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [
            sys.executable, "-m", "keel.cli.main", "--config", str(config), "serve",
            "--port", str(self.port), "--workers", str(workers),
        ]
        env = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
        self.log = (config.parent / "server.log").open("ab")
        self.proc = subprocess.Popen(cmd, env=env, stdout=self.log, stderr=self.log, start_new_session=True)
        self.workers = workers

    def wait_ready(self, timeout_s: float = 300) -> None:
        deadline = time.monotonic() + timeout_s
        pids: set[int] = set()
        while time.monotonic() < deadline and len(pids) < self.workers:
            if self.proc.poll() is not None:
                raise RuntimeError("keel serve exited; see server.log")
            try:
                pids.add(httpx.get(f"{self.url}/healthz", timeout=5).json()["pid"])
            except (httpx.HTTPError, KeyError, ValueError):
                time.sleep(0.3)
        if len(pids) < self.workers:
            raise RuntimeError(f"only {len(pids)} of {self.workers} workers came up")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=30)
        self.log.close()


async def run_load(url: str, key: str, total: int, seconds: float, concurrency: int, tag: str) -> dict:
    latencies: list[float] = []
    errors = 0
    issued = 0
    deadline = time.monotonic() + seconds
    headers = {"Authorization": f"Bearer {key}"}

    async def customer(n: int, client: httpx.AsyncClient) -> None:
        nonlocal errors, issued
        turn = 0
        while issued < total and time.monotonic() < deadline:
            issued += 1
            text, user = MESSAGES[(n + turn) % len(MESSAGES)], USERS[n % len(USERS)]
            conv = f"{tag}-{n}-{turn // 3}"  # three turns per conversation
            turn += 1
            started = time.perf_counter()
            status = "connection error"
            try:
                r = await client.post(f"/v1/conversations/{conv}/messages", json={"text": text, "user_id": user})
                status = str(r.status_code)
                ok = r.status_code == 200
            except httpx.HTTPError:
                ok = False
            if ok:
                latencies.append((time.perf_counter() - started) * 1000)
            else:
                errors += 1
                if errors <= 3:
                    print(f"  error: {status} on {conv}", file=sys.stderr)

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=120, limits=limits) as client:
        started = time.perf_counter()
        await asyncio.gather(*(customer(n, client) for n in range(concurrency)))
        wall = time.perf_counter() - started
    latencies.sort()
    pick = lambda q: round(latencies[min(len(latencies) - 1, int(q * len(latencies)))], 1) if latencies else None  # noqa: E731
    return {
        "messages": len(latencies),
        "errors": errors,
        "seconds": round(wall, 2),
        "msgs_per_s": round(len(latencies) / wall, 2) if wall else 0.0,
        "p50_ms": pick(0.50),
        "p99_ms": pick(0.99),
        "mean_ms": round(statistics.fmean(latencies), 1) if latencies else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=600, help="messages per configuration (upper bound)")
    ap.add_argument("--seconds", type=float, default=60.0, help="seconds per configuration (upper bound)")
    ap.add_argument("--concurrency", type=int, default=16, help="customers sending at once")
    ap.add_argument("--workers", default="1,4", help="worker counts to compare")
    ap.add_argument("--databases", default="sqlite,postgres")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "load.json")
    args = ap.parse_args()
    workers = [int(w) for w in args.workers.split(",")]
    databases = args.databases.split(",")
    if "postgres" in databases and find_pg_bin() is None:
        print("PostgreSQL is not installed (no initdb): skipping the PostgreSQL rows", file=sys.stderr)
        databases.remove("postgres")

    root = Path(tempfile.mkdtemp(prefix="keel-load-"))
    cache = root / "embeddings"
    rows = []
    load_before = loadavg()
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, root, True)
        pg = stack.enter_context(PostgresServer(max_connections=300)) if "postgres" in databases else None
        for database in databases:
            for n in workers:
                tag = f"{database}-{n}w"
                url = pg.create_database(tag.replace("-", "_")) if database == "postgres" and pg else None
                config, key = prepare(root / tag, url, cache)
                server = Server(config, n)
                try:
                    t0 = time.monotonic()
                    server.wait_ready()
                    startup = round(time.monotonic() - t0, 1)
                    asyncio.run(run_load(server.url, key, 4 * args.concurrency, 30, args.concurrency, f"warm-{tag}"))
                    result = asyncio.run(
                        run_load(server.url, key, args.messages, args.seconds, args.concurrency, tag)
                    )
                finally:
                    server.stop()
                row = {"database": database, "workers": n, "startup_s": startup, **result}
                rows.append(row)
                print(
                    f"{database:9} {n} worker(s): {row['msgs_per_s']:7.2f} msg/s  p50 {row['p50_ms']} ms  "
                    f"p99 {row['p99_ms']} ms  errors {row['errors']}  ({row['messages']} in {row['seconds']} s)",
                    flush=True,
                )
    ratios = {}
    for database in databases:
        by = {r["workers"]: r for r in rows if r["database"] == database}
        if 1 in by and max(workers) in by and by[1]["msgs_per_s"]:
            ratios[f"{database} {max(workers)}w/1w"] = round(by[max(workers)]["msgs_per_s"] / by[1]["msgs_per_s"], 2)
    report = {
        "what": "keel serve on 127.0.0.1, scripted model, demo KB; sustained messages/s with "
        f"{args.concurrency} concurrent customers, bounded by {args.messages} messages or {args.seconds:g} s",
        "machine": machine(load_before),
        "rows": rows,
        "ratios": ratios,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    for name, value in ratios.items():
        print(f"ratio {name}: {value}")
    print(f"(machine: {os.cpu_count()} CPUs, load average {report['machine']['loadavg_before']} before the run)")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
