"""Preference review page: sets with counts, one item at a time, picking a pair, conflicts, bad input, roles."""

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
    new_client,
    signed_in,
)
from keel.prefs.store import final_pairs, record_choice


@pytest.fixture
def pref_set(console_rt):
    return write_pref_set(console_rt.cfg.home)


def choose(client, item_id, chosen="", rejected="", all_="", name="demo", token=None):
    data = {"csrf": token or csrf(client, f"/console/prefs/{name}"), "item_id": item_id, "chosen": chosen,
            "rejected": rejected, "all": all_}
    return client.post(f"/console/prefs/{name}/choose", data=data, follow_redirects=False)


def counts(html: str) -> dict[str, int]:
    return {k: int(v) for k, v in re.findall(r'data-count="(\w+)">(?:<span[^>]*>)?(\d+)', html)}


def checked(html: str, name: str) -> list[str]:
    return re.findall(rf'name="{name}" value="(\d+)"[^>]*\n?\s*checked', html)


def test_sets_are_listed_with_their_counts(client, pref_set):
    signed_in(client, "rita")
    page = client.get("/console/prefs")
    assert page.status_code == 200 and 'data-set="demo"' in page.text and "scripted:prefs" in page.text
    assert counts(page.text) == {"items": 3, "rule": 1, "human": 0, "pending": 2}
    assert 'href="/console/prefs"' in page.text and ">Preferences<" in page.text  # in the navigation


def test_no_sets_yet_says_how_to_make_one(client):
    signed_in(client, "rita")
    page = client.get("/console/prefs").text
    assert 'id="no-sets"' in page and "keel prefs build" in page


def test_review_shows_the_first_pending_item_side_by_side(client, pref_set):
    signed_in(client, "rita")
    page = client.get("/console/prefs/demo").text
    assert '<h2 id="item-id"><code>dlg-017#3</code>' in page and "1 of 2 to review" in page
    assert '<details class="system-prompt"' in page and "System prompt (" in page  # collapsed, not open
    assert "上个月，能直接给我退全款再送一个吗？" in page and "很抱歉，请问是什么时候签收的？" in page
    assert "rule no-promise-compensation: a person decides" in page and "soothe the customer" in page
    assert page.count('class="cand"') == 3 and "rule score +4" in page and "rule score -3" in page
    assert "guard: promise (退全款)" in page and "historical agent reply" in page
    assert 'id="save-pair"' in page and 'href="/console/prefs/demo?item=dlg-020%231"' in page  # skip → next
    assert 'data-item="dlg-031#2"' not in page  # the rule judge's pair is not in the default queue


def test_picking_writes_a_human_pair_and_moves_on(client, pref_set):
    signed_in(client, "rita")
    r = choose(client, "dlg-017#3", chosen="2", rejected="1")
    assert r.status_code == 303 and r.headers["location"] == "/console/prefs/demo?item=dlg-020%231"
    last = pair_lines(pref_set)[-1]
    assert last["id"] == "dlg-017#3" and last["judge"] == "human:rita" and last["margin"] == 7.0
    assert last["chosen"][0]["content"].startswith("非常抱歉给您带来不便") and last["chosen"][0]["content"].endswith(
        "ACTION: handoff")
    assert last["rejected"][0]["content"].startswith("好的，马上给您退全款")
    assert {p["id"]: p["judge"] for p in final_pairs(pref_set)}["dlg-017#3"] == "human:rita"
    exported = json.loads((pref_set / "pairs.llamafactory.json").read_text(encoding="utf-8"))
    assert len(exported) == 2  # the LLaMA-Factory export is refreshed, as with `keel prefs annotate`
    page = client.get(r.headers["location"]).text
    assert "Saved for dlg-017#3: candidate 2 is better than 1." in page and "dlg-020#1" in page
    assert counts(page)["human"] == 1 and counts(page)["pending"] == 1
    again = client.get("/console/prefs/demo?item=dlg-017%233").text
    assert "You chose candidate 2 over 1; saving again replaces it." in again and "not in the review queue" in again
    assert counts(client.get("/console/prefs").text) == {"items": 3, "rule": 1, "human": 1, "pending": 1}


def test_last_item_then_nothing_left(client, pref_set):
    signed_in(client, "rita")
    assert choose(client, "dlg-017#3", chosen="2", rejected="1").status_code == 303
    r = choose(client, "dlg-020#1", chosen="1", rejected="2")
    assert r.status_code == 303 and r.headers["location"] == "/console/prefs/demo"
    page = client.get("/console/prefs/demo").text
    assert 'id="all-done"' in page and "Review the rule judge&#39;s pairs too" in page


