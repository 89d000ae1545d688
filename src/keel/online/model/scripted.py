"""A scripted model for tests and offline demos: behaviour known in advance, no weights.

Script entries are tried in order; the first whose ``when`` substring occurs in the last user
message wins. Without a match the model answers from the first retrieved passage in the prompt
(or clarifies when there is none), which is what a well-behaved model would do.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from keel.domain import Role
from keel.errors import ConfigError
from keel.online.model.base import Generation, GenerationRequest
from keel.yamlio import load_yaml

_PASSAGE = re.compile(r"^\[(?:P|资料)\d+\][^\n]*\n(.+?)(?:\n\n|\Z)", re.M | re.S)


@dataclass(frozen=True)
class ScriptEntry:
    when: str
    text: str  # the full model output, e.g. "REPLY: ...\nACTION: answer"
    confidence: float | None = None


def _output(request: GenerationRequest, reply: str, action: str, cites: list[str]) -> str:
    """A JSON object when the request asks for one (the pipeline does), else REPLY/ACTION lines."""
    if request.json_schema is not None:
        return json.dumps({"cites": cites, "reply": reply, "action": action}, ensure_ascii=False)
    return f"REPLY: {reply}\nACTION: {action}"


class ScriptedModel:
    def __init__(
        self,
        entries: Sequence[ScriptEntry] = (),
        fn: Callable[[GenerationRequest], str] | None = None,
        name: str = "scripted",
    ) -> None:
        self.entries = tuple(entries)
        self.fn = fn
        self.name = name
        blob = json.dumps([e.__dict__ for e in self.entries], ensure_ascii=False, sort_keys=True)
        self.fingerprint = hashlib.sha256(f"{name}\0{blob}".encode()).hexdigest()
        self.calls: list[GenerationRequest] = []

    @classmethod
    def from_file(cls, path: Path) -> ScriptedModel:
        try:
            data = load_yaml(path.read_text(encoding="utf-8")) or []
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read model script {path}: {exc}") from None
        entries = [ScriptEntry(str(d["when"]), str(d["output"]), d.get("confidence")) for d in data]
        return cls(entries, name=f"scripted:{path.name}")

    def _default(self, request: GenerationRequest) -> str:
        system = next((m.content for m in request.messages if m.role is Role.SYSTEM), "")
        m = _PASSAGE.search(system)
        if m:
            first = re.split(r"(?<=[。.!?！？])\s*", m.group(1).strip())[0]
            return _output(request, first, "answer", ["P1"])
        zh = "简体中文" in system or any("\u4e00" <= ch <= "\u9fff" for ch in system[:40])
        text = "请问您能再具体说明一下吗？" if zh else "Could you tell me a bit more about what you need?"
        return _output(request, text, "clarify", [])

    def generate(self, request: GenerationRequest) -> Generation:
        started = time.perf_counter()
        self.calls.append(request)
        last_user = next((m.content for m in reversed(request.messages) if m.role is Role.USER), "")
        confidence = None
        if self.fn is not None:
            out = self.fn(request)
        else:
            entry = next((e for e in self.entries if e.when in last_user), None)
            out = entry.text if entry else self._default(request)
            confidence = entry.confidence if entry else None
        if request.assistant_prefix and out.startswith(request.assistant_prefix):
            out = out[len(request.assistant_prefix) :]
        probs = None
        if request.choices and confidence is not None:
            m = re.search(r"ACTION:\s*(\w+)", request.assistant_prefix + out)
            if m and m.group(1) in request.choices:
                rest = (1 - confidence) / max(1, len(request.choices) - 1)
                probs = {c: (confidence if c == m.group(1) else rest) for c in request.choices}
        return Generation(
            text=out,
            choice_probs=probs,
            prompt_tokens=sum(len(m.content) for m in request.messages) // 3,
            completion_tokens=len(out) // 3,
            latency_ms=round((time.perf_counter() - started) * 1000, 3),
            model=self.name,
        )
