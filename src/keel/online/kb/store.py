"""Versioned knowledge base in the database: publish atomically, pin, diff, roll back.

A version is an immutable snapshot of documents. ``kb_head`` names the version in force; publish
writes the new snapshot and flips the head in one transaction, so an interrupted publish leaves
the old version in force.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import Connection, func, insert, select, text, update

from keel.db import Database
from keel.db.engine import utcnow
from keel.db.schema import kb_documents, kb_head, kb_versions
from keel.domain import DEFAULT_TENANT, Frozen
from keel.errors import InvalidInput, NotFound
from keel.online.kb.documents import KBDocument, check_regions, load_folder


class VersionInfo(Frozen):
    version: int
    created_at: datetime
    note: str
    source: str
    parent: int | None
    doc_count: int
    content_hash: str
    current: bool = False


class KBDiff(Frozen):
    old: int
    new: int
    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: tuple[str, ...]


def _snapshot_hash(docs: Iterable[KBDocument]) -> str:
    h = hashlib.sha256()
    for doc in sorted(docs, key=lambda d: d.doc_id):
        h.update(doc.doc_id.encode())
        h.update(doc.content_hash.encode())
    return h.hexdigest()


def _row_to_doc(row: object) -> KBDocument:
    r = row._mapping  # type: ignore[attr-defined]
    return KBDocument.model_validate(
        {
            "id": r["doc_id"],
            "topic": r["topic"],
            "lang": r["lang"],
            "title": r["title"],
            "kind": r["kind"],
            "region": r["regions"],
            "valid_from": date.fromisoformat(r["valid_from"]) if r["valid_from"] else None,
            "valid_to": date.fromisoformat(r["valid_to"]) if r["valid_to"] else None,
            "tags": r["tags"],
            "body": r["body"],
        }
    )


def current_version(db: Database, tenant: str = DEFAULT_TENANT) -> int | None:  # benchmarks/ omit it
    with db.engine.connect() as conn:
        return conn.scalar(select(kb_head.c.version).where(kb_head.c.tenant == tenant))


def _docs(conn: Connection, version: int) -> list[KBDocument]:
    rows = conn.execute(select(kb_documents).where(kb_documents.c.version == version).order_by(kb_documents.c.doc_id))
    return [_row_to_doc(r) for r in rows]


def documents(db: Database, version: int, tenant: str) -> list[KBDocument]:
    with db.engine.connect() as conn:
        _require_version(conn, version, tenant)
        return _docs(conn, version)


def _require_version(conn: Connection, version: int, tenant: str) -> None:
    found = conn.scalar(
        select(kb_versions.c.version).where(kb_versions.c.version == version, kb_versions.c.tenant == tenant)
    )
    if found is None:
        raise NotFound(f"KB version {version} does not exist")


def resolve_version(db: Database, pinned: int | None, tenant: str = DEFAULT_TENANT) -> int:  # train/ omits it
    """The pinned version if given (checked), else the version in force."""
    if pinned is not None:
        with db.engine.connect() as conn:
            _require_version(conn, pinned, tenant)
        return pinned
    head = current_version(db, tenant)
    if head is None:
        raise NotFound("the knowledge base has no published version yet (run `keel kb publish FOLDER`)")
    return head


def publish_documents(
    db: Database,
    docs: list[KBDocument],
    *,
    overlay: bool = False,
    note: str = "",
    source: str = "",
    tenant: str = DEFAULT_TENANT,  # benchmarks/ omit it
) -> VersionInfo:
    """Write *docs* as a new version and put it in force, in one transaction.

    With *overlay*, the new version is the version in force with *docs* replacing documents of
    the same id, added when new, and removed when marked ``deleted: true``.
    """
    with db.begin() as conn:
        if db.is_postgres:  # version numbers are global: one publish at a time (SQLite: BEGIN IMMEDIATE)
            conn.execute(text("LOCK TABLE kb_versions IN SHARE ROW EXCLUSIVE MODE"))
        head = conn.scalar(select(kb_head.c.version).where(kb_head.c.tenant == tenant))
        if overlay:
            if head is None:
                raise InvalidInput("--overlay needs a published version to lay the documents over")
            merged = {d.doc_id: d for d in _docs(conn, head)}
            for d in docs:
                if d.deleted:
                    merged.pop(d.doc_id, None)
                else:
                    merged[d.doc_id] = d
            final = list(merged.values())
        else:
            final = [d for d in docs if not d.deleted]
        if not final:
            raise InvalidInput("the new version would contain no documents")
        # versions are numbered across tenants so a number names one snapshot
        version = (conn.scalar(select(func.max(kb_versions.c.version))) or 0) + 1
        now = utcnow()
        info = {
            "version": version,
            "tenant": tenant,
            "created_at": now,
            "note": note,
            "source": source,
            "parent": head,
            "doc_count": len(final),
            "content_hash": _snapshot_hash(final),
        }
        conn.execute(insert(kb_versions).values(**info))
        conn.execute(
            insert(kb_documents),
            [
                {
                    "version": version,
                    "doc_id": d.doc_id,
                    "topic": d.topic,
                    "lang": d.lang.value,
                    "title": d.title,
                    "kind": d.kind.value,
                    "regions": list(d.regions),
                    "valid_from": d.valid_from.isoformat() if d.valid_from else None,
                    "valid_to": d.valid_to.isoformat() if d.valid_to else None,
                    "tags": list(d.tags),
                    "body": d.body,
                    "content_hash": d.content_hash,
                }
                for d in final
            ],
        )
        _set_head(conn, tenant, version)
    return VersionInfo(**{k: v for k, v in info.items() if k != "tenant"}, current=True)


def publish_folder(
    db: Database,
    folder: Path,
    *,
    overlay: bool = False,
    note: str = "",
    tenant: str = DEFAULT_TENANT,  # benchmarks/ omit it
    regions: Iterable[str] | None = None,
) -> VersionInfo:
    """Validate every file (and, given the business's *regions*, every document's regions), then publish."""
    docs = load_folder(folder)  # every file is validated before anything is written
    if regions is not None:
        check_regions(docs, regions, str(folder))
    return publish_documents(db, docs, overlay=overlay, note=note, source=str(folder), tenant=tenant)


def _set_head(conn: Connection, tenant: str, version: int) -> None:
    now = utcnow()
    changed = conn.execute(
        update(kb_head).where(kb_head.c.tenant == tenant).values(version=version, updated_at=now)
    ).rowcount
    if not changed:
        conn.execute(insert(kb_head).values(tenant=tenant, version=version, updated_at=now))


def rollback(db: Database, version: int, tenant: str) -> VersionInfo:
    """Put an earlier (or any existing) version back in force."""
    with db.begin() as conn:
        _require_version(conn, version, tenant)
        _set_head(conn, tenant, version)
    return next(v for v in list_versions(db, tenant) if v.version == version)


def list_versions(db: Database, tenant: str = DEFAULT_TENANT) -> list[VersionInfo]:  # benchmarks/ omit it
    head = current_version(db, tenant)
    with db.engine.connect() as conn:
        rows = conn.execute(
            select(kb_versions).where(kb_versions.c.tenant == tenant).order_by(kb_versions.c.version)
        ).all()
    return [
        VersionInfo(
            version=r.version,
            created_at=r.created_at,
            note=r.note,
            source=r.source,
            parent=r.parent,
            doc_count=r.doc_count,
            content_hash=r.content_hash,
            current=r.version == head,
        )
        for r in rows
    ]


def diff(db: Database, old: int, new: int, tenant: str) -> KBDiff:
    a = {d.doc_id: d.content_hash for d in documents(db, old, tenant)}
    b = {d.doc_id: d.content_hash for d in documents(db, new, tenant)}
    return KBDiff(
        old=old,
        new=new,
        added=tuple(sorted(b.keys() - a.keys())),
        removed=tuple(sorted(a.keys() - b.keys())),
        changed=tuple(sorted(k for k in a.keys() & b.keys() if a[k] != b[k])),
    )


def copy_versions(src: Database, dst: Database, versions: Iterable[int], head: int, tenant: str) -> None:
    """Copy KB versions (same numbers, same documents) into another database; *head* goes in force there.

    Evaluations run on their own database so their conversations and handoffs never reach the
    live queue, yet retrieve from exactly the pinned versions.
    """
    wanted = sorted(set(versions) | {head})
    with src.engine.connect() as s:
        rows = {v: s.execute(select(kb_versions).where(kb_versions.c.version == v)).first() for v in wanted}
        missing = [v for v, r in rows.items() if r is None]
        if missing:
            raise NotFound(f"KB version(s) {missing} do not exist")
        docs = {v: s.execute(select(kb_documents).where(kb_documents.c.version == v)).all() for v in wanted}
    with dst.engine.begin() as d:
        for v in wanted:
            if d.scalar(select(kb_versions.c.version).where(kb_versions.c.version == v)) is not None:
                continue
            d.execute(insert(kb_versions).values(**dict(rows[v]._mapping)))  # type: ignore[union-attr]
            d.execute(insert(kb_documents), [dict(r._mapping) for r in docs[v]])
        _set_head(d, tenant, head)
