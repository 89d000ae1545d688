"""Cluster customer questions, streaming: exact text, then MinHash LSH, then e5 embeddings.

Most questions are near-duplicates of an earlier one and join its cluster through MinHash
(datasketch) without an embedding; only questions MinHash cannot place are embedded (in
batches), and only up to a budget: past it a new question starts a MinHash-only cluster. State
is one representative per cluster (text, MinHash, vector), so memory grows with the number of
distinct questions, not with the number of dialogs.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from datasketch import LeanMinHash, MinHash, MinHashLSH

from keel.audit.lexicon import FILLERS, content_tokens
from keel.audit.policy import PolicyBook
from keel.embed import Embedder
from keel.text import normalize

_DIGITS = re.compile(r"\d+")
_CJK = re.compile(r"[\u3400-\u9fff]")


@dataclass
class ClusterInfo:
    cluster_id: int
    text: str  # the representative question
    words: frozenset[str] = frozenset()  # its content words
    size: int = 0
    embedded: bool = False


_FILLER = re.compile("|".join(sorted((re.escape(f) for f in FILLERS), key=len, reverse=True)))
_LATIN_FILLER = re.compile(r"\b(?:" + "|".join(re.escape(f) for f in FILLERS if f.isascii()) + r")\b")


def question_key(text: str) -> str:
    """What a question asks: normalised, digits masked, greetings and politeness removed."""
    norm = _DIGITS.sub(" ", normalize(text))
    norm = _LATIN_FILLER.sub(" ", norm)
    return _FILLER.sub(" ", norm) if _CJK.search(norm) else norm


def shingles(text: str) -> set[bytes]:
    """Character n-grams of the question's content words, digits masked (2-grams for Chinese)."""
    words = sorted(content_tokens(question_key(text)))
    body = " ".join(words)
    n = 2 if _CJK.search(body) else 3
    if len(body) < n:
        return {body.encode()} if body else set()
    return {body[i : i + n].encode() for i in range(len(body) - n + 1)}


