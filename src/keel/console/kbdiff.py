"""What changed between two KB versions, document by document, as line diffs a person can read."""

from __future__ import annotations

import difflib

import yaml

from keel.db import Database
from keel.domain import Frozen
from keel.online.kb import store
from keel.online.kb.documents import KBDocument

MAX_DIFF_LINES = 200


class DiffLine(Frozen):
    kind: str  # "add" | "del" | "ctx" | "hunk"
    text: str


class DocChange(Frozen):
    doc_id: str
    title: str
    lines: tuple[DiffLine, ...] = ()
    truncated: bool = False


class VersionDiff(Frozen):
    old: int
    new: int
    added: tuple[DocChange, ...]
    removed: tuple[DocChange, ...]
    changed: tuple[DocChange, ...]

    @property
    def identical(self) -> bool:
        return not (self.added or self.removed or self.changed)


def _as_text(doc: KBDocument) -> list[str]:
    meta = doc.model_dump(mode="json", by_alias=True, exclude={"body", "deleted"})
    front = yaml.safe_dump(meta, allow_unicode=True, sort_keys=False).splitlines()
    return ["---", *front, "---", *doc.body.splitlines()]


def _line_diff(a: KBDocument, b: KBDocument) -> tuple[tuple[DiffLine, ...], bool]:
    lines: list[DiffLine] = []
    for raw in list(difflib.unified_diff(_as_text(a), _as_text(b), lineterm="", n=1))[2:]:  # past the headers
        kind = {"@": "hunk", "+": "add", "-": "del"}.get(raw[:1], "ctx")
        lines.append(DiffLine(kind=kind, text=raw if kind == "hunk" else raw[1:]))
    return tuple(lines[:MAX_DIFF_LINES]), len(lines) > MAX_DIFF_LINES


def version_diff(db: Database, old: int, new: int, tenant: str) -> VersionDiff:
    a = {d.doc_id: d for d in store.documents(db, old, tenant)}
    b = {d.doc_id: d for d in store.documents(db, new, tenant)}
    changed = []
    for doc_id in sorted(a.keys() & b.keys()):
        if a[doc_id].content_hash != b[doc_id].content_hash:
            lines, truncated = _line_diff(a[doc_id], b[doc_id])
            changed.append(DocChange(doc_id=doc_id, title=b[doc_id].title, lines=lines, truncated=truncated))
    return VersionDiff(
        old=old,
        new=new,
        added=tuple(DocChange(doc_id=i, title=b[i].title) for i in sorted(b.keys() - a.keys())),
        removed=tuple(DocChange(doc_id=i, title=a[i].title) for i in sorted(a.keys() - b.keys())),
        changed=tuple(changed),
    )
