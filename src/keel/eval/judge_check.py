"""How well the behaviour judge agrees with hand labels (``evals/judge_calibration.jsonl``).

The judge's cues were tuned on the *dev* half (even ids) only; the *test* half (odd ids) is the
honest estimate. Both are reported, with Wilson intervals and the confusion matrix.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from keel.domain import Action, Frozen, Lang
from keel.errors import InvalidInput
from keel.eval.stats import wilson
from keel.judge import judge_reply


class SplitAgreement(Frozen):
    split: str
    n: int
    action_agreement: float
    action_low: float
    action_high: float
    soothe_agreement: float
    kappa: float
    confusion: dict[str, dict[str, int]]  # label -> judged -> count
    by_lang: dict[str, float]


def _kappa(pairs: list[tuple[str, str]]) -> float:
    n = len(pairs)
    if not n:
        return 0.0
    observed = sum(a == b for a, b in pairs) / n
    la, lb = Counter(a for a, _ in pairs), Counter(b for _, b in pairs)
    expected = sum(la[k] * lb[k] for k in la) / (n * n)
    return (observed - expected) / (1 - expected) if expected < 1 else 1.0


def check_judge(path: Path) -> list[SplitAgreement]:
    if not path.exists():
        raise InvalidInput(f"calibration file not found: {path}")
    rows = []
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                raise InvalidInput(f"{path}:{i}: not valid JSON") from None
    out = []
    for split, keep in (("dev", 0), ("test", 1), ("all", None)):
        sel = [r for r in rows if keep is None or int(str(r["id"])[-3:]) % 2 == keep]
        pairs, soothe_ok = [], 0
        lang_hits: Counter[str] = Counter()
        lang_n: Counter[str] = Counter()
        for r in sel:
            j = judge_reply(r["reply"], r.get("customer", ""), Lang(r["lang"]))
            pairs.append((r["action"], j.action.value))
            soothe_ok += j.soothe == bool(r["soothe"])
            lang_n[r["lang"]] += 1
            lang_hits[r["lang"]] += r["action"] == j.action.value
        hits = sum(a == b for a, b in pairs)
        lo, hi = wilson(hits, len(pairs))
        confusion = {a.value: {b.value: 0 for b in Action} for a in Action}
        for a, b in pairs:
            confusion[a][b] += 1
        out.append(
            SplitAgreement(
                split=split,
                n=len(sel),
                action_agreement=hits / max(1, len(sel)),
                action_low=lo,
                action_high=hi,
                soothe_agreement=soothe_ok / max(1, len(sel)),
                kappa=round(_kappa(pairs), 3),
                confusion=confusion,
                by_lang={k: lang_hits[k] / lang_n[k] for k in sorted(lang_n)},
            )
        )
    return out
