"""A tiny OpenAI-compatible chat server on 127.0.0.1 that stands in for vLLM in tests.

``FakeModelServer().mode`` says how it answers ``POST /v1/chat/completions``:
``ok`` (the scripted model's answer: the first sentence of the first passage), ``slow``
(the same after ``delay_s``), ``error`` (HTTP 500), ``garbage`` (a 200 whose text is noise),
``not_json`` (a 200 whose body is not JSON). It counts the calls it got.
"""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from keel.api.background import BackgroundServer
from keel.domain import ChatMessage, Role
from keel.online.model.base import GenerationRequest
from keel.online.model.scripted import ScriptedModel

MODES = ("ok", "slow", "error", "garbage", "not_json")
GARBAGE = "\x07}}{{ ░▒▓ 0xDEADBEEF ACTION: levitate\n" * 3


class FakeModelServer:
    def __init__(self, mode: str = "ok", delay_s: float = 3.0) -> None:
        self.mode = mode
        self.delay_s = delay_s
        self.calls = 0
        self._scripted = ScriptedModel()
        self.app = FastAPI()
        self.app.post("/v1/chat/completions")(self._complete)
        self._server = BackgroundServer(self.app)

    @property
    def url(self) -> str:
        return f"{self._server.url}/v1"

    def spec(self, model: str = "fake") -> str:
        return f"openai:{self.url}#{model}"

    async def _complete(self, request: Request) -> Response:
        self.calls += 1
        body: dict[str, Any] = await request.json()
        if self.mode == "error":
            return JSONResponse({"error": {"message": "CUDA out of memory"}}, status_code=500)
        if self.mode == "not_json":
            return PlainTextResponse("<html>502 Bad Gateway</html>")
        if self.mode == "slow":
            await asyncio.sleep(self.delay_s)
        text = GARBAGE if self.mode == "garbage" else self._answer(body)
        return JSONResponse(
            {
                "id": "cmpl-fake",
                "object": "chat.completion",
                "model": body.get("model", "fake"),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5},
            }
        )

    def _answer(self, body: dict[str, Any]) -> str:
        messages = tuple(
            ChatMessage(role=Role(m["role"]), content=m.get("content") or "")
            for m in body.get("messages", [])
            if m.get("role") in ("system", "user", "assistant")
        )
        return self._scripted.generate(GenerationRequest(messages=messages)).text

    def __enter__(self) -> FakeModelServer:
        self._server.__enter__()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.__exit__(kind, exc, tb)
