"""Preference review teaches the router: the reviewer confirms or corrects what the customer's message
needed (pre-filled with the router's reading), and the label lands in the learned bank once."""

from __future__ import annotations

import json
import re

import pytest

from console_data import pair_lines, write_pref_set
from console_support import (  # noqa: F401
    client,
    console_app,
    console_base,
    console_rt,
    csrf,
    signed_in,
)
from keel.online.router.banks import learned_bank, read_bank
from test_console_prefs import choose as choose_pair


@pytest.fixture
def pref_set(console_rt):
    return write_pref_set(console_rt.cfg.home)


def choose(client, item_id, chosen, rejected, need, name="demo"):
    data = {"csrf": csrf(client, f"/console/prefs/{name}"), "item_id": item_id, "chosen": chosen,
            "rejected": rejected, "all": "", "need": need}
    return client.post(f"/console/prefs/{name}/choose", data=data, follow_redirects=False)


def learned(rt) -> list[dict]:
    path = learned_bank(rt.cfg.router_dir)
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


def selected_need(html: str) -> str:
    select = html[html.index('<select name="need"'):]
    select = select[: select.index("</select>")]
    m = re.search(r'<option value="(\w*)" selected>', select)
    return m.group(1) if m else ""


def test_the_need_select_is_prefilled_with_the_routers_reading(client, console_rt, pref_set):
    signed_in(client, "rita")
    page = client.get("/console/prefs/demo").text
    assert 'id="need-pick"' in page and "What the customer&#39;s last message needed" in page
    options = re.findall(r'<option value="(\w*)"', page[page.index('<select name="need"'):])
    assert options[:9] == ["", "unsafe", "override", "person", "complaint", "account", "question", "out_of_scope",
                           "chitchat"]
    guess = selected_need(page)
    assert guess and "The router reads it as" in page  # the router in force read the last customer message
    assert str(learned_bank(console_rt.cfg.router_dir)) in page


def test_a_decided_pair_adds_the_confirmed_need_to_the_learned_bank_once(client, console_rt, pref_set):
    signed_in(client, "rita")
    r = choose(client, "dlg-017#3", "2", "1", need="complaint")
    assert r.status_code == 303
    rows = learned(console_rt)
    assert rows == [{"text": "上个月，能直接给我退全款再送一个吗？", "need": "complaint", "lang": "zh",
                     "source": "console:prefs:rita"}]
    page = client.get(r.headers["location"]).text
    assert "The router&#39;s learned bank now holds this message as complaint or upset." in page
    assert [e.need.value for e in read_bank(learned_bank(console_rt.cfg.router_dir))] == ["complaint"]
    again = choose(client, "dlg-017#3", "2", "3", need="person")  # saving again: the pair is replaced…
    assert again.status_code == 303
    assert learned(console_rt) == rows  # …the message is not added a second time
    assert "already holds this message" in client.get(again.headers["location"]).text
    assert choose(client, "dlg-020#1", "1", "2", need="question").status_code == 303
    assert [(x["text"], x["need"], x["lang"]) for x in learned(console_rt)][1] == (
        "How many days do I have to return a lamp?", "question", "en")


def test_no_need_or_a_bad_need_adds_nothing(client, console_rt, pref_set):
    signed_in(client, "rita")
    before = pair_lines(pref_set)
    bad = choose(client, "dlg-017#3", "2", "1", need="refund_now")
    assert bad.status_code == 422 and "refund_now is not one of the router" in bad.text
    assert pair_lines(pref_set) == before and learned(console_rt) == []  # neither the pair nor the need
    assert choose_pair(client, "dlg-017#3", chosen="2", rejected="1").status_code == 303  # the old form: no need
    assert choose(client, "dlg-020#1", "1", "2", need="").status_code == 303  # "not sure"
    assert learned(console_rt) == [] and len(pair_lines(pref_set)) == len(before) + 2


def test_a_missing_pick_keeps_the_need_chosen(client, console_rt, pref_set):
    signed_in(client, "rita")
    r = choose(client, "dlg-017#3", "2", "", need="account")
    assert r.status_code == 422 and selected_need(r.text) == "account" and learned(console_rt) == []


def test_chinese_words(client, pref_set):
    signed_in(client, "rita")
    client.get("/console/lang/zh")
    page = client.get("/console/prefs/demo").text
    for words in ("客户最后一条消息需要什么", "不确定：不用于训练路由", "路由判断为", "投诉或不满", "要求人工"):
        assert words in page, words
