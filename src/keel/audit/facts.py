"""Values stated in text: durations, amounts, percentages, yes/no stance, days elapsed, dates.

Language knowledge only (units, numerals, how dates are written); no shop fact lives here.
Values are canonical strings, e.g. ``3 bday``, ``1-5 bday``, ``¥88``, ``15%``, so an agent's
reply and a KB passage can be compared value by value.
"""

from __future__ import annotations

import re
from functools import lru_cache

_CN_DIGIT = {"零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_EN_WORD = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "fourteen": 14,
    "fifteen": 15,
    "twenty": 20,
    "thirty": 30,
    "a": 1,
    "an": 1,
}


def cn_number(s: str) -> int | None:
    """Simple Chinese numerals (七 → 7, 十五 → 15, 三十 → 30)."""
    if s.isdigit():
        return int(s)
    if "十" in s:
        head, _, tail = s.partition("十")
        tens = _CN_DIGIT.get(head, 1) if head else 1
        return tens * 10 + (_CN_DIGIT.get(tail, 0) if tail else 0)
    if len(s) == 1:
        return _CN_DIGIT.get(s)
    return None


def _num(s: str) -> float | None:
    s = s.strip().lower()
    if s in _EN_WORD:
        return float(_EN_WORD[s])
    value = cn_number(s) if re.fullmatch(r"[零一二两三四五六七八九十]+", s) else None
    if value is not None:
        return float(value)
    try:
        return float(s.replace(",", ""))
    except ValueError:
        return None


def _fmt(x: float) -> str:
    return str(int(x)) if x == int(x) else f"{x:g}"


# ---------------------------------------------------------------- dates (removed before durations)
_MONTHS = (
    "january|february|march|april|may|june|july|august|september|october|november|december|"
    "jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec"
)
DATE = re.compile(
    rf"\b\d{{4}}-\d{{1,2}}-\d{{1,2}}\b"
    rf"|(?:\d{{4}}年)?\d{{1,2}}月\d{{1,2}}[日号]?"
    rf"|\d{{4}}年\d{{1,2}}月"
    rf"|\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:{_MONTHS})\b(?:\s+\d{{4}})?"
    rf"|\b(?:{_MONTHS})\.?\s+\d{{1,2}}(?:st|nd|rd|th)?\b(?:,?\s+\d{{4}})?"
    rf"|\b\d{{1,2}}/\d{{1,2}}(?:/\d{{2,4}})?\b",
    re.IGNORECASE,
)


def dates_in(text: str) -> list[str]:
    return [m.group(0) for m in DATE.finditer(text)]


# ---------------------------------------------------------------- durations
_UNITS = {
    "business day": "bday",
    "business days": "bday",
    "working day": "bday",
    "working days": "bday",
    "day": "day",
    "days": "day",
    "hour": "hour",
    "hours": "hour",
    "week": "week",
    "weeks": "week",
    "month": "month",
    "months": "month",
    "year": "year",
    "years": "year",
    "minute": "minute",
    "minutes": "minute",
    "个工作日": "bday",
    "工作日": "bday",
    "天": "day",
    "日": "day",
    "小时": "hour",
    "个小时": "hour",
    "周": "week",
    "个月": "month",
    "年": "year",
    "分钟": "minute",
}
_NUM_EN = r"\d+(?:\.\d+)?|" + "|".join(k for k in _EN_WORD if len(k) > 2)
_DUR_EN = re.compile(
    rf"(?<![\w.])(?P<a>{_NUM_EN})(?:\s*(?:–|-|~|to)\s*(?P<b>\d+))?[\s-]*"
    r"(?P<u>business days?|working days?|days?|hours?|weeks?|months?|years?|minutes?)\b",
    re.IGNORECASE,
)
_DUR_ZH = re.compile(
    r"(?P<a>\d+|[一二两三四五六七八九十]+)(?:\s*(?:–|-|~|至|到)\s*(?P<b>\d+|[一二两三四五六七八九十]+))?\s*"
    r"(?P<u>个工作日|工作日|个小时|小时|个月|分钟|天|日|周|年)"
)


def durations(text: str) -> list[str]:
    """``N unit`` or ``A-B unit`` values, dates taken out first (11月20日 is no duration)."""
    clean = DATE.sub(" ", text)
    out: list[str] = []
    for pattern in (_DUR_EN, _DUR_ZH):
        for m in pattern.finditer(clean):
            a = _num(m.group("a"))
            if a is None:
                continue
            unit = _UNITS[m.group("u").lower()]
            value = _fmt(a)
            if m.group("b"):
                b = _num(m.group("b"))
                if b is not None:
                    value = f"{value}-{_fmt(b)}"
            out.append(f"{value} {unit}")
    return out


# ---------------------------------------------------------------- amounts and percentages
_CUR_SIGN = {"¥": "¥", "￥": "¥", "€": "€", "hk$": "HK$", "$": "$"}
_CUR_WORD = {
    "元": "¥",
    "块": "¥",
    "块钱": "¥",
    "欧元": "€",
    "港币": "HK$",
    "港元": "HK$",
    "euro": "€",
    "euros": "€",
    "eur": "€",
    "hkd": "HK$",
    "rmb": "¥",
    "yuan": "¥",
}
_AMT_SIGN = re.compile(r"(?P<c>HK\$|¥|￥|€|\$)\s?(?P<n>\d+(?:[.,]\d+)?)", re.IGNORECASE)
_AMT_WORD = re.compile(
    r"(?P<n>\d+(?:\.\d+)?)\s?(?P<c>块钱|元|块|欧元|港币|港元|euros?\b|eur\b|hkd\b|rmb\b|yuan\b)", re.IGNORECASE
)
_PCT = re.compile(r"(?P<n>\d+(?:\.\d+)?)\s?%")
_ZHE = re.compile(r"(?P<n>\d+(?:\.\d)?)\s?折")


