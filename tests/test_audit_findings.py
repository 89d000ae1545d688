"""Each finding type on small hand-built dialogs (demo KB v1 + v2 overlay as the policy source)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from keel.audit.exceptions import hidden_exception
from keel.audit.exchange import describe, split_exchanges
from keel.audit.policy import PolicyBook, load_policy
from keel.audit.run import AuditConfig, run_audit
from keel.audit.schema import Dialog, Finding, FindingKind, Speaker, Turn
from keel.audit.signals import VolatileDetector, soothing_only, state_dependent
from keel.config import DEMO_DIR
from keel.db import Database, open_database
from keel.embed import EmbeddingCache, default_embedder
from keel.online.kb import store


@pytest.fixture(scope="module")
def kb(tmp_path_factory: pytest.TempPathFactory, embedding_cache: Path) -> tuple[Database, EmbeddingCache]:
    db = open_database(f"sqlite:///{tmp_path_factory.mktemp('audit-kb') / 'kb.sqlite'}")
    store.publish_folder(db, DEMO_DIR / "kb" / "v1")
    store.publish_folder(db, DEMO_DIR / "kb" / "v2", overlay=True)
    return db, EmbeddingCache(embedding_cache / "embeddings.sqlite", default_embedder())


@pytest.fixture(scope="module")
def book(kb: tuple[Database, EmbeddingCache]) -> PolicyBook:
    return load_policy(kb[0], 2, kb[1])


def dialog(*texts: str, region: str | None = "cn", did: str = "t1") -> Dialog:
    """Alternating customer / agent turns."""
    turns = tuple(Turn(Speaker.CUSTOMER if i % 2 == 0 else Speaker.AGENT, t, None if i % 2 == 0 else "a1")
                  for i, t in enumerate(texts))
    return Dialog(dialog_id=did, turns=turns, line_no=1, region=region)


_VECTORS: dict[str, np.ndarray] = {}


def exception(book: PolicyBook, d: Dialog) -> Finding | None:
    ex = describe(split_exchanges(d)[0])
    if ex.question not in _VECTORS:  # one batch for every question of this module (e5 calls are slow)
        questions = [t[0] for t, *_ in EXCEPTIONS + ALLOWED]
        _VECTORS.update(zip(questions, default_embedder().query(questions), strict=True))
    ranked = book.by_vector(_VECTORS[ex.question], d.region)
    return hidden_exception(d, ex, d.region, book, ranked)


# ------------------------------------------------------------------ soothing only
def test_soothing_only_needs_empathy_without_resolution() -> None:
    d = dialog("My refund still hasn't arrived, it's been a week!",
               "I'm so sorry to hear that, I completely understand how frustrating this must be.")
    f = soothing_only(d, describe(split_exchanges(d)[0]))
    assert f is not None and f.kind is FindingKind.SOOTHING_ONLY and f.turns == (1,)
    zh = dialog("耳机用了两天就有杂音，太失望了", "亲，真的很抱歉让您久等了，请您消消气，我们非常重视您的反馈。")
    assert soothing_only(zh, describe(split_exchanges(zh)[0])) is not None


@pytest.mark.parametrize("reply", [
    "I'm so sorry! Refunds are issued within 3 business days after the warehouse receives the return.",
    "Sorry about that, I've transferred you to a colleague.",
    "非常抱歉，请在 我的订单 → 申请售后 提交照片。",
    "Thanks for your patience! Put both earbuds in the case with the lid open and hold the button.",
])
def test_empathy_with_resolution_is_not_soothing_only(reply: str) -> None:
    d = dialog("This is really annoying, what now?", reply)
    assert soothing_only(d, describe(split_exchanges(d)[0])) is None


def test_greetings_and_thanks_are_not_judged() -> None:
    d = dialog("Ok thanks", "Sorry for the trouble, have a nice day!")
    assert soothing_only(d, describe(split_exchanges(d)[0])) is None


# ------------------------------------------------------------------ state dependent
@pytest.mark.parametrize("texts", [
    ("Where is my order H2026111501?", "It is on its way."),
    ("Any news?", "Your ticket is in progress and has been escalated."),
    ("为什么退款没处理？", "您的账户目前处于风控审核中，暂时无法处理。"),
    ("包裹到了吗", "帮您查了一下，您的包裹昨天已签收。"),
])
def test_state_dependent_content(texts: tuple[str, str]) -> None:
    d = dialog(*texts)
    f = state_dependent(d, {1})
    assert f is not None and f.kind is FindingKind.STATE_DEPENDENT


@pytest.mark.parametrize("reply", [
    "You can follow the tracking in My Orders. Once your order has been dispatched, the address can't be changed.",
    "The refund is issued within 3 business days after the warehouse receives your return.",
    "订单发货后地址就不能修改了，可以在 我的订单 里查看物流。",
])
def test_generic_policy_is_not_state(reply: str) -> None:
    assert state_dependent(dialog("How does it work?", reply), {1}) is None


# ------------------------------------------------------------------ volatile knowledge
@pytest.mark.parametrize("reply", [
    "Yes! Black Friday runs now: 15% off everything with code BF15.",  # promotion (KB) + code + percent
    "从11月15日起，标准配送满¥79就包邮了。",  # a fact changed in KB v2 + a date
    "Limited time offer this month only: free SF Express upgrade.",
    "双11期间全场9折。",
])
def test_volatile_knowledge(book: PolicyBook, reply: str) -> None:
    f = VolatileDetector(book).detect(dialog("Any deals?", reply))
    assert f is not None and f.kind is FindingKind.VOLATILE and f.turns == (1,)


def test_stable_policy_is_not_volatile(book: PolicyBook) -> None:
    d = dialog("How long do I have?", "You can return items within 14 days after delivery, unused and complete.")
    assert VolatileDetector(book).detect(d) is None


def test_volatile_terms_come_from_the_kb(book: PolicyBook) -> None:
    assert {"BF15", "WINTER20"} <= set(book.volatile_terms)
    assert ("amt", "¥79") in book.volatile_values  # changed from ¥99 in v2


# ------------------------------------------------------------------ hidden exceptions
EXCEPTIONS = [
    (("I got the Breeze desk fan 17 days ago and don't like it, can I still return it?",
      "No problem, I've opened the return for you, just send it back."), "eu", "14 days"),
    (("流明台灯签收12天了，不太喜欢，还能无理由退吗？", "可以的，已经帮您提交了退货申请，寄回就行。"), "cn", "7"),
    (("I opened the Nimbus earbuds and used them, but I don't like the sound. Can I return them?",
      "Sure, I've set up the return and refund for you, send them back."), "eu", "earbuds"),
    (("我买的礼品卡不想要了，能退吗？", "可以退的，我帮您申请退款。"), "cn", "礼品卡"),
    (("包裹比承诺时间晚了5天还没到！", "给您补偿¥50，马上发放。"), "cn", "补偿"),
    (("The invoice title is wrong again, it was already reissued once. Can you reissue it again?",
      "Sure, I'll reissue it again for you."), "cn", "only once"),
    (("The Lumen desk lamp broke after 45 days, I want a refund.",
      "OK, I'll give you a full refund, just send it back."), "cn", "30 days"),
]
ALLOWED = [
    (("I got the Breeze desk fan 5 days ago and don't want it, can I return it?",
      "Yes, you're within the window; I've opened the return, just send it back."), "eu"),
    (("I got the Breeze desk fan 12 days ago and don't want it, can I return it?",  # region unknown: 14 max
      "Yes, I've opened the return, just send it back."), None),
    (("The Nimbus earbuds are still sealed and unopened, can I return them?",
      "Unopened earbuds can be returned, I'll set up the return for you."), "eu"),
    (("云朵耳机还没拆封，可以退吗？", "未拆封的耳机可以无理由退货，我帮您办理退货。"), "cn"),
    (("The lamp broke after 10 days, can I get a refund?",
      "Yes, quality problems within 30 days can be refunded; I've submitted the refund."), "cn"),
    (("包裹晚了4天，有补偿吗？", "超过承诺送达日期3天以上，系统会自动给您发一张¥10优惠券。"), "cn"),
    (("I opened the Nimbus earbuds, can I return them?",
      "Sorry, opened earbuds can't be returned without a quality problem."), "eu"),
]


@pytest.mark.parametrize(("texts", "region", "passage"), EXCEPTIONS)
def test_hidden_exception_quotes_the_passage(book: PolicyBook, texts: tuple[str, str], region: str,
                                             passage: str) -> None:
    f = exception(book, dialog(*texts, region=region))
    assert f is not None and f.kind is FindingKind.HIDDEN_EXCEPTION, texts
    assert f.evidence["passage_id"] and passage in f.evidence["passage_rule"] + f.evidence["passage_text"]
    assert f.turns == (1,)


@pytest.mark.parametrize(("texts", "region"), ALLOWED)
def test_allowed_grants_and_refusals_are_not_exceptions(book: PolicyBook, texts: tuple[str, str],
                                                        region: str | None) -> None:
    assert exception(book, dialog(*texts, region=region)) is None


# ------------------------------------------------------------------ inconsistent answers, disputed topics
def _write(path: Path, rows: list[tuple[str, str, str]], region: str = "eu") -> Path:
    with path.open("w", encoding="utf-8") as fd:
        for i, (agent, q, a) in enumerate(rows):
            fd.write(json.dumps({"id": f"d{i}", "region": region, "agent": agent, "turns": [
                {"role": "customer", "text": q}, {"role": "agent", "text": a}]}) + "\n")
    return path


def _findings(run_dir: Path) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for line in (run_dir / "findings.jsonl").read_text(encoding="utf-8").splitlines():
        f = json.loads(line)
        out.setdefault(f["kind"], set()).add(f["dialog_id"])
    return out


def test_inconsistent_answer_against_other_agents_and_the_kb(tmp_path: Path,
                                                             kb: tuple[Database, EmbeddingCache]) -> None:
    q = "How long does a refund take?"
    good = "The refund is issued within 3 business days after the warehouse receives your return."
    bad = "Refunds are issued within 7 business days after we receive the item."
    rows = [(f"a{i % 4}", q, good) for i in range(8)] + [("a9", q, bad), ("a9", q, bad)]
    cfg = AuditConfig(input=_write(tmp_path / "d.jsonl", rows), kb_version=2, out_dir=tmp_path / "run")
    run_audit(cfg, db=kb[0], cache=kb[1], embedder=default_embedder())
    found = _findings(tmp_path / "run")
    assert found.get(FindingKind.INCONSISTENT.value) == {"d8", "d9"}
    ev = json.loads((tmp_path / "run" / "findings.jsonl").read_text().splitlines()[0])["evidence"]
    assert ev["value"] == "7 bday" and "3 bday" in ev["kb_values"] and ev["passage_id"].startswith("refund-timing")
    assert ev["values"] == {"3 bday": 8, "7 bday": 2}


def test_disputed_topic_when_no_policy_decides(tmp_path: Path, kb: tuple[Database, EmbeddingCache]) -> None:
    q = "Do you offer gift wrapping?"
    rows = [(f"a{i}", q, "Yes, we can gift-wrap it for free.") for i in range(4)]
    rows += [(f"b{i}", q, "Sorry, we don't offer gift wrapping.") for i in range(4)]
    rows += [("c1", "Can I pay with a credit card?", "We accept Visa and Mastercard.")]
    cfg = AuditConfig(input=_write(tmp_path / "d.jsonl", rows), kb_version=2, out_dir=tmp_path / "run")
    result = run_audit(cfg, db=kb[0], cache=kb[1], embedder=default_embedder())
    found = _findings(tmp_path / "run")
    assert found.get(FindingKind.DISPUTED.value) == {f"d{i}" for i in range(8)}
    assert FindingKind.INCONSISTENT.value not in found
    assert result.routes["excluded_business_owner"] == 8
    worst = result.worst_clusters[0]
    assert worst["kind"] == FindingKind.DISPUTED.value and worst["values"] == {"yes": 4, "no": 4}
    assert worst["passage_id"] is None


def test_a_closing_question_is_no_resolution() -> None:
    d = dialog("My parcel hasn't moved for days, when will it arrive?",
               "I'm so sorry to hear that, I understand. Anything else I can help with?")
    assert soothing_only(d, describe(split_exchanges(d)[0])) is not None
    d2 = dialog("My parcel hasn't moved for days!", "I'm so sorry! Could you send me the tracking number?")
    assert soothing_only(d2, describe(split_exchanges(d2)[0])) is None
