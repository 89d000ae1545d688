"""Everything the online path needs, built once from the config and passed in explicitly."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from keel.config import KeelConfig
from keel.db import Database, open_database
from keel.embed import Embedder, EmbeddingCache, default_embedder
from keel.online.kb.index import IndexRegistry
from keel.online.model.base import ModelBackend
from keel.online.model.deadline import ModelCaller
from keel.online.model.registry import build_backend
from keel.online.router.store import TrainedRouter, load_router
from keel.online.rules.schema import RuleSet, load_rules
from keel.online.state.providers import StateProvider, build_state_provider


@dataclass
class Runtime:
    cfg: KeelConfig
    db: Database
    rules: RuleSet
    state: StateProvider
    indexes: IndexRegistry
    embedder: Embedder
    model: ModelBackend
    router: TrainedRouter | None = None  # None: routing disabled (rules, state and grounding only)
    tenant: str = "default"  # a request's view of the runtime carries its API key's tenant
    model_calls: ModelCaller = field(default_factory=ModelCaller)  # every model call, under a deadline

    def today(self) -> date:
        return self.cfg.today or date.today()


def open_runtime(
    cfg: KeelConfig,
    *,
    model: ModelBackend | None = None,
    state: StateProvider | None = None,
    embedder: Embedder | None = None,
    db: Database | None = None,
    router: TrainedRouter | None = None,
) -> Runtime:
    """Open the database, load rules (with example embeddings), state provider and model backend."""
    embedder = embedder or default_embedder()
    db = db or open_database(cfg.db_url)
    cache = EmbeddingCache(cfg.index_dir / "embeddings.sqlite", embedder)
    rt = Runtime(
        cfg=cfg,
        db=db,
        rules=load_rules(cfg.rules_path, embedder),
        state=state or build_state_provider(cfg.state, cfg.home, cfg.customers, cfg.business),
        indexes=IndexRegistry(db, cache, public_contacts=cfg.business.public_contacts),
        embedder=embedder,
        model=model or build_backend(cfg),
        router=router or (load_router(cfg, cache) if cfg.router.enabled else None),
    )
    warm_up(rt)
    return rt


def warm_up(rt: Runtime) -> None:
    """Load the lazy parts (jieba, sentiment lexicons, the embedder) before the first customer."""
    from keel.domain import Lang
    from keel.online.emotion import assess_emotion
    from keel.online.kb.store import current_version
    from keel.text import tokenize

    rt.embedder.query(["warm up"])
    tokenize("预热 warm up")
    assess_emotion("预热一下", Lang.ZH)
    assess_emotion("warm up", Lang.EN)
    version = current_version(rt.db, rt.tenant)
    if version is not None:  # the index of the version in force, before the first customer waits for it
        rt.indexes.get(version, rt.tenant)
