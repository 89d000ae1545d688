"""Hybrid retrieval over one pinned KB version: BM25 + e5 vectors, fused by weighted RRF."""

from __future__ import annotations

from datetime import date

import numpy as np

from keel.config import RetrievalConfig
from keel.domain import Frozen, Lang, Passage
from keel.online.kb.index import KBIndex
from keel.text import tokenize


class Retrieval(Frozen):
    """What retrieval found for one message."""

    version: int
    passages: tuple[Passage, ...]
    support: float  # best e5 cosine among the returned passages
    lexical_overlap: bool  # did any returned passage share a query term?

    @property
    def passage_ids(self) -> tuple[str, ...]:
        return tuple(p.doc_id for p in self.passages)


def _top(scores: np.ndarray, mask: np.ndarray, k: int) -> np.ndarray:
    cand = np.flatnonzero(mask & (scores > 0))
    if cand.size == 0:
        return cand
    if cand.size > k:
        part = np.argpartition(-scores[cand], k - 1)[:k]
        cand = cand[part]
    return cand[np.argsort(-scores[cand], kind="stable")]


def retrieve(
    index: KBIndex,
    query: str,
    query_vec: np.ndarray,
    *,
    lang: Lang,
    region: str | None,
    today: date,
    cfg: RetrievalConfig,
) -> Retrieval:
    """Rank documents in force for the region on *today*; one passage per topic, customer's language first."""
    mask = index.eligible(today.toordinal(), region)
    terms = tokenize(query)
    lexical = index.bm25.get_scores(terms) if terms else np.zeros(len(index.docs), dtype=np.float32)
    dense = index.vectors @ query_vec.astype(np.float32) if len(index.docs) else np.zeros(0)
    lex_rank = _top(np.asarray(lexical), mask, cfg.candidates)
    dense_rank = _top(np.asarray(dense) + 1.0, mask, cfg.candidates)  # cosine may be negative

    fused: dict[int, float] = {}
    for weight, ranking in ((cfg.lexical_weight, lex_rank), (cfg.dense_weight, dense_rank)):
        for rank, i in enumerate(ranking):
            fused[int(i)] = fused.get(int(i), 0.0) + weight / (cfg.rrf_k + rank + 1)
    lexical_set = {int(i) for i in lex_rank}
    if region is not None and cfg.region_boost != 1.0:
        for i in fused:
            if region in index.docs[i].regions:  # scoped to this region, not "all"
                fused[i] *= cfg.region_boost

    order = sorted(fused, key=lambda i: (-fused[i], i))
    # one passage per topic: prefer the customer's language among a topic's documents
    by_topic: dict[str, int] = {}
    for i in order:
        doc = index.docs[i]
        held = by_topic.get(doc.topic)
        if held is None or (index.docs[held].lang != lang and doc.lang == lang):
            by_topic[doc.topic] = i
    chosen = sorted(by_topic.values(), key=lambda i: (-fused[i], i))[: cfg.top_k]
    passages = tuple(
        Passage(
            doc_id=index.docs[i].doc_id,
            topic=index.docs[i].topic,
            title=index.docs[i].title,
            text=index.docs[i].body,
            lang=index.docs[i].lang,
            kind=index.docs[i].kind.value,
            regions=index.docs[i].regions,
            valid_from=index.docs[i].valid_from,
            valid_to=index.docs[i].valid_to,
            score=round(float(dense[i]), 4),
        )
        for i in chosen
    )
    support = max((float(dense[i]) for i in chosen), default=0.0)
    return Retrieval(
        version=index.version,
        passages=passages,
        support=round(support, 4),
        lexical_overlap=any(i in lexical_set for i in chosen),
    )
