"""Customers and their orders (CSV, XLSX or JSON) → a users file that the JSON state provider loads.

A field map (YAML or JSON) says which source column is which of Keel's state fields::

    customers:              # customers column → UserState field (or facts.<id>)
      CustNo: user_id
      Name: name
    orders:                 # orders column → Order field; the column mapped to user_id joins orders to customers
      Customer: user_id
      OrderNo: order_id
      Delivered: facts.delivered_at
    values:                 # optional: source value → Keel value, per field, before checking
      status: {Shipped: dispatched}
    ignore: [InternalCode]  # optional: columns left out on purpose

A column already named like a Keel field needs no entry. Any other column is never dropped silently:
when the state model has a free-form ``facts`` field it is kept there (``Segment`` → ``facts.segment``)
and listed as kept; otherwise (or when its name gives no fact id, e.g. a Chinese header) it is listed as
not imported. With a business (``business.yaml``) every record is also checked against it (regions,
statuses, memberships, declared facts and their types), so a kept column it does not declare is an error
that says to declare it, map it or ignore it.

The fields and their types are read from :mod:`keel.online.state.model`, so the importer follows it.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_args, get_origin

import yaml
from pydantic import BaseModel, Field, ValidationError, model_validator

from keel.domain import Frozen
from keel.errors import InvalidInput
from keel.importers.tables import Table, TableFormat, parse_date, read_table
from keel.online.state.model import Order, UserState
from keel.online.state.providers import load_users_file
from keel.yamlio import load_yaml

if TYPE_CHECKING:
    from keel.business import Business

MAX_ERRORS = 10
USER_ID = "user_id"
NOTES = "notes"
ORDERS = "orders"
FACTS = "facts"
_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")  # a fact id, as business.yaml declares them
_IDENT_FIELDS = frozenset({"status", "region", "risk_level", "memberships"})  # values that are ids


class FieldKind(StrEnum):
    """How a source value is read for a Keel field (from the field's type in the state model)."""

    TEXT = "text"
    DATE = "date"
    BOOL = "bool"
    INT = "int"
    FLOAT = "float"
    LIST = "list"  # a tuple of strings: a JSON list, or a cell split on ';', '|' or new lines
    CHOICE = "choice"  # an enum: lower-cased, spaces to '_'
    NESTED = "nested"  # a tuple of records (orders, tickets): JSON only
    KEYED = "keyed"  # a dict (facts, verify): mapped as ``facts.<id>``, or a JSON object as a whole


def _kind(annotation: Any) -> FieldKind:
    t = annotation
    if get_origin(t) not in (tuple, dict):
        options = [a for a in get_args(t) if a is not type(None)]
        t = options[0] if options else t
    if get_origin(t) is dict:
        return FieldKind.KEYED
    if get_origin(t) is tuple:
        return FieldKind.LIST if get_args(t)[0] is str else FieldKind.NESTED
    simple = {date: FieldKind.DATE, bool: FieldKind.BOOL, int: FieldKind.INT, float: FieldKind.FLOAT}
    if t in simple:
        return simple[t]
    if isinstance(t, type) and issubclass(t, StrEnum):
        return FieldKind.CHOICE
    return FieldKind.TEXT


def _fields(model: type[BaseModel]) -> dict[str, FieldKind]:
    return {name: _kind(info.annotation) for name, info in model.model_fields.items()}


CUSTOMER_FIELDS = _fields(UserState)
ORDER_FIELDS = {USER_ID: FieldKind.TEXT, **_fields(Order)}


def _target_ok(target: str, fields: dict[str, FieldKind]) -> bool:
    """``name`` of a field, or ``dictfield.key`` of a keyed field (``facts.delivered_at``)."""
    head, _, key = target.partition(".")
    if not key:
        return target in fields
    return fields.get(head) is FieldKind.KEYED and bool(_KEY.match(key))


def _kind_of(target: str, fields: dict[str, FieldKind]) -> FieldKind:
    return FieldKind.TEXT if "." in target else fields[target]


class FieldMap(Frozen):
    """Which source column is which Keel field, read from a small YAML or JSON file."""

    customers: dict[str, str] = Field(default_factory=dict, description="customers column → UserState field")
    orders: dict[str, str] = Field(
        default_factory=dict, description="orders column → Order field; the one mapped to user_id is the join"
    )
    values: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Keel field → {source value: Keel value}, applied before checking"
    )
    ignore: tuple[str, ...] = Field((), description="source columns deliberately left out")

    @model_validator(mode="after")
    def _targets(self) -> FieldMap:
        sections = (("customers", self.customers, CUSTOMER_FIELDS), ("orders", self.orders, ORDER_FIELDS))
        for section, mapping, fields in sections:
            bad = sorted({t for t in mapping.values() if not _target_ok(t, fields)})
            if bad:
                keyed = [f"{f}.<id>" for f, k in fields.items() if k is FieldKind.KEYED]
                raise ValueError(f"{section}: unknown Keel field(s) {bad}; use {sorted(fields) + keyed}")
            targets = [t for t in mapping.values() if t != NOTES]
            twice = sorted({t for t in targets if targets.count(t) > 1})
            if twice:
                raise ValueError(f"{section}: several columns map to {twice} (only notes can take several)")
        known = set(CUSTOMER_FIELDS) | set(ORDER_FIELDS)
        bad = sorted(f for f in self.values if f not in known and not _target_ok(f, CUSTOMER_FIELDS | ORDER_FIELDS))
        if bad:
            raise ValueError(f"values: unknown Keel field(s) {bad}")
        return self


