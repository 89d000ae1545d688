"""The pinned KB version as the policy source: passages, their stated values and their rules.

Loaded once per run from the database (``keel.online.kb.store.documents``). From each passage
the audit reads what it states (values), what it forbids (prohibited items, "only once"
limits, "no other compensation") and its time windows; the detectors compare agents' replies
with these, so no shop fact is hard-coded in a detector.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from keel.audit import facts
from keel.audit.lexicon import (
    COMPENSATION,
    NEGATION_EN,
    NEGATION_ZH,
    QUALITY_RULE,
    REGION_NAMES,
    content_tokens,
    item_tokens,
)
from keel.db import Database
from keel.embed import EmbeddingCache
from keel.online.kb import store
from keel.online.kb.documents import ALL_REGIONS, DocKind, KBDocument
from keel.online.kb.index import passage_text
from keel.text import normalize

_SENT = re.compile(r"(?<=[。！？!?；;])|(?<=\.)\s+|\n+")
_CODE = re.compile(r"\b[A-Z]{2,}\d{2,}\b")
_WINDOW_HINT = re.compile(r"within|after|until|before|内|后|之前|起", re.IGNORECASE)


@dataclass(frozen=True)
class Window:
    days: int
    sentence: str
    tokens: frozenset[str]
    quality: bool  # the window is for quality problems
    regions: tuple[str, ...]  # regions the window applies to (the passage's, or named next to it)


@dataclass(frozen=True)
class Prohibition:
    """Something a passage forbids: items (each a token set) or an 'only once' limit."""

    sentence: str
    items: tuple[frozenset[str], ...]
    unless_quality: bool  # "... without a quality problem"
    once: bool  # "can be reissued only once"
    compensation: bool  # "cannot promise any other compensation"
    tokens: frozenset[str]


@dataclass(frozen=True)
class PolicyPassage:
    doc_id: str
    topic: str
    lang: str
    title: str
    text: str
    kind: str
    regions: tuple[str, ...]
    values: frozenset[tuple[str, str]]
    tokens: frozenset[str]
    windows: tuple[Window, ...]
    prohibitions: tuple[Prohibition, ...]

    def applies_to(self, region: str | None) -> bool:
        return region is None or ALL_REGIONS in self.regions or region in self.regions

    def excerpt(self, limit: int = 400) -> str:
        return self.text if len(self.text) <= limit else self.text[: limit - 1] + "…"


@dataclass
class PolicyBook:
    """Every passage of one KB version, with vectors for matching questions to them."""

    version: int
    content_hash: str
    passages: tuple[PolicyPassage, ...]
    vectors: np.ndarray  # (n, dim) e5 passage vectors, L2-normalised
    idf: dict[str, float]
    volatile_terms: tuple[str, ...]  # promotion names and codes
    volatile_values: frozenset[tuple[str, str]]  # values of promotions and of facts changed in this version
    region_masks: dict[str | None, np.ndarray] = field(default_factory=dict)
    _lexical_cache: dict[tuple[frozenset[str], str | None, int], list[tuple[int, float]]] = field(default_factory=dict)

    def mask(self, region: str | None) -> np.ndarray:
        if region not in self.region_masks:
            self.region_masks[region] = np.array([p.applies_to(region) for p in self.passages], dtype=bool)
        return self.region_masks[region]

    def by_vector(self, vec: np.ndarray, region: str | None, k: int = 4) -> list[tuple[int, float]]:
        """Passages for the region ranked by e5 cosine to a query vector."""
        sims = self.vectors @ vec.astype(np.float32)
        sims = np.where(self.mask(region), sims, -1.0)
        order = np.argsort(-sims)[:k]
        return [(int(i), float(sims[i])) for i in order if sims[i] > -1.0]

    def by_tokens(self, tokens: Iterable[str], region: str | None, k: int = 4) -> list[tuple[int, float]]:
        """Passages for the region ranked by idf-weighted shared content words (cached)."""
        toks = frozenset(tokens)
        key = (toks, region, k)
        hit = self._lexical_cache.get(key)
        if hit is None:
            hit = self._by_tokens(toks, region, k)
            if len(self._lexical_cache) >= 1 << 15:
                self._lexical_cache.clear()
            self._lexical_cache[key] = hit
        return hit

    def _by_tokens(self, toks: frozenset[str], region: str | None, k: int) -> list[tuple[int, float]]:
        mask = self.mask(region)
        scored = []
        for i, p in enumerate(self.passages):
            if not mask[i]:
                continue
            score = sum(self.idf.get(t, 0.0) for t in toks & p.tokens)
            if score > 0:
                scored.append((i, score))
        scored.sort(key=lambda x: -x[1])
        return scored[:k]

    def topic_values(self, topic: str) -> frozenset[tuple[str, str]]:
        return frozenset().union(*(p.values for p in self.passages if p.topic == topic))


def _sentences(text: str) -> list[str]:
    return [s.strip(" -*\t") for s in _SENT.split(text) if s and s.strip(" -*\t")]


def _paragraphs(text: str) -> list[str]:
    """Paragraphs with their bullet lists joined into one line (a rule and its items stay together)."""
    out: list[str] = []
    for block in re.split(r"\n\s*\n", text):
        line = " ".join(x.strip(" -*\t") for x in block.splitlines() if x.strip())
        if not line:
            continue
        if out and out[-1].endswith((":", "：")):
            out[-1] = f"{out[-1]} {line}"
        else:
            out.append(line)
    return out


def _region_near(sentence: str, pos: int, end: int) -> str | None:
    """The region named right after a number (English) or right before it (Chinese)."""
    low = sentence.lower()
    cjk = bool(re.search(r"[\u4e00-\u9fff]", sentence))
    after, before = low[end : end + 32], low[max(0, pos - 8) : pos]
    windows = (before, after) if cjk else (after, before)
    for i, chunk in enumerate(windows):
        best: tuple[int, str] | None = None
        for region, names in REGION_NAMES.items():
            for name in names:
                pattern = r"(?<![a-z])eu(?![a-z])" if name == "eu" else re.escape(name)
                for m in re.finditer(pattern, chunk):
                    is_after = (i == 1) if cjk else (i == 0)
                    dist = m.start() if is_after else len(chunk) - m.end()
                    if best is None or dist < best[0]:
                        best = (dist, region)
        if best:
            return best[1]
    return None


_DAY_IN = re.compile(r"(\d+|[一二两三四五六七八九十]+)\s*-?\s*(?:days?|天)", re.IGNORECASE)


def _windows(text: str, regions: tuple[str, ...]) -> list[Window]:
    out: list[Window] = []
    for para in _paragraphs(text):
        out.extend(_para_windows(para, regions))
    return out


_BEYOND = re.compile(r"(?:after|over|more than|超过|逾)\s*$", re.IGNORECASE)


def _para_windows(para: str, regions: tuple[str, ...]) -> list[Window]:
    out: list[Window] = []
    for sentence in _sentences(para):
        quality = QUALITY_RULE.find(normalize(sentence)) is not None
        if not _WINDOW_HINT.search(sentence):
            continue
        clean = facts.DATE.sub(lambda m: " " * len(m.group(0)), sentence)
        matches = [
            m
            for m in _DAY_IN.finditer(clean)
            if "工作日" not in clean[m.start() : m.end() + 3]
            and not re.match(r"\s*business|\s*working", clean[m.end() :], re.IGNORECASE)
            and not _BEYOND.search(clean[max(0, m.start() - 12) : m.start()])
        ]
        days = {facts.cn_number(m.group(1)) for m in matches}
        if not matches:
            continue
        tokens = frozenset(content_tokens(sentence))
        for m in matches:
            n = facts.cn_number(m.group(1))
            if n is None:
                continue
            near = _region_near(clean, m.start(), m.end()) if len(days) > 1 else None
            if len(days) > 1 and near is None:
                continue  # several windows and none tied to a region: not usable
            out.append(
                Window(days=n, sentence=sentence, tokens=tokens, quality=quality, regions=(near,) if near else regions)
            )
    return out


_ITEM_SPLIT = re.compile(r"[;；,，、/]|\band\b|\bor\b|或|和|及")
_CUT = re.compile(r"\(|（|such as|for example|例如|如", re.IGNORECASE)


def _items(segment: str) -> tuple[frozenset[str], ...]:
    items = []
    for part in _ITEM_SPLIT.split(segment):
        part = _CUT.split(part)[0]
        toks = frozenset(item_tokens(part))
        if 1 <= len(toks) <= 3:
            items.append(toks)
    return tuple(items)


_EXCLUDED = re.compile(
    r"\b(?:cannot be|can't be|can not be|are excluded|is excluded|are not covered|is not covered|"
    r"are not included|is not included|not returnable)\b|不支持|不参与|不参加|不适用|不可退|不予",
    re.IGNORECASE,
)
_REGION_TOKENS = frozenset(t for names in REGION_NAMES.values() for n in names for t in item_tokens(n)) | {
    "订单",
    "order",
}


def _negation(text: str) -> re.Match[str] | None:
    return NEGATION_EN.search(text.lower()) or NEGATION_ZH.search(text)


def _prohibitions(text: str) -> list[Prohibition]:
    out: list[Prohibition] = []
    for para in _paragraphs(text):
        for sentence in [para, *_sentences(para)] if len(para) < 400 else _sentences(para):
            norm = normalize(sentence)
            once = bool(re.search(r"only once|仅可.{0,6}一次|限一次|只能.{0,6}一次", norm))
            comp = COMPENSATION.find(norm) is not None and _negation(sentence) is not None
            excl = _EXCLUDED.search(sentence)
            items: tuple[frozenset[str], ...] = ()
            if excl is not None and not (once or comp):
                colon = max(sentence.find(":"), sentence.find("："))
                if colon >= 0 and excl.start() < colon:
                    items = _items(sentence[colon + 1 :])
                else:
                    head = re.split(r"[。.!?！？]", sentence[: excl.start()])[-1]
                    items = _items(re.sub(r"^.*?(?:以下|the following)", "", head))
                items = tuple(i for i in items if not i <= _REGION_TOKENS)
            if not (items or once or comp):
                continue
            unless_quality = bool(re.search(r"without a quality problem|没有质量问题|unless.{0,20}quality", norm))
            out.append(
                Prohibition(
                    sentence=sentence,
                    items=items,
                    unless_quality=unless_quality,
                    once=once,
                    compensation=comp,
                    tokens=frozenset(content_tokens(sentence)),
                )
            )
    unique: dict[tuple[str, bool, bool], Prohibition] = {}
    for p in out:  # a paragraph and its own sentence may give the same rule: keep the shorter text
        key = (str(sorted(map(sorted, p.items))), p.once, p.compensation)
        if key not in unique or len(p.sentence) < len(unique[key].sentence):
            unique[key] = p
    return list(unique.values())


def build_passage(doc: KBDocument) -> PolicyPassage:
    text = passage_text(doc)
    return PolicyPassage(
        doc_id=doc.doc_id,
        topic=doc.topic,
        lang=doc.lang.value,
        title=doc.title,
        text=text,
        kind=doc.kind.value,
        regions=doc.regions,
        values=facts.values(doc.body),
        tokens=frozenset(content_tokens(text)),
        windows=tuple(_windows(doc.body, doc.regions)),
        prohibitions=tuple(_prohibitions(doc.body)),
    )


def _promotion_terms(docs: list[KBDocument]) -> tuple[str, ...]:
    terms: set[str] = set()
    for doc in docs:
        if doc.kind is not DocKind.PROMOTION:
            continue
        title = doc.title
        name = (
            re.split(r"[:：]", title)[0]
            if re.search(r"[:：]", title)
            else re.split(r"全场|\d+(?:\.\d+)?\s*折|\d+%", title)[0]
        )
        name = name.strip()
        if len(name) >= 2:
            terms.add(name)
        terms.update(_CODE.findall(doc.body))
    return tuple(sorted(terms))


def load_policy(db: Database, version: int, cache: EmbeddingCache, tenant: str = "default") -> PolicyBook:
    """Read the pinned version (and its parent, to know which facts just changed)."""
    docs = store.documents(db, version, tenant)
    info = next(v for v in store.list_versions(db, tenant) if v.version == version)
    volatile_values: set[tuple[str, str]] = set()
    for doc in docs:
        if doc.kind is DocKind.PROMOTION or doc.valid_to is not None:
            volatile_values |= facts.values(doc.body)
    if info.parent is not None:
        before = {d.doc_id: d for d in store.documents(db, info.parent, tenant)}
        for doc in docs:
            old = before.get(doc.doc_id)
            if old is not None and old.content_hash != doc.content_hash:
                volatile_values |= facts.values(doc.body) - facts.values(old.body)
    passages = tuple(build_passage(d) for d in docs)
    df: Counter[str] = Counter()
    for p in passages:
        df.update(p.tokens)
    n = len(passages)
    idf = {t: math.log(1 + n / c) for t, c in df.items()}
    vectors = cache.passages([p.text for p in passages])
    return PolicyBook(
        version=version,
        content_hash=info.content_hash,
        passages=passages,
        vectors=vectors,
        idf=idf,
        volatile_terms=_promotion_terms(docs),
        volatile_values=frozenset(volatile_values),
    )
