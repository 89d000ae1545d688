"""What every model backend takes and returns."""

from __future__ import annotations

from typing import Any, Protocol

from pydantic import Field

from keel.domain import ChatMessage, Frozen


class GenerationRequest(Frozen):
    messages: tuple[ChatMessage, ...]
    max_new_tokens: int = 160
    temperature: float = 0.0
    top_p: float = 0.9
    seed: int = 0
    assistant_prefix: str = Field("", description="text the assistant turn is forced to start with")
    choices: tuple[str, ...] = Field((), description="words whose probability as the first generated word is reported")
    timeout_s: float = 120.0
    json_schema: dict[str, Any] | None = Field(
        None, description="the reply must be one JSON object of this schema (constrained where the backend can)"
    )


class Generation(Frozen):
    text: str  # the generated continuation (without the assistant prefix)
    choice_probs: dict[str, float] | None = None  # normalised over `choices`, when the backend can tell
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0  # prompt tokens the backend reused from its previous call (prefix cache)
    retried: bool = False  # the first output was malformed and the call was made again
    latency_ms: float = 0.0
    model: str = ""


class ModelBackend(Protocol):
    """A model that continues a chat. Implementations: local, openai, scripted."""

    name: str  # e.g. "local:qwen2.5-coder-0.5b-instruct" — goes into traces and manifests
    fingerprint: str  # hash of weights / endpoint+model, for eval manifests

    def generate(self, request: GenerationRequest) -> Generation: ...
