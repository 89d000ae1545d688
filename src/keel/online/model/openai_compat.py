"""Any OpenAI-compatible chat server: vLLM, llama.cpp, Ollama, hosted APIs."""

from __future__ import annotations

import hashlib
import math
import time
from typing import Any

import httpx

from keel.errors import ModelUnavailable
from keel.online.model.base import Generation, GenerationRequest


class OpenAIBackend:
    """``POST {base_url}/chat/completions``; the assistant prefix is sent as a partial reply."""

    def __init__(self, base_url: str, model: str = "default", api_key: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.name = f"openai:{self.base_url}#{model}"
        self.fingerprint = hashlib.sha256(self.name.encode()).hexdigest()
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(base_url=self.base_url, headers=headers)

    def generate(self, request: GenerationRequest) -> Generation:
        messages: list[dict[str, Any]] = [
            {"role": "assistant" if m.role.value == "agent" else m.role.value, "content": m.content}
            for m in request.messages
        ]
        if request.assistant_prefix:
            # servers that support continuing a partial assistant turn (vLLM, llama.cpp) honour this;
            # the others still see the format instructions in the system prompt
            messages.append({"role": "assistant", "content": request.assistant_prefix})
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "max_tokens": request.max_new_tokens,
            "temperature": request.temperature,
            "top_p": request.top_p,
            "seed": request.seed,
        }
        if request.choices:
            body.update(logprobs=True, top_logprobs=10)
        started = time.perf_counter()
        try:
            resp = self._client.post("/chat/completions", json=body, timeout=request.timeout_s)
        except httpx.TimeoutException:
            raise ModelUnavailable(f"model server timed out after {request.timeout_s:.0f}s") from None
        except httpx.HTTPError as exc:
            raise ModelUnavailable(f"model server unreachable: {exc.__class__.__name__}") from None
        if resp.status_code >= 400:
            raise ModelUnavailable(f"model server answered HTTP {resp.status_code}")
        try:
            data = resp.json()
            choice = data["choices"][0]
            text = choice["message"]["content"] or ""
        except (ValueError, KeyError, IndexError, TypeError):
            raise ModelUnavailable("model server returned a malformed response") from None
        if request.assistant_prefix and text.startswith(request.assistant_prefix):
            text = text[len(request.assistant_prefix) :]
        usage = data.get("usage") or {}
        return Generation(
            text=text,
            choice_probs=_choice_probs(choice, request.choices),
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            latency_ms=round((time.perf_counter() - started) * 1000, 1),
            model=self.name,
        )


def _choice_probs(choice: dict[str, Any], choices: tuple[str, ...]) -> dict[str, float] | None:
    """Probability of each choice as the first word, from the first token's top logprobs."""
    try:
        first = choice["logprobs"]["content"][0]["top_logprobs"]
    except (KeyError, IndexError, TypeError):
        return None
    mass = {c: 0.0 for c in choices}
    for entry in first:
        token = str(entry.get("token", "")).strip().lower()
        for c in choices:
            if token and c.startswith(token):
                mass[c] += math.exp(float(entry.get("logprob", -100)))
    total = sum(mass.values())
    return {c: round(v / total, 4) for c, v in mass.items()} if total > 0 else None
