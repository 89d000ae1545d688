"""How upset is the customer? VADER for English, cnsenti + SnowNLP for Chinese, plus Keel's markers.

The result only adds the ``soothe`` modifier; it never changes what may be said.
"""

from __future__ import annotations

import re
import threading
from enum import StrEnum
from functools import lru_cache
from typing import Any

from keel.domain import Frozen, Lang
from keel.text import TermMatcher, normalize


class EmotionLevel(StrEnum):
    CALM = "calm"
    NEGATIVE = "negative"
    UPSET = "upset"


class Emotion(Frozen):
    level: EmotionLevel
    score: float  # 0 calm … 1 very upset
    signals: tuple[str, ...] = ()

    @property
    def needs_soothing(self) -> bool:
        return self.level is EmotionLevel.UPSET


_EN_MARKERS = TermMatcher(
    [
        "third time",
        "second time",
        "again",
        "still not",
        "still no",
        "still haven't",
        "ridiculous",
        "unacceptable",
        "fed up",
        "worst",
        "waited",
        "waiting for",
        "nobody",
        "no one",
        "frustrat*",
        "angry",
        "furious",
        "disappointed",
        "upset",
        "scared",
        "worried",
        "anxious",
        "desperate",
        "terrible",
        "awful",
        "horrible",
        "annoyed",
        "sick of",
        "tired of",
        "joke",
        "useless",
        "disgusting",
        "outraged",
        "wtf",
        "seriously",
        "what the hell",
        "hopeless",
        "crying",
        "stressed",
        "panic*",
        "so late",
        "never again",
    ]
)
_ZH_MARKERS = TermMatcher(
    [
        "破",
        "垃圾",
        "气死",
        "太差",
        "失望",
        "无语",
        "等了",
        "还没",
        "多少次",
        "到底",
        "烦",
        "着急",
        "急死",
        "崩溃",
        "难过",
        "委屈",
        "生气",
        "愤怒",
        "离谱",
        "过分",
        "坑",
        "骗",
        "差劲",
        "受不了",
        "搞什么",
        "什么玩意",
        "恶心",
        "绝望",
        "害怕",
        "担心",
        "焦虑",
        "哭",
        "第三次",
        "第二次",
        "又是",
        "一直没",
        "根本没",
        "没人管",
        "没人理",
        "不理人",
        "太慢",
        "真的服了",
        "服了",
    ]
)
_SHOUT = re.compile(r"[!！]{2,}|[?？]{3,}|[!！][?？]|[?？][!！]")
_CAPS = re.compile(r"\b[A-Z]{3,}\b")


@lru_cache(maxsize=1)
def _vader() -> Any:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


_cn_lock = threading.Lock()


@lru_cache(maxsize=1)
def _cnsenti() -> tuple[Any, Any]:
    from cnsenti import Emotion as CnEmotion
    from cnsenti import Sentiment as CnSentiment

    emotion, sentiment = CnEmotion(), CnSentiment()
    # the lexicons ship as lists and are only ever tested with `in`: sets give the same counts, ~100x faster
    for obj in (emotion, sentiment):
        for name, value in vars(obj).items():
            if isinstance(value, list):
                setattr(obj, name, frozenset(value))
    return emotion, sentiment


def _level(score: float) -> EmotionLevel:
    if score >= 0.3:
        return EmotionLevel.UPSET
    if score >= 0.15:
        return EmotionLevel.NEGATIVE
    return EmotionLevel.CALM


def _markers(text: str, matcher: TermMatcher, limit: int = 3) -> list[str]:
    found: list[str] = []
    rest = text
    while len(found) < limit:
        term = matcher.find(rest)
        if not term:
            break
        found.append(term)
        rest = rest.replace(term, " ")
    return found


def assess_emotion(text: str, lang: Lang) -> Emotion:
    """Score the customer's distress from lexicons and Keel's markers (shouting, repeats, anger words)."""
    norm = normalize(text)
    signals: list[str] = []
    score = 0.0
    if _SHOUT.search(text):
        signals.append("shouting punctuation")
        score += 0.3
    caps = _CAPS.findall(text)
    if len(caps) >= 2:
        signals.append("capitals")
        score += 0.2
    if lang is Lang.EN:
        compound = float(_vader().polarity_scores(text)["compound"])
        if compound < -0.05:
            signals.append(f"vader {compound:+.2f}")
            score += 0.45 * -compound
        markers = _markers(norm, _EN_MARKERS)
    else:
        with _cn_lock:
            emotion, sentiment = _cnsenti()
            counts = emotion.emotion_count(text)
            polarity = sentiment.sentiment_count(text)
        neg = int(polarity.get("neg", 0)) - int(polarity.get("pos", 0))
        feelings = sum(int(counts.get(k, 0)) for k in ("怒", "哀", "恶", "惧"))
        if neg > 0:
            signals.append(f"cnsenti neg {neg}")
            score += min(0.45, 0.15 * neg)
        if feelings:
            signals.append(f"cnsenti emotion {feelings}")
            score += min(0.3, 0.15 * feelings)
        markers = _markers(norm, _ZH_MARKERS)
    if markers:
        signals.append("markers " + "/".join(markers))
        score += 0.25 * len(markers)
    score = round(min(score, 1.0), 3)
    return Emotion(level=_level(score), score=score, signals=tuple(signals))