def load_field_map(path: Path) -> FieldMap:
    """Read and check a field map (YAML or JSON)."""
    if not path.is_file():
        raise InvalidInput(f"field map not found: {path}")
    try:
        data = load_yaml(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise InvalidInput(f"{path}: not UTF-8 text") from None
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{path}: not valid YAML or JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidInput(f"{path}: expected a mapping with customers: (and orders:, values:, ignore:)")
    try:
        return FieldMap.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"].removeprefix("Value error, ")
        raise InvalidInput(f"{path}: {where + ': ' if where else ''}{msg}") from None


class TableReport(Frozen):
    """How one source file's columns were used."""

    source: str
    rows: int
    mapped: tuple[tuple[str, str], ...] = Field(description="(source column, Keel field) named by the map or by name")
    kept: tuple[tuple[str, str], ...] = Field((), description="(column, facts.<id>) kept under the free-form facts")
    unmapped: tuple[str, ...] = Field((), description="columns neither mapped, kept nor ignored: not imported")
    ignored: tuple[str, ...] = ()
    absent: tuple[str, ...] = Field((), description="columns the map names that the file does not have")


class CustomerImportReport(Frozen):
    out: str
    customers: int
    orders: int
    tables: tuple[TableReport, ...]
    warnings: tuple[str, ...] = ()
    written: bool = Field(description="False for a dry run: nothing was written")


# ---------------------------------------------------------------- values

_TRUE = frozenset({"true", "yes", "y", "t", "1", "on", "x", "是", "✓"})
_FALSE = frozenset({"false", "no", "n", "f", "0", "off", "-", "否"})
_THOUSANDS = re.compile(r"^-?\d{1,3}(,\d{3})+(\.\d+)?$")
_LIST_SEP = re.compile(r"\s*[;|\n]\s*")
_LANGS = {"中文": "zh", "chinese": "zh", "english": "en", "英文": "en"}
_CURRENCY_SIGNS = {"HK$": "HKD", "¥": "CNY", "￥": "CNY", "€": "EUR", "£": "GBP", "$": "USD", "元": "CNY"}
_MONEY = re.compile(r"^([A-Za-z]{3})?\s*(-?[\d.,]+)\s*([A-Za-z]{3})?$")


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value == []


def _as_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, date | datetime):
        return value.isoformat()
    return str(value).strip()


def _translate(values: dict[str, dict[str, Any]], field: str, value: Any) -> Any:
    table = values.get(field)
    if not table or isinstance(value, list | dict):
        return value
    key = _as_text(value)
    if key in table:
        return table[key]
    folded = {str(k).casefold(): v for k, v in table.items()}
    return folded.get(key.casefold(), value)


