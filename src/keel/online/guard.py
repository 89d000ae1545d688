"""The output guard: no unapproved promises, no one else's data, no unsupported numbers, no forbidden topic."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from keel.domain import Frozen
from keel.redact import find_personal_data
from keel.text import TermMatcher, normalize


class GuardKind(StrEnum):
    PROMISE = "unapproved_promise"
    PERSONAL_DATA = "personal_data"
    UNSUPPORTED = "unsupported_claim"
    INTERNAL = "internal_info"
    LANGUAGE = "wrong_language"
    FORBIDDEN_TOPIC = "forbidden_topic"


class Violation(Frozen):
    kind: GuardKind
    evidence: str


class GuardReport(Frozen):
    violations: tuple[Violation, ...] = ()

    @property
    def passed(self) -> bool:
        return not self.violations


@dataclass(frozen=True)
class GuardContext:
    evidence: str  # retrieved passages + the user's own state values
    customer_text: str  # what the customer wrote in this conversation
    own_data: tuple[str, ...] = ()  # the asking user's phone / e-mail
    forbidden: tuple[tuple[str, TermMatcher], ...] = ()  # (topic, its terms) a matched rule forbids


_PROMISES = TermMatcher(
    [
        "保证",
        "担保",
        "承诺",
        "一定会退",
        "一定给您",
        "一定能",
        "肯定能",
        "肯定会",
        "百分百",
        "100%",
        "赔偿您",
        "赔偿你",
        "补偿您",
        "补偿你",
        "给您补偿",
        "给你补偿",
        "赔您",
        "赔你",
        "额外赠送",
        "免费送您",
        "全额退款给您",
        "马上退款给您",
        "立即退款",
        "guarantee*",
        "i promise",
        "we promise",
        "promise you",
        "we will compensate",
        "we'll compensate",
        "compensate you",
        "we will reimburse",
        "we'll reimburse",
        "definitely",
        "for sure",
        "100 percent",
        "we will refund you",
        "we'll refund you",
        "full refund for you",
        "free of charge for you",
        "extra voucher",
        "bonus voucher",
    ]
)
_INTERNAL = TermMatcher(
    [
        "action:",
        "reply:",
        "【资料】",
        "【客户信息】",
        "[passages]",
        "[customer]",
        "<|im_start|>",
        "system prompt",
        "系统提示",
    ]
)
_NUMBER = re.compile(r"(?<![A-Za-z0-9])\d+(?:[.,]\d+)?")
_CODE = re.compile(r"\b[A-Z]{2,}[0-9]{2,}\b")
_CN_DIGITS = {"零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_CN_NUM = re.compile(r"[零一二两三四五六七八九十]+(?=[天日个周月年元块%倍次])")


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


_TRIVIAL = {"0", "1", "2", "3"}  # list markers and small counts


def _digits(s: str) -> str:
    return re.sub(r"\D", "", s)


def check_reply(reply: str, ctx: GuardContext) -> GuardReport:
    """Every violation in *reply*; an empty report means it may be sent."""
    violations: list[Violation] = []
    text = normalize(reply)
    evidence = normalize(ctx.evidence)
    customer = normalize(ctx.customer_text)

    promise = _PROMISES.find(text)
    if promise and promise not in evidence:
        violations.append(Violation(kind=GuardKind.PROMISE, evidence=promise))

    own = {_digits(x) for x in ctx.own_data if _digits(x)} | {x.lower() for x in ctx.own_data if "@" in x}
    for item in find_personal_data(reply):
        key = item.lower() if "@" in item else _digits(item)
        mentioned_by_customer = key in customer if "@" in item else key in _digits(customer)
        if any(key in o for o in own) or mentioned_by_customer:
            continue
        violations.append(Violation(kind=GuardKind.PERSONAL_DATA, evidence="[redacted]"))
        break

    for topic, terms in ctx.forbidden:
        term = terms.find(text)
        if term:
            violations.append(Violation(kind=GuardKind.FORBIDDEN_TOPIC, evidence=f"{topic}: {term}"))

    internal = _INTERNAL.find(text)
    if internal:
        violations.append(Violation(kind=GuardKind.INTERNAL, evidence=internal))

    supported = numbers_in(ctx.evidence) | numbers_in(ctx.customer_text) | numbers_in(" ".join(ctx.own_data))
    for number in sorted(numbers_in(reply)):
        if number in _TRIVIAL or number in supported:
            continue
        violations.append(Violation(kind=GuardKind.UNSUPPORTED, evidence=f"number {number} not in the passages"))
        break
    for code in _CODE.findall(reply):
        if code.lower() not in evidence and code.lower() not in customer:
            violations.append(Violation(kind=GuardKind.UNSUPPORTED, evidence=f"code {code} not in the passages"))
            break
    return GuardReport(violations=tuple(violations))
