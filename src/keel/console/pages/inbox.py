"""The handoff inbox: the queue, one handoff with its context and transcript, and the agent's actions."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import Response

from keel.console.auth import Agent, Permission
from keel.console.i18n import Translator
from keel.console.page import Page
from keel.console.views import handoff_notice, message_item, queue_item
from keel.console.web import (
    ConsoleRoute,
    check_csrf,
    current_agent,
    database,
    flash,
    fragment,
    redirect,
    render,
    require,
    translator,
)
from keel.db.engine import utcnow
from keel.errors import Conflict, InvalidInput, UserError
from keel.online import handoff as queue
from keel.online.conversations import load_conversation

router = APIRouter(route_class=ConsoleRoute)
PAGE = Page(
    key="inbox",
    path="/console/inbox",
    label="nav.inbox",
    router=router,
    landing_for=Permission.HANDLE_HANDOFFS,
)


POLL_MS = 2000  # how often an open inbox asks for changes


class InboxAction(StrEnum):
    CLAIM = "claim"
    REPLY = "reply"
    RELEASE = "release"
    CLOSE = "close"


_DONE = {
    InboxAction.CLAIM: "inbox.claimed_ok",
    InboxAction.REPLY: "inbox.replied_ok",
    InboxAction.RELEASE: "inbox.released_ok",
    InboxAction.CLOSE: "inbox.closed_ok",
}


def _page(
    request: Request, agent: Agent, selected: int | None, *, error: str = "", draft: str = "", status: int = 200
) -> Response:
    db, tenant = database(request)
    t = translator(request)
    now = utcnow()
    items = [queue_item(t, h, agent.name, now) for h in queue.list_handoffs(db, tenant=tenant)]
    detail: dict[str, Any] | None = None
    if selected is not None:
        h = queue.get_handoff(db, selected, tenant)
        conv = load_conversation(db, h.conversation_id, tenant)
        detail = {
            "h": h,
            "item": queue_item(t, h, agent.name, now),
            "conv": conv,
            "messages": [message_item(t, m) for m in conv.messages],
            "notice": handoff_notice(t, h, agent.name),
            "can_act": agent.can(Permission.HANDLE_HANDOFFS),
            "open": h.status in queue.OPEN_STATUSES,
            "mine": h.status is queue.HandoffStatus.CLAIMED and h.claimed_by == agent.name,
            "queued": h.status is queue.HandoffStatus.QUEUED,
        }
    return render(
        request,
        "inbox.html",
        {"items": items, "detail": detail, "error": error, "draft": draft, "selected": selected, "poll_ms": POLL_MS},
        agent=agent,
        status=status,
        active=PAGE.key,
        canonical=f"/console/inbox/{selected}" if selected is not None else "/console/inbox",
    )


@router.get("/inbox")
def inbox(request: Request, agent: Agent = Depends(current_agent)) -> Response:
    return _page(request, agent, None)


@router.get("/inbox/{handoff_id}")
def inbox_one(handoff_id: int, request: Request, agent: Agent = Depends(current_agent)) -> Response:
    return _page(request, agent, handoff_id)


def _explain(t: Translator, exc: UserError, action: InboxAction, h: queue.Handoff, me: str) -> str:
    """The failure in the agent's language; the library's own words when nothing better is known."""
    if isinstance(exc, InvalidInput) and action is InboxAction.REPLY and "empty" in exc.message:
        return t("inbox.err.empty_reply")
    if isinstance(exc, Conflict):
        if h.status is queue.HandoffStatus.CLAIMED and h.claimed_by and h.claimed_by != me:
            return t("inbox.err.taken", name=h.claimed_by)
        if h.status not in queue.OPEN_STATUSES:
            return t("inbox.err.finished", status=t.label("status", h.status.value))
    return exc.message


@router.post("/inbox/{handoff_id}/{action}")
def act(
    handoff_id: int,
    action: InboxAction,
    request: Request,
    agent: Agent = Depends(current_agent),
    csrf: str = Form(""),
    text: str = Form(""),
) -> Response:
    """Claim, reply, release or close; a failure re-renders the page with the typed text kept."""
    check_csrf(request, csrf)
    require(agent, Permission.HANDLE_HANDOFFS)
    db, tenant = database(request)
    t = translator(request)
    try:
        if action is InboxAction.CLAIM:
            h = queue.claim(db, handoff_id, agent.name, tenant)
        elif action is InboxAction.REPLY:
            h = queue.reply(db, handoff_id, agent.name, text, tenant)
        elif action is InboxAction.RELEASE:
            h = queue.release(db, handoff_id, agent.name, tenant=tenant)
        else:
            h = queue.close(db, handoff_id, agent.name, tenant=tenant)
    except (Conflict, InvalidInput) as exc:
        current = queue.get_handoff(db, handoff_id, tenant)
        message = _explain(t, exc, action, current, agent.name)
        if text.strip():
            message = f"{message} {t('inbox.draft_kept')}"
        return _page(request, agent, handoff_id, error=message, draft=text, status=exc.http_status)
    flash(request, t(_DONE[action], id=h.id, conversation=h.conversation_id))
    if action in (InboxAction.RELEASE, InboxAction.CLOSE):
        return redirect("/console/inbox")
    return redirect(f"/console/inbox/{handoff_id}")


@router.get("/api/inbox")
def inbox_json(
    request: Request, agent: Agent = Depends(current_agent), selected: int | None = None, after: int = 0
) -> dict[str, Any]:
    """Live updates: the queue, and for the open handoff its status and any newer messages (data + HTML)."""
    db, tenant = database(request)
    t = translator(request)
    now = utcnow()
    items = [queue_item(t, h, agent.name, now) for h in queue.list_handoffs(db, tenant=tenant)]
    payload: dict[str, Any] = {
        "count": len(items),
        "items": items,
        "queue_html": fragment(request, "_queue.html", items=items, selected=selected),
        "selected": None,
    }
    if selected is not None:
        h = queue.get_handoff(db, selected, tenant)
        conv = load_conversation(db, h.conversation_id, tenant)
        fresh = [message_item(t, m) for m in conv.messages if m.seq > after]
        payload["selected"] = {
            "id": h.id,
            "status": h.status.value,
            "claimed_by": h.claimed_by or "",
            "status_label": t.label("status", h.status.value),
            "holder": queue_item(t, h, agent.name, now)["holder"],
            "notice": handoff_notice(t, h, agent.name),
            "messages": fresh,
            "messages_html": "".join(fragment(request, "_message.html", m=m) for m in fresh),
            "last_seq": fresh[-1]["seq"] if fresh else after,
        }
    return payload
