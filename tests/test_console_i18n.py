"""Console strings: both languages complete, the switch, Accept-Language, every key used exists."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest

from console_support import client, console_app, console_base, console_rt, handoff, signed_in  # noqa: F401
from keel.console.auth import AgentRole
from keel.console.i18n import LANG_COOKIE, STRINGS, Catalog, negotiate
from keel.console.routes import PAGES
from keel.domain import Action, Lang, Modifier, Reason, Role
from keel.online.conversations import ConversationStatus
from keel.online.emotion import EmotionLevel
from keel.online.handoff import HandoffStatus
from keel.online.router.banks import Need
from keel.online.state.model import RiskLevel

CONSOLE = Path(__file__).parents[1] / "src" / "keel" / "console"


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def all_strings() -> dict[Lang, dict[str, str]]:
    """The built-in strings and those every registered page brings."""
    return Catalog(tuple(page.strings for page in PAGES)).strings


def test_both_languages_have_every_string_with_the_same_placeholders():
    strings = all_strings()
    en, zh = strings[Lang.EN], strings[Lang.ZH]
    assert en.keys() == zh.keys()
    for key in en:
        assert placeholders(en[key]) == placeholders(zh[key]), key
        assert en[key] != zh[key] or key == "kb.diff_title", f"{key} is not translated"


def test_every_key_used_by_templates_and_code_exists():
    used: set[str] = set()
    for path in CONSOLE.rglob("*"):
        if path.suffix in {".html", ".py"}:
            text = path.read_text(encoding="utf-8")
            used |= set(re.findall(r"""\bt\(\s*["']([a-z_]+\.[a-z_.]+)["']""", text))
            used |= set(re.findall(r"""label=["']([a-z_]+\.[a-z_.]+)["']""", text))
    assert len(used) > 100
    missing = sorted(k for k in used if k not in all_strings()[Lang.EN])
    assert not missing


@pytest.mark.parametrize(
    ("group", "values"),
    [
        ("status", HandoffStatus),
        ("reason", Reason),
        ("action", Action),
        ("modifier", Modifier),
        ("risk", RiskLevel),
        ("emotion", EmotionLevel),
        ("agentrole", AgentRole),
        ("convstatus", ConversationStatus),
        ("need", Need),
    ],
)
def test_every_closed_set_value_has_words(group, values):
    for lang in Lang:
        t = Catalog().translator(lang)
        for value in values:
            assert f"{group}.{value.value}" in STRINGS[lang], (lang, group, value)
            assert t.label(group, value.value) != value.value or lang is Lang.EN


def test_roles_in_transcripts_have_words():
    for lang in Lang:
        for role in Role:
            assert f"role.{role.value}" in STRINGS[lang]


def test_translator_falls_back_and_pages_can_add_strings():
    catalog = Catalog(({"en": {"eval.title": "Evaluation"}, "zh": {"eval.title": "评测"}},))
    zh = catalog.translator(Lang.ZH)
    assert zh("eval.title") == "评测" and zh("nav.inbox") == "转人工收件箱"
    only_en = Catalog(({"en": {"x.y": "only English"}},)).translator(Lang.ZH)
    assert only_en("x.y") == "only English" and only_en("no.such.key") == "no.such.key"
    assert zh.label("reason", "something_new") == "something_new"


@pytest.mark.parametrize(
    ("cookie", "header", "expected"),
    [
        (None, None, Lang.EN),
        (None, "zh-CN,zh;q=0.9,en;q=0.8", Lang.ZH),
        (None, "en-US,en;q=0.9,zh-CN;q=0.8", Lang.EN),
        (None, "fr-FR,zh-TW;q=0.5,en;q=0.4", Lang.ZH),
        (None, "de, fr", Lang.EN),
        (None, "en;q=0.2, zh;q=0.7", Lang.ZH),
        (None, "zh;q=bogus, en", Lang.EN),
        ("en", "zh-CN", Lang.EN),
        ("zh", "en-US", Lang.ZH),
        ("klingon", "zh-CN", Lang.ZH),
    ],
)
def test_negotiate(cookie, header, expected):
    assert negotiate(cookie, header) is expected


def test_switch_and_default_language(client):
    login_en = client.get("/console/login")
    assert "Sign in" in login_en.text and 'lang="en"' in login_en.text
    login_zh = client.get("/console/login", headers={"accept-language": "zh-CN,zh;q=0.9"})
    assert "登录" in login_zh.text and 'lang="zh-CN"' in login_zh.text
    signed_in(client, "ana")
    handoff(client, "i18n-1")
    assert "Handoff inbox" in client.get("/console/inbox").text
    r = client.get("/console/lang/zh?next=/console/inbox/1", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/inbox/1"
    assert f"{LANG_COOKIE}=zh" in r.headers["set-cookie"]
    page = client.get("/console/inbox/1").text
    for words in ("转人工收件箱", "转人工原因", "红线规则", "接手", "发送回复", "当前登录：ana（客服）", "English"):
        assert words in page, words
    assert 'href="/console/lang/en?next=%2Fconsole%2Finbox%2F1"' in page
    off_site = client.get("/console/lang/zh?next=https://evil.example", follow_redirects=False)
    assert off_site.headers["location"] == "/console"
    assert client.get("/console/lang/fr").status_code == 400
    client.get("/console/lang/en")
    assert "Handoff inbox" in client.get("/console/inbox").text
