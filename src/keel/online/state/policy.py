"""Turn a user's runtime state into decision signals and prompt facts."""

from __future__ import annotations

import re
from datetime import date

from keel.business import Business, FactType, Money, Text
from keel.config import DecisionConfig
from keel.domain import Action, Frozen, Lang
from keel.online.rules.schema import RuleSet
from keel.online.state.model import FactValue, Order, Ticket, UserState


class StateSignal(Frozen):
    """What the user's state imposes on this message."""

    known_user: bool
    action: Action | None = None
    reason: str = ""
    facts: str = ""  # rendered for the prompt, in the customer's language
    keys: tuple[str, ...] = ()  # which state fields were used (traced, not their values)
    state_query: bool = False  # the message asks about the user's own orders/tickets
    evidence: str = ""  # plain values the reply may cite (ids, dates, amounts) for the guard
    agent_facts: str = ""  # the whole customer block, orders and tickets included (handoff context)


_ORDER = Text(zh="订单", en="order")
_TICKET = Text(zh="工单", en="ticket")


def _days(day: date, today: date) -> int:
    return (today - day).days


def _noun(text: Text, lang: Lang) -> str:
    word = text.get(lang)
    return word[:1].upper() + word[1:] if lang is Lang.EN else word


def _when(day: date, lang: Lang, today: date) -> str:
    """A date with how far it is from today: "2026-11-20 (4 days ago)" / "2026-11-20（4 天前）"."""
    ago = _days(day, today)
    if lang is Lang.ZH:
        rel = "今天" if ago == 0 else (f"{ago} 天前" if ago > 0 else f"还有 {-ago} 天")
        return f"{day.isoformat()}（{rel}）"
    n = abs(ago)
    span = f"{n} day" if n == 1 else f"{n} days"
    rel = "today" if ago == 0 else (f"{span} ago" if ago > 0 else f"in {span}")
    return f"{day.isoformat()} ({rel})"


def _fact_kind(business: Business | None, key: str) -> FactType:
    spec = business.facts.get(key) if business else None
    return spec.type if spec else FactType.TEXT


def _fact_label(business: Business | None, key: str, lang: Lang) -> str:
    spec = business.facts.get(key) if business else None
    return spec.get(lang) if spec else key.replace("_", " ")


def fact_text(kind: FactType, value: FactValue, lang: Lang, today: date) -> str:
    if value is None:
        return "未提供" if lang is Lang.ZH else "none on file"
    if kind is FactType.DATE:
        return _when(date.fromisoformat(str(value)), lang, today)
    if isinstance(value, Money):
        return value.render()
    if isinstance(value, bool):
        return ("是" if value else "否") if lang is Lang.ZH else ("yes" if value else "no")
    if isinstance(value, float | int):
        return f"{value:g}"
    return str(value)


def _ordered(facts: dict[str, FactValue], business: Business | None) -> list[str]:
    """Fact keys in the order business.yaml declares them (undeclared ones last)."""
    declared = list(business.facts) if business else []
    return [k for k in declared if k in facts] + [k for k in facts if k not in declared]


def _fact_pairs(facts: dict[str, FactValue], business: Business | None, lang: Lang, today: date) -> list[str]:
    return [
        f"{_fact_label(business, k, lang)} {fact_text(_fact_kind(business, k), facts[k], lang, today)}"
        for k in _ordered(facts, business)
    ]


def _order_line(o: Order, lang: Lang, today: date, business: Business | None = None) -> str:
    items = ", ".join(o.items) or "-"
    money = f"{o.amount:g} {o.currency}" if o.amount is not None and o.currency else ""
    parts = [o.order_id, items, money]
    noun = _noun(business.order.noun if business else _ORDER, lang)
    status = business.order.label(o.status, lang) if business else o.status.replace("_", " ")
    facts = _fact_pairs(o.facts, business, lang, today)
    if lang is Lang.ZH:
        line = f"{noun} {' / '.join(p for p in parts if p)}：{status}"
        if o.placed_at:
            line += f"，下单 {o.placed_at.isoformat()}"
        return line + "".join(f"，{f}" for f in facts)
    line = f"{noun} {' / '.join(p for p in parts if p)}: {status}"
    if o.placed_at:
        line += f", placed {o.placed_at.isoformat()}"
    return line + "".join(f", {f}" for f in facts)


def _ticket_line(t: Ticket, lang: Lang, business: Business | None = None) -> str:
    noun = _noun(business.ticket.noun if business else _TICKET, lang)
    status = business.ticket.label(t.status, lang) if business else t.status.replace("_", " ")
    if lang is Lang.ZH:
        esc = "，已升级处理" if t.escalated else ""
        upd = f"，更新于 {t.updated_at.isoformat()}" if t.updated_at else ""
        return f"{noun} {t.ticket_id}「{t.subject}」：{status}{esc}{upd}"
    esc = ", escalated" if t.escalated else ""
    upd = f", updated {t.updated_at.isoformat()}" if t.updated_at else ""
    return f'{noun} {t.ticket_id} "{t.subject}": {status}{esc}{upd}'


def _mask_phone(phone: str | None) -> str:
    digits = [c for c in phone or "" if c.isdigit()]
    return f"****{''.join(digits[-4:])}" if digits else "-"


