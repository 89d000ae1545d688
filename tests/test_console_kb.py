"""Knowledge base page: versions, diff, publish by upload (validated first), rollback; conversations page."""

from __future__ import annotations

import io
import zipfile

import pytest

from console_support import (  # noqa: F401
    client,
    console_app,
    console_base,
    console_rt,
    csrf,
    handoff,
    signed_in,
)
from keel.config import DEMO_DIR
from keel.console.upload import MAX_UPLOAD_BYTES, UploadedFile, documents_from_upload
from keel.errors import InvalidInput
from keel.online.kb import store

SHIPPING = (DEMO_DIR / "kb" / "v2" / "shipping-cn-en.md").read_text(encoding="utf-8")
NEW_DOC = """---
id: gift-wrap-en
topic: gift-wrap
lang: en
title: Gift wrapping
kind: faq
---
Gift wrapping costs ¥5 per order.
"""


def publish(client, files, overlay=True, note="console test"):
    data = {"csrf": csrf(client, "/console/kb"), "note": note}
    if overlay:
        data["overlay"] = "on"
    return client.post("/console/kb/publish", data=data, files=files, follow_redirects=False)


def as_files(*docs):
    def raw(body):
        return body.encode("utf-8") if isinstance(body, str) else body

    return [("files", (name, raw(body), "text/plain")) for name, body in docs]


def zipped(**members):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, body in members.items():
            z.writestr(name, body)
    return buf.getvalue()


def test_versions_and_diff(client):
    signed_in(client, "olga")
    page = client.get("/console/kb").text
    assert 'data-version="2"' in page and 'data-version="1"' in page and "in-force" in page
    assert "v1 → v2" in page and "shipping-cn-en" in page and "¥79" in page  # default diff: parent → in force
    diff = client.get("/console/kb?old=2&new=1").text
    assert "v2 → v1" in diff and "¥99" in diff
    assert client.get("/console/kb?old=1&new=9").status_code == 404


def test_publish_overlay_then_rollback(client, console_rt):
    signed_in(client, "olga")
    r = publish(client, as_files(("gift-wrap-en.md", NEW_DOC)), note="gift wrap")
    assert r.status_code == 303 and r.headers["location"] == "/console/kb?old=2&new=3"
    page = client.get(r.headers["location"]).text
    assert "Published KB version 3 (81 documents)" in page and "gift-wrap-en" in page
    info = store.list_versions(console_rt.db)[-1]
    assert info.current and info.note == "gift wrap" and "console upload by olga" in info.source
    back = client.post("/console/kb/rollback", data={"version": 2, "csrf": csrf(client, "/console/kb")})
    assert back.status_code == 200 and "KB version 2 is in force again" in back.text
    assert store.current_version(console_rt.db) == 2


def test_publish_a_zip(client, console_rt):
    signed_in(client, "root")
    archive = zipped(**{"kb/gift-wrap-en.md": NEW_DOC, "kb/README.txt": "ignored", "__MACOSX/._x.md": "junk"})
    r = publish(client, [("files", ("update.zip", archive, "application/zip"))])
    assert r.status_code == 303
    assert "gift-wrap-en" in {d.doc_id for d in store.documents(console_rt.db, 3, console_rt.tenant)}


@pytest.mark.parametrize(
    ("files", "fragment"),
    [
        ([("bad.md", NEW_DOC.replace("kind: faq", "kind: rumour"))], "bad.md: field &#39;kind&#39;"),
        ([("nofront.md", "just text")], "nofront.md: a Markdown document must start"),
        ([("x.yaml", "documents: [1, 2]")], "x.yaml: expected a document mapping"),
        ([("x.yaml", "id: [unclosed")], "x.yaml: invalid YAML"),
        ([("latin1.md", "caf\xe9".encode("latin-1"))], "latin1.md: not UTF-8"),
        ([("notes.txt", "hello")], "notes.txt: not a knowledge-base document"),
        ([("a.md", NEW_DOC), ("b.md", NEW_DOC)], "b.md: duplicate document id"),
        ([("broken.zip", b"PK\x03\x04 not really")], "broken.zip: not a valid .zip"),
        ([("empty.zip", zipped(**{"README.txt": "no docs"}))], "no documents"),
    ],
)
def test_bad_uploads_change_nothing(client, console_rt, files, fragment):
    signed_in(client, "olga")
    r = publish(client, as_files(*files), note="keep this note")
    assert r.status_code == 422, r.text
    assert fragment in r.text and "the knowledge base is unchanged" in r.text
    assert 'value="keep this note"' in r.text and 'id="overlay" checked' in r.text
    assert len(store.list_versions(console_rt.db)) == 2 and store.current_version(console_rt.db) == 2


def test_oversize_and_missing_uploads(client, console_rt):
    signed_in(client, "olga")
    big = publish(client, as_files(("big.md", NEW_DOC + "x" * (MAX_UPLOAD_BYTES + 100_000))))
    assert big.status_code == 413 and "the limit is 5.0 MB" in big.text and "unchanged" in big.text
    none = publish(client, [])
    assert none.status_code == 422 and "Choose at least one file" in none.text
    assert len(store.list_versions(console_rt.db)) == 2


def test_upload_limits_without_http():
    just_over = [UploadedFile("a.md", b"x" * (MAX_UPLOAD_BYTES + 1))]
    with pytest.raises(InvalidInput, match=r"limit is 5\.0 MB"):
        documents_from_upload(just_over)
    bomb = zipped(**{f"d{i}.md": "x" * 3_000_000 for i in range(8)})  # compresses to almost nothing
    with pytest.raises(InvalidInput, match=r"unpacks to more than 20\.0 MB"):
        documents_from_upload([UploadedFile("bomb.zip", bomb)])
    docs = documents_from_upload([UploadedFile("s.md", SHIPPING.encode())])
    assert [d.doc_id for d in docs] == ["shipping-cn-en"]


def test_conversations_search_and_trace(client):
    client.post("/v1/conversations/conv-a/messages", json={"text": "电子发票在哪里下载？", "user_id": "u1001"})
    handoff(client, "conv-b", user="u1002")
    signed_in(client, "rita")
    listing = client.get("/console/conversations").text
    assert "conv-a" in listing and "conv-b" in listing
    found = client.get("/console/conversations", params={"q": "发票"}).text
    assert "/conversations/conv-a" in found and "/conversations/conv-b" not in found
    assert "No conversation matches" in client.get("/console/conversations?q=zzz-nothing").text
    assert "conv-b" in client.get("/console/conversations?q=u1002").text
    page = client.get("/console/conversations/conv-a").text
    for expected in ("Final decision", "Model proposal", "grounded answer accepted", "KB version 2",
                     "invoice-electronic-general-zh", "Latency per stage", "retrieve", "no violations"):
        assert expected in page, expected
    handed = client.get("/console/conversations/conv-b").text
    assert "human_request" in handed and "/console/inbox/1" in handed
    assert client.get("/console/conversations/nope").status_code == 404
    assert client.get("/console/conversations/bad id!").status_code in (404, 422)
