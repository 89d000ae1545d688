"""Conversations: search, and one conversation with the trace of every turn."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from keel.console.auth import Agent
from keel.console.page import Page
from keel.console.traceview import turns
from keel.console.web import ConsoleRoute, current_agent, database, render, translator
from keel.online import handoff as queue
from keel.online.conversations import check_conversation_id, list_conversations, load_conversation
from keel.online.trace import traces_for

router = APIRouter(route_class=ConsoleRoute)
PAGE = Page(key="conversations", path="/console/conversations", label="nav.conversations", router=router)
PAGE_SIZE = 50


@router.get("/conversations")
def conversations(request: Request, q: str = "", offset: int = 0, agent: Agent = Depends(current_agent)) -> Response:
    db, tenant = database(request)
    q = q.strip()[:200]
    offset = max(0, offset)
    rows = list_conversations(db, tenant, q, PAGE_SIZE + 1, offset)
    return render(
        request,
        "conversations.html",
        {
            "rows": rows[:PAGE_SIZE],
            "q": q,
            "offset": offset,
            "newer": max(0, offset - PAGE_SIZE) if offset else None,
            "older": offset + PAGE_SIZE if len(rows) > PAGE_SIZE else None,
        },
        agent=agent,
        active=PAGE.key,
    )


@router.get("/conversations/{conversation_id}")
def conversation(conversation_id: str, request: Request, agent: Agent = Depends(current_agent)) -> Response:
    db, tenant = database(request)
    conv = load_conversation(db, check_conversation_id(conversation_id), tenant)
    with db.engine.connect() as conn:
        open_handoff = queue.open_handoff_id(conn, conv.id, tenant)
    return render(
        request,
        "conversation.html",
        {
            "conv": conv,
            "turns": turns(translator(request), conv, traces_for(db, conv.id, tenant)),
            "handoff_id": open_handoff,
        },
        agent=agent,
        active=PAGE.key,
    )
