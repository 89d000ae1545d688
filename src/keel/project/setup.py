"""`keel setup`: check the business's files, publish its KB folders into an empty KB, load its customers."""

from __future__ import annotations

from collections.abc import Callable

from keel.config import KeelConfig
from keel.db import open_database
from keel.domain import DEFAULT_TENANT, Frozen
from keel.errors import InvalidInput
from keel.online.kb import store
from keel.online.state.providers import build_state_provider
from keel.project.check import CheckReport, check_project


class SetupReport(Frozen):
    check: CheckReport
    published: tuple[int, ...] = ()  # KB versions this run published (none when the KB had one)
    current_version: int | None = None
    state: str = ""
    model: str | None = None  # the prepared model file, when prepared


def setup_project(cfg: KeelConfig, *, prepare_model: bool = True, log: Callable[[str], None] = print) -> SetupReport:
    """Idempotent: publishes only into an empty knowledge base; refuses when `keel check` finds errors."""
    report = check_project(cfg)
    if not report.ok:
        raise InvalidInput(f"`keel check` found {report.errors} error(s); fix them first (run `keel check`)")
    db = open_database(cfg.db_url)
    published: list[int] = []
    if store.current_version(db, DEFAULT_TENANT) is None:
        for source in cfg.kb_sources:
            info = store.publish_folder(
                db,
                source.folder,
                overlay=source.overlay and bool(published),
                note=source.note,
                tenant=DEFAULT_TENANT,
                regions=cfg.business.regions,
            )
            published.append(info.version)
            kind = "overlay" if source.overlay and len(published) > 1 else "full version"
            log(f"published KB version {info.version} from {source.folder} ({kind}, {info.doc_count} documents)")
    else:
        head = store.current_version(db, DEFAULT_TENANT)
        log(f"the knowledge base already has version {head} in force: nothing published")
    state = build_state_provider(cfg.state, cfg.home, cfg.customers, cfg.business)
    log(f"customers: {state.name}")
    model = None
    if prepare_model and cfg.model.startswith("local"):
        from keel.online.model.packaged import DEFAULT_PACKAGED, packaged_gguf

        model = str(packaged_gguf(cfg.model_cache, DEFAULT_PACKAGED, log=log))
    return SetupReport(
        check=report,
        published=tuple(published),
        current_version=store.current_version(db, DEFAULT_TENANT),
        state=state.name,
        model=model,
    )
