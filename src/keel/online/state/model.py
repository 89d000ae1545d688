"""The shape of a user's runtime state, as the company's own systems report it."""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class RiskLevel(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class OrderStatus(StrEnum):
    PLACED = "placed"
    DISPATCHED = "dispatched"
    IN_TRANSIT = "in_transit"
    DELIVERED = "delivered"
    RETURNED = "returned"
    CANCELLED = "cancelled"


class TicketStatus(StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    WAITING_CUSTOMER = "waiting_customer"
    RESOLVED = "resolved"
    CLOSED = "closed"


class _State(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Order(_State):
    order_id: str
    items: tuple[str, ...] = ()
    amount: float | None = None
    currency: str | None = None
    status: OrderStatus
    placed_at: date | None = None
    dispatched_at: date | None = None
    promised_by: date | None = None
    delivered_at: date | None = None
    payment: str | None = None


class Ticket(_State):
    ticket_id: str
    status: TicketStatus
    subject: str = ""
    escalated: bool = False
    opened_at: date | None = None
    updated_at: date | None = None


class UserState(_State):
    user_id: str
    name: str | None = None
    lang: str | None = None
    region: str | None = None
    risk_level: RiskLevel = RiskLevel.LOW
    member: bool = False
    phone: str | None = None
    email: str | None = None
    complaints_90d: int = Field(0, ge=0)
    orders: tuple[Order, ...] = ()
    tickets: tuple[Ticket, ...] = ()
    notes: str | None = None
