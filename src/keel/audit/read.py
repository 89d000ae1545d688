"""Streaming readers for historical dialogs: Keel JSONL, ShareGPT / OpenAI message lists, CSV.

Every reader yields :class:`Dialog` values one at a time (memory stays flat as the file grows)
and reports each line it cannot use as a :class:`SkippedLine` through ``on_skip``, never silently.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from datetime import date
from pathlib import Path
from typing import Any, BinaryIO

from keel.audit.schema import Dialog, InputFormat, SkippedLine, Speaker, Turn
from keel.business import ID_PATTERN
from keel.errors import InvalidInput

SkipSink = Callable[[SkippedLine], None]

ROLE_ALIASES: dict[str, Speaker] = {
    **dict.fromkeys(["customer", "user", "human", "client", "buyer", "客户", "顾客", "用户", "买家"], Speaker.CUSTOMER),
    **dict.fromkeys(
        ["agent", "assistant", "gpt", "staff", "service", "support", "seller", "客服", "坐席"], Speaker.AGENT
    ),
    **dict.fromkeys(["system", "note", "系统"], Speaker.SYSTEM),
}

#: Dialog fields a CSV column can be mapped to (``--map column=field``).
CSV_FIELDS: dict[str, tuple[str, ...]] = {
    "dialog_id": ("dialog_id", "conversation_id", "session_id", "id"),
    "role": ("role", "speaker", "from", "sender"),
    "text": ("text", "content", "message", "value"),
    "agent": ("agent", "agent_id", "agent_name"),
    "turn": ("turn", "turn_index", "seq", "position"),
    "region": ("region",),
    "lang": ("lang", "language"),
    "date": ("date", "created_at", "timestamp"),
}
_REQUIRED_CSV = ("dialog_id", "role", "text")
_REGION = re.compile(ID_PATTERN)  # which regions exist is the business's to say
_MAX_META = 20


class BadRecord(ValueError):
    """One input record cannot be used; the message says why."""


def open_input(path: Path) -> BinaryIO:
    """Open *path* for reading, or one clear error for a missing, empty or unreadable file."""
    if not path.exists():
        raise InvalidInput(f"{path}: no such file")
    if path.is_dir():
        raise InvalidInput(f"{path}: is a folder, not a dialog file")
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot be read ({exc.strerror or exc.__class__.__name__})") from None
    head = handle.read(65536)
    if not head.strip(b" \t\r\n\xef\xbb\xbf"):
        handle.close()
        raise InvalidInput(f"{path}: the file is empty")
    if head.lstrip(b" \t\r\n\xef\xbb\xbf").startswith(b"["):
        handle.close()
        raise InvalidInput(
            f"{path}: a JSON array; the audit streams JSON Lines (one dialog per line), "
            "convert it first, e.g. `jq -c '.[]' FILE > FILE.jsonl`"
        )
    handle.seek(0)
    return handle


def resolve_format(path: Path, fmt: InputFormat) -> InputFormat:
    if fmt is not InputFormat.AUTO:
        return fmt
    return InputFormat.CSV if path.suffix.lower() in {".csv", ".tsv"} else InputFormat.AUTO


def _role(value: Any) -> Speaker:
    if not isinstance(value, str) or value.strip().lower() not in ROLE_ALIASES:
        raise BadRecord(f"unknown role {value!r} (use customer/user/human or agent/assistant/gpt)")
    return ROLE_ALIASES[value.strip().lower()]


def _text(value: Any, where: str) -> str:
    if isinstance(value, list):  # OpenAI content parts
        value = " ".join(p.get("text", "") for p in value if isinstance(p, dict))
    if not isinstance(value, str):
        raise BadRecord(f"{where}: text is missing or not a string")
    return value


def _day(value: Any) -> date | None:
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        raise BadRecord(f"date {value!r} is not an ISO date (YYYY-MM-DD)") from None


def _region(value: Any) -> str | None:
    if value in (None, ""):
        return None
    region = str(value).strip().lower()
    if not _REGION.match(region):
        raise BadRecord(f"region {value!r} is not a region id (lower-case letters, digits, '_' or '-')")
    return region


def _opt_str(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def _finish(dialog_id: str, turns: list[Turn], line_no: int, fields: Mapping[str, Any]) -> Dialog:
    turns = [t for t in turns if t.text.strip() or t.role is Speaker.SYSTEM]
    if not any(t.role is Speaker.CUSTOMER for t in turns):
        raise BadRecord("the dialog has no customer turn")
    if not any(t.role is Speaker.AGENT for t in turns):
        raise BadRecord("the dialog has no agent turn")
    meta = {
        k: v
        for k, v in fields.items()
        if k not in _KNOWN_KEYS and k not in CSV_FIELDS and isinstance(v, str | int | float | bool)
    }
    return Dialog(
        dialog_id=dialog_id,
        turns=tuple(turns),
        line_no=line_no,
        region=_region(fields.get("region")),
        lang=_opt_str(fields.get("lang")),
        agent=_opt_str(fields.get("agent") or fields.get("agent_id")),
        day=_day(fields.get("date") or fields.get("created_at")),
        meta=dict(list(meta.items())[:_MAX_META]),
    )


_KNOWN_KEYS = {
    "id",
    "dialog_id",
    "conversation_id",
    "turns",
    "conversations",
    "messages",
    "region",
    "lang",
    "agent",
    "agent_id",
    "date",
    "created_at",
}


def parse_record(obj: Any, line_no: int, fmt: InputFormat) -> Dialog:
    """One JSON object in any supported shape → a dialog (or :class:`BadRecord`)."""
    if not isinstance(obj, dict):
        raise BadRecord("expected a JSON object per line")
    if "turns" in obj and fmt in (InputFormat.AUTO, InputFormat.JSONL):
        raw, role_key, text_keys = obj["turns"], "role", ("text", "content")
    elif "conversations" in obj and fmt in (InputFormat.AUTO, InputFormat.SHAREGPT):
        raw, role_key, text_keys = obj["conversations"], "from", ("value", "text")
    elif "messages" in obj and fmt in (InputFormat.AUTO, InputFormat.SHAREGPT):
        raw, role_key, text_keys = obj["messages"], "role", ("content", "text")
    else:
        wanted = {"jsonl": "'turns'", "sharegpt": "'conversations' or 'messages'"}.get(
            fmt.value, "'turns', 'conversations' or 'messages'"
        )
        raise BadRecord(f"no {wanted} list")
    if not isinstance(raw, list) or not raw:
        raise BadRecord("the turn list is empty or not a list")
    turns: list[Turn] = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise BadRecord(f"turn {i}: expected an object")
        text_key = next((k for k in text_keys if k in item), text_keys[0])
        turns.append(
            Turn(
                role=_role(item.get(role_key, item.get("role"))),
                text=_text(item.get(text_key), f"turn {i}"),
                agent=_opt_str(item.get("agent")),
            )
        )
    dialog_id = obj.get("id") or obj.get("dialog_id") or obj.get("conversation_id") or f"line-{line_no}"
    fields = {k: v for k, v in obj.items() if k not in {"turns", "conversations", "messages"}}
    extra = {k: v for k, v in fields.items() if k not in _KNOWN_KEYS}
    base = {k: v for k, v in fields.items() if k in _KNOWN_KEYS}
    return _finish(str(dialog_id), turns, line_no, {**base, **extra})


class DialogReader:
    """Iterate the dialogs of one file; ``bytes_read`` drives a progress bar."""

    def __init__(
        self,
        path: Path,
        fmt: InputFormat = InputFormat.AUTO,
        column_map: Mapping[str, str] | None = None,
        on_skip: SkipSink | None = None,
    ) -> None:
        self.path = path
        self.fmt = resolve_format(path, fmt)
        self.column_map = dict(column_map or {})
        self.on_skip = on_skip or (lambda s: None)
        self.size = path.stat().st_size if path.exists() and path.is_file() else 0
        self.bytes_read = 0
        self.dialogs = 0
        self.skipped = 0
        if self.column_map and self.fmt is not InputFormat.CSV:
            raise InvalidInput("--map is only for CSV input")
        bad = sorted(set(self.column_map.values()) - set(CSV_FIELDS))
        if bad:
            raise InvalidInput(f"--map: unknown field(s) {bad}; fields are {sorted(CSV_FIELDS)}")

    def _skip(self, line_no: int, reason: str) -> None:
        self.skipped += 1
        self.on_skip(SkippedLine(line_no=line_no, reason=reason))

    def __iter__(self) -> Iterator[Dialog]:
        with open_input(self.path) as handle:
            source = self._csv(handle) if self.fmt is InputFormat.CSV else self._jsonl(handle)
            for dialog in source:
                self.dialogs += 1
                yield dialog

    def _jsonl(self, handle: BinaryIO) -> Iterator[Dialog]:
        for line_no, raw in enumerate(handle, start=1):
            self.bytes_read += len(raw)
            if line_no == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            if not raw.strip():
                continue  # blank lines carry nothing
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                self._skip(line_no, f"not valid UTF-8 (byte {exc.start})")
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                self._skip(line_no, f"invalid JSON: {exc.msg} (column {exc.colno})")
                continue
            try:
                yield parse_record(obj, line_no, self.fmt)
            except BadRecord as exc:
                self._skip(line_no, str(exc))

    def _columns(self, header: list[str]) -> dict[str, str]:
        """field → column for this header: explicit --map first, then the usual names."""
        columns = {field: col for col, field in self.column_map.items()}
        missing_cols = [c for c in columns.values() if c not in header]
        if missing_cols:
            raise InvalidInput(f"--map names column(s) {missing_cols} not in the CSV header {header}")
        lower = {h.strip().lower(): h for h in header}
        for field, names in CSV_FIELDS.items():
            if field not in columns:
                col = next((lower[n] for n in names if n in lower and lower[n] not in columns.values()), None)
                if col is not None:
                    columns[field] = col
        absent = [f for f in _REQUIRED_CSV if f not in columns]
        if absent:
            raise InvalidInput(
                f"{self.path}: no column for {absent}; header is {header}; "
                "map columns with --map COLUMN=FIELD (fields: " + ", ".join(CSV_FIELDS) + ")"
            )
        return columns

    def _csv(self, handle: BinaryIO) -> Iterator[Dialog]:  # noqa: PLR0915
        counted = _CountingReader(handle, self)
        text = io.TextIOWrapper(io.BufferedReader(counted), encoding="utf-8-sig", errors="surrogateescape", newline="")
        delimiter = "\t" if self.path.suffix.lower() == ".tsv" else ","
        reader = csv.reader(text, delimiter=delimiter)
        try:
            header = next(reader)
        except StopIteration:
            raise InvalidInput(f"{self.path}: the file is empty") from None
        except csv.Error as exc:
            raise InvalidInput(f"{self.path}: unreadable CSV header ({exc})") from None
        columns = self._columns(header)
        index = {field: header.index(col) for field, col in columns.items()}
        finished: OrderedDict[str, None] = OrderedDict()  # recent dialog ids (bounded)
        current: str | None = None
        rows: list[tuple[int, int | None, Turn]] = []
        fields: dict[str, Any] = {}
        start = 1
        last_line = reader.line_num
        while True:
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                self._skip(reader.line_num, f"malformed CSV row ({exc})")
                last_line = reader.line_num
                continue
            line_no, last_line = last_line + 1, reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            try:
                did, turn_no, turn, extra = self._row(row, index, header)
            except BadRecord as exc:
                self._skip(line_no, str(exc))
                continue
            if did != current:
                if current is not None:
                    yield from self._emit(current, rows, start, fields)
                    finished[current] = None
                    if len(finished) > 10_000:
                        finished.popitem(last=False)
                if did in finished:
                    self._skip(line_no, f"rows of dialog {did!r} are not contiguous (sort the file by dialog id)")
                    current, rows, fields = None, [], {}
                    continue
                current, rows, fields, start = did, [], {}, line_no
            rows.append((line_no, turn_no, turn))
            fields.update({k: v for k, v in extra.items() if v})
        if current is not None:
            yield from self._emit(current, rows, start, fields)

    def _row(
        self, row: list[str], index: dict[str, int], header: list[str]
    ) -> tuple[str, int | None, Turn, dict[str, Any]]:
        if len(row) != len(header):
            raise BadRecord(f"{len(row)} cells where the header has {len(header)}")
        if any("\udc80" <= ch <= "\udcff" for cell in row for ch in cell):
            raise BadRecord("not valid UTF-8")
        cell = {field: row[i] for field, i in index.items()}
        did = cell["dialog_id"].strip()
        if not did:
            raise BadRecord("empty dialog id")
        turn_no: int | None = None
        if cell.get("turn", "").strip():
            try:
                turn_no = int(cell["turn"])
            except ValueError:
                raise BadRecord(f"turn index {cell['turn']!r} is not a number") from None
        turn = Turn(role=_role(cell["role"]), text=cell["text"], agent=_opt_str(cell.get("agent", "").strip()))
        extra = {k: cell.get(k, "").strip() for k in ("region", "lang", "date")}
        return did, turn_no, turn, extra

    def _emit(
        self, did: str, rows: list[tuple[int, int | None, Turn]], start: int, fields: dict[str, Any]
    ) -> Iterator[Dialog]:
        if all(r[1] is not None for r in rows):
            rows = sorted(rows, key=lambda r: r[1] or 0)
        try:
            yield _finish(did, [r[2] for r in rows], start, fields)
        except BadRecord as exc:
            self._skip(start, f"dialog {did!r}: {exc}")


class _CountingReader(io.RawIOBase):
    """A raw stream over *inner* that counts bytes for the progress bar."""

    def __init__(self, inner: BinaryIO, owner: DialogReader) -> None:
        self._inner = inner
        self._owner = owner

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._inner.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self._owner.bytes_read += n
        return n
