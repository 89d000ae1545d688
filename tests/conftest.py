"""Shared fixtures: a demo runtime with a scripted model, built in code; no network."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path

import pytest

from keel.config import DEMO_DIR, KeelConfig, load_config
from keel.online.kb import store
from keel.online.model.scripted import ScriptedModel, ScriptEntry
from keel.online.runtime import Runtime, open_runtime

TODAY = date(2026, 11, 24)


@pytest.fixture(scope="session")
def embedding_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Passage embeddings are shared by every test of the session (the demo KB is embedded once)."""
    return tmp_path_factory.mktemp("embeddings")


@pytest.fixture
def cfg(tmp_path: Path, embedding_cache: Path) -> KeelConfig:
    return load_config(
        env={}, home=tmp_path / "home", model="scripted", today=TODAY, embedding_cache_dir=embedding_cache
    )


def publish_demo(rt: Runtime) -> None:
    store.publish_folder(rt.db, DEMO_DIR / "kb" / "v1", note="v1")
    store.publish_folder(rt.db, DEMO_DIR / "kb" / "v2", overlay=True, note="v2")


@pytest.fixture
def make_runtime(cfg: KeelConfig) -> Callable[..., Runtime]:
    def make(entries: Sequence[ScriptEntry] = (), model: object | None = None, **overrides: object) -> Runtime:
        c = cfg.with_overrides(**overrides) if overrides else cfg
        rt = open_runtime(c, model=model or ScriptedModel(entries))  # type: ignore[arg-type]
        if store.current_version(rt.db) is None:
            publish_demo(rt)
        return rt

    return make


@pytest.fixture
def runtime(make_runtime: Callable[..., Runtime]) -> Runtime:
    return make_runtime()
