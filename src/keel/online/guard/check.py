"""The output guard: what a reply may not do before it reaches the customer.

No unapproved promise, no one else's personal data, no topic a matched rule forbids, no prompt
scaffolding repeated (``leak``), no action Keel did not take (``actions``), and no claim the cited
passages or the customer's state do not support (``claims``): numbers, codes, menu steps and the
sentences themselves. An answer must cite what it relies on, and what it cites must fit the question.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from keel.domain import Frozen
from keel.online.guard.actions import find_invented_action
from keel.online.guard.claims import unsupported_code, unsupported_number, unsupported_sentence
from keel.online.guard.leak import Scaffold, find_leak
from keel.redact import contact_key, find_personal_data
from keel.text import TermMatcher, normalize


class GuardKind(StrEnum):
    PROMISE = "unapproved_promise"
    PERSONAL_DATA = "personal_data"
    UNSUPPORTED = "unsupported_claim"
    LEAK = "prompt_leak"
    INVENTED_ACTION = "invented_action"
    UNCITED = "uncited"
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
    evidence: str  # what claims may rest on: the cited passages + the user's own state values
    customer_text: str  # what the customer wrote in this conversation
    own_data: tuple[str, ...] = ()  # the asking user's phone / e-mail
    forbidden: tuple[tuple[str, TermMatcher], ...] = ()  # (topic, its terms) a matched rule forbids
    uncited: str = ""  # retrieved passages the reply does not cite (a number found only there is flagged)
    scaffold: Scaffold | None = None  # this turn's prompt scaffolding (None: no prompt, nothing to leak)
    shown: str = ""  # text the customer may see verbatim: passage bodies, fixed wordings
    state_text: str = ""  # the customer block: what the company's systems say happened
    fixed: str = ""  # the business's fixed wordings (templates): allowed without a citation
    handing_off: bool = False  # the decision hands off, so "passed to a colleague" is true
    check_claims: bool = True  # False: a reply of fixed wording only (no model claims to check)
    citation_problem: str = ""  # set by the caller: the answer cites nothing, or a passage that does not fit


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
    published = {contact_key(x) for x in find_personal_data(ctx.shown)} if ctx.shown else set()  # the KB shows them
    for item in find_personal_data(reply):
        key = item.lower() if "@" in item else _digits(item)
        mentioned_by_customer = key in customer if "@" in item else key in _digits(customer)
        if any(key in o for o in own) or mentioned_by_customer or contact_key(item) in published:
            continue
        violations.append(Violation(kind=GuardKind.PERSONAL_DATA, evidence="[redacted]"))
        break

    for topic, terms in ctx.forbidden:
        term = terms.find(text)
        if term:
            violations.append(Violation(kind=GuardKind.FORBIDDEN_TOPIC, evidence=f"{topic}: {term}"))

    leak = find_leak(reply, ctx.scaffold, allowed=f"{ctx.shown}\n{ctx.customer_text}")
    if leak:
        violations.append(Violation(kind=GuardKind.LEAK, evidence=leak))

    invented = find_invented_action(reply, ctx.state_text, ctx.handing_off)
    if invented:
        violations.append(Violation(kind=GuardKind.INVENTED_ACTION, evidence=invented))

    if ctx.citation_problem:
        violations.append(Violation(kind=GuardKind.UNCITED, evidence=ctx.citation_problem))

    if ctx.check_claims:
        claim = (
            unsupported_number(reply, ctx.evidence, f"{ctx.customer_text}\n{' '.join(ctx.own_data)}", ctx.uncited)
            or unsupported_code(reply, ctx.evidence, ctx.customer_text)
            or unsupported_sentence(reply, ctx.evidence, ctx.customer_text, ctx.fixed)
        )
        if claim:
            violations.append(Violation(kind=GuardKind.UNSUPPORTED, evidence=claim))
    return GuardReport(violations=tuple(violations))
