"""Hybrid retrieval over one pinned KB version: BM25 + e5 vectors, fused by weighted RRF."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import numpy as np

from keel.config import RetrievalConfig
from keel.domain import Frozen, Lang, Passage, Validity
from keel.online.kb.index import KBIndex
from keel.text import search_terms


class Retrieval(Frozen):
    """What retrieval found for one message."""

    version: int
    passages: tuple[Passage, ...]
    support: float  # best e5 cosine among the returned passages
    lexical_overlap: bool  # did any returned passage share a query term?

    @property
    def passage_ids(self) -> tuple[str, ...]:
        return tuple(p.doc_id for p in self.passages)


_SHORT_ZH, _SHORT_EN = 20, 12


def search_query(text: str, earlier: Sequence[str]) -> str:
    """What to search for: the message, preceded by the customer's previous message when the message is a
    short follow-up ("那香港呢？", "and for the lamp?") that means little on its own."""
    if not earlier:
        return text
    cjk = sum(1 for ch in text if "\u4e00" <= ch <= "\u9fff")
    short = cjk <= _SHORT_ZH if cjk else len(text.split()) <= _SHORT_EN
    return f"{earlier[-1]}\n{text}" if short else text


def approx_tokens(text: str) -> int:
    """About how many model tokens a text takes (a CJK character ~0.75, other text ~4 characters a token)."""
    cjk = sum(1 for ch in text if "\u4e00" <= ch <= "\u9fff")
    return int(cjk * 0.75 + (len(text) - cjk) / 4) + 1


def excerpt(index: KBIndex, doc: int, chunk_scores: np.ndarray, budget: int) -> str:
    """The paragraphs of a document that answer the query best, in document order, within *budget*
    tokens (at least the best one): what the writer reads and what a quoted fallback says."""
    ids = np.flatnonzero(index.chunk_doc == doc)
    if ids.size == 0:
        return index.docs[doc].body
    keep: list[int] = []
    used = 0
    for c in ids[np.argsort(-chunk_scores[ids], kind="stable")]:
        size = approx_tokens(index.chunk_texts[c])
        if keep and used + size > budget:
            continue
        keep.append(int(c))
        used += size
    return "\n".join(index.chunk_texts[c] for c in sorted(keep))


def _validity(start: date | None, end: date | None, today: date) -> Validity:
    if end is not None and today > end:
        return Validity.ENDED
    if start is not None and today < start:
        return Validity.UPCOMING
    return Validity.IN_FORCE


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
    # documents outside their validity window stay findable ("is the Double 11 sale still on?" needs the
    # Double 11 document), ranked lower and marked ended / upcoming for the writer and the guard
    day = today.toordinal()
    mask = np.ones(len(index.docs), dtype=bool)
    in_force = index.in_force(day)
    in_region = index.for_region(region)
    terms = search_terms(query)
    n = len(index.docs)
    lexical = index.bm25.get_scores(terms) if terms else np.zeros(n, dtype=np.float32)
    title_lexical = index.title_bm25.get_scores(terms) if terms else np.zeros(n, dtype=np.float32)
    q = query_vec.astype(np.float32)
    dense: np.ndarray = index.vectors @ q if n else np.zeros(0)
    title_dense: np.ndarray = index.title_vectors @ q if n else np.zeros(0)
    chunk_dense = np.full(n, -1.0, dtype=np.float32)
    if n:
        np.maximum.at(chunk_dense, index.chunk_doc, index.chunk_vectors @ q)  # best paragraph per document
    lex_rank = _top(np.asarray(lexical), mask, cfg.candidates)
    rankings = (
        (cfg.lexical_weight, lex_rank),
        (cfg.dense_weight, _top(np.asarray(dense) + 1.0, mask, cfg.candidates)),  # cosine may be negative
        (cfg.title_lexical_weight, _top(np.asarray(title_lexical), mask, cfg.candidates)),
        (cfg.title_dense_weight, _top(np.asarray(title_dense) + 1.0, mask, cfg.candidates)),
        (cfg.chunk_dense_weight, _top(chunk_dense + 1.0, mask, cfg.candidates)),
    )
    fused: dict[int, float] = {}
    for weight, ranking in rankings:
        if weight <= 0:
            continue
        for rank, i in enumerate(ranking):
            fused[int(i)] = fused.get(int(i), 0.0) + weight / (cfg.rrf_k + rank + 1)
    lexical_set = {int(i) for i in lex_rank}
    if region is not None and cfg.region_boost != 1.0:
        for i in fused:
            if region in index.docs[i].regions:  # scoped to this region, not "all"
                fused[i] *= cfg.region_boost
    for i in fused:
        if not in_force[i]:
            fused[i] *= cfg.out_of_window_factor
        if not in_region[i]:
            fused[i] *= cfg.out_of_region_factor

    order = sorted(fused, key=lambda i: (-fused[i], i))
    # one passage per topic: prefer the customer's language among a topic's documents
    by_topic: dict[str, int] = {}
    for i in order:
        doc = index.docs[i]
        held = by_topic.get(doc.topic)
        if held is None or (index.docs[held].lang != lang and doc.lang == lang):
            by_topic[doc.topic] = i
    chosen = sorted(by_topic.values(), key=lambda i: (-fused[i], i))[: cfg.top_k]
    chunk_scores = index.chunk_vectors @ q if n else np.zeros(0)
    passages = tuple(
        Passage(
            doc_id=index.docs[i].doc_id,
            topic=index.docs[i].topic,
            title=index.docs[i].title,
            text=excerpt(index, i, chunk_scores, cfg.excerpt_tokens * (2 if rank == 0 else 1)),
            full_text=index.docs[i].body,
            lang=index.docs[i].lang,
            kind=index.docs[i].kind,
            regions=index.docs[i].regions,
            valid_from=index.docs[i].valid_from,
            valid_to=index.docs[i].valid_to,
            validity=_validity(index.docs[i].valid_from, index.docs[i].valid_to, today),
            for_region=bool(in_region[i]),
            score=round(float(dense[i]), 4),
        )
        for rank, i in enumerate(chosen)
    )
    support = max((float(dense[i]) for i in chosen), default=0.0)
    return Retrieval(
        version=index.version,
        passages=passages,
        support=round(support, 4),
        lexical_overlap=any(i in lexical_set for i in chosen),
    )