def _number(value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    text = _as_text(value)
    for sign in _CURRENCY_SIGNS:
        text = text.replace(sign, "")
    text = text.strip()
    text = text.replace(",", "") if _THOUSANDS.match(text) else text
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{_as_text(value)!r} is not a number") from None


def _bool(value: Any) -> bool:
    if isinstance(value, bool | int | float):
        return bool(value)
    text = _as_text(value).lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise ValueError(f"{value!r} is not yes/no")


def _ident(text: str) -> str:
    return re.sub(r"\s+", "_", text.strip().lower())


def _money(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    text, sign_currency = _as_text(value), None
    for sign, code in _CURRENCY_SIGNS.items():  # HK$ before $
        if sign in text:
            sign_currency = sign_currency or code
            text = text.replace(sign, "")
    m = _MONEY.match(text.strip())
    currency = (m.group(1) or m.group(3) or sign_currency) if m else None
    if not m or not currency:
        raise ValueError(f"{_as_text(value)!r} is not money (write it like '59.00 EUR' or '¥199')")
    return {"amount": _number(m.group(2)), "currency": currency.upper()}


def _fact(key: str, value: Any, business: Business | None) -> Any:
    """A fact's value: typed as the business declares it, else kept as the source gave it (dates as ISO text)."""
    spec = business.facts.get(key) if business is not None else None
    kind = spec.type.value if spec is not None else None
    if kind == "date":
        day = parse_date(value)
        return day.isoformat() if day else None
    if kind == "number":
        number = _number(value)
        return int(number) if number.is_integer() else number
    if kind == "bool":
        return _bool(value)
    if kind == "money":
        return _money(value)
    if kind is None and isinstance(value, bool | int | float | str | dict):
        return value.strip() if isinstance(value, str) else value
    return _as_text(value)


def _convert(field: str, kind: FieldKind, value: Any) -> Any:
    if kind is FieldKind.DATE:
        return parse_date(value)
    if kind is FieldKind.BOOL:
        return _bool(value)
    if kind is FieldKind.INT:
        number = _number(value)
        if not number.is_integer():
            raise ValueError(f"{_as_text(value)!r} is not a whole number")
        return int(number)
    if kind is FieldKind.FLOAT:
        return _number(value)
    if kind is FieldKind.LIST:
        items = value if isinstance(value, list | tuple) else _LIST_SEP.split(_as_text(value))
        return [_ident(_as_text(i)) if field in _IDENT_FIELDS else _as_text(i) for i in items if not _blank(i)]
    if kind is FieldKind.CHOICE:
        return _ident(_as_text(value))
    if kind is FieldKind.NESTED:
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise ValueError("expected a list of objects (nested records come from JSON)")
        return value
    if kind is FieldKind.KEYED:
        if not isinstance(value, dict):
            raise ValueError(f"expected an object; map single columns as {field}.<id>")
        return value
    text = _as_text(value)
    if field == "lang":
        key = re.split(r"[-_]", text.lower(), maxsplit=1)[0]
        return _LANGS.get(key, key)
    return _ident(text) if field in _IDENT_FIELDS else text


# ---------------------------------------------------------------- tables → records


def fact_key(column: str) -> str | None:
    """The fact id a column is kept under (``Paid with`` → ``paid_with``), None when its name gives none."""
    key = re.sub(r"[^a-z0-9]+", "_", column.strip().lower()).strip("_")[:64]
    return key if _KEY.match(key) else None


class _Columns(Frozen):
    mapping: dict[str, str]  # present column → Keel field (``facts.<id>`` for kept columns)
    report: TableReport


def _resolve(
    source: str,
    columns: Iterable[str],
    rows: int,
    explicit: dict[str, str],
    fields: dict[str, FieldKind],
    ignore: frozenset[str],
) -> _Columns:
    columns = list(columns)
    mapping = {c: explicit[c] for c in columns if c in explicit}
    for c in columns:  # a column already named like a Keel field maps to it
        if c not in mapping and c not in ignore and c in fields and c not in mapping.values():
            mapping[c] = c
    kept: dict[str, str] = {}
    if fields.get(FACTS) is FieldKind.KEYED:  # the free-form field: keep what is not mapped
        for c in columns:
            key = fact_key(c)
            target = f"{FACTS}.{key}"
            if c not in mapping and c not in ignore and key and target not in mapping.values():
                mapping[c] = kept[c] = target
    report = TableReport(
        source=source,
        rows=rows,
        mapped=tuple((c, t) for c, t in mapping.items() if c not in kept),
        kept=tuple(kept.items()),
        unmapped=tuple(c for c in columns if c not in mapping and c not in ignore),
        ignored=tuple(c for c in columns if c in ignore),
        absent=tuple(c for c in explicit if c not in columns),
    )
    return _Columns(mapping=mapping, report=report)


def _record(
    cells: dict[str, Any], cols: _Columns, fields: dict[str, FieldKind], fmap: FieldMap, business: Business | None
) -> dict[str, Any]:
    record: dict[str, Any] = {}
    notes = [c for c, t in cols.mapping.items() if t == NOTES]
    lines = []
    for column, target in cols.mapping.items():
        value = cells.get(column)
        if _blank(value):
            continue
        kind = _kind_of(target, fields)
        if kind is FieldKind.LIST:  # each item is translated, then dropped when it becomes blank
            items = value if isinstance(value, list | tuple) else _split(value)
            value = [v for v in (_translate(fmap.values, target, i) for i in items) if not _blank(v)]
        else:
            value = _translate(fmap.values, target, value)
        if _blank(value):
            continue
        try:
            if target == NOTES and len(notes) > 1:
                lines.append(f"{column}: {_as_text(value)}")
            elif "." in target:
                head, _, key = target.partition(".")
                record.setdefault(head, {})[key] = _fact(key, value, business) if head == FACTS else _as_text(value)
            else:
                record[target] = _convert(target, kind, value)
        except ValueError as exc:
            raise ValueError(f"column {column!r} ({target}): {exc}") from None
    if lines:
        record[NOTES] = "\n".join(lines)
    return record


def _split(value: Any) -> list[str]:
    return [p for p in _LIST_SEP.split(_as_text(value)) if p]


def _invalid(exc: ValidationError, cols: _Columns) -> str:
    err = exc.errors()[0]
    loc = [str(p) for p in err["loc"]]
    column = next((c for c, t in cols.mapping.items() if loc and t in (loc[0], ".".join(loc[:2]))), None)
    where = ".".join(loc) or "record"
    msg = "not a field of Keel's state model" if err["type"] == "extra_forbidden" else err["msg"]
    return f"column {column!r} ({where}): {msg}" if column else f"field {where!r}: {msg}"


def _order(record: dict[str, Any], cols: _Columns) -> Order:
    try:
        return Order.model_validate(record)
    except ValidationError as exc:
        raise ValueError(_invalid(exc, cols)) from None


def _undeclared(tables: Iterable[TableReport], business: Business) -> list[str]:
    out = []
    for t in tables:
        for column, target in (*t.kept, *t.mapped):
            head, _, key = target.partition(".")
            if head == FACTS and key and key not in business.facts:
                out.append(f"{t.source}: column {column!r} → {target}")
    return out


def build_users(  # noqa: PLR0912, PLR0915
    customers: Table, orders: Table | None, fmap: FieldMap, business: Business | None = None
) -> tuple[list[UserState], CustomerImportReport]:
    """Users with their orders, and a report of every column's fate; any bad row raises, naming it."""
    ignore = frozenset(fmap.ignore)
    ccols = _resolve(customers.source, customers.columns, len(customers.rows), fmap.customers, CUSTOMER_FIELDS, ignore)
    if USER_ID not in ccols.mapping.values():
        raise InvalidInput(f"{customers.source}: no column maps to user_id (add one under customers: in the map)")
    ocols = None
    if orders is not None:
        ocols = _resolve(orders.source, orders.columns, len(orders.rows), fmap.orders, ORDER_FIELDS, ignore)
        if USER_ID not in ocols.mapping.values():
            raise InvalidInput(
                f"{orders.source}: no column maps to user_id, so orders cannot be joined to customers "
                "(under orders: in the map, map the customer-id column to user_id)"
            )
    if business is not None:
        undeclared = _undeclared([ccols.report] + ([ocols.report] if ocols else []), business)
        if undeclared:
            known = ", ".join(sorted(business.facts)) or "none"
            raise InvalidInput(
                f"facts the business does not declare (it declares: {known}): {'; '.join(undeclared)}. "
                "Declare them under facts: in business.yaml, map the columns to other fields, "
                "or list them under ignore: in the map"
            )
    errors: list[str] = []
    warnings: list[str] = []
    records: dict[str, dict[str, Any]] = {}
    first_row: dict[str, str] = {}
    own_orders: dict[str, list[Order]] = {}
    nested_report: dict[str, dict[str, None]] = {"kept": {}, "unmapped": {}}

    for row in customers.rows:
        try:
            record = _record(row.cells, ccols, CUSTOMER_FIELDS, fmap, business)
            uid = record.get(USER_ID)
            if not uid:
                raise ValueError("no user id")
            if uid in records:
                raise ValueError(f"user id {uid!r} repeats {first_row[uid]}")
            nested = []
            for i, raw in enumerate(record.pop(ORDERS, [])):
                ncols = _resolve("", raw, 0, fmap.orders, ORDER_FIELDS, ignore)
                nested_report["kept"].update(dict.fromkeys(f"{c}→{t}" for c, t in ncols.report.kept))
                nested_report["unmapped"].update(dict.fromkeys(ncols.report.unmapped))
                try:
                    nested.append(_order(_record(raw, ncols, ORDER_FIELDS, fmap, business), ncols))
                except ValueError as exc:
                    raise ValueError(f"order #{i + 1}: {exc}") from None
            records[uid], first_row[uid], own_orders[uid] = record, row.label, nested
        except ValueError as exc:
            errors.append(f"{customers.source} {row.label}: {exc}")

    tables = [ccols.report]
    if any(nested_report.values()):
        warnings.append(
            f"{customers.source} (nested orders): kept as facts: {', '.join(nested_report['kept']) or '-'}; "
            f"not imported: {', '.join(nested_report['unmapped']) or '-'}"
        )
    order_count = sum(len(v) for v in own_orders.values())
    if orders is not None and ocols is not None:
        tables.append(ocols.report)
        orphans: dict[str, None] = {}
        for row in orders.rows:
            try:
                record = _record(row.cells, ocols, ORDER_FIELDS, fmap, business)
                uid = record.pop(USER_ID, None)
                if not uid:
                    raise ValueError("no customer id to join on")
                order = _order(record, ocols)
                if uid not in records:
                    orphans[uid] = None
                    continue
                if any(o.order_id == order.order_id for o in own_orders[uid]):
                    raise ValueError(f"order {order.order_id!r} appears twice for user {uid!r}")
                own_orders[uid].append(order)
                order_count += 1
            except ValueError as exc:
                errors.append(f"{orders.source} {row.label}: {exc}")
        if orphans:
            shown = ", ".join(list(orphans)[:5]) + (" …" if len(orphans) > 5 else "")
            warnings.append(f"orders of {len(orphans)} customer id(s) not in {customers.source} were skipped: {shown}")

    users = []
    for uid, record in records.items():
        try:
            user = UserState.model_validate(record | {ORDERS: own_orders[uid]})
        except ValidationError as exc:
            errors.append(f"{customers.source} {first_row[uid]}: {_invalid(exc, ccols)}")
            continue
        if business is not None:
            from keel.online.state.validate import check_user

            errors += [f"{customers.source} {first_row[uid]} (user {uid}): {p}" for p in check_user(business, user)]
        users.append(user)
    if errors:
        more = f"; and {len(errors) - MAX_ERRORS} more" if len(errors) > MAX_ERRORS else ""
        raise InvalidInput(f"{'; '.join(errors[:MAX_ERRORS])}{more} (nothing was written)")
    for t in tables:  # the fate of every present column is in the table reports
        if t.absent:
            warnings.append(f"{t.source}: the map names column(s) the file does not have: {', '.join(t.absent)}")
    for src in (customers, orders):
        if src is not None and src.encoding not in ("utf-8", "xlsx"):
            warnings.insert(0, f"{src.source}: read as {src.encoding.upper()} (not UTF-8)")
    report = CustomerImportReport(
        out="", customers=len(users), orders=order_count, tables=tuple(tables), warnings=tuple(warnings), written=False
    )
    return users, report


def write_users(
    users: list[UserState], out: Path, *, business: Business | None = None, overwrite: bool = False
) -> None:
    """Write ``{"users": [...]}`` to *out* through a temp file that the JSON state provider reads back first."""
    if out.is_dir():
        raise InvalidInput(f"{out} is a folder; give the users file's name, e.g. {out / 'users.json'}")
    if out.exists() and not overwrite:
        raise InvalidInput(f"{out} already exists; use --overwrite to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{uuid.uuid4().hex[:8]}.tmp")
    payload = {"users": [u.model_dump(mode="json") for u in users]}
    try:
        tmp.write_text(json.dumps(payload, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        back = load_users_file(tmp, business) if business is not None else load_users_file(tmp)
        if back != users:  # a bug here, never the user's input
            raise RuntimeError(f"{out}: the users file does not read back the same")
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)


def import_customers(
    customers: Path,
    out: Path,
    fmap: FieldMap,
    orders: Path | None = None,
    *,
    business: Business | None = None,
    dry_run: bool = False,
    overwrite: bool = False,
) -> CustomerImportReport:
    """Customers (and orders joined on the customer id) → the users file *out* (unless a dry run)."""
    formats = (TableFormat.CSV, TableFormat.XLSX, TableFormat.JSON)
    customer_rows = read_table(customers, formats)
    order_rows = read_table(orders, formats) if orders is not None else None
    users, report = build_users(customer_rows, order_rows, fmap, business)
    if not users:
        raise InvalidInput(f"{customers}: no customers to import")
    if not dry_run:
        write_users(users, out, business=business, overwrite=overwrite)
    return report.model_copy(update={"out": str(out), "written": not dry_run})
