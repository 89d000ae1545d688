"""Where user state comes from: a JSON file, a SQLite table, or the company's HTTP service."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Protocol
from urllib.parse import quote

import httpx
from pydantic import ValidationError

from keel.business import Business
from keel.errors import ConfigError, RuntimeFailure
from keel.online.state.model import UserState
from keel.online.state.validate import parse_user, upgrade_legacy

DEFAULT_TENANT = "default"


class StateProvider(Protocol):
    """Looks up a user's runtime state within a tenant; ``None`` means the user is unknown there."""

    name: str

    def get(self, user_id: str, tenant: str = DEFAULT_TENANT) -> UserState | None: ...


#: the top-level keys a customer file may list its records under
USER_LIST_KEYS = ("users", "customers")


def user_rows(data: object, source: str) -> list[object]:
    """The customer records of a parsed file: ``{"users": [...]}``, ``{"customers": [...]}`` or a list."""
    rows = data
    if isinstance(data, dict):
        keys = [k for k in USER_LIST_KEYS if k in data]
        unknown = [k for k in data if k not in USER_LIST_KEYS]
        if unknown or len(keys) != 1:
            raise ConfigError(
                f"{source}: expected {{'users': [...]}} or {{'customers': [...]}}, found keys {sorted(data)}"
            )
        rows = data[keys[0]]
    if not isinstance(rows, list):
        raise ConfigError(f"{source}: expected {{'users': [...]}} or a list of users")
    return rows


def parse_users(data: object, source: str, business: Business | None = None) -> dict[str, UserState]:
    """Every record validated (schema, then the business); all problems are reported, naming the fields."""
    users: dict[str, UserState] = {}
    problems: list[str] = []
    for i, row in enumerate(user_rows(data, source)):
        ident = row.get("user_id") if isinstance(row, dict) else None
        label = f"user {ident}" if ident else f"user #{i}"
        user, found = parse_user(row, business)
        problems += [f"{label}: {p}" for p in found]
        if user is not None:
            if user.user_id in users:
                problems.append(f"{label}: duplicate user_id")
            users[user.user_id] = user
    if problems:
        more = f" (and {len(problems) - 5} more; `keel check` lists them all)" if len(problems) > 5 else ""
        raise ConfigError(f"{source}: " + "; ".join(problems[:5]) + more)
    return users


class JsonStateProvider:
    """Users from a JSON file (``{"users": [...]}``), read once; they belong to the ``default`` tenant."""

    def __init__(self, path: Path, business: Business | None = None) -> None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"state file not found: {path}") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: not valid JSON: {exc}") from None
        self._users = parse_users(data, str(path), business)
        self.name = f"json:{path}"

    def get(self, user_id: str, tenant: str = DEFAULT_TENANT) -> UserState | None:
        return self._users.get(user_id) if tenant == DEFAULT_TENANT else None


