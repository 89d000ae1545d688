"""``keel chat``: an interactive terminal chat that shows each decision and why."""

from __future__ import annotations

import uuid

from rich.panel import Panel
from rich.prompt import Prompt

from keel.cli.common import console, err_console
from keel.config import KeelConfig
from keel.domain import Action
from keel.errors import KeelError, UserError
from keel.online.conversations import load_conversation
from keel.online.pipeline import MessageRequest, TurnResult, handle_message
from keel.online.runtime import open_runtime

_COLOURS = {Action.ANSWER: "green", Action.CLARIFY: "cyan", Action.REFUSE: "red", Action.HANDOFF: "magenta"}
HELP = "commands: /user ID · /new · /kb N · /quit"


def _show(result: TurnResult) -> None:
    d = result.decision
    colour = _COLOURS[d.action]
    mods = f" +{'+'.join(m.value for m in d.modifiers)}" if d.modifiers else ""
    why = [
        f"[b]{d.action.value}{mods}[/] · {d.reason.value} · {d.detail}",
        f"confidence {d.confidence:.2f} · {result.latency_ms:.0f} ms",
    ]
    if result.rule_hits:
        why.append("rules: " + ", ".join(f"{h.rule_id}({h.matched_by.value}: {h.evidence})" for h in result.rule_hits))
    if result.kb_version:
        why.append(f"KB v{result.kb_version}: {', '.join(result.passage_ids) or 'no passage'}")
    if result.handoff_id:
        why.append(
            f"handoff #{result.handoff_id} queued — a human will reply (keel handoff reply {result.handoff_id} …)"
        )
    body = result.reply if result.reply is not None else "[i](a human agent holds this conversation)[/]"
    console.print(Panel(body, title=f"[{colour}]keel[/]", border_style=colour, subtitle=None))
    console.print("[dim]" + "\n".join(why) + "[/]", highlight=False)


def run(cfg: KeelConfig, user: str | None, conversation: str | None) -> None:
    console.print("[b]Keel chat[/] — loading the pipeline and the model…")
    rt = open_runtime(cfg)
    conv_id = conversation or f"chat-{uuid.uuid4().hex[:10]}"
    kb_version: int | None = None
    seen = 0
    console.print(f"conversation [b]{conv_id}[/] · user [b]{user or 'anonymous'}[/] · model {rt.model.name}\n{HELP}")
    while True:
        try:
            conv = load_conversation(rt.db, conv_id, rt.tenant)
            for m in conv.messages[seen:]:
                if m.role.value == "agent":
                    console.print(Panel(m.content, title=f"[yellow]agent {m.author}[/]", border_style="yellow"))
            seen = len(conv.messages)
        except KeelError:
            pass
        try:
            text = Prompt.ask("[b]you[/]")
        except (EOFError, KeyboardInterrupt):
            console.print()
            return
        if text.strip() in ("/quit", "/exit", "/q"):
            return
        if text.startswith("/user"):
            user = text.split(maxsplit=1)[1].strip() if " " in text else None
            conv_id, seen = f"chat-{uuid.uuid4().hex[:10]}", 0
            console.print(f"new conversation {conv_id} as {user or 'anonymous'}")
            continue
        if text.strip() == "/new":
            conv_id, seen = f"chat-{uuid.uuid4().hex[:10]}", 0
            console.print(f"new conversation {conv_id}")
            continue
        if text.startswith("/kb"):
            parts = text.split()
            kb_version = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
            console.print(f"KB pinned to {kb_version or 'the version in force'}")
            continue
        try:
            with console.status("thinking…"):
                result = handle_message(
                    rt, MessageRequest(conversation_id=conv_id, text=text, user_id=user, kb_version=kb_version)
                )
        except UserError as exc:
            err_console.print(f"[red]error:[/] {exc.message}")
            continue
        seen += 2 if result.reply is not None else 1
        _show(result)
