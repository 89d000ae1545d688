"""Router accuracy on a labelled bank it was not trained on: per class with 95% intervals,
per language and style, the confusion matrix, and calibration (expected calibration error).

A report names the bank by path and file hash and the router by its fingerprint and config hash, so
two reports can be compared only when they measured the same bank (``keel router gate``). It is
kept beside the router it measured: ``<router folder>/eval-<bank name>.json``.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from keel.config import RouterConfig
from keel.domain import Frozen
from keel.embed import EmbeddingCache
from keel.errors import InvalidInput
from keel.eval.stats import wilson
from keel.online.router.banks import Need, read_bank
from keel.online.router.route import route
from keel.online.router.store import TrainedRouter, file_sha256


class Rate(Frozen):
    n: int
    correct: int
    accuracy: float
    low: float
    high: float


class RouterEval(Frozen):
    bank: str
    bank_sha256: str  # of the bank file measured
    router: str  # the router's bank hash (fingerprint)
    router_config_hash: str  # the router's manifest's config hash
    created_at: str
    examples: int
    overall: Rate
    by_need: dict[str, Rate]
    by_lang: dict[str, Rate]
    by_style: dict[str, Rate]
    confusion: dict[str, dict[str, int]]  # gold → predicted → count
    ece: float  # expected calibration error of the top probability (10 bins)
    gray_rate: float  # share of examples routed gray
    errors: tuple[dict[str, str], ...]


def _rate(flags: list[bool]) -> Rate:
    lo, hi = wilson(sum(flags), len(flags))
    return Rate(
        n=len(flags),
        correct=sum(flags),
        accuracy=round(sum(flags) / max(1, len(flags)), 4),
        low=round(lo, 4),
        high=round(hi, 4),
    )


def _styles(path: Path) -> list[str]:
    out = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                out.append(str(json.loads(line).get("style") or "-"))
    return out


def evaluate_router(router: TrainedRouter, bank: Path, cache: EmbeddingCache, cfg: RouterConfig) -> RouterEval:
    """Route every example of *bank* exactly as the online stage does (clauses, thresholds)."""
    examples = read_bank(bank)
    styles = _styles(bank)
    vecs = cache.queries([e.text for e in examples])
    flags: list[bool] = []
    tops: list[float] = []
    gray = 0
    confusion: dict[str, Counter[str]] = defaultdict(Counter)
    by_need: dict[str, list[bool]] = defaultdict(list)
    by_lang: dict[str, list[bool]] = defaultdict(list)
    by_style: dict[str, list[bool]] = defaultdict(list)
    errors: list[dict[str, str]] = []
    for ex, vec, style in zip(examples, vecs, styles, strict=True):
        r = route(router.head, ex.text, vec, cfg, cache.queries)
        ok = r.need is ex.need
        flags.append(ok)
        tops.append(max(r.probs.values()))
        gray += r.gray
        confusion[ex.need.value][r.need.value] += 1
        by_need[ex.need.value].append(ok)
        by_lang[ex.lang.value].append(ok)
        by_style[style].append(ok)
        if not ok:
            errors.append({"text": ex.text, "gold": ex.need.value, "routed": r.need.value, "p": f"{r.p:.2f}"})
    conf = np.array(tops)
    correct = np.array(flags, dtype=float)
    ece = 0.0
    for lo in np.linspace(0, 0.9, 10):
        m = (conf > lo) & (conf <= lo + 0.1)
        if m.any():
            ece += m.mean() * abs(correct[m].mean() - conf[m].mean())
    return RouterEval(
        bank=str(bank),
        bank_sha256=file_sha256(bank),
        router=router.fingerprint,
        router_config_hash=router.manifest.config_hash,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        examples=len(examples),
        overall=_rate(flags),
        by_need={n.value: _rate(by_need[n.value]) for n in Need if by_need[n.value]},
        by_lang={k: _rate(v) for k, v in sorted(by_lang.items())},
        by_style={k: _rate(v) for k, v in sorted(by_style.items())},
        confusion={g: dict(c) for g, c in confusion.items()},
        ece=round(float(ece), 4),
        gray_rate=round(gray / max(1, len(examples)), 4),
        errors=tuple(errors),
    )


def report_path(router_dir: Path, bank: Path) -> Path:
    """Where the eval of a router on *bank* is kept: beside the router."""
    return router_dir / f"eval-{bank.stem}.json"


def write_report(path: Path, report: RouterEval) -> Path:
    """Write a report atomically (a crash leaves the previous one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(report.model_dump_json(indent=2))
    os.replace(tmp, path)
    return path


def read_report(path: Path) -> RouterEval:
    try:
        return RouterEval.model_validate_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInput(f"router eval report not found: {path}") from None
    except ValueError as exc:
        raise InvalidInput(f"{path}: not a router eval report ({str(exc).splitlines()[0]})") from None
