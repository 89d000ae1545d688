"""Claims a reply makes, checked against what it may rely on: the passages it cites and the customer's state.

* every number (digits or simple Chinese numerals: 七天 → 7), code and menu step must occur in the
  evidence (the cited passages, the state, the customer's own words);
* every sentence that says something must be mostly made of the evidence's words: a sentence whose
  content words are not in any cited passage is an uncited claim. Courtesy (greetings, thanks,
  apologies, offers to help or to connect a person, in ``courtesy.txt``) and the business's own
  fixed wordings need no citation.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

from keel.text import search_terms

_NUMBER = re.compile(r"(?<![A-Za-z0-9])\d+(?:[.,]\d+)?")
_CODE = re.compile(r"\b[A-Z]{2,}[0-9]{2,}\b")
_CN_DIGITS = {"零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_CN_NUM = re.compile(r"[零一二两三四五六七八九十]+(?=[天日个周月年元块%倍次])")
_STEP = r"[^\s→>»，。、,.;:：“”「」『』\"'（）()]+"
_MENU = re.compile(rf"({_STEP}(?:\s*(?:→|->|>|»)\s*{_STEP})+)")
_SENTENCE = re.compile(r"(?<=[。！？!?；;])|(?<=[.])\s+")
_CJK = re.compile(r"[\u3400-\u9fff]")

TRIVIAL_NUMBERS = frozenset({"0", "1", "2", "3"})  # list markers and small counts

#: a sentence with at least this many content words is a claim; it needs this share of them in the evidence
CLAIM_MIN_TERMS = 3
CLAIM_MIN_SUPPORT = 0.5


def _cn_to_int(s: str) -> int | None:
    if s == "十":
        return 10
    if "十" in s:
        head, _, tail = s.partition("十")
        tens = _CN_DIGITS.get(head, 1) if head else 1
        ones = _CN_DIGITS.get(tail, 0) if tail else 0
        return tens * 10 + ones
    if len(s) == 1:
        return _CN_DIGITS.get(s)
    return None


def numbers_in(text: str) -> set[str]:
    """Numbers written with digits or simple Chinese numerals (七天 → 7), normalised."""
    found = {n.replace(",", "") for n in _NUMBER.findall(text)}
    for m in _CN_NUM.finditer(text):
        value = _cn_to_int(m.group(0))
        if value is not None:
            found.add(str(value))
    return {n[:-2] if n.endswith(".0") else n for n in found}


def codes_in(text: str) -> list[str]:
    return _CODE.findall(text)


def menu_steps(text: str) -> list[str]:
    """The steps of menu paths ("Settings → Privacy → Delete account" → the three names)."""
    steps: list[str] = []
    for m in _MENU.finditer(text):
        steps += [s.strip() for s in re.split(r"→|->|>|»", m.group(1)) if s.strip()]
    return steps


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_CHINESE, STOPWORDS_EN_PLUS

    words = {*STOPWORDS_EN_PLUS, *STOPWORDS_CHINESE}
    return frozenset(search_terms(" ".join(words))) | frozenset(words)


@lru_cache(maxsize=1)
def courtesy_terms() -> frozenset[str]:
    """Words of generic customer-service courtesy, which a reply may use without a citation."""
    text = (resources.files("keel") / "online" / "guard" / "courtesy.txt").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return frozenset(search_terms("\n".join(lines)))


def content_terms(text: str) -> list[str]:
    """The words of *text* that carry content: no stop words, no single CJK characters, no numbers."""
    stop = _stopwords()
    out = []
    for t in search_terms(text):
        if t in stop or t.isdigit() or (len(t) == 1 and _CJK.match(t)) or (len(t) < 3 and not _CJK.match(t)):
            continue
        out.append(t)
    return out


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text) if s and s.strip()]


def unsupported_number(reply: str, evidence: str, customer: str, uncited: str = "") -> str | None:
    supported = numbers_in(evidence) | numbers_in(customer)
    elsewhere = numbers_in(uncited)
    for number in sorted(numbers_in(reply)):
        if number in TRIVIAL_NUMBERS or number in supported:
            continue
        if number in elsewhere:
            return f"number {number} is only in a passage the reply does not cite"
        return f"number {number} is not in the cited passages or the customer's state"
    return None


def unsupported_code(reply: str, evidence: str, customer: str) -> str | None:
    ev, cu = evidence.lower(), customer.lower()
    for code in codes_in(reply):
        if code.lower() not in ev and code.lower() not in cu:
            return f"code {code} is not in the cited passages or the customer's state"
    known = [e.lower() for e in menu_steps(evidence)]
    for step in menu_steps(reply):
        low = step.lower()
        # CJK has no spaces: "在我的订单" is the step "我的订单" with its preposition
        if low not in ev and not any(e in low for e in known):
            return f"step {step!r} is not in the cited passages"
    return None


def unsupported_sentence(reply: str, evidence: str, customer: str, fixed: str = "") -> str | None:
    """The first sentence that states something the evidence does not say, or None.

    *fixed* is the business's own wording (templates), allowed like courtesy.
    """
    allowed = set(search_terms(evidence)) | set(search_terms(customer)) | set(search_terms(fixed)) | courtesy_terms()
    for sentence in sentences(reply):
        terms = content_terms(sentence)
        if len(terms) < CLAIM_MIN_TERMS:
            continue
        known = sum(1 for t in terms if t in allowed)
        if known / len(terms) < CLAIM_MIN_SUPPORT:
            missing = [t for t in terms if t not in allowed][:4]
            return f"sentence not supported by the cited passages ({', '.join(missing)}): {sentence[:80]!r}"
    return None
