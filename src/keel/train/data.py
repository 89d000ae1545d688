"""Training data files: validated line by line, hashed for the manifest, turned into datasets."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from keel.errors import InvalidInput
from keel.train.config import Method

_ROLES = {"system", "user", "assistant"}


def _messages(value: Any, where: str, last: str | None = None) -> list[dict[str, str]]:
    if not isinstance(value, list) or not value:
        raise InvalidInput(f"{where}: expected a non-empty list of messages")
    out = []
    for m in value:
        if not isinstance(m, dict) or m.get("role") not in _ROLES or not isinstance(m.get("content"), str):
            raise InvalidInput(f"{where}: each message needs a role (system/user/assistant) and text content")
        out.append({"role": m["role"], "content": m["content"]})
    if last and out[-1]["role"] != last:
        raise InvalidInput(f"{where}: the last message must be from the {last}")
    return out


def read_examples(path: Path, method: Method) -> tuple[list[dict[str, Any]], str]:
    """(examples, sha256). SFT: prompt + completion; DPO: prompt + chosen + rejected. Conversational."""
    if not path.exists():
        raise InvalidInput(f"training file not found: {path}")
    raw = path.read_bytes()
    examples: list[dict[str, Any]] = []
    by_id: dict[str, int] = {}  # preference sets may hold a rule pair and a later human pair for one prompt
    for no, line in enumerate(raw.decode("utf-8", errors="strict").splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path.name}:{no}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"{where}: not valid JSON ({exc.msg})") from None
        prompt = _messages(row.get("prompt"), f"{where} prompt", last="user")
        if method is Method.SFT:
            examples.append(
                {
                    "prompt": prompt,
                    "completion": _messages(row.get("completion"), f"{where} completion", last="assistant"),
                }
            )
        else:
            chosen = _messages(row.get("chosen"), f"{where} chosen", last="assistant")
            rejected = _messages(row.get("rejected"), f"{where} rejected", last="assistant")
            if chosen == rejected:
                raise InvalidInput(f"{where}: chosen and rejected are the same")
            example = {"prompt": prompt, "chosen": chosen, "rejected": rejected}
            key = row.get("id")
            if isinstance(key, str) and key in by_id:
                if str(row.get("judge", "")).startswith("human") or not str(
                    examples[by_id[key]].get("judge", "")
                ).startswith("human"):
                    examples[by_id[key]] = {**example, "judge": row.get("judge", "")}
                continue
            if isinstance(key, str):
                by_id[key] = len(examples)
            examples.append({**example, "judge": row.get("judge", "")})
    if not examples:
        raise InvalidInput(f"{path}: no examples")
    for ex in examples:
        ex.pop("judge", None)
    return examples, hashlib.sha256(raw).hexdigest()
