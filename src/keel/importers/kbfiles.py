"""Imported KB documents as Keel Markdown files: ids, rendering, a read-back check, all-or-nothing writes."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError

from keel.domain import Frozen, Lang
from keel.errors import InvalidInput
from keel.online.kb.documents import KBDocument, load_folder, parse_documents

_NOT_SLUG = re.compile(r"[^a-z0-9]+")
_PREFIX = re.compile(r"^[a-z0-9][a-z0-9._-]{0,79}$")
_SPACE = re.compile(r"\s+")
MAX_SLUG = 60
MAX_TOPIC = 190  # ids are at most 200 characters: topic + "-" + lang + a de-duplication suffix


class ImportedDoc(Frozen):
    """One document an import makes (or would make, in a dry run)."""

    doc_id: str
    title: str
    lang: Lang
    chars: int = Field(description="length of the body in characters")
    file: str = Field(description="file name in the output folder")
    origin: str = Field("", description="where it came from in the source: 'line 12', 'row 3'")


class KBImportReport(Frozen):
    """What a policy or FAQ import made, and where it wrote it."""

    source: str
    out: str
    documents: tuple[ImportedDoc, ...]
    warnings: tuple[str, ...] = ()
    written: bool = Field(description="False for a dry run: nothing was written")


def one_line(text: str) -> str:
    """Whitespace (newlines included) collapsed to single spaces."""
    return _SPACE.sub(" ", text).strip()


def slug(text: str) -> str:
    """An id-safe slug that is stable for the same text.

    ASCII letters and digits are kept as lower-case words; a text with other letters (Chinese, accents)
    or one cut to length also gets an 8-hex hash of the whole text, so ``退货政策`` is ``1f0c5a9e``-like
    and two Chinese headings never share an id.
    """
    text = one_line(text)
    words = _NOT_SLUG.sub("-", text.lower()).strip("-")
    cut = len(words) > MAX_SLUG
    if cut:
        words = words[:MAX_SLUG].rsplit("-", 1)[0] or words[:MAX_SLUG]
    if words and not cut and text.isascii():
        return words
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]
    return f"{words}-{digest}" if words else digest


def check_prefix(prefix: str) -> str:
    """An id prefix as given (lower-cased), or a readable error; ``''`` means no prefix."""
    prefix = prefix.strip().lower()
    if prefix and not _PREFIX.match(prefix):
        raise InvalidInput(
            f"id prefix {prefix!r}: use letters, digits, '.', '_' and '-' (max 80), starting alphanumeric"
        )
    return prefix


class IdAllocator:
    """Hands out ``topic`` and ``id`` (``topic-lang``) pairs, never the same id twice in one import."""

    def __init__(self, prefix: str) -> None:
        self._prefix = prefix
        self._taken: set[str] = set()

    def take(self, name: str, lang: Lang) -> tuple[str, str]:
        base = "-".join(p for p in (self._prefix, slug(name)) if p)[:MAX_TOPIC].rstrip("-._")
        topic, n = base, 1
        while f"{topic}-{lang.value}" in self._taken:
            n += 1
            topic = f"{base}-{n}"
        self._taken.add(f"{topic}-{lang.value}")
        return topic, f"{topic}-{lang.value}"

    def claim(self, doc_id: str) -> bool:
        """Reserve an id given in the source; False when it is already taken."""
        if doc_id in self._taken:
            return False
        self._taken.add(doc_id)
        return True


def build_document(raw: dict[str, Any], where: str) -> KBDocument:
    """A validated document, or an error that names where it came from and the field."""
    try:
        return KBDocument.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "document"
        raise InvalidInput(f"{where}: field {field!r}: {err['msg']}") from None


def render(doc: KBDocument) -> str:
    """The document as Keel Markdown: YAML front matter, then the body."""
    meta = {
        "id": doc.doc_id,
        "topic": doc.topic,
        "lang": doc.lang.value,
        "title": doc.title,
        "kind": doc.kind.value,
        "region": list(doc.regions),
        "valid_from": doc.valid_from,
        "valid_to": doc.valid_to,
        "tags": list(doc.tags),
        "questions": list(doc.questions),
    }
    front = yaml.safe_dump(meta, allow_unicode=True, sort_keys=False, width=100_000, default_flow_style=False)
    return f"---\n{front}---\n{doc.body.strip()}\n"


def file_name(doc: KBDocument) -> str:
    return f"{doc.doc_id}.md"


def rendered(docs: Sequence[KBDocument]) -> list[tuple[str, str]]:
    """``(file name, text)`` for every document, each read back by Keel's KB parser and compared."""
    files = [(file_name(d), render(d)) for d in docs]
    parsed = parse_documents(((name, text.encode("utf-8")) for name, text in files), source="the import")
    for doc, back in zip(docs, parsed, strict=True):
        if back.model_dump() != doc.model_dump():  # a bug in render(), never the user's input
            raise RuntimeError(f"{file_name(doc)}: the written document does not read back the same")
    return files


def write_documents(docs: Sequence[KBDocument], out: Path, *, overwrite: bool = False) -> None:
    """Write every document into *out*, or none: files go to a temp folder beside it, are read back, then moved."""
    if out.exists() and not out.is_dir():
        raise InvalidInput(f"{out}: not a folder")
    files = rendered(docs)
    if out.is_dir() and not overwrite:
        clash = [name for name, _ in files if (out / name).exists()]
        if clash:
            more = f" and {len(clash) - 5} more" if len(clash) > 5 else ""
            raise InvalidInput(f"{out} already has {', '.join(clash[:5])}{more}; use --overwrite to replace them")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.import-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        for name, text in files:
            (tmp / name).write_text(text, encoding="utf-8")
        load_folder(tmp)  # what is on disk is what Keel will read
        if not out.exists():
            os.replace(tmp, out)
        else:
            for name, _ in files:
                os.replace(tmp / name, out / name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def finish(
    docs: Sequence[KBDocument],
    origins: Sequence[str],
    *,
    source: str,
    out: Path,
    warnings: Sequence[str],
    dry_run: bool,
    overwrite: bool,
) -> KBImportReport:
    """Check (always) and write (unless a dry run) the documents; the report either way."""
    if dry_run:
        rendered(docs)
    else:
        write_documents(docs, out, overwrite=overwrite)
    planned = tuple(
        ImportedDoc(doc_id=d.doc_id, title=d.title, lang=d.lang, chars=len(d.body), file=file_name(d), origin=o)
        for d, o in zip(docs, origins, strict=True)
    )
    return KBImportReport(source=source, out=str(out), documents=planned, warnings=tuple(warnings), written=not dry_run)
