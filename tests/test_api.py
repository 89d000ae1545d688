"""HTTP API: happy paths, real status codes on bad input, and nothing lost (SQLite and PostgreSQL)."""

import pytest
from fastapi.testclient import TestClient

from keel.api.app import create_app
from keel.api.keys import create_key

pytestmark = pytest.mark.storage


@pytest.fixture
def client(runtime):
    app = create_app(runtime.cfg, runtime=runtime)
    key = create_key(runtime.db, "default", "tests").secret
    with TestClient(app, raise_server_exceptions=False, headers={"Authorization": f"Bearer {key}"}) as c:
        yield c


def post(client, conv, text, user=None):
    return client.post(f"/v1/conversations/{conv}/messages", json={"text": text, "user_id": user})


def test_message_returns_reply_and_decision(client):
    r = post(client, "api-1", "电子发票在哪里下载？", "u1001")
    assert r.status_code == 200
    body = r.json()
    assert body["reply"] and body["decision"]["action"] == "answer"
    assert body["kb_version"] == 2 and body["passage_ids"]
    assert {"action", "modifiers", "reason", "confidence"} <= set(body["decision"])
    transcript = client.get("/v1/conversations/api-1").json()
    assert [m["role"] for m in transcript["messages"]] == ["user", "assistant"]
    traces = client.get("/v1/conversations/api-1/traces").json()["traces"]
    assert traces[0]["decision"]["action"] == "answer"


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"text": ""}, 422, "empty"),
        ({"text": "   \n "}, 422, "empty"),
        ({"text": "x" * 20_001}, 422, "limit"),
        ({"text": "hi\x00\x01there"}, 422, "binary"),
        ({"text": "hi", "user_id": "nobody"}, 404, "unknown user"),
        ({"txt": "hi"}, 422, "text"),
        ({"text": 42}, 422, "text"),
    ],
)
def test_bad_messages_get_clear_errors(client, body, status, fragment):
    r = client.post("/v1/conversations/api-bad/messages", json=body)
    assert r.status_code == status
    assert fragment in r.json()["error"]["message"]


def test_raw_bodies(client):
    bad_json = client.post(
        "/v1/conversations/x/messages", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert bad_json.status_code == 422 and "JSON" in bad_json.json()["error"]["message"]
    not_utf8 = client.post(
        "/v1/conversations/x/messages", content=b'{"text": "\xff\xfe"}', headers={"content-type": "application/json"}
    )
    assert not_utf8.status_code == 400 and "UTF-8" in not_utf8.json()["error"]["message"]
    huge = client.post(
        "/v1/conversations/x/messages",
        content=b"{" + b" " * 1_100_000 + b"}",
        headers={"content-type": "application/json"},
    )
    assert huge.status_code == 413
    assert client.post("/v1/conversations/bad id!/messages", json={"text": "hi"}).status_code == 422


def test_unknown_things_are_404(client):
    assert client.get("/v1/conversations/never-seen").status_code == 404
    assert client.get("/v1/conversations/never-seen/traces").status_code == 404
    assert client.post("/v1/handoffs/999/claim", json={"agent": "a"}).status_code == 404
    assert client.post("/v1/kb/rollback/42").status_code == 404
    assert client.post(f"/v1/handoffs/{2**70}/claim", json={"agent": "a"}).status_code == 422


def test_errors_lose_nothing(client):
    assert post(client, "keep", "电子发票在哪里下载？", "u1001").status_code == 200
    for bad in ("", "x" * 30_000):
        assert post(client, "keep", bad, "u1001").status_code == 422
    assert post(client, "keep", "hi", "u1002").status_code == 409  # another user's conversation
    msgs = client.get("/v1/conversations/keep").json()["messages"]
    assert msgs[0]["content"] == "电子发票在哪里下载？" and len(msgs) == 2


def test_handoff_endpoints_and_conflicts(client):
    r = post(client, "api-h", "I want to speak to a human", "u1002").json()
    hid = r["handoff_id"]
    assert r["decision"]["action"] == "handoff" and hid
    assert client.get("/v1/handoffs").json()["handoffs"][0]["id"] == hid
    assert client.post(f"/v1/handoffs/{hid}/claim", json={"agent": "ana"}).status_code == 200
    assert client.post(f"/v1/handoffs/{hid}/claim", json={"agent": "ben"}).status_code == 409
    assert client.post(f"/v1/handoffs/{hid}/reply", json={"agent": "ana", "text": ""}).status_code == 422
    assert client.post(f"/v1/handoffs/{hid}/reply", json={"agent": "ana", "text": "Hi, Ana here."}).status_code == 200
    held = post(client, "api-h", "thanks, waiting", "u1002").json()
    assert held["held_by_human"] and held["reply"] is None
    assert client.post(f"/v1/handoffs/{hid}/release", json={"agent": "ana"}).status_code == 200
    roles = [m["role"] for m in client.get("/v1/conversations/api-h").json()["messages"]]
    assert roles == ["user", "assistant", "agent", "user"]


def test_openai_compatible_endpoint(client):
    body = {"model": "keel", "user": "u1001", "messages": [{"role": "user", "content": "电子发票在哪里下载？"}]}
    r = client.post("/v1/chat/completions", json=body)
    assert r.status_code == 200
    data = r.json()
    assert data["object"] == "chat.completion"
    assert data["choices"][0]["message"]["content"]
    assert data["keel"]["decision"]["action"] == "answer"
    stream = client.post("/v1/chat/completions", json={**body, "stream": True})
    assert stream.status_code == 200 and stream.text.rstrip().endswith("data: [DONE]")
    assert client.post("/v1/chat/completions", json={"messages": []}).status_code == 422
    only_system = {"messages": [{"role": "system", "content": "hi"}]}
    assert client.post("/v1/chat/completions", json=only_system).status_code == 422


def test_openapi_docs_are_served(client):
    spec = client.get("/openapi.json").json()
    assert "/v1/conversations/{conversation_id}/messages" in spec["paths"]
    assert client.get("/docs").status_code == 200
