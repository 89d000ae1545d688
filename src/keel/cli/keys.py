"""``keel keys``: API keys of the service API, one tenant each."""

from __future__ import annotations

import typer
from rich.table import Table

from keel.api.keys import create_key, list_keys, revoke_key
from keel.cli.common import config, console, friendly
from keel.db import open_database

app = typer.Typer(help="API keys for /v1 (each belongs to one tenant).", no_args_is_help=True)
TENANT = typer.Option("default", "--tenant", help="the tenant the key acts for")


@app.command("create")
@friendly
def create(
    tenant: str = TENANT,
    name: str = typer.Option(..., "--name", help="what the key is for, e.g. web-widget"),
) -> None:
    """Create a key; it is printed once and only its hash is stored."""
    new = create_key(open_database(config().db_url), tenant, name)
    console.print(f"[green]created[/] key {new.info.name!r} for tenant {new.info.tenant!r} — shown once, keep it:")
    print(new.secret)


@app.command("list")
@friendly
def list_(tenant: str | None = typer.Option(None, "--tenant", help="only this tenant's keys")) -> None:
    """Every key (never the key itself): tenant, name, first characters, created, revoked."""
    table = Table("tenant", "name", "key", "created (UTC)", "revoked")
    for k in list_keys(open_database(config().db_url), tenant):
        created = k.created_at.strftime("%Y-%m-%d %H:%M")
        table.add_row(k.tenant, k.name, f"{k.prefix}…", created, "yes" if k.revoked else "")
    console.print(table)


@app.command("revoke")
@friendly
def revoke(tenant: str = TENANT, name: str = typer.Option(..., "--name", help="the key's name")) -> None:
    """Revoke a key at once; requests with it get 401."""
    key = revoke_key(open_database(config().db_url), tenant, name)
    console.print(f"[yellow]revoked[/] key {key.name!r} of tenant {key.tenant!r}")
