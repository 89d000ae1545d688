"""Console accounts: hashing, sign in and out, redirects, sessions, roles, the CLI, demo accounts."""

from __future__ import annotations

import stat

import pytest
from typer.testing import CliRunner

from console_support import (  # noqa: F401
    PASSWORD,
    client,
    console_app,
    console_base,
    console_rt,
    csrf,
    handoff,
    login,
    new_client,
    signed_in,
)
from keel.cli.main import app as cli
from keel.console.auth import (
    AgentRole,
    Permission,
    add_agent,
    authenticate,
    hash_password,
    list_agents,
    session_secret,
    set_password,
    verify_password,
)
from keel.db import open_database
from keel.errors import Conflict, InvalidInput, NotFound, Unauthorized
from keel.setup_demo import DEMO_AGENTS, ensure_demo_agents


def test_password_hashes_are_salted_scrypt_and_verified():
    a, b = hash_password("s3cret-pass"), hash_password("s3cret-pass")
    assert a != b and a.startswith("scrypt$16384$8$1$")
    assert verify_password("s3cret-pass", a) and verify_password("s3cret-pass", b)
    assert not verify_password("s3cret-pasS", a)
    assert not verify_password("s3cret-pass", "scrypt$broken") and not verify_password("x", "bcrypt$1$2$3$aa$bb")


def test_accounts(tmp_path):
    db = open_database(f"sqlite:///{tmp_path / 'k.sqlite'}")
    ana = add_agent(db, "ana", AgentRole.AGENT, "long enough", "default")
    assert ana.can(Permission.HANDLE_HANDOFFS) and not ana.can(Permission.PUBLISH_KB)
    with pytest.raises(Conflict):
        add_agent(db, "ana", AgentRole.ADMIN, "long enough", "default")
    with pytest.raises(InvalidInput, match="at least 8"):
        add_agent(db, "bo", AgentRole.AGENT, "short", "default")
    with pytest.raises(InvalidInput, match="names"):
        add_agent(db, "no spaces", AgentRole.AGENT, "long enough", "default")
    assert authenticate(db, "ana", "long enough", "default").name == "ana"
    for name, password in (("ana", "wrong password"), ("nobody", "long enough")):
        with pytest.raises(Unauthorized, match="wrong name or password"):
            authenticate(db, name, password, "default")
    changed = set_password(db, "ana", "another one", "default")
    assert changed.session_tag != ana.session_tag
    with pytest.raises(NotFound):
        set_password(db, "nobody", "another one", "default")
    assert [a.name for a in list_agents(db, "default")] == ["ana"]


def test_session_secret_is_generated_once_and_private(tmp_path):
    first = session_secret(tmp_path)
    assert len(first) >= 32 and session_secret(tmp_path) == first
    assert stat.S_IMODE((tmp_path / "console-secret").stat().st_mode) == 0o600


def test_pages_need_a_session(client):
    for path in ("/console", "/console/inbox", "/console/conversations/x", "/console/kb"):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/console/login?next=")
    assert client.get("/", follow_redirects=False).headers["location"] == "/console"
    assert client.get("/console/api/inbox").status_code == 401
    assert client.get("/console/static/console.css").status_code == 200
    assert client.get("/v1/handoffs").status_code == 200  # the API stays as it was


def test_login_logout(client):
    bad = login(client, "ana", "not the password")
    assert bad.status_code == 401 and "Wrong name or password" in bad.text
    assert 'value="ana"' in bad.text  # the name is kept
    r = login(client, "ana", next="/console/kb")
    assert r.status_code == 303 and r.headers["location"] == "/console/kb"
    page = client.get("/console/inbox")
    assert page.status_code == 200 and 'data-agent="ana"' in page.text
    assert client.get("/console/login", follow_redirects=False).headers["location"] == "/console/inbox"
    out = client.post("/console/logout", data={"csrf": csrf(client, "/console/inbox")}, follow_redirects=True)
    assert "You are signed out" in out.text
    assert client.get("/console/inbox", follow_redirects=False).status_code == 303


def test_login_never_redirects_off_site(client):
    for target in ("https://evil.example/", "//evil.example/console", "/v1/handoffs"):
        r = login(client, "ana", next=target)
        assert r.headers["location"] == "/console/inbox"
        client.cookies.clear()


