"""`keel init` writes a project that passes `keel check`; `keel check` catches each planted mistake."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from keel.cli.main import app
from keel.config import load_config
from keel.project.check import Severity, check_project
from keel.project.scaffold import Example, init_project

runner = CliRunner()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "shop"
    init_project(folder)
    return folder


def _check(folder: Path):
    return check_project(load_config(folder / "keel.yaml", env={}))


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if needle in line)


def test_the_scaffold_passes_check(project: Path):
    report = _check(project)
    assert report.findings == () and report.ok
    for name in (
        "keel.yaml",
        "business.yaml",
        "rules.yaml",
        "users.json",
        "kb/opening-hours-en.md",
        "kb/opening-hours-zh.md",
        "evals/suite/basic.yaml",
    ):
        assert (project / name).is_file(), name
    assert "#" in (project / "business.yaml").read_text(encoding="utf-8")  # commented


def test_init_refuses_a_non_empty_folder(project: Path):
    r = runner.invoke(app, ["init", str(project)])
    assert r.exit_code == 2 and "not empty" in r.output


def test_the_skylark_example_is_copied_ready_to_check(tmp_path: Path):
    report = init_project(tmp_path / "sky", Example.SKYLARK)
    assert "keel.yaml" in report.files and "kb/v2/free-trial-en.md" in report.files
    assert _check(tmp_path / "sky").ok


def _messages(report) -> list[str]:
    return [f.render() for f in report.findings if f.severity is Severity.ERROR]


def test_check_catches_an_unknown_front_matter_field(project: Path):
    doc = project / "kb" / "opening-hours-en.md"
    _edit(doc, "tags: [hours, contact]", "tags: [hours, contact]\naudience: everyone")
    errors = _messages(_check(project))
    assert f"{doc}:{_line_of(doc, 'audience:')}: error: unknown field 'audience'" in errors[0], errors


def test_check_catches_a_kb_region_the_business_does_not_declare(project: Path):
    doc = project / "kb" / "opening-hours-zh.md"
    _edit(doc, "region: [all]", "region: [us]")
    errors = _messages(_check(project))
    assert any(
        e.startswith(f"{doc}:{_line_of(doc, 'region:')}:") and "region 'us' is not a region" in e for e in errors
    ), errors


def test_check_catches_a_declared_region_no_document_serves(project: Path):
    business = project / "business.yaml"
    _edit(
        business,
        '  main: {en: "Our main market", zh: "主要市场"}',
        '  main: {en: "Our main market", zh: "主要市场"}\n  sg: {en: "Singapore", zh: "新加坡"}',
    )
    for lang in ("en", "zh"):
        _edit(project / "kb" / f"opening-hours-{lang}.md", "region: [all]", "region: [main]")
    errors = _messages(_check(project))
    assert any(
        e.startswith(f"{business}:{_line_of(business, 'sg:')}:") and "'sg' is declared but no KB document" in e
        for e in errors
    ), errors


def test_check_catches_an_unknown_customer_field_and_an_unknown_status(project: Path):
    users = project / "users.json"
    data = json.loads(users.read_text(encoding="utf-8"))
    data["users"][0]["orders"][0]["status"] = "lost_in_space"
    data["users"][0]["orders"][0]["address"] = "1 Main St"
    users.write_text(json.dumps(data, indent=2), encoding="utf-8")
    errors = _messages(_check(project))
    status = [e for e in errors if "orders[0].status: 'lost_in_space' is not an order status" in e]
    unknown = [e for e in errors if "orders[0].address: unknown field" in e]
    assert status and status[0].startswith(f"{users}:{_line_of(users, 'lost_in_space')}:"), errors
    assert unknown and unknown[0].startswith(f"{users}:{_line_of(users, '1 Main St')}:"), errors


def test_check_catches_a_template_missing_a_language(project: Path):
    rules = project / "rules.yaml"
    text = rules.read_text(encoding="utf-8")
    text = re.sub(r"(  handoff:\n    en: .*\n)    zh: .*\n", r"\1", text)
    rules.write_text(text, encoding="utf-8")
    errors = _messages(_check(project))
    assert any(
        e.startswith(f"{rules}:{_line_of(rules, '  handoff:')}:") and "template 'handoff' has no zh text" in e
        for e in errors
    ), errors


def test_check_catches_rules_naming_an_unknown_topic_and_a_misspelt_template(project: Path):
    rules = project / "rules.yaml"
    _edit(
        rules, "      forbid: [other_person_data]", "      forbid: [other_person_data]\n      forbid_topics: [shipping]"
    )
    _edit(rules, "  clarify:\n", "  clarfy:\n")
    report = _check(project)
    errors = _messages(report)
    assert any("forbids topic 'shipping', which `topics:` does not define" in e for e in errors), errors
    assert any("templates: 'clarify' is missing" in e for e in errors), errors
    assert any("'clarfy' is not a template Keel uses" in f.message for f in report.findings)


def _status_warnings(report) -> list[str]:
    return [f.message for f in report.findings if f.severity is Severity.WARNING and "status_question" in f.message]


def test_check_warns_when_statuses_have_no_status_question_topic(project: Path):
    rules = project / "rules.yaml"
    text = rules.read_text(encoding="utf-8")
    start = text.index("  status_question:\n")
    end = text.index("  small_talk:\n", start)
    rules.write_text(text[:start] + text[end:], encoding="utf-8")
    report = _check(project)
    assert report.ok  # a warning, not an error
    assert _status_warnings(report) == [
        "topics: no 'status_question' list: status questions will go to the model instead of the record "
        "(business.yaml declares order/ticket statuses)"
    ]


def test_the_demo_and_skylark_define_the_status_question_topic(tmp_path: Path):
    assert _status_warnings(check_project(load_config(env={}, home=tmp_path / "demo"))) == []
    init_project(tmp_path / "sky", Example.SKYLARK)
    assert _status_warnings(_check(tmp_path / "sky")) == []


def test_check_catches_region_words_for_an_unknown_region_and_a_suite_user_nobody_has(project: Path):
    _edit(project / "rules.yaml", "region_terms:\n  main:", "region_terms:\n  mars:")
    _edit(project / "evals" / "suite" / "basic.yaml", "user: c1001", "user: c9999")
    errors = _messages(_check(project))
    assert any("region_terms: 'mars' is not a region" in e for e in errors), errors
    assert any("user 'c9999' is not in the customer file" in e for e in errors), errors


def test_the_cli_prints_findings_line_by_line_and_fails(project: Path):
    ok = runner.invoke(app, ["--config", str(project / "keel.yaml"), "check"])
    assert ok.exit_code == 0 and "check passed" in ok.output
    _edit(project / "kb" / "opening-hours-en.md", "region: [all]", "region: [nowhere]")
    bad = runner.invoke(app, ["--config", str(project / "keel.yaml"), "check"])
    assert bad.exit_code == 1 and "check failed: 1 error(s)" in bad.output
    line = _line_of(project / "kb" / "opening-hours-en.md", "region:")
    assert f"opening-hours-en.md:{line}: error: region 'nowhere'" in bad.output.replace("\n", "")


def test_setup_refuses_a_project_that_fails_check(project: Path):
    _edit(project / "kb" / "opening-hours-en.md", "region: [all]", "region: [nowhere]")
    r = runner.invoke(app, ["--config", str(project / "keel.yaml"), "setup", "--skip-model"])
    assert r.exit_code == 2 and "found 1 error" in r.output