def amounts(text: str) -> list[str]:
    out = []
    for m in _AMT_SIGN.finditer(text):
        n = _num(m.group("n"))
        if n is not None:
            out.append(f"{_CUR_SIGN[m.group('c').lower()]}{_fmt(n)}")
    for m in _AMT_WORD.finditer(text):
        n = _num(m.group("n"))
        if n is not None:
            out.append(f"{_CUR_WORD[m.group('c').lower()]}{_fmt(n)}")
    return out


def percents(text: str) -> list[str]:
    """Percent values; a Chinese discount 9折 / 85折 is the percent taken off (10%, 15%)."""
    out = [f"{_fmt(float(m.group('n')))}%" for m in _PCT.finditer(text)]
    for m in _ZHE.finditer(text):
        x = float(m.group("n"))
        off = 100 - (x * 10 if x < 10 else x)
        if 0 < off < 100:
            out.append(f"{_fmt(round(off, 1))}%")
    return out


@lru_cache(maxsize=1 << 16)
def values(text: str) -> frozenset[tuple[str, str]]:
    """Every stated value as (dimension, value): ``dur``, ``amt``, ``pct``."""
    found = {("dur", v) for v in durations(text)}
    found |= {("amt", v) for v in amounts(text)}
    found |= {("pct", v) for v in percents(text)}
    return frozenset(found)


# ---------------------------------------------------------------- yes / no
_YN_EN = re.compile(
    r"(?:^|[.?!,:;\-]\s*)(?:can|could|do|does|is|are|will|may|would|should|have|has|any)\s+\w+"
    r"|\bany\b[^.?!]*\?",
    re.IGNORECASE,
)
_YN_ZH = re.compile(r"吗[?？]?|么[?？]|能不能|可不可以|可否|是否|有没有|支不支持|行不行")
_CLAUSE = re.compile(r"[,.!?;:，。！？；：～~]")
_NO_EN = re.compile(
    r"^(?:no\b|nope\b|sorry\b|unfortunately\b|we (?:don't|do not|can't|cannot|won't)\b|"
    r"(?:you|it) (?:can't|cannot)\b|that's not possible\b)",
    re.IGNORECASE,
)
_YES_EN = re.compile(
    r"^(?:yes\b|yeah\b|yep\b|sure\b|of course\b|absolutely\b|certainly\b|definitely\b|"
    r"(?:you|we) can\b|we do\b|that's possible\b)",
    re.IGNORECASE,
)
_NO_ZH = re.compile(r"不可以|不能|不支持|不提供|不行|无法|没有|不跟|不做|只做|暂时不|不了")
_YES_ZH = re.compile(r"可以|能|支持|有的|是的|没问题|当然|行的")


def is_yes_no_question(text: str) -> bool:
    return bool(_YN_EN.search(text) or _YN_ZH.search(text))


def stance(answer: str) -> str | None:
    """``yes`` / ``no`` from the first clause that takes a side, else None."""
    for clause in _CLAUSE.split(answer)[:4]:
        c = clause.strip()
        if not c:
            continue
        if _NO_EN.search(c) or _NO_ZH.search(c):
            return "no"
        if _YES_EN.search(c) or _YES_ZH.search(c):
            return "yes"
    return None


# ---------------------------------------------------------------- days elapsed (customer side)
_ELAPSED_EN = re.compile(
    rf"(?P<n>{_NUM_EN})\s*(?P<u>days?|weeks?|months?)\s+(?:ago|since|later|in|of use)\b"
    rf"|(?:after|for|it's been|been|over|more than)\s+(?P<n2>{_NUM_EN})\s*(?P<u2>days?|weeks?|months?)\b",
    re.IGNORECASE,
)
_ELAPSED_ZH = re.compile(
    r"(?:签收|收到|到货|买了|用了|已经|过了|超过)\s*(?P<n>\d+|[一二两三四五六七八九十]+)\s*(?P<u>天|周|个月)"
    r"|(?P<n2>\d+|[一二两三四五六七八九十]+)\s*(?P<u2>天|周|个月)(?:前|了)"
)
_UNIT_DAYS = {"day": 1, "days": 1, "week": 7, "weeks": 7, "month": 30, "months": 30, "天": 1, "周": 7, "个月": 30}


def elapsed_days(text: str) -> int | None:
    """How long ago the customer says something happened (delivery, purchase), in days."""
    best: int | None = None
    for pattern in (_ELAPSED_EN, _ELAPSED_ZH):
        for m in pattern.finditer(text):
            n_s = m.group("n") or m.group("n2")
            u = (m.group("u") or m.group("u2") or "").lower()
            n = _num(n_s) if n_s else None
            if n is None or u not in _UNIT_DAYS:
                continue
            days = int(n * _UNIT_DAYS[u])
            best = days if best is None else max(best, days)
    return best