class SqliteStateProvider:
    """Users in a SQLite table ``customer_state(tenant, user_id, data JSON)`` — a stand-in for the CRM."""

    def __init__(self, path: Path, business: Business | None = None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        self._business = business
        self._local = threading.local()
        with self._conn() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS customer_state (tenant TEXT NOT NULL DEFAULT 'default', "
                "user_id TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (tenant, user_id))"
            )
            columns = {row[1] for row in conn.execute("PRAGMA table_info(customer_state)")}
            if "tenant" not in columns:  # made before tenancy: every user was the default tenant's
                conn.execute("ALTER TABLE customer_state RENAME TO customer_state_old")
                conn.execute(
                    "CREATE TABLE customer_state (tenant TEXT NOT NULL DEFAULT 'default', "
                    "user_id TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (tenant, user_id))"
                )
                conn.execute("INSERT INTO customer_state (user_id, data) SELECT user_id, data FROM customer_state_old")
                conn.execute("DROP TABLE customer_state_old")
        self.name = f"sqlite:{path}"

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self._path, check_same_thread=False, timeout=30)
            conn.execute("PRAGMA journal_mode=WAL")
            self._local.conn = conn
        return conn

    def load(self, users: list[UserState], tenant: str = DEFAULT_TENANT) -> int:
        conn = self._conn()
        with conn:
            conn.executemany(
                "INSERT OR REPLACE INTO customer_state (tenant, user_id, data) VALUES (?, ?, ?)",
                [(tenant, u.user_id, u.model_dump_json()) for u in users],
            )
        return len(users)

    def count(self, tenant: str | None = None) -> int:
        if tenant is None:
            return int(self._conn().execute("SELECT count(*) FROM customer_state").fetchone()[0])
        sql = "SELECT count(*) FROM customer_state WHERE tenant = ?"
        return int(self._conn().execute(sql, (tenant,)).fetchone()[0])

    def get(self, user_id: str, tenant: str = DEFAULT_TENANT) -> UserState | None:
        row = (
            self._conn()
            .execute("SELECT data FROM customer_state WHERE tenant = ? AND user_id = ?", (tenant, user_id))
            .fetchone()
        )
        if not row:
            return None
        try:
            return UserState.model_validate_json(row[0])
        except ValidationError:  # written by an older Keel: upgrade the known old shape, then validate
            user, problems = parse_user(upgrade_legacy(json.loads(row[0]), self._business), None)
            if user is None:
                raise ConfigError(f"{self.name}: user {user_id}: {'; '.join(problems)}") from None
            return user


class HttpStateProvider:
    """Calls the company's own service: ``GET {base_url}/users/{user_id}`` → user JSON, 404 = unknown.

    The tenant travels in the ``X-Keel-Tenant`` header; the service answers for that tenant only.
    """

    def __init__(
        self,
        base_url: str,
        timeout_s: float = 2.0,
        token: str | None = None,
        transport: httpx.BaseTransport | None = None,
        business: Business | None = None,
    ) -> None:
        self._business = business
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"), timeout=timeout_s, headers=headers, transport=transport
        )
        self.name = f"http:{base_url}"

    def get(self, user_id: str, tenant: str = DEFAULT_TENANT) -> UserState | None:
        try:
            resp = self._client.get(f"/users/{quote(user_id, safe='')}", headers={"X-Keel-Tenant": tenant})
        except httpx.HTTPError as exc:
            raise RuntimeFailure(f"state service unreachable: {exc.__class__.__name__}") from None
        if resp.status_code == 404:
            return None
        if resp.status_code >= 400:
            raise RuntimeFailure(f"state service answered HTTP {resp.status_code}")
        try:
            row = resp.json()
        except ValueError:
            raise RuntimeFailure("state service returned malformed user state (not JSON)") from None
        user, problems = parse_user(row, self._business)
        if user is None or problems:
            raise RuntimeFailure(f"state service returned malformed user state: {'; '.join(problems[:3])}")
        return user


def load_users_file(path: Path, business: Business | None = None) -> list[UserState]:
    return list(JsonStateProvider(path, business)._users.values())


def build_state_provider(
    spec: str, home: Path, seed_users: Path | None, business: Business | None = None
) -> StateProvider:
    """``sqlite[:FILE]`` (seeded from *seed_users* when empty) | ``json:FILE`` | ``http(s)://URL``.

    With a *business*, every customer record is checked against it (regions, statuses, facts).
    """
    if spec.startswith(("http://", "https://")):
        return HttpStateProvider(spec, business=business)
    if spec.startswith("json:"):
        return JsonStateProvider(Path(spec.removeprefix("json:")), business)
    if spec == "sqlite" or spec.startswith("sqlite:"):
        path = Path(spec.removeprefix("sqlite").lstrip(":") or home / "state.sqlite")
        provider = SqliteStateProvider(path, business)
        if provider.count(DEFAULT_TENANT) == 0 and seed_users is not None and seed_users.exists():
            provider.load(load_users_file(seed_users, business))
        return provider
    raise ConfigError(f"unknown state provider {spec!r}; use sqlite[:FILE], json:FILE or an http(s) URL")
