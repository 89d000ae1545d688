"""An FAQ table (CSV/TSV, or XLSX with openpyxl) → one KB document per row.

Columns ``question`` and ``answer`` are required; ``id``, ``topic``, ``lang``, ``region``, ``tags``,
``valid_from``, ``valid_to``, ``title`` and ``kind`` are optional (Chinese headers such as 问题/答案 work
too). The question becomes the title (unless a ``title`` is given) and the first of the document's
``questions``; more phrasings can follow on further lines of the same cell. Row numbers in errors count
the header as row 1, as a spreadsheet shows them. Any bad row fails the whole import: nothing is written.
"""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import Field

from keel.domain import DocKind, Frozen, Lang
from keel.errors import InvalidInput
from keel.importers.kbfiles import IdAllocator, KBImportReport, build_document, check_prefix, finish, one_line
from keel.importers.tables import Row, Table, TableFormat, parse_date, read_table
from keel.online.kb.documents import ALL_REGIONS, KBDocument
from keel.text import detect_lang

MAX_ERRORS = 10
_LIST = re.compile(r"[,;|，；、\s]+")
_TAGS = re.compile(r"[,;|，；、]+")


class FaqColumn(StrEnum):
    QUESTION = "question"
    ANSWER = "answer"
    ID = "id"
    TOPIC = "topic"
    LANG = "lang"
    REGION = "region"
    TAGS = "tags"
    VALID_FROM = "valid_from"
    VALID_TO = "valid_to"
    TITLE = "title"
    KIND = "kind"


REQUIRED = (FaqColumn.QUESTION, FaqColumn.ANSWER)
ALIASES: dict[str, FaqColumn] = {
    "q": FaqColumn.QUESTION,
    "问题": FaqColumn.QUESTION,
    "a": FaqColumn.ANSWER,
    "答案": FaqColumn.ANSWER,
    "回答": FaqColumn.ANSWER,
    "language": FaqColumn.LANG,
    "语言": FaqColumn.LANG,
    "regions": FaqColumn.REGION,
    "地区": FaqColumn.REGION,
    "标签": FaqColumn.TAGS,
    "标题": FaqColumn.TITLE,
    "valid_until": FaqColumn.VALID_TO,
}


class FaqOptions(Frozen):
    """Defaults for what a row does not say."""

    lang: Lang | None = Field(None, description="language of rows without a lang cell; None detects it per row")
    regions: tuple[str, ...] = Field((ALL_REGIONS,), description="regions of rows without a region cell")
    kind: DocKind = DocKind.FAQ
    prefix: str = Field("faq", description="id prefix of rows without an id cell ('' for none)")
    valid_from: date | None = None
    valid_to: date | None = None


def _column(name: str) -> FaqColumn | None:
    key = re.sub(r"[\s-]+", "_", name.strip().lower())
    if key in {c.value for c in FaqColumn}:
        return FaqColumn(key)
    return ALIASES.get(key)


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _lang(value: str) -> Lang:
    key = re.split(r"[-_]", value.strip().lower(), maxsplit=1)[0]
    key = {"中文": "zh", "chinese": "zh", "english": "en", "英文": "en"}.get(key, key)
    if key not in {lang.value for lang in Lang}:
        raise ValueError(f"lang {value!r}: use zh or en")
    return Lang(key)


def _date(value: Any, column: FaqColumn, default: date | None) -> date | None:
    if not (isinstance(value, date) or _text(value)):
        return default
    try:
        return parse_date(value)
    except ValueError as exc:
        raise ValueError(f"{column.value}: {exc}") from None


