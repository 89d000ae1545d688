"""API keys of the service API, one tenant each: created once (shown once), listed, revoked.

Only the sha256 of a key is stored. A key looks like ``keel_<43 url-safe characters>``; the
tenant comes from the key, never from the request.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from keel.db import Database
from keel.db.engine import utcnow
from keel.db.schema import api_keys
from keel.domain import Frozen
from keel.errors import Conflict, InvalidInput, NotFound, Unauthorized

KEY_PREFIX = "keel_"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class ApiKey(Frozen):
    id: int
    tenant: str
    name: str
    prefix: str
    created_at: datetime
    revoked: bool


class NewKey(Frozen):
    """A key just made: ``secret`` is shown this once and never stored."""

    info: ApiKey
    secret: str


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def check_tenant(tenant: str) -> str:
    if not _NAME.match(tenant or ""):
        raise InvalidInput("a tenant is 1-64 letters, digits, '.', '_' or '-'")
    return tenant


def _to_key(row: object) -> ApiKey:
    r = row._mapping  # type: ignore[attr-defined]
    return ApiKey(
        id=r["id"],
        tenant=r["tenant"],
        name=r["name"],
        prefix=r["prefix"],
        created_at=r["created_at"],
        revoked=bool(r["revoked"]),
    )


def create_key(db: Database, tenant: str, name: str) -> NewKey:
    check_tenant(tenant)
    if not _NAME.match(name or ""):
        raise InvalidInput("a key name is 1-64 letters, digits, '.', '_' or '-'")
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    try:
        with db.begin() as conn:
            new_id = conn.execute(
                insert(api_keys).values(
                    tenant=tenant,
                    name=name,
                    key_sha256=_digest(secret),
                    prefix=secret[:12],
                    created_at=utcnow(),
                    revoked=False,
                )
            ).inserted_primary_key[0]  # type: ignore[index]
    except IntegrityError:
        raise Conflict(f"tenant {tenant!r} already has a key named {name!r}") from None
    return NewKey(info=get_key(db, int(new_id)), secret=secret)


def get_key(db: Database, key_id: int) -> ApiKey:
    with db.engine.connect() as conn:
        row = conn.execute(select(api_keys).where(api_keys.c.id == key_id)).first()
    if row is None:
        raise NotFound(f"API key {key_id} not found")
    return _to_key(row)


def list_keys(db: Database, tenant: str | None = None) -> list[ApiKey]:
    stmt = select(api_keys).order_by(api_keys.c.tenant, api_keys.c.id)
    if tenant is not None:
        stmt = stmt.where(api_keys.c.tenant == tenant)
    with db.engine.connect() as conn:
        return [_to_key(r) for r in conn.execute(stmt)]


def revoke_key(db: Database, tenant: str, name: str) -> ApiKey:
    with db.begin() as conn:
        row = conn.execute(select(api_keys).where(api_keys.c.tenant == tenant, api_keys.c.name == name)).first()
        if row is None:
            raise NotFound(f"tenant {tenant!r} has no key named {name!r}")
        conn.execute(update(api_keys).where(api_keys.c.id == row.id).values(revoked=True, revoked_at=utcnow()))
    return get_key(db, row.id)


def tenant_of(db: Database, secret: str | None) -> str:
    """The tenant a presented key belongs to; :class:`Unauthorized` for a missing, unknown or revoked key."""
    if not secret:
        raise Unauthorized("an API key is required: Authorization: Bearer <key> (or X-API-Key)")
    if not secret.startswith(KEY_PREFIX) or len(secret) > 200:
        raise Unauthorized("invalid API key")
    with db.engine.connect() as conn:
        row = conn.execute(
            select(api_keys.c.tenant, api_keys.c.revoked).where(api_keys.c.key_sha256 == _digest(secret))
        ).first()
    if row is None or row.revoked:
        raise Unauthorized("invalid API key")
    return str(row.tenant)
