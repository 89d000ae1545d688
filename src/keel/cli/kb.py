"""``keel kb``: publish, list, diff and roll back knowledge-base versions."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from keel.cli.common import config, console, friendly
from keel.db import open_database
from keel.online.kb import store

app = typer.Typer(help="The versioned knowledge base.", no_args_is_help=True)
TENANT = typer.Option("default", "--tenant", help="whose knowledge base")


@app.command()
@friendly
def publish(
    folder: Path = typer.Argument(..., help="folder of Markdown (front matter) or YAML documents"),
    overlay: bool = typer.Option(False, "--overlay", help="lay the documents over the version in force"),
    note: str = typer.Option("", "--note", help="what changed"),
    tenant: str = TENANT,
) -> None:
    """Validate every document, then publish them as a new version, atomically."""
    cfg = config()
    db = open_database(cfg.db_url)
    info = store.publish_folder(db, folder, overlay=overlay, note=note, tenant=tenant, regions=cfg.business.regions)
    console.print(f"[green]published[/] KB version {info.version} ({info.doc_count} documents) — now in force")


@app.command()
@friendly
def versions(tenant: str = TENANT) -> None:
    """List versions; the one in force is marked."""
    db = open_database(config().db_url)
    table = Table("version", "in force", "documents", "created (UTC)", "parent", "note")
    for v in store.list_versions(db, tenant):
        table.add_row(
            str(v.version),
            "●" if v.current else "",
            str(v.doc_count),
            v.created_at.strftime("%Y-%m-%d %H:%M"),
            str(v.parent or ""),
            v.note,
        )
    console.print(table)


@app.command()
@friendly
def rollback(version: int = typer.Argument(..., help="the version to put back in force"), tenant: str = TENANT) -> None:
    """Put an earlier version back in force in one step."""
    db = open_database(config().db_url)
    info = store.rollback(db, version, tenant)
    console.print(f"[green]KB version {info.version} is in force[/] ({info.doc_count} documents)")


@app.command()
@friendly
def diff(old: int, new: int, tenant: str = TENANT) -> None:
    """Documents added, removed and changed between two versions."""
    db = open_database(config().db_url)
    d = store.diff(db, old, new, tenant)
    for label, ids, colour in (
        ("added", d.added, "green"),
        ("removed", d.removed, "red"),
        ("changed", d.changed, "yellow"),
    ):
        console.print(f"[{colour}]{label} ({len(ids)})[/]: {', '.join(ids) or '-'}")
