"""The console's routes: sign in and out, the language switch, and every page in ``PAGES``.

``mount`` puts it all on the FastAPI app at ``/console`` (with its static files and the signed
session cookie); ``/`` redirects there. The ``/v1`` API is not affected.
"""

from __future__ import annotations

import inspect
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Form, Request
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.responses import Response

from keel.config import KeelConfig
from keel.console.auth import Agent, authenticate, session_secret
from keel.console.i18n import LANG_COOKIE, Catalog
from keel.console.page import Page
from keel.console.pages import conversations, evaluation, inbox, kb, prefs
from keel.console.web import (
    HERE,
    PREFIX,
    ConsoleRoute,
    ConsoleState,
    check_csrf,
    current_agent,
    database,
    error_page,
    flash,
    landing,
    redirect,
    render,
    safe_next,
    session_agent,
    sign_in,
    static_version,
    translator,
)
from keel.domain import Lang
from keel.errors import Unauthorized

#: Console pages in navigation order. A new page is one module in ``keel/console/pages/`` and one entry here.
PAGES: tuple[Page, ...] = (inbox.PAGE, conversations.PAGE, kb.PAGE, prefs.PAGE, evaluation.PAGE)

SESSION_COOKIE = "keel_console"
SESSION_MAX_AGE = 12 * 3600
#: paths that read (and limit) their own request body; the API's 1 MB body limit skips them
OWN_BODY_LIMIT = frozenset({f"{PREFIX}/kb/publish"})

router = APIRouter(route_class=ConsoleRoute)


@router.get("")
@router.get("/")
def home(request: Request, agent: Agent = Depends(current_agent)) -> Response:
    return redirect(landing(request, agent))


@router.get("/login")
def login_form(request: Request, next: str = "") -> Response:
    agent = session_agent(request)
    if agent is not None:
        return redirect(safe_next(next, landing(request, agent)))
    return render(request, "login.html", {"next": safe_next(next, ""), "name": "", "error": ""})


@router.post("/login")
def login(
    request: Request, name: str = Form(""), password: str = Form(""), csrf: str = Form(""), next: str = Form("")
) -> Response:
    check_csrf(request, csrf)
    db, tenant = database(request)
    try:
        agent = authenticate(db, name.strip(), password, tenant)
    except Unauthorized:
        error = translator(request)("login.failed")
        context = {"next": safe_next(next, ""), "name": name, "error": error}
        return render(request, "login.html", context, status=401, canonical=f"{PREFIX}/login")
    sign_in(request, agent)
    return redirect(safe_next(next, landing(request, agent)))


@router.post("/logout")
def logout(request: Request, csrf: str = Form("")) -> Response:
    check_csrf(request, csrf)
    request.session.clear()
    flash(request, translator(request)("login.logged_out"))
    return redirect(f"{PREFIX}/login")


@router.get("/lang/{code}")
def switch_language(code: Lang, request: Request, next: str = "") -> Response:
    response = redirect(safe_next(next))
    response.set_cookie(LANG_COOKIE, code.value, max_age=365 * 24 * 3600, samesite="lax", httponly=True)
    return response


async def _call(handler: Any, request: Request, exc: Exception) -> Response:
    result = handler(request, exc)
    response: Response = await result if inspect.isawaitable(result) else result
    return response


def _wrap_http_errors(app: FastAPI) -> None:
    """Unknown console URLs get a console page; everything else keeps the API's JSON errors."""
    previous_http = app.exception_handlers.get(StarletteHTTPException)
    previous_validation = app.exception_handlers.get(RequestValidationError)

    async def http_error(request: Request, exc: Exception) -> Response:
        if request.url.path.startswith(PREFIX) and isinstance(exc, StarletteHTTPException):
            return error_page(request, exc.status_code, "" if exc.status_code == 404 else str(exc.detail))
        return await _call(previous_http, request, exc)

    async def validation_error(request: Request, exc: Exception) -> Response:
        if request.url.path.startswith(PREFIX):
            return error_page(request, 400, str(exc))
        return await _call(previous_validation, request, exc)

    if previous_http is not None:
        app.add_exception_handler(StarletteHTTPException, http_error)
    if previous_validation is not None:
        app.add_exception_handler(RequestValidationError, validation_error)


def mount(app: FastAPI, cfg: KeelConfig, pages: tuple[Page, ...] = PAGES) -> None:
    app.state.console = ConsoleState(
        pages=pages, catalog=Catalog(tuple(p.strings for p in pages)), static_version=static_version()
    )
    app.state.own_body_limit = OWN_BODY_LIMIT
    app.add_middleware(
        SessionMiddleware,
        secret_key=session_secret(cfg.home),
        session_cookie=SESSION_COOKIE,
        max_age=SESSION_MAX_AGE,
        same_site="lax",
    )
    app.mount(f"{PREFIX}/static", StaticFiles(directory=HERE / "static"), name="console-static")
    app.include_router(router, prefix=PREFIX, include_in_schema=False)
    for page in pages:
        app.include_router(page.router, prefix=PREFIX, include_in_schema=False)
    app.add_api_route("/", lambda: redirect(PREFIX), include_in_schema=False)
    _wrap_http_errors(app)