def _document(row: Row, cols: dict[FaqColumn, str], options: FaqOptions, ids: IdAllocator, source: str) -> KBDocument:
    def cell(c: FaqColumn) -> Any:
        return row.cells.get(cols[c]) if c in cols else None

    lines = [one_line(q) for q in _text(cell(FaqColumn.QUESTION)).splitlines() if q.strip()]
    answer = _text(cell(FaqColumn.ANSWER))
    if not lines:
        raise ValueError("empty question")
    if not answer:
        raise ValueError("empty answer")
    title = one_line(_text(cell(FaqColumn.TITLE))) or lines[0]
    lang_cell = _text(cell(FaqColumn.LANG))
    lang = _lang(lang_cell) if lang_cell else options.lang or detect_lang(f"{title}\n{answer}")
    doc_id, topic = _text(cell(FaqColumn.ID)), _text(cell(FaqColumn.TOPIC))
    if doc_id:
        if not ids.claim(doc_id):
            raise ValueError(f"id {doc_id!r} is used by an earlier row")
        topic = topic or doc_id
    else:
        auto_topic, doc_id = ids.take(topic or title, lang)
        topic = topic or auto_topic
    regions = [r.lower() for r in _LIST.split(_text(cell(FaqColumn.REGION))) if r]
    raw = {
        "id": doc_id,
        "topic": topic,
        "lang": lang,
        "title": title,
        "kind": _text(cell(FaqColumn.KIND)).lower() or options.kind,
        "region": regions or list(options.regions),
        "valid_from": _date(cell(FaqColumn.VALID_FROM), FaqColumn.VALID_FROM, options.valid_from),
        "valid_to": _date(cell(FaqColumn.VALID_TO), FaqColumn.VALID_TO, options.valid_to),
        "tags": [t.strip() for t in _TAGS.split(_text(cell(FaqColumn.TAGS))) if t.strip()],
        "questions": list(dict.fromkeys(lines)),
        "body": answer,
    }
    return build_document(raw, f"{source}: {row.label}")


def faq_documents(table: Table, options: FaqOptions) -> tuple[list[KBDocument], list[str], list[str]]:
    """Documents, the row each came from, and warnings; any bad row raises, naming every bad row (up to 10)."""
    cols: dict[FaqColumn, str] = {}
    unknown = []
    for name in table.columns:
        col = _column(name)
        if col is None:
            unknown.append(name)
        elif col in cols:
            raise InvalidInput(f"{table.source}: columns {cols[col]!r} and {name!r} both mean {col.value!r}")
        else:
            cols[col] = name
    missing = [c.value for c in REQUIRED if c not in cols]
    if missing:
        raise InvalidInput(
            f"{table.source}: missing column(s) {', '.join(missing)} (the header row has: {', '.join(table.columns)})"
        )
    if not table.rows:
        raise InvalidInput(f"{table.source}: no rows under the header")
    ids = IdAllocator(check_prefix(options.prefix))
    docs, origins, errors = [], [], []
    for row in table.rows:
        try:
            docs.append(_document(row, cols, options, ids, table.source))
            origins.append(row.label)
        except ValueError as exc:
            errors.append(f"{row.label}: {exc}")
        except InvalidInput as exc:
            errors.append(exc.message.removeprefix(f"{table.source}: "))
    if errors:
        more = f"; and {len(errors) - MAX_ERRORS} more" if len(errors) > MAX_ERRORS else ""
        raise InvalidInput(f"{table.source}: {'; '.join(errors[:MAX_ERRORS])}{more} (nothing was written)")
    warnings = [f"column {name!r} is not an FAQ field and was not imported" for name in unknown]
    if table.encoding not in ("utf-8", "xlsx"):
        warnings.insert(0, f"read as {table.encoding.upper()} (not UTF-8)")
    return docs, origins, warnings


def import_faq(
    path: Path, out: Path, options: FaqOptions, *, dry_run: bool = False, overwrite: bool = False
) -> KBImportReport:
    """One KB document per row of the FAQ table at *path*, written into the folder *out* (all or none)."""
    table = read_table(path, (TableFormat.CSV, TableFormat.XLSX))
    docs, origins, warnings = faq_documents(table, options)
    return finish(docs, origins, source=str(path), out=out, warnings=warnings, dry_run=dry_run, overwrite=overwrite)
