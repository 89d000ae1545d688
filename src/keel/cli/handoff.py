"""``keel handoff``: the human side of the queue."""

from __future__ import annotations

import getpass
from datetime import UTC, datetime

import typer
from rich.panel import Panel
from rich.table import Table

from keel.cli.common import config, console, friendly, read_text_arg
from keel.db import open_database
from keel.domain import DEFAULT_TENANT
from keel.online import handoff as queue
from keel.online.conversations import load_conversation

app = typer.Typer(help="The handoff queue (human agents).", no_args_is_help=True)

AGENT = typer.Option(None, "--agent", help="agent name (default: your login name)")
TENANT = typer.Option(DEFAULT_TENANT, "--tenant", help="whose queue")


def _agent(name: str | None) -> str:
    return name or getpass.getuser()


def _wait(created: datetime) -> str:
    created = created if created.tzinfo else created.replace(tzinfo=UTC)
    minutes = int((datetime.now(UTC) - created).total_seconds() // 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m"


@app.command("list")
@friendly
def list_(all_: bool = typer.Option(False, "--all", help="include released and closed"), tenant: str = TENANT) -> None:
    """Open handoffs, oldest first."""
    db = open_database(config().db_url)
    statuses = tuple(queue.HandoffStatus) if all_ else queue.OPEN_STATUSES
    table = Table("id", "status", "conversation", "user", "reason", "why", "waiting", "agent")
    for h in queue.list_handoffs(db, statuses, tenant=tenant):
        table.add_row(
            str(h.id),
            h.status.value,
            h.conversation_id,
            str(h.context.get("user_id") or "-"),
            h.reason,
            h.detail[:60],
            _wait(h.created_at),
            h.claimed_by or "",
        )
    console.print(table)


@app.command()
@friendly
def show(handoff_id: int, tenant: str = TENANT) -> None:
    """The whole context: why it was handed off, the customer's state, the transcript."""
    db = open_database(config().db_url)
    h = queue.get_handoff(db, handoff_id, tenant)
    conv = load_conversation(db, h.conversation_id, h.tenant)
    ctx = h.context
    console.print(
        Panel(
            f"[b]{h.reason}[/]: {h.detail}\nrules: {[r['rule_id'] for r in ctx.get('rule_hits', [])]}\n"
            f"state:\n{ctx.get('state') or '(anonymous)'}",
            title=f"handoff {h.id} · {h.status.value}",
        )
    )
    for m in conv.messages:
        who = m.author or m.role.value
        console.print(f"[dim]{m.created_at:%H:%M}[/] [b]{who}[/]: {m.content}", highlight=False)


@app.command()
@friendly
def claim(handoff_id: int, agent: str | None = AGENT, tenant: str = TENANT) -> None:
    """Take a queued handoff (fails if another agent has it)."""
    h = queue.claim(open_database(config().db_url), handoff_id, _agent(agent), tenant)
    console.print(f"[green]handoff {h.id} claimed by {h.claimed_by}[/]")


@app.command("next")
@friendly
def next_(agent: str | None = AGENT, tenant: str = TENANT) -> None:
    """Take the oldest queued handoff (never one another agent got)."""
    h = queue.claim_next(open_database(config().db_url), _agent(agent), tenant)
    if h is None:
        console.print("the queue is empty")
        return
    console.print(f"[green]handoff {h.id} claimed by {h.claimed_by}[/] (conversation {h.conversation_id}, {h.reason})")


@app.command()
@friendly
def reply(
    handoff_id: int,
    text: str = typer.Argument(..., help="the reply ('-' reads stdin)"),
    agent: str | None = AGENT,
    tenant: str = TENANT,
) -> None:
    """Reply to the customer in the same conversation (claims the handoff if still queued)."""
    h = queue.reply(open_database(config().db_url), handoff_id, _agent(agent), read_text_arg(text), tenant)
    console.print(f"[green]reply sent[/] in conversation {h.conversation_id}")


@app.command()
@friendly
def release(handoff_id: int, agent: str | None = AGENT, tenant: str = TENANT) -> None:
    """Give the conversation back to the bot."""
    h = queue.release(open_database(config().db_url), handoff_id, _agent(agent), tenant=tenant)
    console.print(f"[green]conversation {h.conversation_id} is back with the bot[/]")


@app.command()
@friendly
def close(handoff_id: int, agent: str | None = AGENT, tenant: str = TENANT) -> None:
    """Mark the handoff resolved."""
    h = queue.close(open_database(config().db_url), handoff_id, _agent(agent), tenant=tenant)
    console.print(f"[green]handoff {h.id} closed[/]")
