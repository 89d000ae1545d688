"""Request plumbing shared by every console page: who is signed in, CSRF, flashes, rendering.

Console routes use :class:`ConsoleRoute`, so a Keel error raised inside a page becomes an HTML
page with the right status (or a JSON error for ``/console/api/``), never a stack trace.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from keel.config import KeelConfig
from keel.console.auth import Agent, Permission, get_agent
from keel.console.i18n import LANG_COOKIE, Catalog, Translator, negotiate
from keel.console.page import Page
from keel.db import Database
from keel.domain import Lang
from keel.errors import Forbidden, KeelError, NotFound

if TYPE_CHECKING:
    from keel.online.runtime import Runtime

log = logging.getLogger("keel.console")

PREFIX = "/console"
HERE = Path(__file__).parent
TEMPLATES = Jinja2Templates(directory=str(HERE / "templates"))
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True)
class ConsoleState:
    """What the console was mounted with; lives on ``app.state.console``."""

    pages: tuple[Page, ...]
    catalog: Catalog
    static_version: str


class LoginRequired(Exception):
    """No valid session: pages redirect to the login form, JSON endpoints answer 401."""


class FormExpired(Forbidden):
    """The form's CSRF token does not match the session (expired, or not ours)."""


def console_state(request: Request) -> ConsoleState:
    state: ConsoleState = request.app.state.console
    return state


def database(request: Request) -> tuple[Database, str]:
    """The runtime's database and tenant."""
    rt = request.app.state.rt
    return rt.db, rt.tenant


def keel_config(request: Request) -> KeelConfig:
    """The runtime's configuration (its home holds preference sets and eval runs)."""
    cfg: KeelConfig = request.app.state.rt.cfg
    return cfg


def runtime(request: Request) -> Runtime:
    """The runtime the console was mounted on (its router reads messages for the review pages)."""
    rt: Runtime = request.app.state.rt
    return rt


def lang_of(request: Request) -> Lang:
    return negotiate(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"))


def translator(request: Request) -> Translator:
    return console_state(request).catalog.translator(lang_of(request))


def session_agent(request: Request) -> Agent | None:
    """The signed-in agent, if the session names one whose password has not changed since."""
    name = request.session.get("agent")
    if not isinstance(name, str):
        return None
    db, tenant = database(request)
    try:
        agent = get_agent(db, name, tenant)
    except NotFound:
        return None
    if not secrets.compare_digest(str(request.session.get("tag", "")), agent.session_tag):
        return None
    return agent


def current_agent(request: Request) -> Agent:
    """Dependency of every console page except the login form."""
    agent = session_agent(request)
    if agent is None:
        raise LoginRequired()
    return agent


def require(agent: Agent, permission: Permission) -> None:
    if not agent.can(permission):
        raise Forbidden(f"the role {agent.role.value} cannot do this ({permission.value})")


def sign_in(request: Request, agent: Agent) -> None:
    request.session.clear()  # a fresh session (and CSRF token) at every login
    request.session.update({"agent": agent.name, "tag": agent.session_tag, "csrf": secrets.token_urlsafe(24)})


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(24)
        request.session["csrf"] = token
    return token


def check_csrf(request: Request, token: str) -> None:
    expected = request.session.get("csrf")
    if not isinstance(expected, str) or not secrets.compare_digest(expected, token or ""):
        raise FormExpired("this form has expired; reload the page and try again")


def flash(request: Request, text: str, kind: str = "ok") -> None:
    request.session["flash"] = [*request.session.get("flash", []), {"kind": kind, "text": text}]


def safe_next(target: str | None, default: str = PREFIX) -> str:
    """Only paths inside the console: never an open redirect."""
    if target and target.startswith(PREFIX) and not target.startswith("//") and "\\" not in target:
        return target
    return default


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def visible_pages(request: Request, agent: Agent | None) -> list[Page]:
    if agent is None:
        return []
    return [p for p in console_state(request).pages if agent.can(p.visible_to)]


def landing(request: Request, agent: Agent) -> str:
    pages = visible_pages(request, agent)
    special = [p for p in pages if p.landing_for is not None and agent.can(p.landing_for)]
    chosen = special or pages
    return chosen[0].path if chosen else f"{PREFIX}/login"


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    agent: Agent | None = None,
    status: int = 200,
    active: str = "",
    canonical: str | None = None,
) -> Response:
    """Render a console template with what every page needs (strings, agent, nav, CSRF, flashes)."""
    t = translator(request)
    if canonical is None:
        canonical = str(request.url.path) + (f"?{request.url.query}" if request.url.query else "")
        if request.method != "GET":
            canonical = PREFIX
    state = console_state(request)
    base = {
        "t": t,
        "lang": t.lang.value,
        "agent": agent,
        "nav": visible_pages(request, agent),
        "active": active,
        "csrf": csrf_token(request),
        "flashes": request.session.pop("flash", []),
        "lang_url": f"{PREFIX}/lang/{'en' if t.lang is Lang.ZH else 'zh'}?next={quote(canonical, safe='')}",
        "static": lambda name: f"{PREFIX}/static/{name}?v={state.static_version}",
        "fmt_time": fmt_time,
    }
    return TEMPLATES.TemplateResponse(
        request, template, {**base, **(context or {})}, status_code=status, headers=SECURITY_HEADERS
    )


def fragment(request: Request, template: str, **context: Any) -> str:
    """A partial template rendered to a string (for JSON live updates), with the page's strings."""
    return TEMPLATES.get_template(template).render(t=translator(request), **context)


def fmt_time(value: datetime | str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    value = value if value.tzinfo else value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def error_page(request: Request, status: int, message: str) -> Response:
    if request.url.path.startswith(f"{PREFIX}/api/"):
        return JSONResponse({"error": {"status": status, "message": message}}, status_code=status)
    t = translator(request)
    agent = session_agent(request)
    if status == 403 and agent is not None:
        message = t("error.forbidden", role=t.label("agentrole", agent.role.value))
    elif status == 404 and not message:
        message = t("error.not_found")
    return render(request, "error.html", {"message": message, "status": status}, agent=agent, status=status)


def login_redirect(request: Request) -> Response:
    if request.url.path.startswith(f"{PREFIX}/api/"):
        return JSONResponse({"error": {"status": 401, "message": "sign in first"}}, status_code=401)
    target = str(request.url.path) + (f"?{request.url.query}" if request.url.query else "")
    if request.method != "GET":
        target = PREFIX
    return redirect(f"{PREFIX}/login?next={quote(target, safe='')}")


class ConsoleRoute(APIRoute):
    """A route whose failures render as console pages (HTML) or console JSON errors."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await original(request)
            except LoginRequired:
                return login_redirect(request)
            except FormExpired:
                return error_page(request, 400, translator(request)("error.csrf"))
            except KeelError as exc:
                return error_page(request, exc.http_status, exc.message)
            except StarletteHTTPException as exc:  # e.g. a malformed multipart body
                return error_page(request, exc.status_code, str(exc.detail))
            except RequestValidationError as exc:
                first = exc.errors()[0] if exc.errors() else {}
                where = ".".join(str(p) for p in first.get("loc", ()))
                detail = f"{where}: {first.get('msg', 'invalid')}"
                return error_page(request, 400, translator(request)("error.bad_request", detail=detail))
            except Exception:  # never a stack trace to a browser
                log.exception("console request failed: %s %s", request.method, request.url.path)
                return error_page(request, 500, translator(request)("error.internal"))

        return handler


def static_version() -> str:
    h = hashlib.sha256()
    for path in sorted((HERE / "static").rglob("*")):
        if path.is_file():
            h.update(path.name.encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:10]
