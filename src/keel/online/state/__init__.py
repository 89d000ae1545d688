"""User state injected at run time (tickets, orders, complaints, risk), never learned into weights."""

from keel.online.state.model import Order, Ticket, UserState
from keel.online.state.policy import StateSignal, assess_state
from keel.online.state.providers import (
    HttpStateProvider,
    JsonStateProvider,
    SqliteStateProvider,
    StateProvider,
    build_state_provider,
)

__all__ = [
    "HttpStateProvider",
    "JsonStateProvider",
    "Order",
    "SqliteStateProvider",
    "StateProvider",
    "StateSignal",
    "Ticket",
    "UserState",
    "assess_state",
    "build_state_provider",
]