class QuestionClusterer:
    """Assigns questions to clusters; the instance is the whole (bounded) clustering state."""

    def __init__(
        self,
        embedder: Embedder | None,
        *,
        num_perm: int = 64,
        minhash_threshold: float = 0.6,
        embed_threshold: float = 0.94,
        max_embeddings: int = 3000,
        max_clusters: int = 50_000,
        cache_size: int = 100_000,
        min_overlap: float = 0.3,
    ) -> None:
        self.embedder = embedder
        self.num_perm = num_perm
        self.minhash_threshold = minhash_threshold
        self.embed_threshold = embed_threshold
        self.min_overlap = min_overlap
        self.max_embeddings = max_embeddings
        self.max_clusters = max_clusters
        self.lsh = MinHashLSH(threshold=minhash_threshold, num_perm=num_perm)
        self.clusters: list[ClusterInfo] = []
        self.signatures: list[LeanMinHash] = []
        self.vectors = np.zeros((0, embedder.dim if embedder else 1), dtype=np.float32)
        self._vec_rows: list[int] = []  # cluster id → row in self.vectors, -1 if none
        self._row_cid: list[int] = []  # row in self.vectors → cluster id
        self._exact: OrderedDict[str, int] = OrderedDict()
        self._cache_size = cache_size
        self.embedded = 0
        self.joined_exact = self.joined_minhash = self.joined_embedding = 0

    def vector(self, cid: int) -> np.ndarray | None:
        row = self._vec_rows[cid]
        return self.vectors[row] if row >= 0 else None

    def _remember(self, key: str, cid: int) -> None:
        self._exact[key] = cid
        if len(self._exact) > self._cache_size:
            self._exact.popitem(last=False)

    def _by_minhash(self, sig: MinHash) -> int | None:
        best, best_j = None, self.minhash_threshold
        for cid in self.lsh.query(sig):
            j = sig.jaccard(self.signatures[int(cid)])
            if j >= best_j:
                best, best_j = int(cid), j
        return best

    def _by_vector(self, vec: np.ndarray, words: frozenset[str]) -> int | None:
        """The closest embedded cluster above the threshold that also shares words with the question
        (e5-small scores different intents of one topic high, so the words must agree too)."""
        sims = self.vectors @ vec
        for row in np.argsort(-sims)[:5]:
            if sims[row] < self.embed_threshold:
                break
            cid = self._row_cid[int(row)]
            rep = self.clusters[cid].words
            if rep and words and len(rep & words) / min(len(rep), len(words)) >= self.min_overlap:
                self.joined_embedding += 1
                return cid
        return None

    def _new(self, text: str, sig: MinHash, vec: np.ndarray | None) -> int:
        cid = len(self.clusters)
        self.clusters.append(
            ClusterInfo(cluster_id=cid, text=text, words=content_tokens(question_key(text)), embedded=vec is not None)
        )
        lean = LeanMinHash(sig)
        self.signatures.append(lean)
        self.lsh.insert(str(cid), lean, check_duplication=False)
        if vec is not None:
            self._vec_rows.append(len(self.vectors))
            self._row_cid.append(cid)
            self.vectors = np.vstack([self.vectors, vec[None, :]])
        else:
            self._vec_rows.append(-1)
        return cid

    def assign(self, questions: list[str]) -> list[int]:
        """Cluster ids for a batch of questions (-1 when the cluster cap is reached)."""
        keys = [" ".join(sorted(content_tokens(question_key(q)))) for q in questions]
        out = [-1] * len(questions)
        todo: list[int] = []
        for i, key in enumerate(keys):
            if key in self._exact:
                out[i] = self._exact[key]
                self._exact.move_to_end(key)
                self.joined_exact += 1
            else:
                todo.append(i)
        if not todo:
            return self._count(out)
        sigs = MinHash.bulk([list(shingles(questions[i])) or [b"-"] for i in todo], num_perm=self.num_perm)
        pending: list[tuple[int, MinHash]] = []
        for i, sig in zip(todo, sigs, strict=True):
            cid = self._by_minhash(sig)
            if cid is not None:
                out[i] = cid
                self._remember(keys[i], cid)
                self.joined_minhash += 1
            else:
                pending.append((i, sig))
        room = max(0, self.max_embeddings - self.embedded) if self.embedder else 0
        to_embed = [i for i, _ in pending][:room]
        vecs = self.embedder.query([questions[i] for i in to_embed]) if to_embed and self.embedder else None
        self.embedded += len(to_embed)
        vec_of = {i: vecs[j] for j, i in enumerate(to_embed)} if vecs is not None else {}
        for i, sig in pending:
            if keys[i] in self._exact:
                out[i] = self._exact[keys[i]]
                continue
            cid = self._by_minhash(sig)  # a cluster opened earlier in this batch
            vec = vec_of.get(i)
            if cid is None and vec is not None and len(self.vectors):
                cid = self._by_vector(vec, content_tokens(question_key(questions[i])))
            if cid is None:
                if len(self.clusters) >= self.max_clusters:
                    continue
                cid = self._new(questions[i], sig, vec)
            out[i] = cid
            self._remember(keys[i], cid)
        return self._count(out)

    def _count(self, ids: list[int]) -> list[int]:
        for cid in ids:
            if cid >= 0:
                self.clusters[cid].size += 1
        return ids


class ClusterPassages:
    """The KB passages that fit each cluster, per region (computed once per cluster and region)."""

    def __init__(self, book: PolicyBook, clusterer: QuestionClusterer, k: int = 3) -> None:
        self.book = book
        self.clusterer = clusterer
        self.k = k
        self._cache: dict[tuple[int, str | None], list[tuple[int, float]]] = {}

    def get(self, cid: int, region: str | None) -> list[tuple[int, float]]:
        if cid < 0:
            return []
        key = (cid, region)
        if key not in self._cache:
            vec = self.clusterer.vector(cid)
            if vec is not None:
                ranked = self.book.by_vector(vec, region, k=self.k)
            else:
                ranked = self.book.by_tokens(content_tokens(self.clusterer.clusters[cid].text), region, k=self.k)
            self._cache[key] = ranked
        return self._cache[key]
