"""Shared fixtures: a demo runtime with a scripted model, built in code; no network.

Storage tests (marker ``storage``) run twice: on SQLite and on a real PostgreSQL server that
the session starts itself (``keel.db.pgserver``: ``initdb`` + ``pg_ctl`` on a unix socket in a
temp folder, no TCP; as root it runs as the ``postgres`` system user through ``runuser``).
Each PostgreSQL test gets a database of its own. Without ``initdb`` (``apt-get install
postgresql``) the PostgreSQL variants are skipped with that reason.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from datetime import date
from pathlib import Path

import pytest

from keel.config import DEMO_DIR, KeelConfig, load_config
from keel.db.engine import Database
from keel.db.pgserver import PostgresServer, find_pg_bin
from keel.online.kb import store
from keel.online.model.scripted import ScriptedModel, ScriptEntry
from keel.online.router.store import TrainedRouter
from keel.online.runtime import Runtime, open_runtime

TODAY = date(2026, 11, 24)


@pytest.fixture(scope="session")
def embedding_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Passage embeddings are shared by every test of the session (the demo KB is embedded once)."""
    return tmp_path_factory.mktemp("embeddings")


@pytest.fixture(scope="session")
def trained_router(embedding_cache: Path) -> TrainedRouter:
    """The demo router, trained once per session (its example vectors live in the session's cache)."""
    from keel.embed import EmbeddingCache, default_embedder
    from keel.online.router.store import train_router

    cfg = load_config(
        env={}, home=embedding_cache / "router-home", model="scripted", embedding_cache_dir=embedding_cache
    )
    return train_router(cfg, EmbeddingCache(embedding_cache / "embeddings.sqlite", default_embedder()), save=False)


BACKENDS = ("sqlite", pytest.param("postgres", marks=pytest.mark.postgres))
_db_names = itertools.count(1)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "db_url" in metafunc.fixturenames and metafunc.definition.get_closest_marker("storage"):
        metafunc.parametrize("db_url", BACKENDS, indirect=True)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    if find_pg_bin() is None:
        pytest.skip("PostgreSQL is not installed (no initdb on PATH or in /usr/lib/postgresql/*/bin)")
    with PostgresServer() as server:
        yield server


@pytest.fixture
def db_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """``None`` (SQLite under the test's home) or the URL of a fresh PostgreSQL database."""
    if getattr(request, "param", "sqlite") == "sqlite":
        yield None
        return
    server: PostgresServer = request.getfixturevalue("pg_server")
    name = f"keel_test_{next(_db_names)}"
    url = server.create_database(name)
    yield url
    server.drop_database(name)


@pytest.fixture
def cfg(tmp_path: Path, embedding_cache: Path, db_url: str | None) -> KeelConfig:
    return load_config(
        env={},
        home=tmp_path / "home",
        model="scripted",
        today=TODAY,
        embedding_cache_dir=embedding_cache,
        database_url=db_url,
    )


def publish_demo(db: Database) -> None:
    store.publish_folder(db, DEMO_DIR / "kb" / "v1", note="v1")
    store.publish_folder(db, DEMO_DIR / "kb" / "v2", overlay=True, note="v2")


@pytest.fixture
def make_runtime(cfg: KeelConfig, trained_router: TrainedRouter) -> Callable[..., Runtime]:
    def make(entries: Sequence[ScriptEntry] = (), model: object | None = None, **overrides: object) -> Runtime:
        c = cfg.with_overrides(**overrides) if overrides else cfg
        rt = open_runtime(c, model=model or ScriptedModel(entries), router=trained_router)  # type: ignore[arg-type]
        if store.current_version(rt.db) is None:
            publish_demo(rt.db)
        return rt

    return make


@pytest.fixture
def runtime(make_runtime: Callable[..., Runtime]) -> Runtime:
    return make_runtime()