def _memberships(user: UserState, business: Business | None, lang: Lang) -> str:
    """One "<programme> member: yes/no" per programme the business has (none: nothing)."""
    if business is None:
        return ""
    if lang is Lang.ZH:
        return "".join(f"，{p.zh}：{'是' if k in user.memberships else '否'}" for k, p in business.memberships.items())
    return "".join(
        f", {p.en} member: {'yes' if k in user.memberships else 'no'}" for k, p in business.memberships.items()
    )


def render_facts(
    user: UserState, lang: Lang, today: date, detail: bool = True, business: Business | None = None
) -> str:
    """The customer block of the prompt; orders and tickets only when the message is about them."""
    member = _memberships(user, business, lang)
    if lang is Lang.ZH:
        who = user.name or user.user_id
        head = f"客户：{who}，地区 {user.region or '未知'}{member}，手机 {_mask_phone(user.phone)}"
    else:
        head = (
            f"Customer: {user.name or user.user_id}, region {user.region or 'unknown'}{member}, "
            f"phone {_mask_phone(user.phone)}"
        )
    lines = [head, f"Today: {today.isoformat()}" if lang is Lang.EN else f"今天：{today.isoformat()}"]
    colon = ": " if lang is Lang.EN else "："
    lines += [
        f"{_fact_label(business, k, lang)}{colon}{fact_text(_fact_kind(business, k), user.facts[k], lang, today)}"
        for k in _ordered(user.facts, business)
    ]
    if detail:
        lines += [_order_line(o, lang, today, business) for o in user.orders]
        lines += [_ticket_line(t, lang, business) for t in user.tickets]
    return "\n".join(lines)


def _fact_evidence(kind: FactType, value: FactValue, today: date) -> list[str]:
    if value is None:
        return []
    if kind is FactType.DATE:
        day = date.fromisoformat(str(value))
        return [day.isoformat(), str(abs(_days(day, today)))]
    if isinstance(value, Money):
        return [f"{value.amount:g}", f"{value.amount:.2f}", value.currency]
    if isinstance(value, bool):
        return []
    if isinstance(value, float | int):
        return [f"{value:g}"]
    return [str(value)]


def _evidence(user: UserState, today: date, business: Business | None = None) -> str:
    vals: list[str] = [today.isoformat()]
    for k, v in user.facts.items():
        vals += _fact_evidence(_fact_kind(business, k), v, today)
    for o in user.orders:
        vals.append(o.order_id)
        if o.amount is not None:
            vals.append(f"{o.amount:g}")
        if o.placed_at:
            vals += [o.placed_at.isoformat(), str(abs(_days(o.placed_at, today)))]
        for k, v in o.facts.items():
            vals += _fact_evidence(_fact_kind(business, k), v, today)
    for t in user.tickets:
        vals.append(t.ticket_id)
        for d in (t.opened_at, t.updated_at):
            if d:
                vals.append(d.isoformat())
    return " ".join(vals)


def _order_pattern(ruleset: RuleSet, business: Business | None) -> re.Pattern[str] | None:
    if business is not None and business.order.id_pattern:
        return re.compile(business.order.id_pattern)
    return ruleset.order_id


def _foreign_order(
    user: UserState | None, normalized_text: str, ruleset: RuleSet, business: Business | None = None
) -> str | None:
    """An order id in the message that the customer does not own, asked about with personal fields."""
    pattern = _order_pattern(ruleset, business)
    if pattern is None or not ruleset.topic_hit("personal_fields", normalized_text):
        return None
    own = {o.order_id.casefold() for o in user.orders} if user else set()
    for m in pattern.finditer(normalized_text):
        if m.group(0).casefold() not in own:
            return m.group(0).upper()
    return None


def assess_state(
    user: UserState | None,
    normalized_text: str,
    lang: Lang,
    ruleset: RuleSet,
    cfg: DecisionConfig,
    today: date,
    account_hint: bool = False,
    business: Business | None = None,
) -> StateSignal:
    """State-driven handoffs (many complaints, high risk on money topics) and facts for the prompt.

    *account_hint*: the router read the message as a question about the customer's own account.
    *business*: names the statuses, memberships and facts (without it: ids and keys as they are).
    """
    state_query = account_hint or ruleset.topic_hit("state_query", normalized_text) is not None
    foreign = _foreign_order(user, normalized_text, ruleset, business)
    if foreign:
        return StateSignal(
            known_user=user is not None,
            action=Action.REFUSE,
            state_query=state_query,
            keys=("orders",),
            reason=f"asks for personal data on order {foreign}, which is not this customer's",
        )
    if user is None:
        return StateSignal(known_user=False, state_query=state_query)
    keys = ["region", "memberships", "orders", "tickets"] + (["facts"] if user.facts else [])
    action: Action | None = None
    reason = ""
    if user.complaints_90d >= cfg.complaint_handoff_threshold:
        action = Action.HANDOFF
        reason = f"{user.complaints_90d} complaints in the last 90 days"
        keys.append("complaints_90d")
    elif user.risk_level.value in cfg.risk_handoff_levels:
        money = ruleset.topic_hit("money", normalized_text)
        keys.append("risk_level")
        if money:
            action = Action.HANDOFF
            reason = f"account risk level {user.risk_level.value} and a money/account topic ({money!r})"
    return StateSignal(
        known_user=True,
        action=action,
        reason=reason,
        facts=render_facts(user, lang, today, detail=state_query, business=business),
        agent_facts=render_facts(user, lang, today, business=business),
        keys=tuple(keys),
        state_query=state_query,
        evidence=_evidence(user, today, business),
    )
