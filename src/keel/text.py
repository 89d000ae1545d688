"""Language detection and tokenisation shared by rules, retrieval and the audit."""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from typing import Any

from keel.domain import Lang

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z]+")
_TOKEN_EN = re.compile(r"[a-z0-9]+(?:[.'][a-z0-9]+)*")
_EN_STOP = frozenset(
    [
        "a",
        "an",
        "the",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "to",
        "of",
        "in",
        "on",
        "for",
        "and",
        "or",
        "my",
        "i",
        "you",
        "your",
        "it",
        "this",
        "that",
        "do",
        "does",
        "did",
        "can",
        "could",
        "would",
        "should",
        "will",
        "with",
        "at",
        "by",
        "from",
        "as",
        "me",
        "we",
        "our",
        "us",
        "how",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "please",
        "hi",
        "hello",
    ]
)
_ZH_STOP = frozenset(
    [
        "的",
        "了",
        "吗",
        "呢",
        "吧",
        "啊",
        "我",
        "你",
        "您",
        "是",
        "在",
        "有",
        "和",
        "就",
        "都",
        "也",
        "要",
        "会",
        "能",
        "怎么",
        "什么",
        "这个",
        "那个",
        "一下",
        "请问",
        "亲",
    ]
)


def detect_lang(text: str, default: Lang = Lang.EN) -> Lang:
    """Chinese when CJK characters make up a fair share of the letters, else English."""
    cjk = len(_CJK.findall(text))
    latin = sum(len(w) for w in _LATIN_WORD.findall(text))
    if cjk == 0 and latin == 0:
        return default
    # one CJK character carries about as much as a short English word
    return Lang.ZH if cjk * 4 >= latin else Lang.EN


@lru_cache(maxsize=1)
def _jieba() -> Any:
    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba


def tokenize(text: str) -> list[str]:
    """Lower-cased tokens: jieba words for Chinese runs, word tokens for the rest; stop words out."""
    lowered = text.lower()
    tokens: list[str] = []
    if _CJK.search(lowered):
        for word in _jieba().lcut_for_search(lowered):
            word = word.strip()
            if not word:
                continue
            if _CJK.search(word):
                if word not in _ZH_STOP:
                    tokens.append(word)
            else:
                tokens.extend(t for t in _TOKEN_EN.findall(word) if t not in _EN_STOP)
    else:
        tokens = [t for t in _TOKEN_EN.findall(lowered) if t not in _EN_STOP]
    return tokens


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("english")


def search_terms(text: str) -> list[str]:
    """Tokens for lexical search: ``tokenize``, with English words reduced to their Snowball stem
    ("refunds" and "refunded" both find "refund")."""
    tokens = tokenize(text)
    stem = _stemmer()
    return [t if _CJK.search(t) else stem.stemWord(t) for t in tokens]


def normalize(text: str) -> str:
    """Casefold and squeeze whitespace; full-width ASCII folded to half-width."""
    folded = (
        "".join(chr(ord(ch) - 0xFEE0) if 0xFF01 <= ord(ch) <= 0xFF5E else ch for ch in text)
        .replace("\u3000", " ")
        .replace("\u2019", "'")
        .replace("\u2018", "'")
    )
    return re.sub(r"\s+", " ", folded).strip().casefold()


class TermMatcher:
    """Finds the first of many terms in normalised text.

    CJK terms match as substrings; Latin terms match on word boundaries, and a trailing ``*``
    makes a Latin term a prefix (``compensat*`` matches "compensation").
    """

    def __init__(self, terms: tuple[str, ...] | list[str]) -> None:
        self.terms = tuple(dict.fromkeys(normalize(t) for t in terms if t and t.strip()))
        self._cjk = tuple(t for t in self.terms if _CJK.search(t))
        latin = [t for t in self.terms if not _CJK.search(t)]
        parts = []
        for term in sorted(latin, key=len, reverse=True):
            prefix = term.endswith("*") and not term.endswith("**")
            core = term[:-1] if prefix else term
            body = re.escape(core)
            head = r"(?<![a-z0-9])" if core[:1].isalnum() else ""
            word_end = r"(?![a-z0-9])" if core[-1:].isalnum() else ""
            tail = r"[a-z0-9]*" if prefix else word_end
            parts.append(head + body + tail)
        self._latin = re.compile("|".join(parts)) if parts else None

    def __bool__(self) -> bool:
        return bool(self.terms)

    def find(self, text: str) -> str | None:
        for term in self._cjk:
            if term in text:
                return term
        if self._latin is not None:
            m = self._latin.search(text)
            if m:
                return m.group(0)
        return None
