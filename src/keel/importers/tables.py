"""Read a table (CSV/TSV, XLSX, JSON records) into numbered rows, with errors a person can act on."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Collection
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import Field

from keel.domain import Frozen
from keel.errors import InvalidInput

_DATE = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:$|[T\s])")


class TableFormat(StrEnum):
    CSV = "csv"
    XLSX = "xlsx"
    JSON = "json"


SUFFIXES: dict[str, TableFormat] = {
    ".csv": TableFormat.CSV,
    ".tsv": TableFormat.CSV,
    ".txt": TableFormat.CSV,
    ".xlsx": TableFormat.XLSX,
    ".xlsm": TableFormat.XLSX,
    ".json": TableFormat.JSON,
}


class Row(Frozen):
    label: str = Field(description="how a person finds the row: 'row 3' (the header is row 1) or 'record 3'")
    cells: dict[str, Any]


class Table(Frozen):
    source: str
    columns: tuple[str, ...]
    rows: tuple[Row, ...]
    encoding: str = "utf-8"


def decode_text(data: bytes, source: str) -> tuple[str, str]:
    """UTF-8 (a BOM is fine), else GB18030 (Chinese Excel's CSV); returns the text and the encoding used."""
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), "gb18030"
    except UnicodeDecodeError:
        raise InvalidInput(f"{source}: neither UTF-8 nor GB18030 text; save it as UTF-8") from None


def table_format(path: Path, allowed: Collection[TableFormat]) -> TableFormat:
    fmt = SUFFIXES.get(path.suffix.lower())
    if fmt is None or fmt not in allowed:
        names = sorted(s for s, f in SUFFIXES.items() if f in allowed)
        raise InvalidInput(f"{path}: unsupported file type {path.suffix or '(none)'!r}; use {', '.join(names)}")
    return fmt


def read_table(path: Path, allowed: Collection[TableFormat] = tuple(TableFormat)) -> Table:
    """Every non-blank row of the file's first table, cells keyed by the header (or the JSON keys)."""
    fmt = table_format(path, allowed)
    if not path.is_file():
        raise InvalidInput(f"file not found: {path}")
    if fmt is TableFormat.XLSX:
        return _read_xlsx(path)
    text, encoding = decode_text(path.read_bytes(), str(path))
    if fmt is TableFormat.JSON:
        return _read_json(text, str(path))
    delimiter = "\t" if path.suffix.lower() == ".tsv" else _delimiter(text)
    grid = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    return _from_grid(grid, str(path), encoding)


def _delimiter(text: str) -> str:
    """Comma, semicolon (Excel in many locales) or tab: whichever the header line uses most."""
    header = text.split("\n", 1)[0]
    return max((",", ";", "\t"), key=header.count) if header else ","


def _header(cells: list[Any], source: str) -> tuple[str, ...]:
    names = [str(c).strip() if c is not None else "" for c in cells]
    while names and not names[-1]:
        names.pop()
    names = [n or f"column {i + 1}" for i, n in enumerate(names)]
    seen: set[str] = set()
    for n in names:
        if n.casefold() in seen:
            raise InvalidInput(f"{source}: the header names column {n!r} twice")
        seen.add(n.casefold())
    if not names:
        raise InvalidInput(f"{source}: empty header row (the first row names the columns)")
    return tuple(names)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _from_grid(grid: list[list[Any]], source: str, encoding: str) -> Table:
    if not grid:
        raise InvalidInput(f"{source}: empty file")
    columns = _header(grid[0], source)
    rows = []
    for number, cells in enumerate(grid[1:], start=2):
        if all(_blank(c) for c in cells):
            continue
        extra = [c for c in cells[len(columns) :] if not _blank(c)]
        if extra:
            raise InvalidInput(
                f"{source}: row {number} has {len(columns) + len(extra)} cells but the header names {len(columns)} "
                "columns (a separator inside an unquoted cell?)"
            )
        padded = list(cells[: len(columns)]) + [""] * (len(columns) - len(cells))
        rows.append(Row(label=f"row {number}", cells=dict(zip(columns, padded, strict=True))))
    return Table(source=source, columns=columns, rows=tuple(rows), encoding=encoding)


def _xlsx_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.date() if value.time() == datetime.min.time() else value.isoformat(sep=" ")
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return "" if value is None else value


def _read_xlsx(path: Path) -> Table:
    try:
        import openpyxl
    except ImportError:
        raise InvalidInput(
            f"{path}: reading .xlsx needs the openpyxl package, which is not installed here "
            "(pip install openpyxl); or save the sheet as 'CSV UTF-8' and import that"
        ) from None
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises several unrelated types for a damaged file
        raise InvalidInput(f"{path}: not a readable .xlsx workbook ({exc.__class__.__name__})") from None
    try:
        sheet = book.worksheets[0]
        grid = [[_xlsx_value(v) for v in row] for row in sheet.iter_rows(values_only=True)]
    finally:
        book.close()
    return _from_grid(grid, f"{path} (sheet {sheet.title!r})", "xlsx")


def _read_json(text: str, source: str) -> Table:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{source}: not valid JSON: {exc}") from None
    if isinstance(data, dict):
        lists = [v for v in data.values() if isinstance(v, list)]
        if len(lists) != 1:
            raise InvalidInput(f"{source}: expected a list of records, or an object holding exactly one such list")
        data = lists[0]
    if not isinstance(data, list):
        raise InvalidInput(f"{source}: expected a list of records")
    columns: dict[str, None] = {}
    rows = []
    for number, record in enumerate(data, start=1):
        if not isinstance(record, dict):
            raise InvalidInput(f"{source}: record {number} is not an object")
        columns.update(dict.fromkeys(str(k) for k in record))
        rows.append(Row(label=f"record {number}", cells={str(k): v for k, v in record.items()}))
    return Table(source=source, columns=tuple(columns), rows=tuple(rows))


def parse_date(value: Any) -> date | None:
    """A date from ISO text (``2026-11-15``, ``2026/11/15``, a datetime's date part) or a spreadsheet date."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    if not text:
        return None
    m = _DATE.match(text)
    try:
        if not m:
            raise ValueError
        return date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        raise ValueError(f"{text!r} is not a date (use YYYY-MM-DD)") from None
