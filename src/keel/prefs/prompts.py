"""Prompts for preference data from the audit's routed dialogs (multi-turn context kept)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from keel.domain import ChatMessage, Frozen, Lang, Role
from keel.errors import InvalidInput
from keel.text import detect_lang

_ROLE = {"customer": Role.USER, "agent": Role.ASSISTANT, "user": Role.USER, "assistant": Role.ASSISTANT}


class PrefPrompt(Frozen):
    """One decision point: the conversation before an agent turn the audit flagged."""

    id: str
    lang: Lang
    region: str | None
    history: tuple[ChatMessage, ...]  # earlier turns, alternating
    message: str  # the customer's message the reply answers
    historical: str  # what the human agent actually wrote (usually the flagged, rejected side)
    findings: tuple[str, ...]
    label_actions: tuple[str, ...] = ()  # a behaviour label that came with the data (e.g. boundary prompts)
    label_soothe: bool | None = None


def _turn_prompts(record: dict[str, object], line_no: int, every_turn: bool = False) -> Iterator[PrefPrompt]:
    dialog = record.get("dialog")
    if not isinstance(dialog, dict) or not isinstance(dialog.get("turns"), list):
        raise InvalidInput(f"line {line_no}: not an audit routed record (no dialog.turns)")
    turns = [t for t in dialog["turns"] if isinstance(t, dict) and t.get("role") in _ROLE and t.get("text")]
    findings = record.get("findings") or []
    finding_dicts: list[dict[str, Any]] = (
        [f for f in findings if isinstance(f, dict)] if isinstance(findings, list) else []
    )
    flagged = sorted({int(i) for f in finding_dicts for i in f.get("turns", [])})
    if every_turn:
        flagged = [i for i, t in enumerate(turns) if _ROLE[t["role"]] is Role.ASSISTANT]
    elif not flagged:
        flagged = [i for i, t in enumerate(turns) if _ROLE[t["role"]] is Role.ASSISTANT][:1]
    kinds = tuple(sorted({str(f.get("kind")) for f in finding_dicts}))
    for idx in flagged:
        if idx >= len(turns) or _ROLE[turns[idx]["role"]] is not Role.ASSISTANT or idx == 0:
            continue
        before = turns[:idx]
        if _ROLE[before[-1]["role"]] is not Role.USER:
            continue
        history = tuple(ChatMessage(role=_ROLE[t["role"]], content=t["text"]) for t in before[:-1])
        message = before[-1]["text"]
        raw_lang = dialog.get("lang")
        lang = Lang(raw_lang) if raw_lang in ("zh", "en") else detect_lang(message)
        label = record.get("expected")
        label = label if isinstance(label, dict) else {}
        yield PrefPrompt(
            label_actions=tuple(str(a) for a in label.get("actions", [])),
            label_soothe=label.get("soothe"),
            id=f"{dialog.get('id', line_no)}#{idx}",
            lang=lang,
            region=dialog.get("region"),
            history=history,
            message=message,
            historical=turns[idx]["text"],
            findings=kinds,
        )


def read_prompts(path: Path, limit: int | None = None, every_turn: bool = False) -> Iterator[PrefPrompt]:
    """Prompts from an audit dataset (``datasets/preference_candidate.jsonl``); bad lines raise with their number.

    By default one prompt per flagged agent turn (or the first agent turn); *every_turn* yields all of them.
    """
    if not path.exists():
        raise InvalidInput(f"file not found: {path}")
    count = 0
    with path.open(encoding="utf-8") as f:
        for no, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InvalidInput(f"{path.name}:{no}: not valid JSON ({exc.msg})") from None
            for prompt in _turn_prompts(record, no, every_turn):
                yield prompt
                count += 1
                if limit is not None and count >= limit:
                    return
