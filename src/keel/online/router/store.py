"""Train, save and load the router: ``<home>/router/head.pkl`` beside its manifest (``manifest.json``).

The manifest is Keel's one :class:`~keel.manifest.Manifest` of kind ``router``: every bank is an
input with its file hash; the details give its examples per need and per source (the offline
loop's examples are tagged ``console:prefs:<reviewer>`` or ``audit:<run>``), the hash of the
examples in force, the embedder and the seed; the config is the router config and the head's
settings, with its hash; so an eval of the router can be reproduced.

A runtime loads the saved head when its manifest's bank hash matches the banks in force, and
trains one otherwise (seconds; the example vectors are remembered in the embedding cache, so only
new examples are embedded). ``keel router train`` does the same on purpose and prints the manifest.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from keel.config import KeelConfig, RouterConfig
from keel.domain import Frozen
from keel.embed import EmbeddingCache
from keel.errors import InvalidInput
from keel.manifest import InputFile, InputRole, Manifest, ManifestKind, RouterBank, RouterDetails, read_manifest
from keel.online.router.banks import Example, Need, bank_hash, read_banks_by_path
from keel.online.router.head import DENSE_WEIGHT, RouterHead, cross_validate, fit_head

HEAD_FILE = "head.pkl"
MANIFEST_FILE = "manifest.json"
RETRAIN = "`keel router train` trains it again"


class TrainedRouter(Frozen):
    model_config = Frozen.model_config | {"arbitrary_types_allowed": True}

    head: RouterHead
    manifest: Manifest  # of kind router

    @property
    def details(self) -> RouterDetails:
        return self.manifest.details_as(RouterDetails)

    @property
    def fingerprint(self) -> str:
        return self.details.fingerprint


class BanksInForce(Frozen):
    """The banks in force, deduplicated: the examples, and each file with what it gave."""

    examples: tuple[Example, ...]
    inputs: tuple[InputFile, ...]
    banks: tuple[RouterBank, ...]


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def router_settings(cfg: RouterConfig) -> dict[str, Any]:
    """What shapes the head beside its examples: the router config and the head's own settings."""
    return {"router": cfg.model_dump(mode="json"), "dense_weight": DENSE_WEIGHT}


def _counts(examples: list[Example]) -> tuple[dict[str, int], dict[str, int]]:
    return dict(Counter(e.need.value for e in examples)), dict(Counter(e.source for e in examples))


def examples_in_force(cfg: KeelConfig) -> BanksInForce:
    """The banks in force, deduplicated, with what each gave."""
    per_bank = read_banks_by_path(cfg.router_banks)
    inputs, banks = [], []
    for path, got in per_bank:
        data = path.read_bytes()
        inputs.append(
            InputFile(role=InputRole.BANK, path=str(path), sha256=hashlib.sha256(data).hexdigest(), size=len(data))
        )
        by_need, by_source = _counts(got)
        banks.append(RouterBank(path=str(path), examples=len(got), by_need=by_need, by_source=by_source))
    examples = tuple(ex for _, got in per_bank for ex in got)
    return BanksInForce(examples=examples, inputs=tuple(inputs), banks=tuple(banks))


def train_router(
    cfg: KeelConfig,
    cache: EmbeddingCache,
    *,
    seed: int = 0,
    cv: bool = False,
    save: bool = True,
    progress: Callable[[str], None] = lambda _m: None,
    banks: BanksInForce | None = None,
) -> TrainedRouter:
    banks = examples_in_force(cfg) if banks is None else banks
    examples = list(banks.examples)
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
    by_need, by_source = _counts(examples)
    details = RouterDetails(
        bank_hash=bank_hash(examples),
        examples=len(examples),
        by_need=by_need,
        by_source=by_source,
        banks=banks.banks,
        embedder=cache.embedder_name,
        seed=seed,
        train_s=round(time.perf_counter() - started, 2),
        cv_accuracy=cv_acc,
        cv_by_need=cv_by,
    )
    manifest = Manifest.new(details, inputs=banks.inputs, config=router_settings(cfg.router))
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
    """The router saved in *folder*; None when none is; InvalidInput (saying to retrain) when it cannot be read."""
    path = folder / MANIFEST_FILE
    if not path.is_file():
        return None
    try:
        manifest = read_manifest(path, ManifestKind.ROUTER)
    except InvalidInput as exc:
        raise InvalidInput(f"{exc.message}; {RETRAIN}") from None
    try:
        head = pickle.loads((folder / HEAD_FILE).read_bytes())  # our own file, written by save_router
    except (OSError, ValueError, pickle.UnpicklingError, AttributeError, EOFError, ImportError) as exc:
        raise InvalidInput(
            f"{folder / HEAD_FILE}: cannot load the router ({exc.__class__.__name__}); {RETRAIN}"
        ) from None
    return TrainedRouter(head=head, manifest=manifest)


def load_router(
    cfg: KeelConfig, cache: EmbeddingCache, progress: Callable[[str], None] = lambda _m: None
) -> TrainedRouter:
    """The saved router if it was trained on the banks in force, else a freshly trained one.

    A trained head is also kept beside the embedding cache, keyed by its bank hash, so homes that
    share a cache (workers, tests, a demo reset) do not train the same router twice.
    """
    banks = examples_in_force(cfg)
    want = bank_hash(banks.examples)
    shared = cfg.index_dir / "routers" / want[:16]
    for folder in (cfg.router_dir, shared):
        try:
            saved = load_saved(folder)
        except InvalidInput:
            saved = None  # unreadable (an older Keel wrote it, or it is damaged): trained again below
        if saved is not None and saved.details.bank_hash == want:
            return saved
    trained = train_router(cfg, cache, progress=progress, banks=banks)
    save_router(shared, trained)
    return trained
