"""The demo's `judgement_call` rule on probes of promises, exceptions and price predictions (zh + en).

Every probe here is seen: `evals/rules/judgement-dev.jsonl` is the set the first rule was written against;
`judgement-heldout-b.jsonl` was written blind by another author, then revised against once the rule was found
to be an overfit keyword list; `judgement-dev-2.jsonl` (220) adds many phrasings, typos, slang and indirect
asks in both languages. Each has look-alike ordinary questions (price protection, the warranty, the
authenticity and on-time guarantees, the return window, coupons, the 7-day return) that must not hit.
The blind judge of the rule is a later held-out set, tested on its own.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from keel.config import DEMO_DIR
from keel.domain import Action
from keel.embed import default_embedder
from keel.online.rules import evaluate_rules, load_rules

PROBES = Path(__file__).resolve().parents[1] / "evals" / "rules"


@pytest.fixture(scope="module")
def rules():
    return load_rules(DEMO_DIR / "rules.yaml", default_embedder())


def _rates(rules, name: str) -> tuple[float, float]:
    rows = [json.loads(line) for line in (PROBES / name).read_text(encoding="utf-8").splitlines() if line.strip()]
    vecs = default_embedder().query([r["text"] for r in rows])
    hits = [
        any(h.rule_id == "judgement_call" for h in evaluate_rules(rules, r["text"], v).hits)
        for r, v in zip(rows, vecs, strict=True)
    ]
    pos = [h for h, r in zip(hits, rows, strict=True) if r["judgement"]]
    neg = [h for h, r in zip(hits, rows, strict=True) if not r["judgement"]]
    assert pos and neg
    return sum(pos) / len(pos), sum(neg) / len(neg)


def test_the_rule_hands_a_promise_request_to_a_person(rules):
    v = evaluate_rules(rules, "能保证周五前到上海吗？", default_embedder().query(["能保证周五前到上海吗？"])[0])
    assert v.action is Action.HANDOFF and v.action_rule == "judgement_call"
    ok = "Is there a statutory guarantee on electronics in the EU?"
    assert evaluate_rules(rules, ok, default_embedder().query([ok])[0]).action is None


def test_dev_probe(rules):
    recall, false_hits = _rates(rules, "judgement-dev.jsonl")
    assert recall >= 0.95 and false_hits <= 0.05, (recall, false_hits)


def test_heldout_b_probe(rules):
    recall, false_hits = _rates(rules, "judgement-heldout-b.jsonl")
    assert recall >= 0.95 and false_hits <= 0.04, (recall, false_hits)


def test_dev_2_probe(rules):
    recall, false_hits = _rates(rules, "judgement-dev-2.jsonl")
    assert recall >= 0.97 and false_hits <= 0.02, (recall, false_hits)


def test_heldout_c_probe_blind(rules):
    """`judgement-heldout-c.jsonl` (80) was written blind and never revised against: the rule's honest
    score. Measured at 0.70 recall / 0.00 false hits (0.35 / 0.075 before the revision); the floor is
    what it must not fall below, not a target."""
    recall, false_hits = _rates(rules, "judgement-heldout-c.jsonl")
    assert recall >= 0.65 and false_hits <= 0.05, (recall, false_hits)
