"""Local console accounts: roles, scrypt-hashed passwords, and the session secret.

Passwords are hashed with ``hashlib.scrypt`` and a random per-user salt and compared in constant
time. A session remembers the agent's name and a short tag of the password hash, so changing a
password ends every session opened with the old one.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from keel.db import Database
from keel.db.engine import utcnow
from keel.db.schema import agents
from keel.domain import Frozen
from keel.errors import Conflict, InvalidInput, NotFound, Unauthorized


class AgentRole(StrEnum):
    AGENT = "agent"  # works the handoff inbox
    KNOWLEDGE_OWNER = "knowledge_owner"  # publishes and rolls back KB versions
    REVIEWER = "reviewer"  # reviews preference pairs and evaluation runs
    ADMIN = "admin"  # everything


class Permission(StrEnum):
    VIEW = "view"  # read every console page
    HANDLE_HANDOFFS = "handle_handoffs"  # claim, reply, release, close
    PUBLISH_KB = "publish_kb"  # publish, roll back
    REVIEW = "review"  # preference review and evaluation pages


ROLE_PERMISSIONS: dict[AgentRole, frozenset[Permission]] = {
    AgentRole.AGENT: frozenset({Permission.VIEW, Permission.HANDLE_HANDOFFS}),
    AgentRole.KNOWLEDGE_OWNER: frozenset({Permission.VIEW, Permission.PUBLISH_KB}),
    AgentRole.REVIEWER: frozenset({Permission.VIEW, Permission.REVIEW}),
    AgentRole.ADMIN: frozenset(Permission),
}

MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 256
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P, _KEY_BYTES = 2**14, 8, 1, 32


class Agent(Frozen):
    """A console account (never carries the password hash)."""

    id: int
    name: str
    role: AgentRole
    created_at: datetime
    session_tag: str  # changes whenever the password changes

    def can(self, permission: Permission) -> bool:
        return permission in ROLE_PERMISSIONS[self.role]


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """``scrypt$N$r$p$salt$key`` (hex), with a fresh 16-byte salt unless one is given."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    key = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=_KEY_BYTES)
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${salt.hex()}${key.hex()}"


def verify_password(password: str, stored: str) -> bool:
    """Constant-time check of *password* against a ``hash_password`` string."""
    try:
        scheme, n, r, p, salt_hex, key_hex = stored.split("$")
        if scheme != "scrypt":
            return False
        salt, cost, block, par = bytes.fromhex(salt_hex), int(n), int(r), int(p)
        key = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=cost, r=block, p=par, dklen=len(key_hex) // 2)
    except (ValueError, MemoryError):
        return False
    return hmac.compare_digest(key.hex(), key_hex)


_DUMMY_HASH = hash_password("not a password", salt=b"\0" * 16)


def check_name(name: str) -> str:
    if not _NAME.match(name or ""):
        raise InvalidInput("agent names use 1-64 letters, digits, '.', '_' or '-' and start with a letter or digit")
    return name


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_CHARS:
        raise InvalidInput(f"the password needs at least {MIN_PASSWORD_CHARS} characters")
    if len(password) > MAX_PASSWORD_CHARS:
        raise InvalidInput(f"the password is longer than {MAX_PASSWORD_CHARS} characters")
    return password


def _tag(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


def _to_agent(row: object) -> Agent:
    r = row._mapping  # type: ignore[attr-defined]
    return Agent(
        id=r["id"],
        name=r["name"],
        role=AgentRole(r["role"]),
        created_at=r["created_at"],
        session_tag=_tag(r["password_hash"]),
    )


def add_agent(db: Database, name: str, role: AgentRole, password: str, tenant: str) -> Agent:
    check_name(name)
    now = utcnow()
    values = {
        "tenant": tenant,
        "name": name,
        "role": AgentRole(role).value,
        "password_hash": hash_password(check_password(password)),
        "created_at": now,
        "updated_at": now,
    }
    try:
        with db.engine.begin() as conn:
            conn.execute(insert(agents).values(**values))
    except IntegrityError:
        raise Conflict(f"an agent named {name!r} already exists") from None
    return get_agent(db, name, tenant)


def get_agent(db: Database, name: str, tenant: str) -> Agent:
    with db.engine.connect() as conn:
        row = conn.execute(select(agents).where(agents.c.tenant == tenant, agents.c.name == name)).first()
    if row is None:
        raise NotFound(f"no agent named {name!r}")
    return _to_agent(row)


def list_agents(db: Database, tenant: str) -> list[Agent]:
    with db.engine.connect() as conn:
        rows = conn.execute(select(agents).where(agents.c.tenant == tenant).order_by(agents.c.name)).all()
    return [_to_agent(r) for r in rows]


def set_password(db: Database, name: str, password: str, tenant: str) -> Agent:
    """Change a password; sessions opened with the old one stop working."""
    new_hash = hash_password(check_password(password))
    with db.engine.begin() as conn:
        changed = conn.execute(
            update(agents)
            .where(agents.c.tenant == tenant, agents.c.name == name)
            .values(password_hash=new_hash, updated_at=utcnow())
        ).rowcount
    if not changed:
        raise NotFound(f"no agent named {name!r}")
    return get_agent(db, name, tenant)


def authenticate(db: Database, name: str, password: str, tenant: str) -> Agent:
    """The agent for these credentials; the same error (and about the same time) for any mismatch."""
    with db.engine.connect() as conn:
        row = conn.execute(select(agents).where(agents.c.tenant == tenant, agents.c.name == name)).first()
    stored = row.password_hash if row is not None else _DUMMY_HASH
    ok = verify_password(password, stored)
    if row is None or not ok:
        raise Unauthorized("wrong name or password")
    return _to_agent(row)


def session_secret(home: Path) -> str:
    """The key that signs console cookies: ``<home>/console-secret``, created once (mode 0600)."""
    path = home / "console-secret"
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        tmp = home / f".console-secret.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48))
        try:
            os.link(tmp, path)  # atomic: the first worker wins, the others read its secret
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    secret = path.read_text().strip()
    if len(secret) < 32:
        raise InvalidInput(f"{path}: the console secret is too short; delete the file to generate a new one")
    return secret
