"""Plain view data for the inbox (queue rows, transcript lines), shared by pages and JSON polling."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from keel.console.i18n import Translator
from keel.online.conversations import StoredMessage
from keel.online.handoff import Handoff, HandoffStatus


def aware(value: datetime) -> datetime:
    """SQLite gives naive datetimes back; Keel stores UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def wait_text(t: Translator, since: datetime, now: datetime) -> str:
    minutes = max(0, int((aware(now) - aware(since)).total_seconds() // 60))
    if minutes < 1:
        return t("wait.now")
    if minutes < 60:
        return t("wait.minutes", m=minutes)
    hours = minutes // 60
    if hours < 24:
        return t("wait.hours", h=hours, m=minutes % 60)
    return t("wait.days", d=hours // 24, h=hours % 24)


def holder_text(t: Translator, h: Handoff, me: str) -> str:
    if h.claimed_by is None or h.status is not HandoffStatus.CLAIMED:
        return ""
    return t("inbox.claimed_by_you") if h.claimed_by == me else t("inbox.claimed_by", name=h.claimed_by)


def queue_item(t: Translator, h: Handoff, me: str, now: datetime) -> dict[str, Any]:
    return {
        "id": h.id,
        "href": f"/console/inbox/{h.id}",
        "conversation_id": h.conversation_id,
        "user_id": h.context.get("user_id") or "",
        "status": h.status.value,
        "status_label": t.label("status", h.status.value),
        "reason_label": t.label("reason", h.reason),
        "detail": h.detail,
        "wait": t("inbox.waiting", wait=wait_text(t, h.created_at, now)),
        "holder": holder_text(t, h, me),
        "mine": h.claimed_by == me and h.status is HandoffStatus.CLAIMED,
    }


def message_item(t: Translator, m: StoredMessage) -> dict[str, Any]:
    label = t("role.agent", name=m.author or "") if m.role.value == "agent" else t.label("role", m.role.value)
    return {
        "seq": m.seq,
        "role": m.role.value,
        "who": label,
        "content": m.content,
        "time": aware(m.created_at).strftime("%H:%M"),
        "turn_id": m.turn_id,
    }


def handoff_notice(t: Translator, h: Handoff, me: str) -> str:
    """What the viewer cannot do with this handoff any more, in words ('' when they can act)."""
    if h.status is HandoffStatus.CLAIMED and h.claimed_by and h.claimed_by != me:
        return t("inbox.held_by_other", name=h.claimed_by)
    if h.status in (HandoffStatus.RELEASED, HandoffStatus.CLOSED):
        return t("inbox.finished", status=t.label("status", h.status.value))
    return ""
