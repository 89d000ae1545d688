"""The handoff inbox: queue with context, claim / reply / release / close, clear errors, live updates."""

from __future__ import annotations

from console_support import (  # noqa: F401
    client,
    console_app,
    console_base,
    console_rt,
    csrf,
    handoff,
    new_client,
    signed_in,
)


def act(client, hid, action, text=None):
    data = {"csrf": csrf(client, f"/console/inbox/{hid}")}
    if text is not None:
        data["text"] = text
    return client.post(f"/console/inbox/{hid}/{action}", data=data, follow_redirects=False)


def messages(client, conv):
    return client.get(f"/v1/conversations/{conv}").json()["messages"]


def test_queue_shows_reason_state_and_transcript(client):
    hid = handoff(client, "in-ctx", user="u1005", text="我要投诉，转人工！")
    signed_in(client, "ana")
    queue = client.get("/console/inbox").text
    assert f'data-id="{hid}"' in queue and "in-ctx" in queue and "u1005" in queue
    page = client.get(f"/console/inbox/{hid}").text
    assert "我要投诉，转人工！" in page  # transcript
    assert "H2026110905" in page  # the customer's state (orders, tickets)
    assert "Complaints (90 days)" in page and ">3<" in page
    assert "red-line rule" in page or "customer state" in page  # the reason, in words
    assert 'id="claim"' in page and 'id="reply-text"' in page


def test_claim_reply_release_round_trip(client):
    hid = handoff(client, "in-trip")
    signed_in(client, "ana")
    r = act(client, hid, "claim")
    assert r.status_code == 303 and r.headers["location"] == f"/console/inbox/{hid}"
    page = client.get(r.headers["location"]).text
    assert "You claimed handoff" in page and "claimed by you" in page and 'id="release"' in page
    r = act(client, hid, "reply", "Hi, Ana here. Let me check your earbuds order.")
    assert r.status_code == 303
    last = messages(client, "in-trip")[-1]
    assert last["role"] == "agent" and last["author"] == "ana" and "Ana here" in last["content"]
    r = act(client, hid, "release")
    assert r.status_code == 303 and r.headers["location"] == "/console/inbox"
    assert client.get("/v1/handoffs?all=true").json()["handoffs"][0]["status"] == "released"
    assert client.get("/v1/conversations/in-trip").json()["status"] == "bot"


def test_reply_from_the_queue_claims_and_close(client):
    hid = handoff(client, "in-close")
    signed_in(client, "ana")
    assert act(client, hid, "reply", "直接回复").status_code == 303
    assert client.get("/v1/handoffs").json()["handoffs"][0]["claimed_by"] == "ana"
    assert act(client, hid, "close").status_code == 303
    assert client.get("/v1/conversations/in-close").json()["status"] == "closed"
    again = act(client, hid, "close")
    assert again.status_code == 409 and "already closed" in again.text


def test_empty_reply_is_refused_and_nothing_is_stored(client):
    hid = handoff(client, "in-empty")
    signed_in(client, "ana")
    before = messages(client, "in-empty")
    for text in ("", "   \n  "):
        r = act(client, hid, "reply", text)
        assert r.status_code == 422 and "The reply is empty" in r.text
    assert messages(client, "in-empty") == before
    too_long = act(client, hid, "reply", "x" * 8001)
    assert too_long.status_code == 422 and "limit is 8000" in too_long.text
    assert ">" + "x" * 8001 + "</textarea>" in too_long.text  # the text is kept


def test_stale_claim_keeps_the_typed_reply(console_app):
    with new_client(console_app) as ana, new_client(console_app) as ben:
        hid = handoff(ana, "in-stale")
        signed_in(ana, "ana")
        signed_in(ben, "ben")
        token = csrf(ana, f"/console/inbox/{hid}")  # ana has the page open...
        assert act(ben, hid, "claim").status_code == 303  # ...ben claims first
        draft = "Sorry for the wait — I'm on it."
        r = ana.post(f"/console/inbox/{hid}/reply", data={"csrf": token, "text": draft}, follow_redirects=False)
        assert r.status_code == 409
        assert "ben has already claimed this conversation" in r.text and "Your text is kept below" in r.text
        assert f">{draft}</textarea>" in r.text.replace("&#39;", "'").replace("&mdash;", "—")
        late = ana.post(f"/console/inbox/{hid}/claim", data={"csrf": token}, follow_redirects=False)
        assert late.status_code == 409 and "ben has already claimed" in late.text
        assert all(m["role"] != "agent" for m in messages(ana, "in-stale"))
        assert act(ana, hid, "release").status_code == 409  # only the holder releases


def test_live_updates(console_app):
    with new_client(console_app) as ana, new_client(console_app) as ben:
        signed_in(ana, "ana")
        signed_in(ben, "ben")
        empty = ana.get("/console/api/inbox").json()
        assert empty["count"] == 0 and empty["selected"] is None
        hid = handoff(ana, "in-live")
        data = ana.get(f"/console/api/inbox?selected={hid}&after=0").json()
        assert data["count"] == 1 and data["items"][0]["id"] == hid and f'data-id="{hid}"' in data["queue_html"]
        seen = data["selected"]["last_seq"]
        assert seen == 2 and data["selected"]["status"] == "queued" and data["selected"]["notice"] == ""
        act(ben, hid, "reply", "Ben here")
        ana.post("/v1/conversations/in-live/messages", json={"text": "thanks!", "user_id": "u1002"})
        data = ana.get(f"/console/api/inbox?selected={hid}&after={seen}").json()["selected"]
        assert [m["content"] for m in data["messages"]] == ["Ben here", "thanks!"]
        assert "Ben here" in data["messages_html"] and data["last_seq"] == 4
        assert data["status"] == "claimed" and data["claimed_by"] == "ben"
        assert "ben holds this conversation" in data["notice"]


def test_unknown_and_malformed_handoffs(client):
    signed_in(client, "ana")
    missing = client.get("/console/inbox/999")
    assert missing.status_code == 404 and "handoff 999 not found" in missing.text
    assert "text/html" in missing.headers["content-type"] and "Traceback" not in missing.text
    assert client.get("/console/inbox/abc").status_code == 400
    assert act(client, 999, "claim").status_code == 404
    hid = handoff(client, "in-bad")
    bad = client.post(f"/console/inbox/{hid}/explode", data={"csrf": csrf(client, "/console/inbox")})
    assert bad.status_code == 400 and "text/html" in bad.headers["content-type"]
    assert client.get("/console/api/inbox?selected=999").status_code == 404
