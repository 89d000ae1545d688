"""Small stages on their own: state providers, guard, redaction, parsing, emotion, language."""

import json
from pathlib import Path

import httpx
import numpy as np
import pytest

from keel.config import DEMO_DIR
from keel.domain import Action, Lang
from keel.errors import ConfigError, RuntimeFailure
from keel.online.emotion import EmotionLevel, assess_emotion
from keel.online.guard import GuardContext, GuardKind, check_reply, numbers_in
from keel.online.model.parse import parse_proposal
from keel.online.state import HttpStateProvider, JsonStateProvider, SqliteStateProvider
from keel.redact import redact
from keel.text import detect_lang


def test_json_and_sqlite_providers_agree(tmp_path):
    js = JsonStateProvider(DEMO_DIR / "users.json")
    sq = SqliteStateProvider(tmp_path / "s.sqlite")
    sq.load([js.get(f"u10{i:02d}") for i in range(1, 13)])
    assert sq.count() == 12
    assert sq.get("u1005") == js.get("u1005")
    assert js.get("u1005").complaints_90d == 3 and js.get("nobody") is None
    bad = tmp_path / "bad.json"
    bad.write_text("{oops")
    with pytest.raises(ConfigError, match="not valid JSON"):
        JsonStateProvider(bad)


def test_http_provider():
    user = json.loads((DEMO_DIR / "users.json").read_text())["users"][0]

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/users/u1001":
            return httpx.Response(200, json=user)
        if request.url.path == "/users/broken":
            return httpx.Response(200, text="not json")
        if request.url.path == "/users/down":
            return httpx.Response(503)
        return httpx.Response(404)

    p = HttpStateProvider("http://crm.internal", transport=httpx.MockTransport(handler))
    assert p.get("u1001").user_id == "u1001"
    assert p.get("nobody") is None
    with pytest.raises(RuntimeFailure, match="malformed"):
        p.get("broken")
    with pytest.raises(RuntimeFailure, match="503"):
        p.get("down")


def ctx(
    evidence="Refunds are issued within 3 business days; 7 days no-reason return. 七天无理由退货：签收后7天内可申请。",
):
    return GuardContext(evidence=evidence, customer_text="how long?", own_data=("+86 138 0000 1001",))


@pytest.mark.parametrize(
    ("reply", "kind"),
    [
        ("We guarantee you a refund tomorrow.", GuardKind.PROMISE),
        ("我们会补偿您100元", GuardKind.PROMISE),
        ("Your neighbour's phone is 13912345678.", GuardKind.PERSONAL_DATA),
        ("Refunds take 10 business days.", GuardKind.UNSUPPORTED),
        ("退货期限是十五天", GuardKind.UNSUPPORTED),
        ("Use code FREE50 at checkout.", GuardKind.UNSUPPORTED),
    ],
)
def test_guard_catches(reply, kind):
    assert kind in {v.kind for v in check_reply(reply, ctx()).violations}


@pytest.mark.parametrize(
    "reply",
    [
        "Refunds are issued within 3 business days.",
        "七天无理由退货，请在签收后7天内申请。",
        "Your phone ends in 1001: +86 138 0000 1001.",
    ],
)
def test_guard_passes(reply):
    assert check_reply(reply, ctx()).passed


def test_numbers_in_reads_chinese_numerals():
    assert numbers_in("七天内，十五天后，30天") >= {"7", "15", "30"}


def test_redaction():
    text = (
        "call 13912345678 or +852 9123 4567, mail x.y@example.com, id 11010519491231002X, "
        "card 4111 1111 1111 1111, order H2026111501"
    )
    out = redact(text)
    for secret in ("13912345678", "9123 4567", "x.y@example.com", "11010519491231002X", "4111 1111"):
        assert secret not in out
    assert "H2026111501" in out
    assert out.count("[PHONE]") == 2 and "[EMAIL]" in out and "[ID]" in out and "[CARD]" in out


def test_parse_reply_first():
    from keel.online.model.parse import parse_reply_first

    p = parse_reply_first(" 我帮您转人工。\nACTION: handoff", "REPLY:", "")
    assert (p.action, p.reply, p.stated) == (Action.HANDOFF, "我帮您转人工。", True)
    q = parse_reply_first(" Sorry, I can't share another customer's address.", "REPLY:", "what is her address")
    assert q.action is Action.REFUSE and not q.stated
    assert parse_reply_first("ACTION: answer\nREPLY: Hi", "", "").reply == "Hi"
    assert not parse_reply_first(" 给客户的回复（简体中文）", "REPLY:", "").ok
    assert parse_reply_first("", "REPLY:", "").error == "empty REPLY"


def test_parse_proposal():
    p = parse_proposal(" handoff\nREPLY: 我帮您转人工。", "ACTION:", {"handoff": 0.7})
    assert (p.action, p.reply, p.confidence, p.ok) == (Action.HANDOFF, "我帮您转人工。", 0.7, True)
    j = parse_proposal('{"action": "refuse", "reply": "Sorry."}')
    assert j.action is Action.REFUSE and j.ok
    assert not parse_proposal("just chatting").ok
    assert not parse_proposal(" answer\nREPLY:   ", "ACTION:").ok
    assert not parse_proposal(" maybe\nREPLY: x", "ACTION:").ok


def test_emotion_levels():
    assert assess_emotion("电子发票在哪里下载？", Lang.ZH).level is EmotionLevel.CALM
    assert assess_emotion("等了十天了还没到！！你们什么破服务", Lang.ZH).level is EmotionLevel.UPSET
    assert assess_emotion("How do I get an invoice?", Lang.EN).level is EmotionLevel.CALM
    assert assess_emotion("This is the third time I'm asking!!! Unacceptable.", Lang.EN).level is EmotionLevel.UPSET


def test_detect_lang():
    assert detect_lang("电子发票在哪里下载？") is Lang.ZH
    assert detect_lang("Where is my order H2026111501?") is Lang.EN
    assert detect_lang("我的Nimbus earbuds坏了") is Lang.ZH
    assert detect_lang("12345", Lang.EN) is Lang.EN


class _CountingEmbedder:
    name = "counting-test"
    dim = 3

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[str, ...]]] = []

    def query(self, texts):  # type: ignore[no-untyped-def]
        self.calls.append(("query", tuple(texts)))
        return np.array([[len(t), 1.0, 0.0] for t in texts], dtype=np.float32)

    def passage(self, texts):  # type: ignore[no-untyped-def]
        self.calls.append(("passage", tuple(texts)))
        return np.array([[len(t), 0.0, 1.0] for t in texts], dtype=np.float32)


def test_query_vectors_are_remembered_on_disk_apart_from_passage_vectors(tmp_path: Path) -> None:
    from keel.embed import EmbeddingCache, QueryCache

    inner = _CountingEmbedder()
    QueryCache(inner, disk=EmbeddingCache(tmp_path / "e.sqlite", inner)).prefill(["退款多久到账", "refund time"])
    assert inner.calls == [("query", ("退款多久到账", "refund time"))]
    # a new process (new cache objects) reuses the stored query vectors; the same text as a passage is separate
    again = QueryCache(inner, disk=EmbeddingCache(tmp_path / "e.sqlite", inner))
    vec = again.query(["refund time"])
    assert inner.calls[1:] == [] and vec[0].tolist() == [11.0, 1.0, 0.0]
    assert EmbeddingCache(tmp_path / "e.sqlite", inner).passages(["refund time"])[0].tolist() == [11.0, 0.0, 1.0]
    assert inner.calls[1:] == [("passage", ("refund time",))]
