"""Search indexes of one KB version: BM25 (bm25s, jieba for Chinese) and e5 passage vectors."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import bm25s
import numpy as np

from keel.db import Database
from keel.domain import Region
from keel.embed import EmbeddingCache
from keel.online.kb import store
from keel.online.kb.documents import ALL_REGIONS, KBDocument
from keel.online.kb.sanitize import sanitize_passage
from keel.text import tokenize

log = logging.getLogger("keel.kb")


def passage_text(doc: KBDocument) -> str:
    return f"{doc.title}\n{doc.body}"


@dataclass(frozen=True)
class KBIndex:
    version: int
    docs: tuple[KBDocument, ...]
    bm25: bm25s.BM25
    vectors: np.ndarray  # (n_docs, dim), L2-normalised
    valid_from: np.ndarray  # date ordinals, 0 = open
    valid_to: np.ndarray  # date ordinals, max = open
    region_bits: np.ndarray  # bit per region; all bits for "all"

    def eligible(self, day_ordinal: int, region: str | None) -> np.ndarray:
        """Mask of documents in force on the day and for the region (None = any region)."""
        mask = (self.valid_from <= day_ordinal) & (day_ordinal <= self.valid_to)
        if region is not None:
            mask &= (self.region_bits & REGION_BITS.get(region, 0)) != 0
        return mask


REGION_BITS = {r.value: 1 << i for i, r in enumerate(Region)}
_ALL_BITS = sum(REGION_BITS.values())


def _arrays(docs: list[KBDocument]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    big = np.iinfo(np.int64).max
    vf = np.array([d.valid_from.toordinal() if d.valid_from else 0 for d in docs], dtype=np.int64)
    vt = np.array([d.valid_to.toordinal() if d.valid_to else big for d in docs], dtype=np.int64)
    bits = np.array(
        [_ALL_BITS if ALL_REGIONS in d.regions else sum(REGION_BITS[r] for r in d.regions) for d in docs],
        dtype=np.int64,
    )
    return vf, vt, bits


def _sanitized(version: int, docs: list[KBDocument]) -> list[KBDocument]:
    """Documents as the model and the guard may see them (see ``keel.online.kb.sanitize``)."""
    out = []
    for doc in docs:
        clean = sanitize_passage(doc.body)
        if clean.dropped or clean.redacted:
            log.warning(
                "KB version %s, %s: %d instruction-like sentence(s) dropped%s",
                version, doc.doc_id, len(clean.dropped), ", personal data redacted" if clean.redacted else "",
            )
            doc = doc.model_copy(update={"body": clean.text})
        out.append(doc)
    return out


def build_index(
    version: int,
    docs: list[KBDocument],
    cache: EmbeddingCache,
    progress: Callable[[int], None] | None = None,
) -> KBIndex:
    docs = _sanitized(version, docs)
    corpus = [tokenize(passage_text(d)) or ["<empty>"] for d in docs]
    bm25 = bm25s.BM25()
    bm25.index(corpus, show_progress=False)
    vectors = cache.passages([passage_text(d) for d in docs], progress=progress)
    vf, vt, bits = _arrays(docs)
    return KBIndex(
        version=version,
        docs=tuple(docs),
        bm25=bm25,
        vectors=vectors,
        valid_from=vf,
        valid_to=vt,
        region_bits=bits,
    )


class IndexRegistry:
    """Keeps the indexes of recently used versions in memory; builds one on first use."""

    def __init__(self, db: Database, cache: EmbeddingCache, capacity: int = 4) -> None:
        self._db = db
        self._cache = cache
        self._capacity = capacity
        self._indexes: OrderedDict[tuple[str, int], KBIndex] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, version: int, tenant: str = "default", progress: Callable[[int], None] | None = None) -> KBIndex:
        key = (tenant, version)
        with self._lock:
            if key in self._indexes:
                self._indexes.move_to_end(key)
                return self._indexes[key]
        docs = store.documents(self._db, version, tenant)
        index = build_index(version, docs, self._cache, progress)
        with self._lock:
            self._indexes[key] = index
            while len(self._indexes) > self._capacity:
                self._indexes.popitem(last=False)
        return index