def test_forms_need_their_csrf_token(client):
    r = client.post("/console/login", data={"name": "ana", "password": PASSWORD, "csrf": "forged"})
    assert r.status_code == 400 and "expired" in r.text
    signed_in(client, "ana")
    hid = handoff(client, "auth-csrf")
    r = client.post(f"/console/inbox/{hid}/claim", data={"csrf": ""})
    assert r.status_code == 400 and "expired" in r.text
    assert client.get("/v1/handoffs").json()["handoffs"][0]["status"] == "queued"


def test_password_change_ends_sessions(client, console_rt):
    signed_in(client, "ana")
    assert client.get("/console/inbox").status_code == 200
    set_password(console_rt.db, "ana", "a brand new one", console_rt.tenant)
    assert client.get("/console/inbox", follow_redirects=False).status_code == 303


def test_roles(console_app, console_rt):
    with new_client(console_app) as owner, new_client(console_app) as reviewer, new_client(console_app) as admin:
        hid = handoff(owner, "auth-roles")
        signed_in(owner, "olga")
        assert login(reviewer, "rita").headers["location"] == "/console/inbox"
        assert login(admin, "root").headers["location"] == "/console/inbox"
        assert owner.get("/console", follow_redirects=False).headers["location"] == "/console/kb"
        page = owner.get(f"/console/inbox/{hid}")
        assert page.status_code == 200 and "can read the inbox but not act" in page.text
        denied = owner.post(f"/console/inbox/{hid}/claim", data={"csrf": csrf(owner, "/console/inbox")})
        assert denied.status_code == 403 and "knowledge owner" in denied.text
        kb = reviewer.get("/console/kb")
        assert "need the knowledge_owner or admin role" in kb.text and 'id="publish-form"' not in kb.text
        rollback = {"version": 1, "csrf": csrf(reviewer, "/console/kb")}
        assert reviewer.post("/console/kb/rollback", data=rollback).status_code == 403
        token = {"csrf": csrf(admin, "/console/inbox")}
        claim = admin.post(f"/console/inbox/{hid}/claim", data=token, follow_redirects=False)
        assert claim.status_code == 303


def test_agents_cli(tmp_path, monkeypatch):
    monkeypatch.setenv("KEEL_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    add = ["agents", "add", "li", "--role", "knowledge_owner", "--password-stdin"]
    r = runner.invoke(cli, add, input="pass word 1\n")
    assert r.exit_code == 0, r.output
    r = runner.invoke(cli, ["agents", "add", "mo"], input="pass word 2\npass word 2\n")  # prompted twice
    assert r.exit_code == 0, r.output
    listed = runner.invoke(cli, ["agents", "list"]).output
    assert "li" in listed and "knowledge_owner" in listed and "mo" in listed
    assert runner.invoke(cli, ["agents", "add", "li", "--password-stdin"], input="pass word 3\n").exit_code == 2
    assert runner.invoke(cli, ["agents", "add", "x", "--password-stdin"], input="short\n").exit_code == 2
    bad_role = ["agents", "add", "y", "--role", "boss", "--password-stdin"]
    assert runner.invoke(cli, bad_role, input="x" * 9).exit_code == 2
    assert runner.invoke(cli, ["agents", "passwd", "li", "--password-stdin"], input="new pass 4\n").exit_code == 0
    db = open_database(f"sqlite:///{tmp_path / 'home' / 'keel.sqlite'}")
    assert authenticate(db, "li", "new pass 4", "default").role is AgentRole.KNOWLEDGE_OWNER
    assert runner.invoke(cli, ["agents", "passwd", "nobody", "--password-stdin"], input="new pass 5\n").exit_code == 2


def test_demo_accounts_are_created_once(tmp_path):
    db = open_database(f"sqlite:///{tmp_path / 'k.sqlite'}")
    logged: list[str] = []
    assert ensure_demo_agents(db, logged.append) == ("agent", "owner", "admin")
    assert any("agent123" in line and "demo only" in line for line in logged)
    assert ensure_demo_agents(db, logged.append) == ()
    for name, role, password in DEMO_AGENTS:
        assert authenticate(db, name, password, "default").role is role
