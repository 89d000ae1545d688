"""Check a customer record against the business: regions, statuses, memberships and facts it declares.

Every problem names the field (``orders[0].status``) so a bad customer file is fixed in one pass.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from pydantic import ValidationError

from keel.business import RECORD_FIELDS, Business, IdentityMethod
from keel.online.state.identity import record_value
from keel.online.state.model import UserState


def _facts(business: Business, facts: dict[str, Any], where: str) -> list[str]:
    out = []
    for key, value in facts.items():
        problem = business.check_fact(key, value.model_dump() if hasattr(value, "model_dump") else value)
        if problem:
            out.append(f"{where}.{key}: {problem}")
    return out


def check_user(business: Business, user: UserState) -> list[str]:
    """Why *user* does not fit *business* (empty when it does)."""
    problems: list[str] = []
    if user.region is not None and user.region not in business.regions:
        problems.append(
            f"region: {user.region!r} is not a region of the business (declared: {', '.join(business.regions)})"
        )
    for m in user.memberships:
        if m not in business.memberships:
            known = ", ".join(business.memberships) or "none"
            problems.append(f"memberships: {m!r} is not a membership programme of the business (declared: {known})")
    problems += _facts(business, user.facts, "facts")
    for i, o in enumerate(user.orders):
        if o.status not in business.order.statuses:
            known = ", ".join(business.order.statuses) or "none"
            problems.append(
                f"orders[{i}].status: {o.status!r} is not an order status of the business (declared: {known})"
            )
        problems += _facts(business, o.facts, f"orders[{i}].facts")
    for i, t in enumerate(user.tickets):
        if t.status not in business.ticket.statuses:
            known = ", ".join(business.ticket.statuses) or "none"
            problems.append(
                f"tickets[{i}].status: {t.status!r} is not a ticket status of the business (declared: {known})"
            )
    if business.identity.method is IdentityMethod.FIELDS:
        for key in business.identity.fields:
            if not record_value(user, key):
                where = key if key in RECORD_FIELDS else f"verify.{key}"
                problems.append(f"{where}: missing, the customer can never pass the identity check (identity.fields)")
    return problems


def _where(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "record"


#: the branches of the FactValue union, as pydantic names them in an error's location
_FACT_BRANCHES = frozenset({"bool", "int", "float", "str", "Money", "none"})


def validation_problems(exc: ValidationError) -> list[str]:
    """Pydantic's errors as ``field: why`` lines; an unknown field says where facts go instead."""
    out: list[str] = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        if (loc and loc[-1] in _FACT_BRANCHES) or "Money" in loc:
            head = loc[: loc.index("Money")] if "Money" in loc else loc[:-1]
            line = f"{_where(head)}: expected text, a number, true/false, an ISO date, money or null"
        elif err["type"] == "extra_forbidden":
            line = f"{_where(loc)}: unknown field (declare it under `facts:` in business.yaml and put it in `facts`)"
        else:
            line = f"{_where(loc)}: {err['msg']}"
        if line not in out:
            out.append(line)
    return out


def parse_user(row: Any, business: Business | None) -> tuple[UserState | None, list[str]]:
    """A customer record validated against the schema and, when given, the business."""
    try:
        user = UserState.model_validate(row)
    except ValidationError as exc:
        problems = validation_problems(exc)
        if business is not None:  # the rest of the record is still checked, so one pass finds everything
            trimmed = _without(row, [tuple(e["loc"]) for e in exc.errors() if e["type"] == "extra_forbidden"])
            with contextlib.suppress(ValidationError):
                problems += check_user(business, UserState.model_validate(trimmed))
        return None, problems
    return user, (check_user(business, user) if business is not None else [])


def _without(row: Any, locs: list[tuple[int | str, ...]]) -> Any:
    """A copy of *row* without the fields at *locs* (the unknown ones)."""
    if not locs:
        return row
    row = json.loads(json.dumps(row, default=str))
    for loc in locs:
        node: Any = row
        for part in loc[:-1]:
            if isinstance(node, list) and isinstance(part, int) and part < len(node):
                node = node[part]
            elif isinstance(node, dict):
                node = node.get(str(part))
            else:
                node = None
                break
        if isinstance(node, dict):
            node.pop(str(loc[-1]), None)
    return row


def upgrade_legacy(row: dict[str, Any], business: Business | None) -> dict[str, Any]:
    """A row written by Keel before business.yaml: ``member: bool`` and fixed order date fields.

    Only Keel's own SQLite store uses this (its rows are Keel's dumps, not a company's input):
    ``member`` becomes the business's only membership programme, the old order fields facts.
    """
    row = dict(row)
    if "member" in row:
        member = bool(row.pop("member"))
        programmes = list(business.memberships) if business else []
        if member and len(programmes) == 1:
            row["memberships"] = programmes
    orders = []
    for order in row.get("orders") or []:
        order = dict(order)
        facts = dict(order.get("facts") or {})
        for key in ("dispatched_at", "promised_by", "delivered_at", "payment"):
            if key in order:
                value = order.pop(key)
                if value is not None:
                    facts[key] = value
        if facts:
            order["facts"] = facts
        orders.append(order)
    if orders:
        row["orders"] = orders
    return row
