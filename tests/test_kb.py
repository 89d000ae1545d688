from datetime import date
from pathlib import Path

import pytest

from keel.config import DEMO_DIR
from keel.db import open_database
from keel.domain import Lang, Validity
from keel.embed import EmbeddingCache, default_embedder
from keel.errors import InvalidInput, NotFound
from keel.online.kb import store
from keel.online.kb.documents import load_folder
from keel.online.kb.index import build_index
from keel.online.kb.retrieve import retrieve

DOC = """---
id: {id}
topic: {topic}
lang: en
title: {title}
kind: policy
region: [all]
---
{body}
"""


def write(folder: Path, name: str, **fields: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.md").write_text(DOC.format(**fields), encoding="utf-8")


pytestmark = pytest.mark.storage


@pytest.fixture
def db(tmp_path, db_url):
    return open_database(db_url or f"sqlite:///{tmp_path / 'kb.sqlite'}")


def test_publish_overlay_diff_rollback(db, tmp_path):
    base = tmp_path / "base"
    write(base, "a", id="a", topic="a", title="Returns", body="Returns within 7 days.")
    write(base, "b", id="b", topic="b", title="Invoices", body="Invoices from My Orders.")
    v1 = store.publish_folder(db, base, note="first")
    assert (v1.version, v1.doc_count, v1.current) == (1, 2, True)

    over = tmp_path / "over"
    write(over, "a", id="a", topic="a", title="Returns", body="Returns within 14 days.")
    write(over, "c", id="c", topic="c", title="Shipping", body="Shipping is free over 79.")
    v2 = store.publish_folder(db, over, overlay=True)
    assert v2.doc_count == 3 and v2.parent == 1
    d = store.diff(db, 1, 2, "default")
    assert (d.added, d.removed, d.changed) == (("c",), (), ("a",))

    assert store.current_version(db) == 2
    store.rollback(db, 1, "default")
    assert store.current_version(db) == 1
    assert [v.current for v in store.list_versions(db)] == [True, False]
    with pytest.raises(NotFound):
        store.rollback(db, 99, "default")


def test_a_bad_document_publishes_nothing(db, tmp_path):
    folder = tmp_path / "kb"
    write(folder, "good", id="good", topic="good", title="Fine", body="Fine text.")
    (folder / "bad.md").write_text("---\nid: bad\nlang: fr\ntitle: x\nkind: policy\n---\nbody", encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"bad\.md.*lang"):
        store.publish_folder(db, folder)
    assert store.list_versions(db) == []
    (folder / "bad.md").write_bytes(b"\xff\xfe binary")
    with pytest.raises(InvalidInput, match="UTF-8"):
        store.publish_folder(db, folder)
    with pytest.raises(InvalidInput, match="not a folder"):
        store.publish_folder(db, tmp_path / "nope")


def test_interrupted_publish_keeps_the_old_version(db, tmp_path, monkeypatch):
    folder = tmp_path / "kb"
    write(folder, "a", id="a", topic="a", title="One", body="One.")
    store.publish_folder(db, folder)

    def boom(*_a, **_k):
        raise RuntimeError("power cut while switching versions")

    monkeypatch.setattr(store, "_set_head", boom)
    write(folder, "b", id="b", topic="b", title="Two", body="Two.")
    with pytest.raises(RuntimeError):
        store.publish_folder(db, folder)
    monkeypatch.undo()
    assert store.current_version(db) == 1
    assert [v.version for v in store.list_versions(db)] == [1]  # the half-written version is gone too


def test_demo_kb_is_bilingual_and_versioned():
    docs = load_folder(DEMO_DIR / "kb" / "v1")
    assert len(docs) >= 40
    topics = {}
    for d in docs:
        topics.setdefault(d.topic, set()).add(d.lang)
    assert all(langs == {Lang.ZH, Lang.EN} for langs in topics.values())
    assert {d.kind.value for d in docs} == {"faq", "policy", "promotion"}


@pytest.fixture(scope="module")
def demo_indexes(tmp_path_factory):
    cache = EmbeddingCache(tmp_path_factory.mktemp("emb") / "e.sqlite", default_embedder())
    v1 = load_folder(DEMO_DIR / "kb" / "v1")
    overlay = {d.doc_id: d for d in load_folder(DEMO_DIR / "kb" / "v2")}
    v2 = [overlay.get(d.doc_id, d) for d in v1]
    return build_index(1, v1, cache), build_index(2, v2, cache)


def ask(index, text, lang=Lang.ZH, region=None, today=date(2026, 11, 24)):
    from keel.config import RetrievalConfig

    vec = default_embedder().query([text])[0]
    return retrieve(index, text, vec, lang=lang, region=region, today=today, cfg=RetrievalConfig())


def test_retrieval_is_pinned_to_a_version(demo_indexes):
    v1, v2 = demo_indexes
    top1 = ask(v1, "包邮门槛是多少", region="cn").passages[0]
    top2 = ask(v2, "包邮门槛是多少", region="cn").passages[0]
    assert top1.topic == top2.topic == "shipping-cn"
    assert "99" in top1.text and "79" in top2.text


def test_retrieval_filters_by_date_and_region(demo_indexes):
    _, v2 = demo_indexes
    during = ask(v2, "双11有什么优惠", today=date(2026, 11, 5), region="cn")
    after = ask(v2, "双11有什么优惠", today=date(2026, 11, 24), region="cn")
    assert "promo-double11" in {p.topic for p in during.passages}
    # an ended promotion stays findable ("is it still on?") but is marked as ended for the writer
    ended = {p.topic: p.validity for p in after.passages}
    assert ended.get("promo-double11", Validity.ENDED) is Validity.ENDED
    assert {p.topic: p.validity for p in during.passages}["promo-double11"] is Validity.IN_FORCE
    eu = ask(v2, "How many days do I have to return an item?", lang=Lang.EN, region="eu")
    topics = [p.topic for p in eu.passages]
    assert "returns-window-eu" in topics[:2]
    assert "returns-window-cn" not in topics and "returns-window-hk" not in topics
    assert all(p.lang is Lang.EN for p in eu.passages)
