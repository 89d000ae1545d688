"""Status answers: "where is my order?", "any update on my ticket?" answered from the customer's state.

The answer is written from the record itself (status label and dated facts from the business's
definition), so it is right by construction and needs no model. The record is the one the customer
named (its id in the message, or one of its items), else the only or most recent one; a ticket when
the message names the business's ticket noun. Without a record the model path asks for the id.
"""

from __future__ import annotations

from datetime import date

from keel.business import Business, FactType, Money
from keel.domain import Frozen, Lang
from keel.online.state.model import FactValue, Order, Ticket, UserState
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


def _label(text: str, lang: Lang) -> str:
    """A fact label inside an English sentence: "Renews on" → "renews on" (an acronym like "SSO" stays)."""
    if lang is Lang.EN and len(text) > 1 and text[0].isupper() and text[1].islower():
        return text[0].lower() + text[1:]
    return text


def _told_facts(o: Order, user: UserState, business: Business | None) -> list[tuple[str, FactValue]]:
    """The facts a status answer tells: business.yaml `order.status_facts` (the order's, else the customer's),
    by default every dated fact on the order."""
    if business is None:
        return []
    if business.order.status_facts is None:
        return [(k, v) for k, v in o.facts.items() if (s := business.facts.get(k)) and s.type is FactType.DATE]
    told: list[tuple[str, FactValue]] = []
    for key in business.order.status_facts:
        value = o.facts[key] if key in o.facts else user.facts.get(key)
        if value is None or (isinstance(value, Money) and value.amount == 0):
            continue
        told.append((key, value))
    return told


def _order_reply(o: Order, user: UserState, lang: Lang, today: date, business: Business | None) -> str:
    noun = business.order.noun.get(lang) if business else ("订单" if lang is Lang.ZH else "order")
    status = business.order.label(o.status, lang) if business else o.status.replace("_", " ")
    told = []
    for key, value in _told_facts(o, user, business):
        spec = business.facts[key] if business else None
        if spec is not None:
            told.append(f"{_label(spec.get(lang), lang)} {fact_text(spec.type, value, lang, today)}")
    items = ", ".join(o.items)
    if lang is Lang.ZH:
        return _ORDER_ZH.format(
            noun=noun,
            id=o.order_id,
            items=f"（{items}）" if items else "",
            status=status,
            facts="".join(f"，{d}" for d in told),
        )
    return _ORDER_EN.format(
        noun=noun,
        id=o.order_id,
        items=f" ({items})" if items else "",
        status=status,
        facts=(": " + ", ".join(told)) if told else "",
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
    spec = business.ticket if business else None
    ticket_words = [spec.noun.en, spec.noun.zh, *spec.aliases] if spec else ["ticket", "工单"]
    asks_ticket = any(w and w.casefold() in text for w in ticket_words)
    if ticket is None and asks_ticket and user.tickets:
        ticket = max(user.tickets, key=lambda t: (t.updated_at or t.opened_at or date.min, t.ticket_id))
        named = False
    else:
        named = ticket is not None
    if ticket is not None:
        return StatusAnswer(reply=_ticket_reply(ticket, lang, business), ref=ticket.ticket_id, named=named)
    order = _named_order(user, text)
    if order is None and asks_ticket:  # a ticket asked about and none on file: not the latest order's status
        return None
    named = order is not None
    order = order or _latest(user.orders)
    if order is None:
        return None
    return StatusAnswer(reply=_order_reply(order, user, lang, today, business), ref=order.order_id, named=named)
