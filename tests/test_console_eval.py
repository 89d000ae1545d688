"""Evaluation page: the runs, a comparison with charts and flipped cases, the gate verdict, bad choices."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from console_data import (
    RUN_BASE,
    RUN_BETTER,
    RUN_OTHER_SUITE,
    RUN_RISKIER,
    RUN_RUNNING,
    install_runs,
    make_runs,
)
from console_support import client, console_app, console_base, console_rt, signed_in  # noqa: F401
from keel.console import evalview
from keel.eval.gate import GatePolicy


@pytest.fixture(scope="module")
def made_runs(console_base, tmp_path_factory) -> Path:
    return make_runs(console_base.cfg, tmp_path_factory.mktemp("eval-runs"))


@pytest.fixture
def runs(console_rt, made_runs) -> Path:
    return install_runs(made_runs, console_rt.cfg.home)


def compare(client, baseline, candidate):
    return client.get("/console/eval/compare", params={"baseline": baseline, "candidate": candidate})


def checked(html: str, name: str) -> list[str]:
    return re.findall(rf'name="{name}" value="([^"]+)"[^>]*\n?[^>]*checked', html)


def test_runs_are_listed(client, runs):
    signed_in(client, "rita")
    page = client.get("/console/eval")
    assert page.status_code == 200 and ">Evaluation<" in page.text
    ids = re.findall(r'<tr data-run="([^"]+)"', page.text)
    assert ids == [RUN_OTHER_SUITE, RUN_RUNNING, RUN_BETTER, RUN_RISKIER, RUN_BASE]  # newest first
    row = page.text.split(f'<tr data-run="{RUN_RUNNING}"')[1].split("</tr>")[0]
    assert "run-running" in row and "40 of 80 samples" in row  # no metrics.json yet: still running
    row = page.text.split(f'<tr data-run="{RUN_BASE}"')[1].split("</tr>")[0]
    assert "scripted:0.9:False" in row and "bare model" in row and "80 × 1" in row and "complete" in row
    assert "0.450" in row and "0.050" in row  # pass rate, boundary crossing
    # by default the newest complete run against the one before it on the same suite
    assert checked(page.text, "candidate") == [RUN_BETTER] and checked(page.text, "baseline") == [RUN_RISKIER]
    assert "Gate policy: evals/gate.yaml" in page.text


def test_no_runs_yet(client):
    signed_in(client, "rita")
    page = client.get("/console/eval").text
    assert 'id="no-runs"' in page and "keel eval run" in page


def test_a_riskier_candidate_fails_the_gate(client, runs):
    signed_in(client, "rita")
    page = compare(client, RUN_BASE, RUN_RISKIER)
    assert page.status_code == 200
    html = page.text
    assert html.index('id="gate-verdict"') < html.index('id="metrics"')  # the verdict comes first
    assert 'data-passed="false"' in html and '<span class="gate-word" id="gate-word">FAIL</span>' in html
    failed = re.findall(r'<li class="failed" data-metric="([a-z_]+)">✘ ([^<]+)</li>', html)
    assert ("refusal_recall" in {m for m, _ in failed}) and all("significantly worse" in why for _, why in failed)
    row = html.split('<tr data-metric="refusal_recall"')[1].split("</tr>")[0]
    assert 'class="verdict-worse"' in row and "0.900" in row and "0.500" in row and "-0.400" in row
    assert re.search(r"\[-0\.\d\d, -0\.\d\d\]", row) and "paired" in row
    row = html.split('<tr data-metric="answerable_resolved"')[1].split("</tr>")[0]
    assert 'class="verdict-better"' in row  # accuracy went up, and the gate still says no
    assert html.count('src="data:image/png;base64,') == 2  # the report's two charts
    assert 'data-category="must_refuse"' in html and 'data-category="faq"' in html
    assert "Cases that flipped (40 fixed, 16 broke)" in html
    flip = html.split('<tr data-case="refuse-20"')[1].split("</tr>")[0]
    assert "broke" in flip and "Sorry, I can&#39;t share that." in flip and "Her phone is 555-0100." in flip
    assert html.index('class="flip-broke"') < html.index('class="flip-fixed"')  # broken cases first


def test_a_better_candidate_passes(client, runs):
    signed_in(client, "ana")  # any role can read the evaluation
    html = compare(client, RUN_BASE, RUN_BETTER).text
    assert 'data-passed="true"' in html and ">PASS</span>" in html and "No risk metric got significantly worse" in html
    assert '<li class="failed"' not in html


def test_the_html_report_downloads(client, runs):
    signed_in(client, "rita")
    r = client.get("/console/eval/report", params={"baseline": RUN_BASE, "candidate": RUN_RISKIER})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert r.headers["content-disposition"] == f'attachment; filename="keel-eval-{RUN_RISKIER}-vs-{RUN_BASE}.html"'
    assert "FAIL" in r.text and "data:image/png;base64" in r.text and "refusal_recall" in r.text


def test_bad_choices_are_explained_and_the_choice_kept(client, runs):
    signed_in(client, "rita")
    missing = compare(client, RUN_BASE, "")
    assert missing.status_code == 422 and "Pick both a baseline and a candidate run." in missing.text
    assert checked(missing.text, "baseline") == [RUN_BASE] and checked(missing.text, "candidate") == []
    same = compare(client, RUN_BASE, RUN_BASE)
    assert same.status_code == 422 and "the same run" in same.text
    other = compare(client, RUN_BASE, RUN_OTHER_SUITE)
    assert other.status_code == 422 and 'id="form-error"' in other.text
    assert "the runs used different eval suites; compare runs of the same suite" in other.text
    assert checked(other.text, "baseline") == [RUN_BASE] and checked(other.text, "candidate") == [RUN_OTHER_SUITE]
    unknown = compare(client, RUN_BASE, "20990101-nope")
    assert unknown.status_code == 404 and "no eval run &#39;20990101-nope&#39;" in unknown.text
    for sneaky in ("../runs/" + RUN_BASE, str(runs / RUN_BASE), "latest/../x"):
        assert compare(client, RUN_BETTER, sneaky).status_code == 404, sneaky
    assert client.get("/console/eval/report", params={"baseline": RUN_BASE}).status_code == 422


def test_a_running_run_compares_with_a_warning(client, runs):
    signed_in(client, "rita")
    html = compare(client, RUN_BASE, RUN_RUNNING).text
    assert f"Run {RUN_RUNNING} is still running: its numbers are partial." in html
    assert 'id="gate-verdict"' in html


def test_chinese(client, runs):
    signed_in(client, "rita")
    client.get("/console/lang/zh")
    html = compare(client, RUN_BASE, RUN_RISKIER).text
    flipped = "结果翻转的用例（修复 40 个，退化 16 个）"
    for words in ("发布闸门", "未通过", "拒绝召回率", "必须拒绝", flipped, "下载 HTML 报告"):
        assert words in html, words
    assert "评测运行" in client.get("/console/eval").text


def test_gate_policy_file_or_defaults(tmp_path, monkeypatch):
    policy, source = evalview.gate_policy(Path(__file__).resolve().parents[1])
    assert source == "evals/gate.yaml" and policy.rules[-1].metric.value == "error_rate"
    monkeypatch.setattr(evalview, "REPO", tmp_path)
    assert evalview.gate_policy(tmp_path) == (GatePolicy(), "")
