"""The business is configuration: regions, statuses, memberships and facts come from business.yaml."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from keel.business import Business, FactType, load_business
from keel.config import DEMO_DIR, EXAMPLES_DIR, load_config
from keel.domain import Action, Lang, Reason
from keel.embed import EmbeddingCache, default_embedder
from keel.errors import ConfigError, InvalidInput
from keel.online.kb import store
from keel.online.kb.documents import KBDocument, check_regions
from keel.online.kb.index import build_index
from keel.online.model.scripted import ScriptedModel, ScriptEntry
from keel.online.pipeline import MessageRequest, handle_message
from keel.online.rules.schema import load_rules
from keel.online.runtime import open_runtime
from keel.online.state.model import UserState
from keel.online.state.policy import assess_state, render_facts
from keel.online.state.providers import JsonStateProvider, SqliteStateProvider
from keel.text import normalize

SKYLARK = EXAMPLES_DIR / "skylark"
TODAY = date(2026, 11, 24)


def _doc(doc_id: str, regions: list[str], body: str = "Text.") -> KBDocument:
    return KBDocument.model_validate(
        {"id": doc_id, "topic": doc_id, "lang": "en", "title": doc_id, "kind": "faq", "region": regions, "body": body}
    )


def test_the_demo_business_lives_in_its_file():
    demo = load_business(DEMO_DIR / "business.yaml")
    assert set(demo.regions) == {"cn", "hk", "eu"}
    assert demo.name.en == "Harbor Goods" and demo.memberships["harbor_plus"].zh == "港湾会员"
    cfg = load_config(env={})
    assert cfg.business == demo and cfg.brand_zh == "港湾优品" and cfg.rules_path == DEMO_DIR / "rules.yaml"


def test_skylark_loads_with_its_own_regions_statuses_and_facts():
    sky = load_business(SKYLARK / "business.yaml")
    assert set(sky.regions) == {"us", "eu", "sg"} and not sky.memberships
    assert sky.order.label("trialing", Lang.EN) == "in trial" and sky.ticket.noun.en == "request"
    assert sky.facts["balance_due"].type is FactType.MONEY and sky.facts["renews_on"].type is FactType.DATE


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"regions": {"US": {"en": "x", "zh": "x"}}}, "regions"),
        ({"colour": "blue"}, "colour: unknown field"),
        ({"facts": {"seats": {"en": "Seats", "zh": "席位", "type": "integer"}}}, "facts.seats.type"),
        ({"order": {"noun": {"en": "order", "zh": "订单"}, "id_pattern": "(unclosed"}}, "order.id_pattern"),
    ],
)
def test_a_bad_business_file_names_the_field(tmp_path: Path, change: dict, needle: str):
    import yaml

    data = yaml.safe_load((SKYLARK / "business.yaml").read_text(encoding="utf-8")) | change
    path = tmp_path / "business.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError, match=needle.replace("(", r"\(")):
        load_business(path)


# ---- regions ------------------------------------------------------------------------------------


def test_a_region_outside_the_demos_is_served_by_its_documents_and_by_all(embedding_cache: Path):
    docs = [_doc("us-only", ["us"]), _doc("everywhere", ["all"]), _doc("eu-only", ["eu"])]
    index = build_index(1, docs, EmbeddingCache(embedding_cache / "embeddings.sqlite", default_embedder()))
    ids = lambda mask: {d.doc_id for d, m in zip(index.docs, mask, strict=True) if m}  # noqa: E731
    assert ids(index.for_region("us")) == {"us-only", "everywhere"}
    # a region no document names still gets the documents for every region (it used to get none)
    assert ids(index.for_region("sg")) == {"everywhere"}
    assert np.all(index.for_region(None))


def test_publishing_a_region_the_business_does_not_declare_is_refused():
    check_regions([_doc("a", ["us", "all"])], {"us", "eu"})
    with pytest.raises(InvalidInput, match="'jp'"):
        check_regions([_doc("a", ["jp"])], {"us", "eu"})


@pytest.fixture(scope="module")
def skylark_runtime(tmp_path_factory: pytest.TempPathFactory, embedding_cache: Path):
    """Skylark from its own keel.yaml (router off: rules, state, retrieval, guard), KB v1 + v2 published."""
    home = tmp_path_factory.mktemp("skylark")
    cfg = load_config(
        SKYLARK / "keel.yaml",
        env={},
        home=home,
        model="scripted",
        today=TODAY,
        embedding_cache_dir=embedding_cache,
        router={"enabled": False},
    )

    def make(entries: tuple[ScriptEntry, ...] = ()):
        rt = open_runtime(cfg, model=ScriptedModel(entries))
        if store.current_version(rt.db) is None:
            for source in cfg.kb_sources:
                store.publish_folder(rt.db, source.folder, overlay=source.overlay, regions=cfg.business.regions)
        return rt

    return make


def test_a_us_customer_gets_the_us_documents(skylark_runtime):
    rt = skylark_runtime()
    r = handle_message(
        rt, MessageRequest(conversation_id="us-tax", text="Do you charge sales tax?", user_id="s2001", verified=True)
    )
    assert r.decision.action is Action.ANSWER, r.decision
    assert "sales-tax-us-en" in r.passage_ids, r.passage_ids
    index = rt.indexes.get(r.kb_version or 0)
    at = next(i for i, d in enumerate(index.docs) if d.doc_id == "sales-tax-us-en")
    assert index.for_region("us")[at] and not index.for_region("eu")[at]


# ---- statuses, memberships, facts ---------------------------------------------------------------


def _users(tmp_path: Path, users: list[dict]) -> Path:
    path = tmp_path / "users.json"
    path.write_text(json.dumps({"users": users}), encoding="utf-8")
    return path


def test_a_custom_status_is_labelled_from_the_business():
    sky = load_business(SKYLARK / "business.yaml")
    user = JsonStateProvider(SKYLARK / "customers.json", sky).get("s2006")
    assert user is not None and user.orders[0].status == "trialing"
    en = render_facts(user, Lang.EN, TODAY, business=sky)
    zh = render_facts(user, Lang.ZH, TODAY, business=sky)
    assert "Subscription SUB-310610 / Team" in en and ": in trial" in en
    assert "订阅 SUB-310610" in zh and "：试用中" in zh


def test_a_status_the_business_does_not_know_is_an_error(tmp_path: Path):
    sky = load_business(SKYLARK / "business.yaml")
    path = _users(
        tmp_path, [{"user_id": "x1", "region": "us", "orders": [{"order_id": "SUB-000001", "status": "shipped"}]}]
    )
    with pytest.raises(ConfigError, match=r"user x1: orders\[0\]\.status: 'shipped' is not an order status"):
        JsonStateProvider(path, sky)


@pytest.mark.parametrize(
    ("user", "needle"),
    [
        ({"user_id": "x1", "tracking_number": "1Z999"}, r"tracking_number: unknown field"),
        (
            {"user_id": "x1", "orders": [{"order_id": "SUB-1", "status": "active", "address": "x"}]},
            r"orders\[0\]\.address: unknown field",
        ),
        ({"user_id": "x1", "region": "cn"}, r"region: 'cn' is not a region"),
        ({"user_id": "x1", "memberships": ["gold"]}, r"memberships: 'gold'"),
        ({"user_id": "x1", "facts": {"shoe_size": 42}}, r"facts\.shoe_size: unknown fact"),
        ({"user_id": "x1", "facts": {"renews_on": "next week"}}, r"facts\.renews_on: expected a date"),
        ({"user_id": "x1", "facts": {"balance_due": 12}}, r"facts\.balance_due: expected money"),
        ({"user_id": "x1", "facts": {"seats": "eight"}}, r"facts\.seats: expected a number"),
    ],
)
def test_unknown_fields_and_bad_facts_are_errors_naming_them(tmp_path: Path, user: dict, needle: str):
    sky = load_business(SKYLARK / "business.yaml")
    with pytest.raises(ConfigError, match=needle):
        JsonStateProvider(_users(tmp_path, [user]), sky)


def test_no_membership_programme_means_no_membership_line():
    sky = load_business(SKYLARK / "business.yaml")
    demo = load_business(DEMO_DIR / "business.yaml")
    user = UserState(user_id="x1", name="Ann", region="us", memberships=())
    assert "member" not in render_facts(user, Lang.EN, TODAY, business=sky)
    assert "会员" not in render_facts(user, Lang.ZH, TODAY, business=sky)
    assert "Harbor Plus member: no" in render_facts(
        user.model_copy(update={"region": "eu"}), Lang.EN, TODAY, business=demo
    )


def test_custom_facts_reach_the_prompt_facts_and_the_guard_evidence():
    sky = load_business(SKYLARK / "business.yaml")
    rules = load_rules(SKYLARK / "rules.yaml", default_embedder())
    cfg = load_config(SKYLARK / "keel.yaml", env={})
    user = JsonStateProvider(SKYLARK / "customers.json", sky).get("s2003")
    text = normalize("When is my next payment retry?")
    signal = assess_state(user, text, Lang.EN, rules, cfg.decision, TODAY, business=sky)
    assert "Next payment retry on: 2026-11-25 (in 1 day)" in signal.facts
    assert "Balance due: 10.71 EUR" in signal.facts and "Grace period ends on: 2026-12-02 (in 8 days)" in signal.facts
    assert "Payment method: Visa •••• 0341" in signal.facts
    for value in ("2026-11-25", "2026-12-02", "10.71", "WS-310992"):
        assert value in signal.evidence
    assert "facts" in signal.keys


def test_facts_the_customer_owns_pass_the_guard_and_invented_ones_do_not(skylark_runtime):
    true = "Your next payment retry is on 2026-11-25 and the grace period ends on 2026-12-02."
    false = "Your next payment retry is on 2026-11-27 and the grace period ends on 2026-12-09."
    rt = skylark_runtime(
        (
            ScriptEntry("retry", json.dumps({"cites": [], "reply": true, "action": "answer"})),
            ScriptEntry("grace", json.dumps({"cites": [], "reply": false, "action": "answer"})),
        )
    )
    ok = handle_message(
        rt, MessageRequest(conversation_id="g1", text="When is my next payment retry?", user_id="s2003", verified=True)
    )
    assert ok.decision.reason is not Reason.GUARD and "2026-12-02" in (ok.reply or ""), ok
    bad = handle_message(
        rt, MessageRequest(conversation_id="g2", text="When does my grace period end?", user_id="s2003", verified=True)
    )
    assert bad.decision.reason is Reason.GUARD and "2026-12-09" not in (bad.reply or ""), bad


def test_a_sqlite_row_written_before_business_yaml_is_upgraded(tmp_path: Path):
    demo = load_business(DEMO_DIR / "business.yaml")
    store_ = SqliteStateProvider(tmp_path / "state.sqlite", demo)
    old = {
        "user_id": "u9",
        "region": "cn",
        "member": True,
        "orders": [
            {"order_id": "H2026000001", "status": "delivered", "delivered_at": "2026-11-20", "dispatched_at": None}
        ],
    }
    with store_._conn() as conn:
        conn.execute(
            "INSERT INTO customer_state (tenant, user_id, data) VALUES ('default', 'u9', ?)", (json.dumps(old),)
        )
    user = store_.get("u9")
    assert user is not None and user.memberships == ("harbor_plus",)
    assert user.orders[0].facts == {"delivered_at": "2026-11-20"}


def test_the_demo_prompt_block_is_what_it_was():
    demo = load_business(DEMO_DIR / "business.yaml")
    user = JsonStateProvider(DEMO_DIR / "users.json", demo).get("u1001")
    assert user is not None
    zh = render_facts(user, Lang.ZH, TODAY, business=demo)
    assert zh.startswith("客户：李伟，地区 cn，港湾会员：否，手机 ****1001\n今天：2026-11-24")
    assert "订单 H2026111501 / Aurora kettle / 199 CNY：已签收，下单 2026-11-15" in zh
    assert "签收 2026-11-20（4 天前）" in zh


def test_business_round_trips_through_a_dumped_config():
    cfg = load_config(SKYLARK / "keel.yaml", env={})
    from keel.config import KeelConfig

    again = KeelConfig.model_validate_json(cfg.model_dump_json())
    assert again.business == cfg.business and isinstance(again.business, Business)
    assert again.rules_path == SKYLARK / "rules.yaml" and again.state == f"json:{SKYLARK / 'customers.json'}"


def _system_prompt(rt) -> str:
    from keel.domain import Role

    return next(m.content for m in rt.model.calls[-1].messages if m.role is Role.SYSTEM)


def test_the_pipeline_prompt_carries_the_business_labels(skylark_runtime, make_runtime):
    sky = skylark_runtime()
    handle_message(
        sky, MessageRequest(conversation_id="p1", text="When does my trial end?", user_id="s2006", verified=True)
    )
    prompt = _system_prompt(sky)
    assert "Subscription SUB-310610" in prompt and "in trial" in prompt and "Trial ends on" in prompt
    assert "member" not in prompt.split("[Customer]")[1]
    demo = make_runtime()
    handle_message(demo, MessageRequest(conversation_id="p2", text="我的水壶还能退吗？", user_id="u1001"))
    assert "港湾会员：否" in _system_prompt(demo) and "：已签收" in _system_prompt(demo)
