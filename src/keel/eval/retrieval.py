"""Retrieval quality on the suite's gold-labelled cases: hit@1, hit@3 and MRR, pinned to a KB version.

A case counts when it has ``gold_topics``; its query is its last customer message, retrieved for the
case's customer (region), language and the suite's date, exactly as the online stage does. A hit at
rank r means one of the gold topics is the r-th passage. Cases are split into two halves by their
paraphrase group (a group never straddles): fusion weights are chosen on ``dev`` and reported on ``test``.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from datetime import date
from enum import StrEnum

from keel.config import RetrievalConfig
from keel.domain import Frozen, Role
from keel.eval.cases import EvalCase, Suite
from keel.eval.stats import wilson
from keel.online.kb.retrieve import retrieve, search_query
from keel.online.runtime import Runtime

DEPTH = 10  # passages ranked per case (hit@1, hit@3 and MRR are read off this list)


class Split(StrEnum):
    DEV = "dev"
    TEST = "test"
    ALL = "all"


class Score(Frozen):
    n: int
    hit1: float
    hit3: float
    mrr: float
    hit1_low: float
    hit3_low: float


class CaseRank(Frozen):
    case_id: str
    category: str
    lang: str
    gold: tuple[str, ...]
    topics: tuple[str, ...]  # ranked topics retrieved
    rank: int | None  # 1-based rank of the first gold topic, None when missed


class RetrievalReport(Frozen):
    kb_version: int
    split: Split
    weights: dict[str, float]
    overall: Score
    by_lang: dict[str, Score]
    by_category: dict[str, Score]
    cases: tuple[CaseRank, ...]


def split_of(case: EvalCase) -> Split:
    key = (case.group or case.id).encode()
    return Split.DEV if hashlib.sha256(key).digest()[0] % 2 == 0 else Split.TEST


def _score(ranks: list[int | None]) -> Score:
    n = len(ranks)
    h1 = sum(1 for r in ranks if r == 1)
    h3 = sum(1 for r in ranks if r is not None and r <= 3)
    mrr = sum(1.0 / r for r in ranks if r is not None) / max(1, n)
    return Score(
        n=n,
        hit1=round(h1 / max(1, n), 4),
        hit3=round(h3 / max(1, n), 4),
        mrr=round(mrr, 4),
        hit1_low=round(wilson(h1, n)[0], 4),
        hit3_low=round(wilson(h3, n)[0], 4),
    )


def _weights(cfg: RetrievalConfig) -> dict[str, float]:
    return {
        "lexical": cfg.lexical_weight,
        "dense": cfg.dense_weight,
        "title_lexical": cfg.title_lexical_weight,
        "title_dense": cfg.title_dense_weight,
        "chunk_dense": cfg.chunk_dense_weight,
        "rrf_k": cfg.rrf_k,
    }


def rank_cases(rt: Runtime, cases: list[EvalCase], version: int, today: date, cfg: RetrievalConfig) -> list[CaseRank]:
    deep = cfg.model_copy(update={"top_k": DEPTH})
    earlier = [[t.content for t in c.history if t.role is Role.USER] for c in cases]
    queries = [search_query(c.message, e) for c, e in zip(cases, earlier, strict=True)]
    vecs = rt.indexes.cache.queries(queries)
    out = []
    for case, query, before, vec in zip(cases, queries, earlier, vecs, strict=True):
        user = rt.state.get(case.user, rt.tenant) if case.user else None
        region = user.region if user and user.region else rt.rules.region_named([*before, case.message])
        index = rt.indexes.get(case.kb_version or version, rt.tenant)
        found = retrieve(index, query, vec, lang=case.lang, region=region, today=today, cfg=deep)
        topics = tuple(p.topic for p in found.passages)
        rank = next((i + 1 for i, t in enumerate(topics) if t in case.gold_topics), None)
        out.append(
            CaseRank(
                case_id=case.id,
                category=case.category.value,
                lang=case.lang.value,
                gold=case.gold_topics,
                topics=topics,
                rank=rank,
            )
        )
    return out


def evaluate_retrieval(
    rt: Runtime, suite: Suite, version: int, today: date, split: Split, cfg: RetrievalConfig | None = None
) -> RetrievalReport:
    cfg = cfg or rt.cfg.retrieval
    cases = [c for c in suite.cases if c.gold_topics and (split is Split.ALL or split_of(c) is split)]
    ranked = rank_cases(rt, cases, version, today, cfg)
    by_lang: dict[str, list[int | None]] = defaultdict(list)
    by_cat: dict[str, list[int | None]] = defaultdict(list)
    for r in ranked:
        by_lang[r.lang].append(r.rank)
        by_cat[r.category].append(r.rank)
    return RetrievalReport(
        kb_version=version,
        split=split,
        weights=_weights(cfg),
        overall=_score([r.rank for r in ranked]),
        by_lang={k: _score(v) for k, v in sorted(by_lang.items())},
        by_category={k: _score(v) for k, v in sorted(by_cat.items())},
        cases=tuple(ranked),
    )


GRID: dict[str, tuple[float, ...]] = {
    "rrf_k": (3, 5, 10, 20, 60),
    "lexical_weight": (0.0, 0.25, 0.5, 1.0, 2.0),
    "dense_weight": (0.0, 0.25, 0.5, 1.0, 2.0),
    "title_lexical_weight": (0.0, 0.25, 0.5, 1.0, 2.0),
    "title_dense_weight": (0.0, 0.25, 0.5, 1.0, 2.0),
    "chunk_dense_weight": (0.0, 0.25, 0.5, 1.0, 2.0),
    "out_of_window_factor": (0.4, 0.6, 0.8, 1.0),
    "out_of_region_factor": (0.4, 0.6, 0.8, 1.0),
    "region_boost": (1.0, 1.15, 1.3),
}


def tune_fusion(rt: Runtime, suite: Suite, version: int, today: date, passes: int = 2) -> tuple[RetrievalConfig, Score]:
    """Fusion weights chosen on the dev half by coordinate ascent on MRR (ties: hit@1), from the config."""
    cfg = rt.cfg.retrieval

    def measure(c: RetrievalConfig) -> tuple[tuple[float, float], Score]:
        sc = evaluate_retrieval(rt, suite, version, today, Split.DEV, c).overall
        return (sc.mrr, sc.hit1), sc

    best_key, best_score = measure(cfg)
    for _ in range(passes):
        improved = False
        for name, values in GRID.items():
            for value in values:
                trial = cfg.model_copy(update={name: int(value) if name == "rrf_k" else value})
                key, sc = measure(trial)
                if key > best_key:
                    cfg, best_key, best_score, improved = trial, key, sc, True
        if not improved:
            break
    return cfg, best_score
