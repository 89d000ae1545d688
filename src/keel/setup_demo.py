"""Put the embedded demo in place: KB v1 + the v2 overlay, demo users, and the local model."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from keel.api.keys import create_key, list_keys
from keel.config import DEMO_DIR, KeelConfig
from keel.console.auth import AgentRole, add_agent, list_agents
from keel.db import Database, open_database
from keel.domain import DEFAULT_TENANT, Frozen
from keel.online.kb import store
from keel.online.model.packaged import DEFAULT_PACKAGED, packaged_gguf
from keel.online.state.providers import build_state_provider


class DemoReport(Frozen):
    kb_versions: tuple[int, ...]
    current_version: int
    published: bool
    model_dir: str | None
    demo_agents: tuple[str, ...] = ()
    api_key: str | None = None  # the demo key, when this run created it (shown once)
    api_key_file: str | None = None


DEMO_KEY_NAME = "demo"


def ensure_demo_key(db: Database, home: Path) -> tuple[str | None, Path]:
    """One API key for the default tenant when it has none; also written to ``<home>/demo-api-key`` (0600)."""
    path = home / "demo-api-key"
    if list_keys(db, "default"):
        return None, path
    secret = create_key(db, "default", DEMO_KEY_NAME).secret
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secret + "\n")
    os.chmod(path, 0o600)
    return secret, path


#: demo-only console accounts, created when there is no account at all
DEMO_AGENTS: tuple[tuple[str, AgentRole, str], ...] = (
    ("agent", AgentRole.AGENT, "agent123"),
    ("owner", AgentRole.KNOWLEDGE_OWNER, "owner123"),
    ("admin", AgentRole.ADMIN, "admin123"),
)


def ensure_demo_agents(db: Database, log: Callable[[str], None] = print) -> tuple[str, ...]:
    """Create the demo accounts into an empty account table; print their passwords once."""
    if list_agents(db, DEFAULT_TENANT):
        return ()
    for name, role, password in DEMO_AGENTS:
        add_agent(db, name, role, password, DEFAULT_TENANT)
        log(f"console account {name} / {password} ({role.value}) — demo only; change it with `keel agents passwd`")
    return tuple(name for name, _, _ in DEMO_AGENTS)


def setup_demo(cfg: KeelConfig, *, prepare_model: bool = True, log: Callable[[str], None] = print) -> DemoReport:
    """Idempotent: publishes the demo KB only into an empty knowledge base."""
    db = open_database(cfg.db_url)
    published = False
    if store.current_version(db, DEFAULT_TENANT) is None:
        v1 = store.publish_folder(
            db, DEMO_DIR / "kb" / "v1", note="demo shop: initial knowledge base", tenant=DEFAULT_TENANT
        )
        log(f"published KB version {v1.version} ({v1.doc_count} documents)")
        v2 = store.publish_folder(
            db,
            DEMO_DIR / "kb" / "v2",
            overlay=True,
            note="demo shop: cn free-shipping threshold ¥99 → ¥79",
            tenant=DEFAULT_TENANT,
        )
        log(f"published KB version {v2.version} (overlay: cn shipping threshold changed)")
        published = True
    build_state_provider(cfg.state, cfg.home, DEMO_DIR / "users.json", cfg.business)
    demo_agents = ensure_demo_agents(db, log)
    api_key, key_file = ensure_demo_key(db, cfg.home)
    model_dir = None
    if prepare_model:
        model_dir = str(packaged_gguf(cfg.model_cache, DEFAULT_PACKAGED, log=log))
    versions = store.list_versions(db, DEFAULT_TENANT)
    return DemoReport(
        kb_versions=tuple(v.version for v in versions),
        current_version=store.current_version(db, DEFAULT_TENANT) or 0,
        published=published,
        model_dir=model_dir,
        demo_agents=demo_agents,
        api_key=api_key,
        api_key_file=str(key_file) if api_key else None,
    )
