"""Status answers: "where is my order?", "any update on my ticket?" answered from the customer's state.

The answer is written from the record itself (status label and dated facts from the business's
definition), so it is right by construction and needs no model. The record is the one the customer
named (its id in the message, or one of its items), else the only or most recent one; a ticket when
the message names the business's ticket noun. Without a record the model path asks for the id.
"""

from __future__ import annotations

from datetime import date

from keel.business import Business, FactType
from keel.domain import Frozen, Lang
from keel.online.state.model import Order, Ticket, UserState
from keel.online.state.policy import fact_text
from keel.text import normalize


class StatusAnswer(Frozen):
    reply: str
    ref: str  # the order / ticket id the answer is about
    named: bool  # the customer named it (id or item), not picked as the only / most recent one


_ORDER_EN = "Your {noun} {id}{items} is {status}{facts}."
_ORDER_ZH = "您的{noun} {id}{items}目前状态：{status}{facts}。"
_TICKET_EN = "Your {noun} {id}{subject} is {status}{updated}."
_TICKET_ZH = "您的{noun} {id}{subject}目前状态：{status}{updated}。"


def _named_order(user: UserState, text: str) -> Order | None:
    for o in user.orders:
        if o.order_id.casefold() in text:
            return o
    for o in user.orders:
        for item in o.items:
            words = [w for w in normalize(item).split() if len(w) >= 4]
            if normalize(item) in text or any(w in text for w in words):
                return o
    return None


def _latest(records: tuple[Order, ...]) -> Order | None:
    if not records:
        return None
    return max(records, key=lambda o: (o.placed_at or date.min, o.order_id))


def _order_reply(o: Order, lang: Lang, today: date, business: Business | None) -> str:
    noun = business.order.noun.get(lang) if business else ("订单" if lang is Lang.ZH else "order")
    status = business.order.label(o.status, lang) if business else o.status.replace("_", " ")
    dated = []
    for key, value in o.facts.items():
        spec = business.facts.get(key) if business else None
        if spec is None or spec.type is not FactType.DATE or value is None:
            continue
        dated.append(f"{spec.get(lang)} {fact_text(FactType.DATE, value, lang, today)}")
    items = ", ".join(o.items)
    if lang is Lang.ZH:
        return _ORDER_ZH.format(
            noun=noun,
            id=o.order_id,
            items=f"（{items}）" if items else "",
            status=status,
            facts="".join(f"，{d}" for d in dated),
        )
    return _ORDER_EN.format(
        noun=noun,
        id=o.order_id,
        items=f" ({items})" if items else "",
        status=status,
        facts=(": " + ", ".join(dated)) if dated else "",
    )


def _ticket_reply(t: Ticket, lang: Lang, business: Business | None) -> str:
    noun = business.ticket.noun.get(lang) if business else ("工单" if lang is Lang.ZH else "ticket")
    status = business.ticket.label(t.status, lang) if business else t.status.replace("_", " ")
    if lang is Lang.ZH:
        return _TICKET_ZH.format(
            noun=noun,
            id=t.ticket_id,
            subject=f"「{t.subject}」" if t.subject else "",
            status=status,
            updated=f"，更新于 {t.updated_at.isoformat()}" if t.updated_at else "",
        )
    return _TICKET_EN.format(
        noun=noun,
        id=t.ticket_id,
        subject=f' "{t.subject}"' if t.subject else "",
        status=status,
        updated=f", last updated {t.updated_at.isoformat()}" if t.updated_at else "",
    )


def status_answer(
    user: UserState, message: str, lang: Lang, today: date, business: Business | None = None
) -> StatusAnswer | None:
    """The status of the record the customer asks about, or None when there is none to answer from."""
    text = normalize(message)
    ticket = next((t for t in user.tickets if t.ticket_id.casefold() in text), None)
    ticket_nouns = {business.ticket.noun.en, business.ticket.noun.zh} if business else {"ticket", "工单"}
    if ticket is None and any(n and n.casefold() in text for n in ticket_nouns) and user.tickets:
        ticket = max(user.tickets, key=lambda t: (t.updated_at or t.opened_at or date.min, t.ticket_id))
        named = False
    else:
        named = ticket is not None
    if ticket is not None:
        return StatusAnswer(reply=_ticket_reply(ticket, lang, business), ref=ticket.ticket_id, named=named)
    order = _named_order(user, text)
    named = order is not None
    order = order or _latest(user.orders)
    if order is None:
        return None
    return StatusAnswer(reply=_order_reply(order, lang, today, business), ref=order.order_id, named=named)
