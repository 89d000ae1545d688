"""Precision and recall per finding type against the generator's plant labels."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from keel.audit.schema import FindingKind, Route
from keel.domain import Frozen
from keel.errors import InvalidInput


class KindScore(Frozen):
    kind: str
    planted: int
    found: int
    true_positives: int
    precision: float
    recall: float


class Score(Frozen):
    """Dialog-level scores: a dialog counts for a kind when it has at least one finding of it."""

    dialogs: int
    kinds: tuple[KindScore, ...]
    route_accuracy: float
    route_confusion: dict[str, dict[str, int]]  # expected → predicted → count
    missed: dict[str, tuple[str, ...]]  # kind → a few dialog ids planted but not found
    spurious: dict[str, tuple[str, ...]]  # kind → a few dialog ids found but not planted


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        raise InvalidInput(f"{path}: no such file")
    with path.open(encoding="utf-8") as fd:
        return [json.loads(line) for line in fd if line.strip()]


def score_run(run_dir: Path, labels_path: Path) -> Score:
    """Compare the run's findings and routes with the plant labels."""
    labels = {str(r["id"]): r for r in _read_jsonl(labels_path)}
    found: dict[str, set[str]] = defaultdict(set)
    for f in _read_jsonl(run_dir / "findings.jsonl"):
        found[str(f["kind"])].add(str(f["dialog_id"]))
    routed: dict[str, str] = {}
    for route in Route:
        path = run_dir / "datasets" / f"{route.value}.jsonl"
        if path.exists():
            for row in _read_jsonl(path):
                routed[str(row["id"])] = route.value
    planted: dict[str, set[str]] = defaultdict(set)
    for did, label in labels.items():
        for plant in label.get("findings", []):
            planted[str(plant["kind"])].add(did)
    kinds = []
    missed: dict[str, tuple[str, ...]] = {}
    spurious: dict[str, tuple[str, ...]] = {}
    for kind in FindingKind:
        want, got = planted[kind.value], found[kind.value] & labels.keys()
        tp = len(want & got)
        kinds.append(
            KindScore(
                kind=kind.value,
                planted=len(want),
                found=len(got),
                true_positives=tp,
                precision=tp / len(got) if got else 1.0,
                recall=tp / len(want) if want else 1.0,
            )
        )
        missed[kind.value] = tuple(sorted(want - got)[:10])
        spurious[kind.value] = tuple(sorted(got - want)[:10])
    confusion: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    right = 0
    for did, label in labels.items():
        expected, routed_to = str(label["route"]), routed.get(did, "missing")
        confusion[expected][routed_to] += 1
        right += expected == routed_to
    return Score(
        dialogs=len(labels),
        kinds=tuple(kinds),
        route_accuracy=right / len(labels) if labels else 0.0,
        route_confusion={k: dict(v) for k, v in confusion.items()},
        missed=missed,
        spurious=spurious,
    )
