"""The shape of a user's runtime state, as the company's own systems report it.

What is generic lives here (ids, amounts, a status, dates of purchase, risk, complaints); what a
business adds — its statuses, regions, membership programmes and free-form facts — is declared in
its ``business.yaml`` and checked by :func:`keel.online.state.validate.check_user`. A field that is
neither is an error naming the field, never silently dropped.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from keel.business import Money


class RiskLevel(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


#: a fact's value as the company's system reports it: text, an ISO date, a number, a bool, money, or
#: null (known to be unset, e.g. no tax id on file)
FactValue = bool | int | float | str | Money | None


class _State(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Order(_State):
    """One purchase (an order, a subscription, a booking — the business names it)."""

    order_id: str
    items: tuple[str, ...] = ()
    amount: float | None = None
    currency: str | None = None
    status: str = Field(description="one of the business's order statuses (business.yaml `order.statuses`)")
    placed_at: date | None = None
    facts: dict[str, FactValue] = Field(default_factory=dict, description="facts declared in business.yaml")


class Ticket(_State):
    ticket_id: str
    status: str = Field(description="one of the business's ticket statuses (business.yaml `ticket.statuses`)")
    subject: str = ""
    escalated: bool = False
    opened_at: date | None = None
    updated_at: date | None = None


class UserState(_State):
    user_id: str
    name: str | None = None
    lang: str | None = None
    region: str | None = Field(None, description="one of the business's regions")
    risk_level: RiskLevel = RiskLevel.LOW
    memberships: tuple[str, ...] = Field((), description="the business's membership programmes the customer is in")
    phone: str | None = None
    email: str | None = None
    complaints_90d: int = Field(0, ge=0)
    orders: tuple[Order, ...] = ()
    tickets: tuple[Ticket, ...] = ()
    facts: dict[str, FactValue] = Field(default_factory=dict, description="facts declared in business.yaml")
    verify: dict[str, str] = Field(
        default_factory=dict, description="values an identity check may ask the customer for (never in the prompt)"
    )
    notes: str | None = None