def test_missing_or_same_choice_is_explained_and_kept(client, pref_set):
    signed_in(client, "rita")
    before = pair_lines(pref_set)
    missing = choose(client, "dlg-017#3", chosen="3")
    assert missing.status_code == 422 and 'id="form-error"' in missing.text
    assert "Pick one better and one worse candidate before saving." in missing.text
    assert checked(missing.text, "chosen") == ["3"] and checked(missing.text, "rejected") == []
    assert '<h2 id="item-id"><code>dlg-017#3</code>' in missing.text  # still the same item
    same = choose(client, "dlg-017#3", chosen="2", rejected="2")
    assert same.status_code == 422
    assert "Candidate 2 cannot be both the better and the worse" in same.text
    assert "Your picks are kept below." in same.text
    assert checked(same.text, "chosen") == ["2"] and checked(same.text, "rejected") == ["2"]
    out_of_range = choose(client, "dlg-020#1", chosen="1", rejected="7")
    assert out_of_range.status_code == 422 and "candidates are numbered 1..2" in out_of_range.text
    assert checked(out_of_range.text, "chosen") == ["1"]
    garbage = choose(client, "dlg-020#1", chosen="first", rejected="-1")
    assert garbage.status_code == 422 and "Pick one better and one worse" in garbage.text
    assert pair_lines(pref_set) == before  # nothing written


def test_an_item_judged_by_another_reviewer_is_a_conflict(client, console_app, pref_set):
    signed_in(client, "rita")
    token = csrf(client, "/console/prefs/demo")  # rita opened the page first…
    with new_client(console_app) as other:
        signed_in(other, "root")
        assert choose(other, "dlg-017#3", chosen="3", rejected="1").status_code == 303  # …root saved first
    r = choose(client, "dlg-017#3", chosen="2", rejected="1", token=token)
    assert r.status_code == 409 and "root has already judged this prompt; your choice was not saved." in r.text
    assert checked(r.text, "chosen") == ["2"] and checked(r.text, "rejected") == ["1"]  # rita's picks kept
    assert "root chose candidate 3 over 1." in r.text
    assert [p["judge"] for p in pair_lines(pref_set)] == ["rule", "human:root"]


def test_rule_decided_items_can_be_reviewed_and_overridden(client, pref_set):
    signed_in(client, "rita")
    page = client.get("/console/prefs/demo?all=1").text
    assert 'id="tab-all" class="active"' in page and "Also the rule judge&#39;s (3)" in page
    ids = re.findall(r'data-item="([^"]+)"', page)
    assert ids == ["dlg-017#3", "dlg-020#1", "dlg-031#2"]  # undecided first
    rule = client.get("/console/prefs/demo?item=dlg-031%232&all=1").text
    assert "The rule judge chose candidate 1 over 2." in rule and "3 of 3 to review" in rule
    assert "✔ better" in rule and "✘ worse" in rule
    r = choose(client, "dlg-031#2", chosen="1", rejected="2", all_="1")
    assert r.status_code == 303 and r.headers["location"] == "/console/prefs/demo?item=dlg-017%233&all=1"
    assert {p["id"]: p["judge"] for p in final_pairs(pref_set)}["dlg-031#2"] == "human:rita"


def test_only_reviewers_and_admins_pick(client, console_app, pref_set):
    signed_in(client, "ana")
    page = client.get("/console/prefs/demo")
    assert page.status_code == 200 and "needs the reviewer or admin role" in page.text
    assert 'id="save-pair"' not in page.text and page.text.count(" disabled>") == 6
    denied = choose(client, "dlg-017#3", chosen="2", rejected="1")
    assert denied.status_code == 403
    with new_client(console_app) as anonymous:
        assert anonymous.get("/console/prefs/demo", follow_redirects=False).status_code == 303
        assert anonymous.post("/console/prefs/demo/choose", data={"item_id": "dlg-017#3"},
                              follow_redirects=False).headers["location"].startswith("/console/login")
    with new_client(console_app) as reviewer:
        signed_in(reviewer, "rita")
        expired = choose(reviewer, "dlg-017#3", chosen="2", rejected="1", token="forged")
        assert expired.status_code == 400 and "expired" in expired.text
    assert [p["judge"] for p in pair_lines(pref_set)] == ["rule"]


def test_unknown_sets_items_and_paths(client, pref_set):
    signed_in(client, "rita")
    assert client.get("/console/prefs/nope").status_code == 404
    assert client.get("/console/prefs/..%2F..%2Fetc").status_code == 404
    assert client.get("/console/prefs/.hidden").status_code == 404
    missing = client.get("/console/prefs/demo?item=no-such")
    assert missing.status_code == 404 and "no prompt &#39;no-such&#39;" in missing.text
    assert choose(client, "no-such", chosen="1", rejected="2").status_code == 404


def test_a_choice_made_in_the_terminal_shows_up(client, pref_set):
    record_choice(pref_set, "dlg-020#1", 0, 1, "li")  # `keel prefs annotate` writes the same pairs
    signed_in(client, "rita")
    page = client.get("/console/prefs/demo?item=dlg-020%231").text
    assert "li chose candidate 1 over 2." in page
    assert counts(client.get("/console/prefs").text)["human"] == 1


def test_chinese(client, pref_set):
    signed_in(client, "rita")
    client.get("/console/lang/zh")
    page = client.get("/console/prefs/demo").text
    for words in ("偏好评审", "候选 1", "更好", "更差", "保存这一对", "Keel 的预期", "待评审第 1 / 2 条"):
        assert words in page, words
    r = choose(client, "dlg-017#3", chosen="1", rejected="1")
    assert "候选 1 不能既是更好的又是更差的" in r.text
