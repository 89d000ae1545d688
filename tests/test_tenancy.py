"""Tenancy: API keys scope every /v1 call to one tenant; another tenant's ids are simply not there (404)."""

from __future__ import annotations

import os
import stat

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from keel.api.app import create_app
from keel.api.keys import create_key, list_keys, revoke_key, tenant_of
from keel.cli.main import app as cli
from keel.db import open_database
from keel.errors import Conflict, InvalidInput, Unauthorized
from keel.online.kb import store
from keel.online.state.model import UserState
from keel.online.state.providers import SqliteStateProvider
from keel.setup_demo import ensure_demo_key

pytestmark = pytest.mark.storage

ACME_DOC = """---
id: acme-returns-en
topic: acme-returns
lang: en
title: Acme returns
kind: policy
region: [all]
---
Acme products can be returned within 30 days of delivery.
"""


@pytest.fixture
def two_tenants(runtime, tmp_path):
    """The demo shop is tenant ``default``; ``acme`` has its own KB, its own user and its own key."""
    folder = tmp_path / "acme-kb"
    folder.mkdir()
    (folder / "returns.md").write_text(ACME_DOC, encoding="utf-8")
    store.publish_folder(runtime.db, folder, note="acme v1", tenant="acme")
    assert isinstance(runtime.state, SqliteStateProvider)
    runtime.state.load([UserState(user_id="a1", name="Acme Customer", region="eu")], tenant="acme")
    keys = {t: create_key(runtime.db, t, "tests").secret for t in ("default", "acme")}
    app = create_app(runtime.cfg, runtime=runtime)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, keys


def as_(keys, tenant):
    return {"Authorization": f"Bearer {keys[tenant]}"}


def test_keys_are_needed_and_checked(two_tenants, runtime):
    client, keys = two_tenants
    body = {"text": "hi", "user_id": "u1001"}
    missing = client.post("/v1/conversations/k1/messages", json=body)
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    assert client.get("/v1/handoffs", headers={"Authorization": "Bearer keel_wrong"}).status_code == 401
    assert client.get("/v1/handoffs", headers={"X-API-Key": keys["default"]}).status_code == 200
    assert client.get("/v1/handoffs", headers={"Authorization": "Basic Zm9vOmJhcg=="}).status_code == 401
    revoke_key(runtime.db, "acme", "tests")
    assert client.get("/v1/handoffs", headers=as_(keys, "acme")).status_code == 401
    assert client.get("/healthz").json()["status"] == "ok"  # the health check needs no key
    # only hashes are stored
    assert all(keys["default"] not in str(v) for k in list_keys(runtime.db) for v in k.model_dump().values())


def test_a_tenant_sees_nothing_of_another(two_tenants):
    client, keys = two_tenants
    a = client.post(
        "/v1/conversations/shared-id/messages", json={"text": "I want to speak to a human", "user_id": "u1002"},
        headers=as_(keys, "default"),
    ).json()
    hid = a["handoff_id"]
    assert hid
    acme = as_(keys, "acme")
    assert client.get("/v1/conversations/shared-id", headers=acme).status_code == 404
    assert client.get("/v1/conversations/shared-id/traces", headers=acme).status_code == 404
    assert client.get("/v1/conversations", headers=acme).json()["conversations"] == []
    assert client.get("/v1/conversations?q=human", headers=acme).json()["conversations"] == []
    assert client.get("/v1/handoffs?all=true", headers=acme).json()["handoffs"] == []
    for action in ("claim", "release", "close"):
        assert client.post(f"/v1/handoffs/{hid}/{action}", json={"agent": "x"}, headers=acme).status_code == 404
    reply = client.post(f"/v1/handoffs/{hid}/reply", json={"agent": "x", "text": "hello"}, headers=acme)
    assert reply.status_code == 404
    assert client.post("/v1/handoffs/claim-next", json={"agent": "x"}, headers=acme).json() == {"handoff": None}
    versions = client.get("/v1/kb/versions", headers=acme).json()["versions"]
    assert [v["note"] for v in versions] == ["acme v1"]
    default_version = client.get("/v1/kb/versions", headers=as_(keys, "default")).json()["versions"][0]["version"]
    assert client.post(f"/v1/kb/rollback/{default_version}", headers=acme).status_code == 404
    # users are per tenant: the demo shop's customer does not exist for acme
    unknown = client.post("/v1/conversations/x/messages", json={"text": "hi", "user_id": "u1001"}, headers=acme)
    assert unknown.status_code == 404
    # the same conversation id is acme's own conversation; the default tenant's is untouched
    mine = client.post(
        "/v1/conversations/shared-id/messages", json={"text": "How long do I have to return?", "user_id": "a1"},
        headers=acme,
    )
    assert mine.status_code == 200, mine.text
    body = mine.json()
    assert body["kb_version"] == versions[0]["version"] and body["passage_ids"] == ["acme-returns-en"]
    theirs = client.get("/v1/conversations/shared-id", headers=as_(keys, "default")).json()
    assert theirs["user_id"] == "u1002" and len(theirs["messages"]) == 2
    own = client.get("/v1/conversations/shared-id", headers=acme).json()
    assert own["user_id"] == "a1" and "u1002" not in str(own)
    assert [t["user_id"] for t in client.get("/v1/conversations/shared-id/traces", headers=acme).json()["traces"]] == [
        "a1"
    ]
    # and the default tenant's queue is exactly as it was
    assert client.get("/v1/handoffs", headers=as_(keys, "default")).json()["handoffs"][0]["status"] == "queued"


def test_key_rules(runtime):
    db = runtime.db
    new = create_key(db, "acme", "widget")
    assert new.secret.startswith("keel_") and len(new.secret) > 40
    assert tenant_of(db, new.secret) == "acme"
    with pytest.raises(Conflict):
        create_key(db, "acme", "widget")
    for bad in ("", "a b", "x" * 65):
        with pytest.raises(InvalidInput):
            create_key(db, bad, "n")
    for presented in (None, "", "nope", "keel_" + "x" * 300):
        with pytest.raises(Unauthorized):
            tenant_of(db, presented)


def test_keys_cli_and_demo_key(tmp_path, monkeypatch):
    monkeypatch.setenv("KEEL_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    made = runner.invoke(cli, ["keys", "create", "--tenant", "acme", "--name", "widget"])
    assert made.exit_code == 0, made.output
    secret = made.output.strip().splitlines()[-1]
    assert secret.startswith("keel_")
    listed = runner.invoke(cli, ["keys", "list"]).output
    assert "acme" in listed and "widget" in listed and secret not in listed
    assert runner.invoke(cli, ["keys", "create", "--tenant", "acme", "--name", "widget"]).exit_code == 2
    assert runner.invoke(cli, ["keys", "revoke", "--tenant", "acme", "--name", "widget"]).exit_code == 0
    assert runner.invoke(cli, ["keys", "revoke", "--tenant", "acme", "--name", "nope"]).exit_code == 2
    db = open_database(f"sqlite:///{tmp_path / 'home' / 'keel.sqlite'}")
    with pytest.raises(Unauthorized):
        tenant_of(db, secret)
    key, path = ensure_demo_key(db, tmp_path / "home")
    assert key and path.read_text().strip() == key and tenant_of(db, key) == "default"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert ensure_demo_key(db, tmp_path / "home")[0] is None  # once
