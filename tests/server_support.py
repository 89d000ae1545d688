"""A real ``keel serve`` in a subprocess (its own process group) on 127.0.0.1, for fault tests.

``prepare_home`` writes a ``keel.yaml`` (scripted model, the session's embedding cache, the
given database URL), publishes the demo KB and creates an API key. ``KeelServer`` starts the
server, waits for ``/healthz``, and can be killed with SIGKILL (the whole group: uvicorn's
supervisor and its workers) or stopped. Its stdout/stderr go to log files under the home.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import yaml

from conftest import TODAY, publish_demo
from keel.api.background import free_port
from keel.api.keys import create_key
from keel.config import load_config
from keel.db import open_database
from keel.embed import EmbeddingCache, default_embedder
from keel.online.kb import store
from keel.online.kb.index import IndexRegistry


def prepare_home(home: Path, db_url: str | None, embedding_cache: Path, model: str = "scripted") -> tuple[Path, str]:
    """A Keel home with the demo KB published and one API key; returns (keel.yaml, key)."""
    home.mkdir(parents=True, exist_ok=True)
    settings = {
        "home": str(home),
        "model": model,
        "today": TODAY.isoformat(),
        "embedding_cache_dir": str(embedding_cache),
    }
    if db_url:
        settings["database_url"] = db_url
    config = home / "keel.yaml"
    config.write_text(yaml.safe_dump(settings), encoding="utf-8")
    cfg = load_config(config, env={})
    db = open_database(cfg.db_url)
    publish_demo(db)
    # embed the KB once here so the workers start from a warm cache
    IndexRegistry(db, EmbeddingCache(cfg.index_dir / "embeddings.sqlite", default_embedder())).get(
        store.resolve_version(db, None)
    )
    key = create_key(db, "default", "fault-tests").secret
    db.engine.dispose()
    return config, key


class KeelServer:
    def __init__(self, config: Path, workers: int = 1, log_level: str = "warning", name: str = "server") -> None:
        self.config, self.workers, self.log_level = config, workers, log_level
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.logs = config.parent / "logs"
        self.logs.mkdir(exist_ok=True)
        self.name = name
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 180.0) -> KeelServer:
        cmd = [
            sys.executable, "-m", "keel.cli.main", "--config", str(self.config), "serve",
            "--port", str(self.port), "--workers", str(self.workers), "--log-level", self.log_level,
        ]
        env = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
        out = (self.logs / f"{self.name}.out.log").open("ab")
        err = (self.logs / f"{self.name}.err.log").open("ab")
        self.proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"keel serve exited ({self.proc.returncode}): {self.tail()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200 and self._all_workers_up():
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.kill()
        raise RuntimeError(f"keel serve did not come up in {timeout_s:.0f}s: {self.tail()}")

    def _all_workers_up(self) -> bool:
        """Every worker answers (uvicorn accepts on the shared socket as soon as one is up)."""
        if self.workers == 1:
            return True
        pids = set()
        for _ in range(self.workers * 8):
            try:
                pids.add(httpx.get(f"{self.url}/healthz", timeout=5).json().get("pid"))
            except httpx.HTTPError:
                return False
        return len(pids) >= self.workers

    def tail(self) -> str:
        return (self.logs / f"{self.name}.err.log").read_text(errors="replace")[-3000:]

    def kill(self) -> None:
        """SIGKILL to the server's process group (the supervisor and every worker) — no clean shutdown."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def __enter__(self) -> KeelServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
