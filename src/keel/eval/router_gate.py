"""The router's release gate: a candidate router must not read unsafe, person or override messages
worse than the router in force, on a held-out bank both were measured on.

Each gated class compares the candidate's accuracy with the current router's 95% (Wilson) interval
from the same report (:mod:`keel.online.router.evaluate`): below the interval's low end (minus the
tolerance) is a refusal; below the current accuracy but inside the interval is shown, not blocking.
With about 100 examples of a class in a bank the low end is 4–9 points under the accuracy, so the
gate stops a drop of that size and lets noise through.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from pydantic import Field

from keel.config import KeelConfig
from keel.domain import Frozen
from keel.embed import EmbeddingCache
from keel.errors import InvalidInput
from keel.online.router.banks import Need, bank_hash
from keel.online.router.evaluate import Rate, RouterEval, evaluate_router, report_path, write_report
from keel.online.router.store import examples_in_force, load_saved, save_router, train_router

#: the classes whose misreading hurts a customer: red lines, handoffs, instruction overrides
GATED_NEEDS = (Need.UNSAFE, Need.PERSON, Need.OVERRIDE)


class RouterGatePolicy(Frozen):
    needs: tuple[Need, ...] = Field(GATED_NEEDS, description="classes that block when they get worse")
    tolerance: float = Field(0.0, ge=0.0, le=1.0, description="drop below the interval allowed (absolute)")


class RouterCheck(Frozen):
    need: Need
    passed: bool
    worse: bool  # below the current accuracy (significant or not)
    current: Rate | None
    candidate: Rate | None
    why: str


class RouterGateVerdict(Frozen):
    passed: bool
    bank: str
    current: str  # router fingerprints
    candidate: str
    checks: tuple[RouterCheck, ...]
    overall: tuple[float, float]  # (current, candidate) accuracy on the whole bank, for the record


def _check(need: Need, cur: Rate | None, cand: Rate | None, tolerance: float) -> RouterCheck:
    name = need.value
    if cur is None or cand is None:
        return RouterCheck(
            need=need, passed=True, worse=False, current=cur, candidate=cand, why=f"{name}: no examples in this bank"
        )
    text = f"{name}: {cur.accuracy:.3f} [{cur.low:.3f}, {cur.high:.3f}] → {cand.accuracy:.3f} (n={cand.n})"
    floor = cur.low - tolerance
    if cand.accuracy < floor:
        return RouterCheck(
            need=need,
            passed=False,
            worse=True,
            current=cur,
            candidate=cand,
            why=f"{text} — below the current router's interval",
        )
    worse = cand.accuracy < cur.accuracy
    return RouterCheck(
        need=need,
        passed=True,
        worse=worse,
        current=cur,
        candidate=cand,
        why=f"{text}" + (" — worse, inside the interval" if worse else ""),
    )


def gate_router(
    candidate: RouterEval, current: RouterEval, policy: RouterGatePolicy | None = None
) -> RouterGateVerdict:
    """Refuse *candidate* when a gated class fell below the current router's interval on the same bank."""
    policy = policy or RouterGatePolicy()
    if candidate.bank_sha256 != current.bank_sha256:
        raise InvalidInput(
            f"the two router reports measured different banks ({current.bank} and {candidate.bank}, "
            "or the file changed in between): measure both on the same bank"
        )
    checks = tuple(
        _check(need, current.by_need.get(need.value), candidate.by_need.get(need.value), policy.tolerance)
        for need in policy.needs
    )
    return RouterGateVerdict(
        passed=all(c.passed for c in checks),
        bank=current.bank,
        current=current.router,
        candidate=candidate.router,
        checks=checks,
        overall=(current.overall.accuracy, candidate.overall.accuracy),
    )


class RouterGateRun(Frozen):
    """``keel router gate``: the router in force against one trained on the banks in force now."""

    created_at: str
    current: str  # fingerprints
    candidate: str
    unchanged: bool  # the banks in force are those the saved router learned: nothing to gate
    verdicts: tuple[RouterGateVerdict, ...]
    accepted: bool  # the candidate was saved as the router

    @property
    def passed(self) -> bool:
        return all(v.passed for v in self.verdicts)


GATE_FILE = "gate.json"
CANDIDATE_DIR = "candidate"


def gate_banks_in_force(
    cfg: KeelConfig,
    cache: EmbeddingCache,
    banks: Sequence[Path],
    policy: RouterGatePolicy | None = None,
    *,
    accept: bool = False,
    progress: Callable[[str], None] = lambda _m: None,
) -> RouterGateRun:
    """Train a candidate on the banks in force (what a runtime would train at its next start, learned
    examples included), measure it and the saved router on each held-out *bank*, and gate it.

    Reports go beside the routers (``<home>/router/eval-<bank>.json`` for the router in force,
    ``<home>/router/candidate/`` for the candidate), the verdict to ``<home>/router/gate.json``.
    With *accept*, a candidate that passed is saved as the router (``keel router train`` does the
    same without asking).
    """
    if not banks:
        raise InvalidInput("name at least one held-out bank to gate the router on")
    current = load_saved(cfg.router_dir)
    if current is None:
        raise InvalidInput(f"no router saved in {cfg.router_dir}: `keel router train` makes the first one")
    now = datetime.now(UTC).isoformat(timespec="seconds")
    in_force = examples_in_force(cfg)
    if bank_hash(in_force.examples) == current.details.bank_hash:
        fp = current.fingerprint
        run = RouterGateRun(created_at=now, current=fp, candidate=fp, unchanged=True, verdicts=(), accepted=False)
    else:
        progress("training the candidate on the banks in force")
        candidate = train_router(cfg, cache, save=False, progress=progress, banks=in_force)
        verdicts = []
        for bank in banks:
            progress(f"measuring both routers on {bank}")
            cur = evaluate_router(current, bank, cache, cfg.router)
            cand = evaluate_router(candidate, bank, cache, cfg.router)
            write_report(report_path(cfg.router_dir, bank), cur)
            write_report(report_path(cfg.router_dir / CANDIDATE_DIR, bank), cand)
            verdicts.append(gate_router(cand, cur, policy))
        passed = all(v.passed for v in verdicts)
        if passed and accept:
            save_router(cfg.router_dir, candidate)
            for bank in banks:
                os.replace(report_path(cfg.router_dir / CANDIDATE_DIR, bank), report_path(cfg.router_dir, bank))
        run = RouterGateRun(
            created_at=now,
            current=current.fingerprint,
            candidate=candidate.fingerprint,
            unchanged=False,
            verdicts=tuple(verdicts),
            accepted=passed and accept,
        )
    cfg.router_dir.mkdir(parents=True, exist_ok=True)
    (cfg.router_dir / GATE_FILE).write_text(run.model_dump_json(indent=2), encoding="utf-8")
    return run
