"""Compare runs of the same suite: metrics side by side with intervals, paired deltas, flipped cases."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from keel.config import KeelConfig
from keel.domain import Frozen
from keel.errors import InvalidInput, NotFound
from keel.eval.cases import Category, EvalCase, Suite, load_suite
from keel.eval.metrics import DIRECTION, MetricName, Metrics, compute_metrics, metric_flags
from keel.eval.run import MANIFEST, load_manifest, load_outcomes, suite_hash
from keel.eval.score import Outcome, score
from keel.eval.stats import newcombe
from keel.manifest import EvalDetails, InputRole, Manifest


class LoadedRun(Frozen):
    """A finished (or partial) run read back from its folder."""

    run_id: str
    path: Path
    manifest: Manifest
    outcomes: tuple[Outcome, ...]
    metrics: Metrics

    @property
    def details(self) -> EvalDetails:
        return self.manifest.details_as(EvalDetails)

    @property
    def model_name(self) -> str:
        return self.manifest.model.name if self.manifest.model else "?"

    @property
    def label(self) -> str:
        return f"{self.model_name} · {self.details.mode}"


class Delta(Frozen):
    metric: MetricName
    base: float | None
    other: float | None
    diff: float | None
    low: float | None
    high: float | None
    paired: bool
    n: int
    verdict: str  # better | worse | same | n/a  (significant at 95% when better/worse)


class Flip(Frozen):
    case_id: str
    category: Category
    lang: str
    message: str
    expected: tuple[str, ...]
    base_action: str
    other_action: str
    base_reply: str
    other_reply: str
    direction: str  # fixed | broke


class Comparison(Frozen):
    runs: tuple[LoadedRun, ...]
    deltas: tuple[tuple[Delta, ...], ...]  # per other run, against runs[0]
    categories: tuple[tuple[Category, tuple[float | None, ...]], ...]
    flips: tuple[tuple[Flip, ...], ...]  # per other run


def resolve_run(cfg: KeelConfig, ref: str) -> Path:
    """A run folder path, or a run id under ``<home>/runs``; ``latest`` is the newest run."""
    path = Path(ref)
    if (path / MANIFEST).exists():
        return path
    if ref == "latest":
        runs = sorted(p for p in cfg.runs_dir.glob("*") if (p / MANIFEST).exists())
        if not runs:
            raise NotFound("no eval runs yet")
        return runs[-1]
    candidate = cfg.runs_dir / ref
    if (candidate / MANIFEST).exists():
        return candidate
    raise NotFound(f"no eval run {ref!r} (a folder with {MANIFEST}, or an id under {cfg.runs_dir})")


def _suite_of(manifest: Manifest, path: Path) -> Suite:
    suite = manifest.input(InputRole.SUITE)
    if suite is None:
        raise InvalidInput(f"run {path.name}: its manifest names no suite")
    return load_suite(Path(suite.path))


def load_run(path: Path, suite: Suite | None = None) -> LoadedRun:
    manifest = load_manifest(path)
    suite = suite or _suite_of(manifest, path)
    outcomes = tuple(load_outcomes(path))
    if not outcomes:
        raise InvalidInput(f"run {path.name} has no results yet")
    metrics_file = path / "metrics.json"
    metrics = (
        Metrics.model_validate_json(metrics_file.read_text())
        if metrics_file.exists()
        else compute_metrics(suite, outcomes)
    )
    return LoadedRun(run_id=path.name, path=path, manifest=manifest, outcomes=outcomes, metrics=metrics)


def list_runs(cfg: KeelConfig) -> list[dict[str, Any]]:
    out = []
    for p in sorted(cfg.runs_dir.glob("*"), reverse=True):
        if not (p / MANIFEST).exists():
            continue
        man = load_manifest(p)
        details = man.details_as(EvalDetails)
        metrics = None
        if (p / "metrics.json").exists():
            data = json.loads((p / "metrics.json").read_text())
            metrics = {k: v["value"] for k, v in data["metrics"].items()}
        out.append(
            {
                "run_id": p.name,
                "path": str(p),
                "created": man.created_at.isoformat(),
                "status": details.status.value,
                "model": man.model.name if man.model else "?",
                "mode": details.mode.value,
                "kb": man.kb_version,
                "samples": details.samples,
                "cases": details.cases,
                "suite": suite_hash(man) or "",
                "metrics": metrics,
            }
        )
    return out


def _paired_delta(name: MetricName, a: dict[str, bool], b: dict[str, bool], rounds: int = 1000) -> Delta:
    keys = sorted(a.keys() & b.keys())
    higher = DIRECTION[name]
    if not keys:
        return Delta(
            metric=name, base=None, other=None, diff=None, low=None, high=None, paired=True, n=0, verdict="n/a"
        )
    pa = sum(a[k] for k in keys) / len(keys)
    pb = sum(b[k] for k in keys) / len(keys)
    diffs = [int(b[k]) - int(a[k]) for k in keys]
    rng = random.Random(0)
    boots = sorted(sum(diffs[rng.randrange(len(diffs))] for _ in diffs) / len(diffs) for _ in range(rounds))
    lo, hi = boots[int(0.025 * (rounds - 1))], boots[int(0.975 * (rounds - 1))]
    return Delta(
        metric=name,
        base=pa,
        other=pb,
        diff=pb - pa,
        low=lo,
        high=hi,
        paired=True,
        n=len(keys),
        verdict=_verdict(higher, lo, hi),
    )


def _verdict(higher: bool | None, lo: float, hi: float) -> str:
    if higher is None:
        return "same" if lo <= 0 <= hi else ("up" if lo > 0 else "down")
    if lo > 0:
        return "better" if higher else "worse"
    if hi < 0:
        return "worse" if higher else "better"
    return "same"


def deltas(base: LoadedRun, other: LoadedRun, suite: Suite) -> tuple[Delta, ...]:
    fa = metric_flags(suite, base.outcomes)
    fb = metric_flags(suite, other.outcomes)
    out: list[Delta] = []
    for name in MetricName:
        ma, mb = base.metrics.metrics[name], other.metrics.metrics[name]
        if name in fa and name is not MetricName.HANDOFF_PRECISION and (fa[name].keys() & fb[name].keys()):
            out.append(_paired_delta(name, fa[name], fb[name]))
        elif ma.successes is not None and mb.successes is not None and ma.n and mb.n:
            lo, hi = newcombe(ma.successes, ma.n, mb.successes, mb.n)
            out.append(
                Delta(
                    metric=name,
                    base=ma.value,
                    other=mb.value,
                    diff=(mb.value or 0) - (ma.value or 0),
                    low=lo,
                    high=hi,
                    paired=False,
                    n=min(ma.n, mb.n),
                    verdict=_verdict(DIRECTION[name], lo, hi),
                )
            )
        else:  # style metrics: compare the bootstrap intervals
            diff = None if ma.value is None or mb.value is None else mb.value - ma.value
            overlap = ma.low is None or mb.low is None or not (mb.low > (ma.high or 0) or (mb.high or 0) < ma.low)
            verdict = "same" if overlap or diff is None else _verdict(DIRECTION[name], diff, diff)
            out.append(
                Delta(
                    metric=name,
                    base=ma.value,
                    other=mb.value,
                    diff=diff,
                    low=None,
                    high=None,
                    paired=False,
                    n=min(ma.n, mb.n),
                    verdict=verdict,
                )
            )
    return tuple(out)


def _action(o: Outcome) -> str:
    return o.action.value if o.action is not None else "error"


def _flips(base: LoadedRun, other: LoadedRun, cases: dict[str, EvalCase]) -> tuple[Flip, ...]:
    a = {(o.case_id, o.sample): o for o in base.outcomes}
    b = {(o.case_id, o.sample): o for o in other.outcomes}
    flips = []
    for key in sorted(a.keys() & b.keys()):
        if key[1] != 0 or key[0] not in cases:
            continue
        case = cases[key[0]]
        pa, pb = score(case, a[key]).passed, score(case, b[key]).passed
        if pa == pb:
            continue
        flips.append(
            Flip(
                case_id=case.id,
                category=case.category,
                lang=case.lang.value,
                message=case.message,
                expected=tuple(x.value for x in case.expect.action),
                base_action=_action(a[key]),
                other_action=_action(b[key]),
                base_reply=a[key].reply,
                other_reply=b[key].reply,
                direction="fixed" if pb else "broke",
            )
        )
    return tuple(flips)


def compare_runs(paths: list[Path]) -> Comparison:
    """Runs[0] is the baseline; every other run is compared with it on the same suite."""
    if len(paths) < 2:
        raise InvalidInput("compare needs at least two runs")
    suite = _suite_of(load_manifest(paths[0]), paths[0])
    runs = [load_run(p, suite) for p in paths]
    hashes = {suite_hash(r.manifest) for r in runs}
    if len(hashes) > 1:
        raise InvalidInput("the runs used different eval suites; compare runs of the same suite")
    cases = suite.by_id()
    cats = []
    for cat in Category:
        values = tuple((r.metrics.categories[cat].pass_rate if cat in r.metrics.categories else None) for r in runs)
        if any(v is not None for v in values):
            cats.append((cat, values))
    return Comparison(
        runs=tuple(runs),
        deltas=tuple(deltas(runs[0], r, suite) for r in runs[1:]),
        categories=tuple(cats),
        flips=tuple(_flips(runs[0], r, cases) for r in runs[1:]),
    )
