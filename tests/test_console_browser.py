"""End-to-end: headless Debian Chromium (Playwright) against a real server started by the test."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from console_data import RUN_BASE, RUN_OTHER_SUITE, RUN_RISKIER, install_runs, make_runs, pair_lines, write_pref_set
from console_support import PASSWORD, console_base, fresh_runtime  # noqa: F401
from keel.api.app import create_app
from keel.api.background import BackgroundServer

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
if not CHROMIUM.exists():
    if os.environ.get("CI"):  # .ci/run installs chromium; a missing browser there is a broken run, not a skip
        raise RuntimeError(f"CI is set but {CHROMIUM} is missing")
    pytest.skip("browser tests need Debian's chromium at /usr/bin/chromium (apt-get install chromium)",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="browser tests need the playwright package (dev extra)")

NEW_DOC = """---
id: gift-wrap-en
topic: gift-wrap
lang: en
title: Gift wrapping
kind: faq
---
Gift wrapping costs ¥5 per order.
"""


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("browser") / "home"


@pytest.fixture(scope="module")
def server(console_base, home) -> Iterator[BackgroundServer]:
    rt = fresh_runtime(console_base, home)
    with BackgroundServer(create_app(rt.cfg, runtime=rt)) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def api(server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


def open_page(browser, server, name):
    """A new browser context (its own cookies), signed in as *name*."""
    context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(60_000)  # a busy 2-core CI machine renders the comparison charts slowly
    page = context.new_page()
    page.goto(f"{server.url}/console/inbox")
    assert "/console/login" in page.url  # nothing without a session
    page.fill("#name", name)
    page.fill("#password", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#signed-in")
    return page


def customer_asks_for_human(api, conv, user="u1002"):
    body = api.post(f"/v1/conversations/{conv}/messages", json={"text": "I want to speak to a human", "user_id": user})
    assert body.status_code == 200, body.text
    return body.json()["handoff_id"]


def test_claim_and_reply_reach_the_customer(browser, server, api):
    page = open_page(browser, server, "ana")
    expect = sync_api.expect
    hid = customer_asks_for_human(api, "e2e-reply")
    expect(page.locator(f'a.qitem[data-id="{hid}"]')).to_be_visible()  # arrives by live update, no reload
    page.click(f'a.qitem[data-id="{hid}"]')
    expect(page.locator("#h-conversation")).to_have_text("e2e-reply")
    page.click("#claim")
    expect(page.locator(".flash.ok")).to_contain_text(f"You claimed handoff #{hid}")
    page.fill("#reply-text", "Hi Emma, Ana here — I'll sort out the earbuds for you.")
    page.click("#send-reply")
    expect(page.locator(".flash.ok")).to_contain_text("Reply sent into conversation e2e-reply")
    last = api.get("/v1/conversations/e2e-reply").json()["messages"][-1]
    assert last["role"] == "agent" and last["author"] == "ana" and "Ana here" in last["content"]
    api.post("/v1/conversations/e2e-reply/messages", json={"text": "Great, thanks!", "user_id": "u1002"})
    expect(page.locator("#transcript")).to_contain_text("Great, thanks!")  # the customer's answer, live
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#release")
    expect(page.locator(".flash.ok")).to_contain_text(f"Handoff #{hid} released to the bot")
    assert api.get("/v1/conversations/e2e-reply").json()["status"] == "bot"
    page.click("#lang-switch")
    expect(page.locator("nav.nav")).to_contain_text("转人工收件箱")
    page.context.close()


def test_empty_reply_and_stale_claim_lose_nothing(browser, server, api):
    page = open_page(browser, server, "ana")
    expect = sync_api.expect
    hid = customer_asks_for_human(api, "e2e-stale", user="u1006")
    page.goto(f"{server.url}/console/inbox/{hid}")
    page.click("#send-reply")
    expect(page.locator("#form-error")).to_contain_text("The reply is empty")
    draft = "Hello Oliver, I'm looking at your parcel now."
    page.fill("#reply-text", draft)
    assert api.post(f"/v1/handoffs/{hid}/claim", json={"agent": "ben"}).status_code == 200  # another agent wins
    expect(page.locator("#h-notice")).to_contain_text("ben holds this conversation")  # told live
    page.click("#send-reply")
    expect(page.locator("#form-error")).to_contain_text("ben has already claimed this conversation")
    expect(page.locator("#reply-text")).to_have_value(draft)  # nothing typed is lost
    messages = api.get("/v1/conversations/e2e-stale").json()["messages"]
    assert all(m["role"] != "agent" for m in messages)
    page.context.close()


def test_publish_and_roll_back_a_kb_version(browser, server, api):
    page = open_page(browser, server, "olga")
    expect = sync_api.expect
    page.goto(f"{server.url}/console/kb")
    before = api.get("/v1/kb/versions").json()["versions"]
    current = next(v["version"] for v in before if v["current"])

    page.set_input_files("#files", files=[{"name": "big.md", "mimeType": "text/markdown", "buffer": b"x" * 6_000_000}])
    expect(page.locator("#upload-error")).to_contain_text("the limit is 5.0 MB")
    page.click("#publish")  # refused in the browser: nothing is sent
    bad = NEW_DOC.replace("kind: faq", "kind: rumour").encode()
    page.set_input_files("#files", files=[{"name": "gift.md", "mimeType": "text/markdown", "buffer": bad}])
    page.check("#overlay")
    page.fill("#note", "gift wrapping")
    page.click("#publish")
    expect(page.locator("#form-error")).to_contain_text("gift.md: field 'kind'")
    expect(page.locator("#note")).to_have_value("gift wrapping")
    assert api.get("/v1/kb/versions").json()["versions"] == before

    page.set_input_files("#files", files=[{"name": "gift.md", "mimeType": "text/markdown", "buffer": NEW_DOC.encode()}])
    page.click("#publish")
    new = len(before) + 1
    expect(page.locator(".flash.ok")).to_contain_text(f"Published KB version {new}")
    expect(page.locator("#diff")).to_contain_text("gift-wrap-en")
    after = api.get("/v1/kb/versions").json()["versions"]
    assert next(v for v in after if v["current"])["version"] == new and after[-1]["note"] == "gift wrapping"

    page.once("dialog", lambda dialog: dialog.accept())
    page.click(f'button[data-rollback="{current}"]')
    expect(page.locator(".flash.ok")).to_contain_text(f"KB version {current} is in force again")
    expect(page.locator(f'tr[data-version="{current}"] .in-force')).to_be_visible()
    assert next(v for v in api.get("/v1/kb/versions").json()["versions"] if v["current"])["version"] == current
    assert re.search(r"/console/kb$", page.url)
    page.context.close()


def test_pick_a_preference(browser, server, home):
    folder = write_pref_set(home)
    page = open_page(browser, server, "rita")
    expect = sync_api.expect
    page.click('a[data-nav="prefs"]')
    expect(page.locator('tr[data-set="demo"] [data-count="pending"]')).to_have_text("2")
    page.click('tr[data-set="demo"] a >> nth=0')
    expect(page.locator("#item-id")).to_contain_text("dlg-017#3")
    expect(page.locator("#system-prompt")).not_to_have_attribute("open", "")  # the long system prompt is folded
    page.click("#skip")
    expect(page.locator("#item-id")).to_contain_text("dlg-020#1")
    page.click('#pref-queue a[data-item="dlg-017#3"]')
    expect(page.locator("#item-id")).to_contain_text("dlg-017#3")
    page.click("#save-pair")
    expect(page.locator("#form-error")).to_contain_text("Pick one better and one worse candidate")
    page.check("#better-2")
    page.check("#worse-2")
    page.click("#save-pair")
    expect(page.locator("#form-error")).to_contain_text("Candidate 2 cannot be both the better and the worse")
    expect(page.locator("#better-2")).to_be_checked()  # nothing picked is lost
    page.check("#worse-1")
    page.click("#save-pair")
    expect(page.locator(".flash.ok")).to_contain_text("Saved for dlg-017#3: candidate 2 is better than 1.")
    expect(page.locator("#item-id")).to_contain_text("dlg-020#1")  # on to the next prompt
    expect(page.locator('#set-counts [data-count="human"]')).to_have_text("1")
    last = pair_lines(folder)[-1]
    assert last["id"] == "dlg-017#3" and last["judge"] == "human:rita"
    expect(page.locator("#skip")).to_have_count(0)  # the only prompt left: nothing to skip to
    page.context.close()


def test_compare_two_runs_and_see_the_gate(browser, server, home, console_base, tmp_path):
    install_runs(make_runs(console_base.cfg, tmp_path), home)
    page = open_page(browser, server, "root")
    expect = sync_api.expect
    page.click('a[data-nav="eval"]')
    expect(page.locator("#runs")).to_contain_text(RUN_RISKIER)
    page.check(f'input[name="baseline"][value="{RUN_BASE}"]')
    page.check(f'input[name="candidate"][value="{RUN_OTHER_SUITE}"]')
    page.click("#compare")
    expect(page.locator("#form-error")).to_contain_text("the runs used different eval suites")
    expect(page.locator(f'input[name="candidate"][value="{RUN_OTHER_SUITE}"]')).to_be_checked()
    page.check(f'input[name="candidate"][value="{RUN_RISKIER}"]')
    page.click("#compare")
    expect(page.locator("#gate-word")).to_have_text("FAIL")
    expect(page.locator('#gate-checks li.failed[data-metric="refusal_recall"]')).to_contain_text("significantly worse")
    expect(page.locator('#metrics tr[data-metric="refusal_recall"]')).to_have_class("verdict-worse")
    for chart in ("#metric-chart", "#category-chart"):  # the report's PNG charts load under the console's CSP
        assert page.locator(chart).evaluate("img => img.complete && img.naturalWidth > 200")
    expect(page.locator('#flips tr[data-case="refuse-20"]')).to_contain_text("Her phone is 555-0100.")
    page.context.close()
