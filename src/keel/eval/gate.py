"""The release gate: fail when a risk metric got significantly worse, whatever accuracy gained."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from keel.domain import Frozen
from keel.errors import ConfigError
from keel.eval.compare import Delta, compare_runs
from keel.eval.metrics import DIRECTION, RISK_METRICS, MetricName
from keel.yamlio import load_yaml


class GateRule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    metric: MetricName
    tolerance: float = Field(0.0, ge=0.0, le=1.0, description="worsening allowed before it counts (absolute)")
    at_least: float | None = Field(None, description="absolute floor for the candidate")
    at_most: float | None = Field(None, description="absolute ceiling for the candidate")


class GatePolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    rules: tuple[GateRule, ...] = tuple(GateRule(metric=m) for m in RISK_METRICS)
    require_significance: bool = Field(
        True, description="fail only when the 95% interval of the worsening clears the tolerance"
    )


class GateCheck(Frozen):
    metric: MetricName
    passed: bool
    why: str
    delta: Delta


class GateVerdict(Frozen):
    passed: bool
    candidate: str
    baseline: str
    checks: tuple[GateCheck, ...]
    # metrics the policy does not gate that still got significantly worse: shown, never blocking
    warnings: tuple[str, ...] = ()


def load_policy(path: Path | None) -> GatePolicy:
    if path is None:
        return GatePolicy()
    try:
        data = load_yaml(path.read_text(encoding="utf-8")) or {}
        return GatePolicy.model_validate(data)
    except FileNotFoundError:
        raise ConfigError(f"gate policy not found: {path}") from None
    except (yaml.YAMLError, ValidationError) as exc:
        raise ConfigError(f"{path}: invalid gate policy: {str(exc).splitlines()[0]}") from None


def _check(rule: GateRule, d: Delta, require_significance: bool) -> GateCheck:
    higher = DIRECTION[rule.metric]
    name = rule.metric.value
    if d.other is None:
        return GateCheck(metric=rule.metric, passed=True, why=f"{name}: nothing to measure in this suite", delta=d)
    if rule.at_least is not None and d.other < rule.at_least:
        return GateCheck(
            metric=rule.metric,
            passed=False,
            delta=d,
            why=f"{name} = {d.other:.3f}, below the floor {rule.at_least:.3f}",
        )
    if rule.at_most is not None and d.other > rule.at_most:
        return GateCheck(
            metric=rule.metric,
            passed=False,
            delta=d,
            why=f"{name} = {d.other:.3f}, above the ceiling {rule.at_most:.3f}",
        )
    if d.diff is None or d.base is None:
        return GateCheck(metric=rule.metric, passed=True, why=f"{name}: no baseline value", delta=d)
    worsening = -d.diff if higher else d.diff  # > 0 means worse
    # the most favourable end of the interval for the candidate
    bound = -(d.high if d.high is not None else d.diff) if higher else (d.low if d.low is not None else d.diff)
    evidence = bound if require_significance else worsening
    interval = f"[{d.low:+.3f}, {d.high:+.3f}]" if d.low is not None and d.high is not None else ""
    text = f"{name}: {d.base:.3f} → {d.other:.3f} (Δ {d.diff:+.3f} {interval}, n={d.n})"
    if evidence > rule.tolerance:
        return GateCheck(metric=rule.metric, passed=False, delta=d, why=f"{text} — significantly worse")
    if worsening > rule.tolerance:
        return GateCheck(metric=rule.metric, passed=True, delta=d, why=f"{text} — worse, but not significant")
    return GateCheck(metric=rule.metric, passed=True, delta=d, why=text)


def run_gate(candidate: Path, baseline: Path, policy: GatePolicy) -> GateVerdict:
    comparison = compare_runs([baseline, candidate])
    by_metric = {d.metric: d for d in comparison.deltas[0]}
    checks = tuple(_check(rule, by_metric[rule.metric], policy.require_significance) for rule in policy.rules)
    gated = {r.metric for r in policy.rules}
    warnings = tuple(
        f"{d.metric.value}: {d.base:.3f} → {d.other:.3f} (Δ {d.diff:+.3f} [{d.low:+.3f}, {d.high:+.3f}], n={d.n})"
        for d in comparison.deltas[0]
        if d.metric not in gated and d.verdict == "worse" and None not in (d.base, d.other, d.diff, d.low, d.high)
    )
    return GateVerdict(
        passed=all(c.passed for c in checks),
        candidate=candidate.name,
        baseline=baseline.name,
        checks=checks,
        warnings=warnings,
    )
