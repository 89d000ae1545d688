"""Train, save and load the router: ``<home>/router/head.pkl`` beside a manifest of its inputs.

The manifest names every bank with its file hash and its examples per need and per source (the
offline loop's examples are tagged ``console:prefs:<reviewer>`` or ``audit:<run>``), the embedder,
a hash of the router config, and when it was made, so an eval of the router can be reproduced.

A runtime loads the saved head when its manifest's bank hash matches the banks in force, and
trains one otherwise (seconds; the example vectors are remembered in the embedding cache, so only
new examples are embedded). ``keel router train`` does the same on purpose and prints the manifest.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from keel import __version__
from keel.config import KeelConfig, RouterConfig
from keel.domain import Frozen
from keel.embed import EmbeddingCache
from keel.online.router.banks import Example, Need, bank_hash, read_banks_by_path
from keel.online.router.head import DENSE_WEIGHT, RouterHead, cross_validate, fit_head

HEAD_FILE = "head.pkl"
MANIFEST_FILE = "manifest.json"


class BankInput(Frozen):
    """One bank file as it was read: its hash, and the examples it added (after deduplication)."""

    path: str
    sha256: str  # of the file's bytes
    examples: int
    by_need: dict[str, int]
    by_source: dict[str, int]


class RouterManifest(Frozen):
    kind: str = "router"
    keel_version: str
    created_at: str
    bank_hash: str  # of the examples in force (what the head learned from)
    banks: tuple[BankInput, ...]
    examples: int
    by_need: dict[str, int]
    by_source: dict[str, int]
    embedder: str
    config_hash: str  # of the router config (thresholds, banks) and the head's settings
    seed: int
    train_s: float
    cv_accuracy: float | None = None  # out-of-fold accuracy on the training banks (a dev estimate)
    cv_by_need: dict[str, float] | None = None

    @property
    def fingerprint(self) -> str:
        return self.bank_hash[:16]


class TrainedRouter(Frozen):
    model_config = Frozen.model_config | {"arbitrary_types_allowed": True}

    head: RouterHead
    manifest: RouterManifest


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def config_hash(cfg: RouterConfig) -> str:
    settings = {"router": cfg.model_dump(mode="json"), "dense_weight": DENSE_WEIGHT}
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()


def bank_input(path: Path, examples: list[Example]) -> BankInput:
    return BankInput(
        path=str(path),
        sha256=file_sha256(path),
        examples=len(examples),
        by_need=dict(Counter(e.need.value for e in examples)),
        by_source=dict(Counter(e.source for e in examples)),
    )


def examples_in_force(cfg: KeelConfig) -> tuple[list[Example], list[BankInput]]:
    """The banks in force, deduplicated, with what each gave."""
    per_bank = read_banks_by_path(cfg.router_banks)
    examples = [ex for _, got in per_bank for ex in got]
    return examples, [bank_input(path, got) for path, got in per_bank]


def train_router(
    cfg: KeelConfig,
    cache: EmbeddingCache,
    *,
    seed: int = 0,
    cv: bool = False,
    save: bool = True,
    progress: Callable[[str], None] = lambda _m: None,
    banks: tuple[list[Example], list[BankInput]] | None = None,
) -> TrainedRouter:
    examples, inputs = banks or examples_in_force(cfg)
    texts = [e.text for e in examples]
    labels = [e.need for e in examples]
    started = time.perf_counter()
    progress(f"embedding {len(texts)} examples (remembered in the embedding cache)")
    vecs = cache.queries(texts)
    progress("fitting the head")
    head = fit_head(texts, labels, vecs, seed)
    cv_acc = cv_by = None
    if cv:
        progress("5-fold cross-validation on the training banks")
        pred = cross_validate(texts, labels, vecs, seed=seed)
        cv_acc = round(sum(p == y for p, y in zip(pred, labels, strict=True)) / len(labels), 4)
        cv_by = {
            n.value: round(
                sum(p == y for p, y in zip(pred, labels, strict=True) if y is n) / max(1, labels.count(n)), 4
            )
            for n in Need
        }
    manifest = RouterManifest(
        keel_version=__version__,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        bank_hash=bank_hash(examples),
        banks=tuple(inputs),
        examples=len(examples),
        by_need=dict(Counter(e.need.value for e in examples)),
        by_source=dict(Counter(e.source for e in examples)),
        embedder=cache.embedder_name,
        config_hash=config_hash(cfg.router),
        seed=seed,
        train_s=round(time.perf_counter() - started, 2),
        cv_accuracy=cv_acc,
        cv_by_need=cv_by,
    )
    trained = TrainedRouter(head=head, manifest=manifest)
    if save:
        save_router(cfg.router_dir, trained)
    return trained


def save_router(folder: Path, trained: TrainedRouter) -> None:
    """Head and manifest, each written atomically (a crash leaves the previous router)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in (
        (HEAD_FILE, pickle.dumps(trained.head)),
        (MANIFEST_FILE, trained.manifest.model_dump_json(indent=2).encode()),
    ):
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, folder / name)


def load_saved(folder: Path) -> TrainedRouter | None:
    try:
        manifest = RouterManifest.model_validate(json.loads((folder / MANIFEST_FILE).read_text()))
        head = pickle.loads((folder / HEAD_FILE).read_bytes())  # our own file, written by save_router
    except (OSError, ValueError, pickle.UnpicklingError, AttributeError, EOFError):
        return None
    return TrainedRouter(head=head, manifest=manifest)


def load_router(
    cfg: KeelConfig, cache: EmbeddingCache, progress: Callable[[str], None] = lambda _m: None
) -> TrainedRouter:
    """The saved router if it was trained on the banks in force, else a freshly trained one.

    A trained head is also kept beside the embedding cache, keyed by its bank hash, so homes that
    share a cache (workers, tests, a demo reset) do not train the same router twice.
    """
    banks = examples_in_force(cfg)
    want = bank_hash(banks[0])
    shared = cfg.index_dir / "routers" / want[:16]
    for folder in (cfg.router_dir, shared):
        saved = load_saved(folder)
        if saved is not None and saved.manifest.bank_hash == want:
            return saved
    trained = train_router(cfg, cache, progress=progress, banks=banks)
    save_router(shared, trained)
    return trained
