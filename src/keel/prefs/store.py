"""The candidates of a preference set, and choices made by people (terminal or web console)."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from keel.errors import Conflict, InvalidInput, NotFound
from keel.prefs.build import CANDIDATES, PAIRS, export_llamafactory_pairs, pair_record

_lock = threading.Lock()


def load_items(set_dir: Path) -> list[dict[str, Any]]:
    path = set_dir / CANDIDATES
    if not path.exists():
        raise NotFound(f"no preference set at {set_dir} (run `keel prefs build` first)")
    items = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            items.append(json.loads(line))
        except ValueError:
            continue
    return items


def decided_ids(set_dir: Path) -> dict[str, str]:
    """Prompt id → judge of its pair (``rule`` or ``human:<name>``); a human choice replaces a rule one."""
    out: dict[str, str] = {}
    path = set_dir / PAIRS
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            out[rec["id"]] = rec.get("judge", "rule")
    return out


def pending(set_dir: Path, include_rule_decided: bool = False) -> list[dict[str, Any]]:
    """Items no human has judged; by default only those the rule judge left undecided."""
    decided = decided_ids(set_dir)
    return [
        it
        for it in load_items(set_dir)
        if not str(decided.get(it["id"], "")).startswith("human") and (include_rule_decided or it["id"] not in decided)
    ]


def record_choice(set_dir: Path, item_id: str, chosen: int, rejected: int, annotator: str) -> dict[str, Any]:
    """Write the human's pair (same format as the rule judge's); the last word on an id wins at training time."""
    if not annotator.strip():
        raise InvalidInput("an annotator name is required")
    if chosen == rejected:
        raise InvalidInput("pick two different candidates: the better and the worse")
    items = {it["id"]: it for it in load_items(set_dir)}
    item = items.get(item_id)
    if item is None:
        raise NotFound(f"no prompt {item_id!r} in this preference set")
    n = len(item["candidates"])
    if not (0 <= chosen < n and 0 <= rejected < n):
        raise InvalidInput(f"candidates are numbered 1..{n}")
    with _lock:
        existing = decided_ids(set_dir).get(item_id, "")
        if existing.startswith("human") and existing != f"human:{annotator}":
            raise Conflict(f"{item_id} was already judged by {existing.removeprefix('human:')}")
        record = pair_record(item, chosen, rejected, judge=f"human:{annotator}")
        with (set_dir / PAIRS).open("a", encoding="utf-8") as f:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
        export_llamafactory_pairs(set_dir)
    return record


def final_pairs(set_dir: Path) -> list[dict[str, Any]]:
    """One pair per prompt: a human's choice overrides the rule judge's."""
    chosen: dict[str, dict[str, Any]] = {}
    path = set_dir / PAIRS
    if not path.exists():
        return []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        prior = chosen.get(rec["id"])
        if (
            prior is None
            or not str(prior.get("judge", "")).startswith("human")
            or rec.get("judge", "").startswith("human")
        ):
            chosen[rec["id"]] = rec
    return list(chosen.values())
