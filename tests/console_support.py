"""Helpers for the console tests: accounts, signing in, CSRF tokens from rendered forms."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from keel.console.auth import AgentRole, add_agent
from keel.db import Database

PASSWORD = "correct horse"
ACCOUNTS = {
    "ana": AgentRole.AGENT,
    "ben": AgentRole.AGENT,
    "olga": AgentRole.KNOWLEDGE_OWNER,
    "rita": AgentRole.REVIEWER,
    "root": AgentRole.ADMIN,
}
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def add_accounts(db: Database) -> None:
    for name, role in ACCOUNTS.items():
        add_agent(db, name, role, PASSWORD)


def csrf_from(html: str) -> str:
    m = _CSRF.search(html)
    assert m, "no CSRF token in the page"
    return m.group(1)


def csrf(client: TestClient, path: str = "/console/login") -> str:
    return csrf_from(client.get(path).text)


def login(client: TestClient, name: str, password: str = PASSWORD, follow: bool = False):
    token = csrf(client)
    return client.post(
        "/console/login",
        data={"name": name, "password": password, "csrf": token},
        follow_redirects=follow,
    )
