"""What the evaluation page shows: the runs, and one comparison with its charts and the gate verdict.

Everything is computed by :mod:`keel.eval` (``list_runs``, ``compare_runs``, ``run_gate`` and the
report's charts); this module only picks the runs safely, caches a comparison while its runs are
unchanged, and lays the numbers out as rows.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keel
from keel.config import KeelConfig
from keel.domain import Frozen
from keel.errors import NotFound
from keel.eval.compare import Comparison, compare_runs, list_runs, resolve_run
from keel.eval.gate import GatePolicy, GateVerdict, load_policy, run_gate
from keel.eval.metrics import DIRECTION, RISK_METRICS, MetricName
from keel.eval.report import category_chart, metric_chart
from keel.eval.run import MANIFEST, METRICS, RESULTS

POLICY_FILE = Path("evals") / "gate.yaml"  # relative to the working folder, else to the source checkout
REPO = Path(keel.__file__).resolve().parents[2]
FLIPS_SHOWN = 200
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
_ARROW = {True: "↑", False: "↓", None: ""}


class RunRow(Frozen):
    run_id: str
    created: str | None
    model: str
    mode: str
    kb: int | None
    cases: int
    samples: int
    suite: str  # hash of the suite's cases: only runs of the same suite compare
    complete: bool  # metrics.json written; otherwise still running (or stopped part-way)
    done: int  # samples in results.jsonl
    pass_rate: float | None
    boundary: float | None


def _count_lines(path: Path) -> int:
    try:
        with path.open("rb") as fh:
            return sum(1 for line in fh if line.strip())
    except OSError:
        return 0


def run_rows(cfg: KeelConfig) -> list[RunRow]:
    """Every run under ``<home>/runs``, newest first."""
    rows = []
    for r in list_runs(cfg):
        metrics = r["metrics"] or {}
        complete = r["metrics"] is not None
        total = int(r["cases"]) * int(r["samples"])
        rows.append(
            RunRow(
                run_id=r["run_id"],
                created=r["created"],
                model=r["model"],
                mode=r["mode"],
                kb=r["kb"],
                cases=r["cases"],
                samples=r["samples"],
                suite=r["suite"],
                complete=complete,
                done=total if complete else _count_lines(Path(r["path"]) / RESULTS),
                pass_rate=metrics.get(MetricName.PASS_RATE.value),
                boundary=metrics.get(MetricName.BOUNDARY_CROSSING.value),
            )
        )
    return rows


def default_pair(rows: list[RunRow]) -> tuple[str, str]:
    """(baseline, candidate): the newest complete run against the newest older complete run of its suite."""
    done = [r for r in rows if r.complete]
    for i, cand in enumerate(done):
        base = next((r for r in done[i + 1 :] if r.suite == cand.suite), None)
        if base is not None:
            return base.run_id, cand.run_id
    return "", ""


def run_path(cfg: KeelConfig, run_id: str) -> Path:
    """The folder of run *run_id* under ``<home>/runs``; never a folder elsewhere."""
    path = resolve_run(cfg, run_id) if _RUN_ID.match(run_id) else None
    if path is None or path.resolve().parent != cfg.runs_dir.resolve():
        raise NotFound(f"no eval run {run_id!r} under {cfg.runs_dir}")
    return path


def gate_policy(cwd: Path | None = None) -> tuple[GatePolicy, str]:
    """The release gate's policy and where it came from (``""``: the built-in risk-metric defaults)."""
    for base in (cwd or Path.cwd(), REPO):
        path = base / POLICY_FILE
        if path.is_file():
            return load_policy(path), str(POLICY_FILE if base == (cwd or Path.cwd()) else path)
    return GatePolicy(), ""


@dataclass(frozen=True)
class Evaluated:
    comparison: Comparison
    verdict: GateVerdict
    metric_png: str  # base64
    category_png: str  # base64


_CACHE: OrderedDict[tuple[Any, ...], Evaluated] = OrderedDict()
_CACHE_SIZE = 4
_CACHE_LOCK = threading.Lock()


def _stamp(run: Path) -> tuple[Any, ...]:
    out: list[Any] = [str(run.resolve())]
    for name in (MANIFEST, RESULTS, METRICS):
        try:
            st = (run / name).stat()
            out.append((st.st_mtime_ns, st.st_size))
        except OSError:
            out.append(None)
    return tuple(out)


def evaluate(baseline: Path, candidate: Path, policy: GatePolicy) -> Evaluated:
    """Compare, gate and chart two runs; kept while neither run's files change."""
    key = (_stamp(baseline), _stamp(candidate), policy.model_dump_json())
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    comparison = compare_runs([baseline, candidate])
    verdict = run_gate(candidate, baseline, policy)
    found = Evaluated(
        comparison=comparison,
        verdict=verdict,
        metric_png=metric_chart(comparison),
        category_png=category_chart(comparison),
    )
    with _CACHE_LOCK:
        _CACHE[key] = found
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return found


def _num(v: float | None) -> str:
    return "–" if v is None else f"{v:.3f}"


def _interval(low: float | None, high: float | None, signed: bool = False) -> str:
    if low is None or high is None:
        return ""
    return f"[{low:+.2f}, {high:+.2f}]" if signed else f"[{low:.2f}, {high:.2f}]"


def metric_rows(c: Comparison) -> list[dict[str, Any]]:
    """One row per metric: both values with intervals, the paired delta with its interval and verdict."""
    base, other = c.runs[0], c.runs[1]
    rows = []
    for idx, name in enumerate(MetricName):
        a, b = base.metrics.metrics[name], other.metrics.metrics[name]
        d = c.deltas[0][idx]
        rows.append(
            {
                "name": name.value,
                "risk": name in RISK_METRICS,
                "arrow": _ARROW[DIRECTION[name]],
                "base": _num(a.value),
                "base_ci": _interval(a.low, a.high),
                "base_n": a.n,
                "other": _num(b.value),
                "other_ci": _interval(b.low, b.high),
                "other_n": b.n,
                "delta": "–" if d.diff is None else f"{d.diff:+.3f}",
                "delta_ci": _interval(d.low, d.high, signed=True),
                "verdict": d.verdict,
                "paired": d.paired,
            }
        )
    return rows


def category_rows(c: Comparison) -> list[dict[str, Any]]:
    """Pass rate per category for both runs and the change (green up, red down)."""
    rows = []
    for cat, values in c.categories:
        a, b = values[0], values[1]
        diff = None if a is None or b is None else b - a
        trend = "same" if diff is None or abs(diff) < 1e-9 else ("better" if diff > 0 else "worse")
        rows.append(
            {
                "category": cat.value,
                "base": _num(a),
                "other": _num(b),
                "delta": "–" if diff is None else f"{diff:+.3f}",
                "trend": trend,
            }
        )
    return rows


def flip_rows(c: Comparison) -> list[Any]:
    """Cases whose first sample changed pass/fail: broken ones first."""
    return sorted(c.flips[0], key=lambda f: (f.direction != "broke", f.category.value, f.case_id))[:FLIPS_SHOWN]
