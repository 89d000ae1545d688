"""The output guard stage: ``check_reply`` decides whether a reply may reach the customer."""

from keel.online.guard.actions import find_invented_action
from keel.online.guard.check import GuardContext, GuardKind, GuardReport, Violation, check_reply
from keel.online.guard.claims import numbers_in
from keel.online.guard.leak import Scaffold, find_leak

__all__ = [
    "GuardContext",
    "GuardKind",
    "GuardReport",
    "Scaffold",
    "Violation",
    "check_reply",
    "find_invented_action",
    "find_leak",
    "numbers_in",
]
