"""``keel agents``: local accounts for the web console."""

from __future__ import annotations

import sys

import typer
from rich.table import Table

from keel.cli.common import config, console, friendly
from keel.console.auth import AgentRole, add_agent, list_agents, set_password
from keel.db import open_database
from keel.domain import DEFAULT_TENANT
from keel.errors import InvalidInput

app = typer.Typer(help="Web console accounts (agents, knowledge owners, reviewers, admins).", no_args_is_help=True)

PASSWORD_STDIN = typer.Option(False, "--password-stdin", help="read the password from the first line of stdin")
TENANT = typer.Option(DEFAULT_TENANT, "--tenant", help="whose console")


def _password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        if not line:
            raise InvalidInput("no password on standard input")
        return line.rstrip("\r\n")
    value: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return value


@app.command("add")
@friendly
def add(
    name: str = typer.Argument(..., help="login name"),
    role: AgentRole = typer.Option(AgentRole.AGENT, "--role", help="what the account may do"),
    password_stdin: bool = PASSWORD_STDIN,
    tenant: str = TENANT,
) -> None:
    """Create an account (the password is prompted for, or read with --password-stdin)."""
    db = open_database(config().db_url)
    agent = add_agent(db, name, role, _password(password_stdin), tenant)
    console.print(f"[green]added[/] {agent.name} ({agent.role.value})")


@app.command("list")
@friendly
def list_(tenant: str = TENANT) -> None:
    """Every account and its role."""
    db = open_database(config().db_url)
    table = Table("name", "role", "created (UTC)")
    for agent in list_agents(db, tenant):
        table.add_row(agent.name, agent.role.value, agent.created_at.strftime("%Y-%m-%d %H:%M"))
    console.print(table)


@app.command("passwd")
@friendly
def passwd(
    name: str = typer.Argument(..., help="login name"), password_stdin: bool = PASSWORD_STDIN, tenant: str = TENANT
) -> None:
    """Set a new password; the account's open console sessions end."""
    db = open_database(config().db_url)
    agent = set_password(db, name, _password(password_stdin), tenant)
    console.print(f"[green]password changed[/] for {agent.name}")
