"""FastAPI application: conversations, handoffs, KB versions, and an OpenAI-compatible endpoint."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import text
from sqlalchemy.exc import DataError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.responses import Response

from keel import __version__
from keel.api.keys import tenant_of
from keel.api.schemas import AgentIn, AgentReplyIn, ChatCompletionIn, MessageIn
from keel.config import KeelConfig, build_config
from keel.domain import jsonable
from keel.errors import InvalidInput, KeelError, Unauthorized
from keel.logs import configure_logging
from keel.online import handoff as queue
from keel.online.conversations import check_conversation_id, list_conversations, load_conversation
from keel.online.kb import store
from keel.online.pipeline import MessageRequest, handle_message
from keel.online.runtime import Runtime, open_runtime
from keel.online.trace import traces_for

MAX_BODY_BYTES = 1_000_000
MAX_ID = 2**31 - 1  # ids and versions fit a 32-bit integer column on every database

log = logging.getLogger("keel.api")
_bearer = HTTPBearer(auto_error=False, description="an API key: `Authorization: Bearer keel_…`")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="an API key, as a header")
HandoffId = Annotated[int, Path(ge=1, le=MAX_ID)]


class _BodyLimit(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        length = request.headers.get("content-length")
        if request.url.path in getattr(request.app.state, "own_body_limit", ()):
            return await call_next(request)  # e.g. the console's KB upload, limited by the route itself
        if length and length.isdigit() and int(length) > MAX_BODY_BYTES:
            return JSONResponse({"error": {"type": "too_large", "message": "request body over 1 MB"}}, status_code=413)
        return await call_next(request)


def _error(status: int, kind: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"type": kind, "message": message}}, status_code=status)


def tenant_rt(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key)],
) -> Runtime:
    """The runtime seen by this request's tenant (the API key's); 401 without a valid key."""
    base: Runtime = request.app.state.rt
    if request.app.state.cfg.api_auth == "off":
        return base
    tenant = tenant_of(base.db, bearer.credentials if bearer else api_key)
    return base if tenant == base.tenant else dataclasses.replace(base, tenant=tenant)


Rt = Annotated[Runtime, Depends(tenant_rt)]


def create_app(cfg: KeelConfig, runtime: Runtime | None = None) -> FastAPI:  # noqa: PLR0915
    """Build the app; the runtime (model, indexes) is opened once at startup unless given."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if getattr(app.state, "rt", None) is None:
            app.state.rt = open_runtime(cfg)  # one runtime per worker process
        yield

    app = FastAPI(
        title="Keel",
        version=__version__,
        lifespan=lifespan,
        description="A customer-service AI system that stays steady. Every reply carries its decision.",
    )
    app.state.rt = runtime
    app.state.cfg = cfg
    app.add_middleware(_BodyLimit)

    @app.exception_handler(KeelError)
    async def keel_error(_req: Request, exc: KeelError) -> JSONResponse:
        response = _error(exc.http_status, type(exc).__name__, exc.message)
        if isinstance(exc, Unauthorized):
            response.headers["WWW-Authenticate"] = "Bearer"
        return response

    @app.exception_handler(DataError)
    async def bad_value(_req: Request, exc: DataError) -> JSONResponse:  # a value the database cannot store
        log.warning("database refused a value: %s", exc.orig)
        return _error(422, "InvalidInput", "a value in the request cannot be stored (too long or not text)")

    @app.exception_handler(OperationalError)
    async def db_down(_req: Request, exc: OperationalError) -> JSONResponse:
        log.error("database unavailable: %s", exc.orig)
        return _error(503, "RuntimeFailure", "the database is unavailable; retry shortly")

    @app.exception_handler(RequestValidationError)
    async def bad_request(_req: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        msg = str(first.get("msg", "invalid request"))
        if first.get("type") == "json_invalid":
            msg = "the body is not valid JSON (or not UTF-8)"
        return _error(422, "InvalidInput", f"{where}: {msg}" if where else msg)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_req: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = {404: "NotFound", 405: "MethodNotAllowed", 400: "InvalidInput"}.get(exc.status_code, "HTTPError")
        message = str(exc.detail)
        if exc.status_code == 400 and "parsing the body" in message:
            message = "the body could not be parsed (invalid JSON or not UTF-8)"
        return _error(exc.status_code, kind, message)

    @app.exception_handler(Exception)
    async def unexpected(_req: Request, exc: Exception) -> JSONResponse:  # never a stack trace to a client
        log.error("unexpected error", exc_info=exc)  # the log filter redacts personal data
        return _error(500, "InternalError", "internal error; the request was logged")

    @app.get("/healthz", tags=["ops"])
    def health(request: Request) -> JSONResponse:
        """Liveness and readiness for a load balancer: the database answers and a model is configured."""
        r: Runtime = request.app.state.rt
        try:
            with r.db.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except OperationalError:
            return JSONResponse({"status": "unavailable", "database": "down"}, status_code=503)
        return JSONResponse(
            {"status": "ok", "model": r.model.name, "database": r.db.engine.dialect.name, "pid": os.getpid()}
        )

    @app.post("/v1/conversations/{conversation_id}/messages", tags=["conversations"])
    def post_message(conversation_id: str, body: MessageIn, r: Rt) -> dict[str, Any]:
        """Send a customer message; the reply comes with its decision (action, modifiers, rules, KB)."""
        result = handle_message(
            r,
            MessageRequest(
                conversation_id=conversation_id,
                text=body.text,
                user_id=body.user_id,
                kb_version=body.kb_version,
                identity_token=body.identity_token,
            ),
        )
        return result.model_dump(mode="json")

    @app.get("/v1/conversations", tags=["conversations"])
    def get_conversations(
        r: Rt,
        q: Annotated[str, Query(max_length=200)] = "",
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
    ) -> dict[str, Any]:
        return {"conversations": jsonable(list_conversations(r.db, r.tenant, q, limit, offset))}

    @app.get("/v1/conversations/{conversation_id}", tags=["conversations"])
    def get_conversation(conversation_id: str, r: Rt) -> dict[str, Any]:
        """The transcript and status of a conversation."""
        check_conversation_id(conversation_id)
        return load_conversation(r.db, conversation_id, r.tenant).model_dump(mode="json")

    @app.get("/v1/conversations/{conversation_id}/traces", tags=["conversations"])
    def get_traces(conversation_id: str, r: Rt) -> dict[str, Any]:
        """Per-turn traces (redacted): rule hits, KB version and passages, proposal vs decision, latency."""
        load_conversation(r.db, check_conversation_id(conversation_id), r.tenant)
        return {"traces": traces_for(r.db, conversation_id, r.tenant)}

    @app.get("/v1/handoffs", tags=["handoffs"])
    def get_handoffs(r: Rt, all: bool = False) -> dict[str, Any]:
        statuses = tuple(queue.HandoffStatus) if all else queue.OPEN_STATUSES
        return {"handoffs": [h.model_dump(mode="json") for h in queue.list_handoffs(r.db, statuses, tenant=r.tenant)]}

    @app.post("/v1/handoffs/claim-next", tags=["handoffs"])
    def claim_next(body: AgentIn, r: Rt) -> dict[str, Any]:
        """Claim the oldest queued handoff for this agent; `handoff` is null when the queue is empty."""
        h = queue.claim_next(r.db, body.agent, r.tenant)
        return {"handoff": h.model_dump(mode="json") if h else None}

    @app.post("/v1/handoffs/{handoff_id}/claim", tags=["handoffs"])
    def claim(handoff_id: HandoffId, body: AgentIn, r: Rt) -> dict[str, Any]:
        return queue.claim(r.db, handoff_id, body.agent, r.tenant).model_dump(mode="json")

    @app.post("/v1/handoffs/{handoff_id}/reply", tags=["handoffs"])
    def reply(handoff_id: HandoffId, body: AgentReplyIn, r: Rt) -> dict[str, Any]:
        return queue.reply(r.db, handoff_id, body.agent, body.text, r.tenant).model_dump(mode="json")

    @app.post("/v1/handoffs/{handoff_id}/release", tags=["handoffs"])
    def release(handoff_id: HandoffId, body: AgentIn, r: Rt) -> dict[str, Any]:
        return queue.release(r.db, handoff_id, body.agent, tenant=r.tenant).model_dump(mode="json")

    @app.post("/v1/handoffs/{handoff_id}/close", tags=["handoffs"])
    def close(handoff_id: HandoffId, body: AgentIn, r: Rt) -> dict[str, Any]:
        return queue.close(r.db, handoff_id, body.agent, tenant=r.tenant).model_dump(mode="json")

    @app.get("/v1/kb/versions", tags=["knowledge base"])
    def kb_versions(r: Rt) -> dict[str, Any]:
        return {"versions": [v.model_dump(mode="json") for v in store.list_versions(r.db, r.tenant)]}

    @app.post("/v1/kb/rollback/{version}", tags=["knowledge base"])
    def kb_rollback(version: Annotated[int, Path(ge=1, le=MAX_ID)], r: Rt) -> dict[str, Any]:
        return store.rollback(r.db, version, r.tenant).model_dump(mode="json")

    @app.post("/v1/chat/completions", tags=["openai-compatible"])
    def chat_completions(body: ChatCompletionIn, request: Request, r: Rt) -> Any:
        """OpenAI-compatible: the last user message goes through Keel; the decision rides along in `keel`."""
        users = [m for m in body.messages if m.role == "user"]
        if not users:
            raise InvalidInput("messages: no user message")
        text = _content_text(users[-1].content)
        conv_id = body.conversation_id or request.headers.get("x-keel-conversation-id") or _derive_id(body, users)
        token = body.identity_token or request.headers.get("x-keel-identity-token")
        result = handle_message(
            r, MessageRequest(conversation_id=conv_id, text=text, user_id=body.user, identity_token=token)
        )
        reply_text = result.reply if result.reply is not None else r.rules.template("human_holds", result.lang)
        created = int(time.time())
        cid = f"chatcmpl-{result.turn_id[:24]}"
        keel_info = {
            "conversation_id": conv_id,
            "decision": result.decision.model_dump(mode="json"),
            "rule_hits": [h.model_dump(mode="json") for h in result.rule_hits],
            "kb_version": result.kb_version,
            "passage_ids": list(result.passage_ids),
            "handoff_id": result.handoff_id,
            "held_by_human": result.held_by_human,
        }
        if body.stream:
            return StreamingResponse(
                _stream(cid, created, body.model, reply_text, keel_info), media_type="text/event-stream"
            )
        return {
            "id": cid,
            "object": "chat.completion",
            "created": created,
            "model": body.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": reply_text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
            "keel": keel_info,
        }

    from keel.api.console_mount import mount_console

    mount_console(app, cfg)
    return app


def _content_text(content: str | list[dict[str, Any]] | None) -> str:
    if isinstance(content, list):
        return "".join(str(part.get("text", "")) for part in content if part.get("type") == "text")
    return content or ""


def _derive_id(body: ChatCompletionIn, users: list[Any]) -> str:
    """Stateless front ends resend the history: the user and the first message name the conversation.

    Only for a known user (a conversation stays bound to its user): two anonymous customers who
    opened with the same words must never share a history, so without ``user`` every call
    starts a new conversation unless ``conversation_id`` names one.
    """
    seed = f"{body.user}\0{_content_text(users[0].content)}" if body.user and len(users) > 1 else uuid.uuid4().hex
    return "oai-" + hashlib.sha256(seed.encode()).hexdigest()[:24]


def _stream(cid: str, created: int, model: str, text: str, keel_info: dict[str, Any]) -> Iterator[str]:
    base = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model}
    first = {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": text}, "finish_reason": None}]}
    yield f"data: {json.dumps(first, ensure_ascii=False)}\n\n"
    last = {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "keel": keel_info}
    yield f"data: {json.dumps(last, ensure_ascii=False)}\n\n"
    yield "data: [DONE]\n\n"


def app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` (used by ``keel serve``, one call per worker)."""
    raw = os.environ.get("KEEL_SERVE_CONFIG")
    cfg = build_config(json.loads(raw)) if raw else __import__("keel.config").config.load_config()
    configure_logging()
    return create_app(cfg)
