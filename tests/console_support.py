"""Fixtures and helpers for the console tests: one runtime per session, a fresh database per test.

Opening a runtime (rules with example embeddings, jieba, the embedder) takes seconds, so the
console tests share one and give every test its own database, KB versions and accounts.
Import the fixtures into a test module with ``from console_support import ...  # noqa: F401``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from keel.api.app import create_app
from keel.config import load_config
from keel.console.auth import AgentRole, add_agent
from keel.db import Database, open_database
from keel.embed import EmbeddingCache
from keel.online.kb.index import IndexRegistry
from keel.online.model.scripted import ScriptedModel
from keel.online.runtime import Runtime, open_runtime

PASSWORD = "correct horse"
ACCOUNTS = {
    "ana": AgentRole.AGENT,
    "ben": AgentRole.AGENT,
    "olga": AgentRole.KNOWLEDGE_OWNER,
    "rita": AgentRole.REVIEWER,
    "root": AgentRole.ADMIN,
}
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def add_accounts(db: Database) -> None:
    for name, role in ACCOUNTS.items():
        add_agent(db, name, role, PASSWORD, "default")


@pytest.fixture(scope="session")
def console_base(tmp_path_factory: pytest.TempPathFactory, embedding_cache: Path) -> Runtime:
    from conftest import TODAY

    home = tmp_path_factory.mktemp("console-base")
    cfg = load_config(env={}, home=home, model="scripted", today=TODAY, embedding_cache_dir=embedding_cache)
    return open_runtime(cfg, model=ScriptedModel())


def fresh_runtime(base: Runtime, home: Path) -> Runtime:
    """The shared runtime on a new database (demo KB v1 + v2 published, the test accounts added)."""
    from conftest import publish_demo

    cfg = base.cfg.with_overrides(home=home, api_auth="off")  # the helpers drive /v1 without a key
    db = open_database(cfg.db_url)
    cache = EmbeddingCache(cfg.index_dir / "embeddings.sqlite", base.embedder)
    rt = dataclasses.replace(base, cfg=cfg, db=db, indexes=IndexRegistry(db, cache))
    publish_demo(rt.db)
    add_accounts(db)
    return rt


@pytest.fixture
def console_rt(console_base: Runtime, tmp_path: Path) -> Runtime:
    return fresh_runtime(console_base, tmp_path / "home")


@pytest.fixture
def console_app(console_rt: Runtime) -> FastAPI:
    return create_app(console_rt.cfg, runtime=console_rt)


@pytest.fixture
def client(console_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(console_app, raise_server_exceptions=False) as c:
        yield c


def new_client(app: FastAPI) -> TestClient:
    """Another browser (its own cookies) on the same app."""
    return TestClient(app, raise_server_exceptions=False)


def csrf_from(html: str) -> str:
    m = _CSRF.search(html)
    assert m, "no CSRF token in the page"
    return m.group(1)


def csrf(client: TestClient, path: str = "/console/login") -> str:
    return csrf_from(client.get(path).text)


def login(client: TestClient, name: str, password: str = PASSWORD, next: str = ""):
    token = csrf(client)
    data = {"name": name, "password": password, "csrf": token, "next": next}
    return client.post("/console/login", data=data, follow_redirects=False)


def signed_in(client: TestClient, name: str) -> TestClient:
    r = login(client, name)
    assert r.status_code == 303, r.text
    return client


def handoff(client: TestClient, conv: str, user: str = "u1002", text: str = "I want to speak to a human") -> int:
    """A customer asks for a human through the public API; returns the handoff id."""
    r = client.post(f"/v1/conversations/{conv}/messages", json={"text": text, "user_id": user})
    assert r.status_code == 200, r.text
    hid = r.json()["handoff_id"]
    assert hid
    return int(hid)
