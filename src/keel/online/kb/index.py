"""Search indexes of one KB version: BM25 (bm25s, jieba for Chinese) and e5 passage vectors."""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import bm25s
import numpy as np

from keel.db import Database
from keel.domain import DEFAULT_TENANT
from keel.embed import EmbeddingCache
from keel.online.kb import store
from keel.online.kb.documents import ALL_REGIONS, KBDocument
from keel.online.kb.sanitize import sanitize_passage
from keel.redact import contact_key
from keel.text import search_terms

log = logging.getLogger("keel.kb")


def passage_text(doc: KBDocument) -> str:
    return f"{doc.title}\n{doc.body}"


_PARAGRAPH = re.compile(r"\n\s*\n|\n(?=\s*(?:[-*•]|\d+[.、)]))")


def paragraphs(doc: KBDocument) -> list[str]:
    """The document's paragraphs and list items."""
    return [p.strip() for p in _PARAGRAPH.split(doc.body) if p and p.strip()] or [doc.body.strip()]


def heading_text(doc: KBDocument) -> str:
    """The document's own field for what it is about: title, the questions it answers, its tags."""
    return " \n".join([doc.title, *doc.questions, " ".join(doc.tags)])


@dataclass(frozen=True)
class KBIndex:
    version: int
    docs: tuple[KBDocument, ...]
    bm25: bm25s.BM25  # over title + body
    vectors: np.ndarray  # (n_docs, dim), L2-normalised, of title + body
    title_bm25: bm25s.BM25  # over the heading field (title, questions, tags)
    title_vectors: np.ndarray  # (n_docs, dim), of the heading field
    chunk_vectors: np.ndarray  # (n_chunks, dim): each paragraph of each document, with its title
    chunk_doc: np.ndarray  # (n_chunks,) index of the chunk's document
    chunk_texts: tuple[str, ...]  # the paragraph of each chunk (without the title)
    valid_from: np.ndarray  # date ordinals, 0 = open
    valid_to: np.ndarray  # date ordinals, max = open
    all_regions: np.ndarray  # (n_docs,) bool: the document serves every region
    region_docs: dict[str, np.ndarray]  # region → (n_docs,) bool: scoped to that region by name

    def eligible(self, day_ordinal: int, region: str | None) -> np.ndarray:
        """Mask of documents in force on the day and for the region (None = any region)."""
        return self.in_force(day_ordinal) & self.for_region(region)

    def in_force(self, day_ordinal: int) -> np.ndarray:
        return (self.valid_from <= day_ordinal) & (day_ordinal <= self.valid_to)

    def for_region(self, region: str | None) -> np.ndarray:
        if region is None:
            return np.ones(len(self.docs), dtype=bool)
        named = self.region_docs.get(region)
        return self.all_regions.copy() if named is None else self.all_regions | named


def _arrays(docs: list[KBDocument]) -> tuple[np.ndarray, np.ndarray]:
    big = np.iinfo(np.int64).max
    vf = np.array([d.valid_from.toordinal() if d.valid_from else 0 for d in docs], dtype=np.int64)
    vt = np.array([d.valid_to.toordinal() if d.valid_to else big for d in docs], dtype=np.int64)
    return vf, vt


def _regions(docs: list[KBDocument]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Which documents serve every region, and which name each region (any region id the KB uses)."""
    every = np.array([ALL_REGIONS in d.regions for d in docs], dtype=bool)
    names = sorted({r for d in docs for r in d.regions if r != ALL_REGIONS})
    return every, {r: np.array([r in d.regions for d in docs], dtype=bool) for r in names}


def _sanitized(version: int, docs: list[KBDocument], keep: frozenset[str]) -> list[KBDocument]:
    """Documents as the model and the guard may see them (see ``keel.online.kb.sanitize``)."""
    out = []
    for doc in docs:
        clean = sanitize_passage(doc.body, keep)
        if clean.dropped or clean.redacted:
            log.warning(
                "KB version %s, %s: %d instruction-like sentence(s) dropped%s",
                version,
                doc.doc_id,
                len(clean.dropped),
                ", personal data redacted" if clean.redacted else "",
            )
            doc = doc.model_copy(update={"body": clean.text})
        out.append(doc)
    return out


def build_index(
    version: int,
    docs: list[KBDocument],
    cache: EmbeddingCache,
    progress: Callable[[int], None] | None = None,
    public_contacts: Iterable[str] = (),
) -> KBIndex:
    """The index of one version; *public_contacts* (the business's own e-mail addresses and phone
    numbers) stay in the passages, every other contact is redacted."""
    docs = _sanitized(version, docs, frozenset(contact_key(c) for c in public_contacts))
    bm25 = bm25s.BM25()
    bm25.index([search_terms(passage_text(d)) or ["<empty>"] for d in docs], show_progress=False)
    title_bm25 = bm25s.BM25()
    title_bm25.index([search_terms(heading_text(d)) or ["<empty>"] for d in docs], show_progress=False)
    vectors = cache.passages([passage_text(d) for d in docs], progress=progress)
    title_vectors = cache.passages([heading_text(d) for d in docs])
    pieces = [(i, f"{d.title}\n{p}", p) for i, d in enumerate(docs) for p in paragraphs(d)]
    chunk_vectors = cache.passages([c for _, c, _ in pieces])
    chunk_doc = np.array([i for i, _, _ in pieces], dtype=np.int64)
    vf, vt = _arrays(docs)
    every, named = _regions(docs)
    return KBIndex(
        version=version,
        docs=tuple(docs),
        bm25=bm25,
        vectors=vectors,
        title_bm25=title_bm25,
        title_vectors=title_vectors,
        chunk_vectors=chunk_vectors,
        chunk_doc=chunk_doc,
        chunk_texts=tuple(p for _, _, p in pieces),
        valid_from=vf,
        valid_to=vt,
        all_regions=every,
        region_docs=named,
    )


class IndexRegistry:
    """Keeps the indexes of recently used versions in memory; builds one on first use."""

    def __init__(
        self, db: Database, cache: EmbeddingCache, capacity: int = 4, public_contacts: tuple[str, ...] = ()
    ) -> None:
        self._db = db
        self._public = public_contacts
        self._cache = cache
        self._capacity = capacity
        self._indexes: OrderedDict[tuple[str, int], KBIndex] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def cache(self) -> EmbeddingCache:
        return self._cache

    def get(
        self, version: int, tenant: str = DEFAULT_TENANT, progress: Callable[[int], None] | None = None
    ) -> KBIndex:  # benchmarks/ omit the tenant
        key = (tenant, version)
        with self._lock:
            if key in self._indexes:
                self._indexes.move_to_end(key)
                return self._indexes[key]
        docs = store.documents(self._db, version, tenant)
        index = build_index(version, docs, self._cache, progress, self._public)
        with self._lock:
            self._indexes[key] = index
            while len(self._indexes) > self._capacity:
                self._indexes.popitem(last=False)
        return index
