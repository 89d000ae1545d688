"""Turn a user's runtime state into decision signals and prompt facts."""

from __future__ import annotations

from datetime import date

from keel.config import DecisionConfig
from keel.domain import Action, Frozen, Lang
from keel.online.rules.schema import RuleSet
from keel.online.state.model import Order, Ticket, UserState

_STATUS_ZH = {
    "placed": "已下单（未发货）",
    "dispatched": "已发货",
    "in_transit": "运输中",
    "delivered": "已签收",
    "returned": "已退货",
    "cancelled": "已取消",
    "open": "待处理",
    "in_progress": "处理中",
    "waiting_customer": "等待您回复",
    "resolved": "已解决",
    "closed": "已关闭",
}


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


def _days(day: date, today: date) -> int:
    return (today - day).days


def _order_line(o: Order, lang: Lang, today: date) -> str:
    items = ", ".join(o.items) or "-"
    money = f"{o.amount:g} {o.currency}" if o.amount is not None and o.currency else ""
    parts = [o.order_id, items, money]
    if lang is Lang.ZH:
        status = _STATUS_ZH.get(o.status.value, o.status.value)
        line = f"订单 {' / '.join(p for p in parts if p)}：{status}"
        if o.placed_at:
            line += f"，下单 {o.placed_at.isoformat()}"
        if o.delivered_at:
            line += f"，签收 {o.delivered_at.isoformat()}（{_days(o.delivered_at, today)} 天前）"
        elif o.promised_by:
            late = _days(o.promised_by, today)
            when = f"已超期 {late} 天" if late > 0 else f"还有 {-late} 天"
            line += f"，承诺送达 {o.promised_by.isoformat()}（{when}）"
        return line
    line = f"Order {' / '.join(p for p in parts if p)}: {o.status.value.replace('_', ' ')}"
    if o.placed_at:
        line += f", placed {o.placed_at.isoformat()}"
    if o.delivered_at:
        line += f", delivered {o.delivered_at.isoformat()} ({_days(o.delivered_at, today)} days ago)"
    elif o.promised_by:
        late = _days(o.promised_by, today)
        when = f"{late} days late" if late > 0 else f"due in {-late} days"
        line += f", promised by {o.promised_by.isoformat()} ({when})"
    return line


def _ticket_line(t: Ticket, lang: Lang) -> str:
    if lang is Lang.ZH:
        status = _STATUS_ZH.get(t.status.value, t.status.value)
        esc = "，已升级处理" if t.escalated else ""
        upd = f"，更新于 {t.updated_at.isoformat()}" if t.updated_at else ""
        return f"工单 {t.ticket_id}「{t.subject}」：{status}{esc}{upd}"
    esc = ", escalated" if t.escalated else ""
    upd = f", updated {t.updated_at.isoformat()}" if t.updated_at else ""
    return f'Ticket {t.ticket_id} "{t.subject}": {t.status.value.replace("_", " ")}{esc}{upd}'


def _mask_phone(phone: str | None) -> str:
    digits = [c for c in phone or "" if c.isdigit()]
    return f"****{''.join(digits[-4:])}" if digits else "-"


def render_facts(user: UserState, lang: Lang, today: date, detail: bool = True) -> str:
    """The customer block of the prompt; orders and tickets only when the message is about them."""
    if lang is Lang.ZH:
        head = (
            f"客户：{user.name or user.user_id}，地区 {user.region or '未知'}，"
            f"港湾会员：{'是' if user.member else '否'}，手机 {_mask_phone(user.phone)}"
        )
    else:
        head = (
            f"Customer: {user.name or user.user_id}, region {user.region or 'unknown'}, "
            f"Harbor Plus member: {'yes' if user.member else 'no'}, phone {_mask_phone(user.phone)}"
        )
    lines = [head, f"Today: {today.isoformat()}" if lang is Lang.EN else f"今天：{today.isoformat()}"]
    if detail:
        lines += [_order_line(o, lang, today) for o in user.orders]
        lines += [_ticket_line(t, lang) for t in user.tickets]
    return "\n".join(lines)


def _evidence(user: UserState, today: date) -> str:
    vals: list[str] = [today.isoformat()]
    for o in user.orders:
        vals.append(o.order_id)
        if o.amount is not None:
            vals.append(f"{o.amount:g}")
        for d in (o.placed_at, o.dispatched_at, o.promised_by, o.delivered_at):
            if d:
                vals += [d.isoformat(), str(abs(_days(d, today)))]
    for t in user.tickets:
        vals.append(t.ticket_id)
        for d in (t.opened_at, t.updated_at):
            if d:
                vals.append(d.isoformat())
    return " ".join(vals)


def _foreign_order(user: UserState | None, normalized_text: str, ruleset: RuleSet) -> str | None:
    """An order id in the message that the customer does not own, asked about with personal fields."""
    if ruleset.order_id is None or not ruleset.topic_hit("personal_fields", normalized_text):
        return None
    own = {o.order_id.casefold() for o in user.orders} if user else set()
    for m in ruleset.order_id.finditer(normalized_text):
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
) -> StateSignal:
    """State-driven handoffs (many complaints, high risk on money topics) and facts for the prompt.

    *account_hint*: the router read the message as a question about the customer's own account.
    """
    state_query = account_hint or ruleset.topic_hit("state_query", normalized_text) is not None
    foreign = _foreign_order(user, normalized_text, ruleset)
    if foreign:
        return StateSignal(
            known_user=user is not None, action=Action.REFUSE, state_query=state_query, keys=("orders",),
            reason=f"asks for personal data on order {foreign}, which is not this customer's",
        )
    if user is None:
        return StateSignal(known_user=False, state_query=state_query)
    keys = ["region", "member", "orders", "tickets"]
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
        facts=render_facts(user, lang, today, detail=state_query),
        agent_facts=render_facts(user, lang, today),
        keys=tuple(keys),
        state_query=state_query,
        evidence=_evidence(user, today),
    )
