"""Knowledge base: versions, the diff between two, publish an upload, roll back."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.responses import Response

from keel.console.auth import Agent, Permission
from keel.console.kbdiff import version_diff
from keel.console.page import Page
from keel.console.upload import (
    FORM_OVERHEAD_BYTES,
    MAX_FILES,
    MAX_UPLOAD_BYTES,
    UploadedFile,
    documents_from_upload,
    human_size,
)
from keel.console.web import (
    ConsoleRoute,
    check_csrf,
    current_agent,
    database,
    flash,
    keel_config,
    redirect,
    render,
    require,
    translator,
)
from keel.errors import InvalidInput, UserError
from keel.online.kb import store
from keel.online.kb.documents import check_regions

router = APIRouter(route_class=ConsoleRoute)
PAGE = Page(key="kb", path="/console/kb", label="nav.kb", router=router, landing_for=Permission.PUBLISH_KB)
DRAIN_LIMIT = 64 * 1024 * 1024  # past this an oversize upload is cut off rather than read to the end


def _page(
    request: Request,
    agent: Agent,
    *,
    old: int | None = None,
    new: int | None = None,
    error: str = "",
    form: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    db, tenant = database(request)
    versions = store.list_versions(db, tenant)
    current = next((v for v in versions if v.current), None)
    if new is None and current is not None:
        new = current.version
    if old is None and current is not None:
        old = current.parent
    diff = version_diff(db, old, new, tenant) if old is not None and new is not None and old != new else None
    return render(
        request,
        "kb.html",
        {
            "versions": list(reversed(versions)),
            "old": old,
            "new": new,
            "diff": diff,
            "error": error,
            "form": form or {"note": "", "overlay": False},
            "can_publish": agent.can(Permission.PUBLISH_KB),
            "limit": human_size(MAX_UPLOAD_BYTES),
            "limit_bytes": MAX_UPLOAD_BYTES,
        },
        agent=agent,
        status=status,
        active=PAGE.key,
        canonical="/console/kb" + (f"?old={old}&new={new}" if diff else ""),
    )


@router.get("/kb")
def kb(
    request: Request, old: int | None = None, new: int | None = None, agent: Agent = Depends(current_agent)
) -> Response:
    return _page(request, agent, old=old, new=new)


async def _drain(request: Request) -> None:
    """Read and drop the body so the browser gets the answer instead of a reset connection."""
    seen = 0
    async for chunk in request.stream():
        seen += len(chunk)
        if seen > DRAIN_LIMIT:
            break


@router.post("/kb/publish")
async def publish(request: Request, agent: Agent = Depends(current_agent)) -> Response:
    """Validate every uploaded document, then publish them as a new version in one transaction."""
    t = translator(request)
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_UPLOAD_BYTES + FORM_OVERHEAD_BYTES:
        await _drain(request)
        message = t("kb.too_large", size=human_size(int(length)), limit=human_size(MAX_UPLOAD_BYTES))
        return await run_in_threadpool(_page, request, agent, error=f"{message} {t('kb.rejected')}", status=413)
    form_data = await request.form(max_files=MAX_FILES, max_fields=20)
    check_csrf(request, str(form_data.get("csrf", "")))
    require(agent, Permission.PUBLISH_KB)
    kept = {"note": str(form_data.get("note", ""))[:500], "overlay": form_data.get("overlay") == "on"}
    uploads = [f for f in form_data.getlist("files") if isinstance(f, UploadFile) and f.filename]
    if not uploads:
        return await run_in_threadpool(_page, request, agent, error=t("kb.no_files"), form=kept, status=422)
    files = [UploadedFile(u.filename or "upload", await u.read()) for u in uploads]
    try:
        info = await run_in_threadpool(_publish, request, agent, files, kept)
    except UserError as exc:
        status = 413 if isinstance(exc, InvalidInput) and "the limit is" in exc.message else exc.http_status
        return await run_in_threadpool(
            _page, request, agent, error=f"{exc.message} — {t('kb.rejected')}", form=kept, status=status
        )
    flash(request, t("kb.published", version=info.version, count=info.doc_count))
    target = f"/console/kb?old={info.parent}&new={info.version}" if info.parent else "/console/kb"
    return redirect(target)


def _publish(request: Request, agent: Agent, files: list[UploadedFile], kept: dict[str, Any]) -> store.VersionInfo:
    db, tenant = database(request)
    docs = documents_from_upload(files)
    check_regions(docs, keel_config(request).business.regions, ", ".join(f.name for f in files))
    source = f"console upload by {agent.name}: " + ", ".join(f.name for f in files)
    return store.publish_documents(
        db, docs, overlay=kept["overlay"], note=kept["note"], source=source[:500], tenant=tenant
    )


@router.post("/kb/rollback")
def rollback(
    request: Request, version: int = Form(...), csrf: str = Form(""), agent: Agent = Depends(current_agent)
) -> Response:
    check_csrf(request, csrf)
    require(agent, Permission.PUBLISH_KB)
    db, tenant = database(request)
    info = store.rollback(db, version, tenant)
    flash(request, translator(request)("kb.rolled_back", version=info.version))
    return redirect("/console/kb")
