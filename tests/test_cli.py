import json

import pytest
from typer.testing import CliRunner

from keel.cli.main import app
from keel.config import DEMO_DIR

runner = CliRunner()


@pytest.fixture
def home(tmp_path, embedding_cache, monkeypatch):
    monkeypatch.setenv("KEEL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KEEL_TODAY", "2026-11-24")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "keel.yaml").write_text(f"embedding_cache_dir: {embedding_cache}\n")
    return tmp_path / "home"


def keel(*args, input=None):
    return runner.invoke(app, list(args), input=input)


def test_kb_and_ask_and_handoff(home):
    r = keel("kb", "publish", str(DEMO_DIR / "kb" / "v1"), "--note", "first")
    assert r.exit_code == 0, r.output
    assert keel("kb", "publish", str(DEMO_DIR / "kb" / "v2"), "--overlay").exit_code == 0
    versions = keel("kb", "versions")
    assert "first" in versions.output and "●" in versions.output
    assert "shipping-cn-zh" in keel("kb", "diff", "1", "2").output

    r = keel("--model", "scripted", "ask", "转人工", "--user", "u1001", "-c", "cli-1")
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["decision"]["action"] == "handoff"
    listed = keel("handoff", "list")
    assert "cli-1" in listed.output
    hid = str(out["handoff_id"])
    assert f"handoff {hid} claimed by li" in keel("handoff", "next", "--agent", "li").output
    assert "queue is empty" in keel("handoff", "next", "--agent", "mo").output
    assert keel("handoff", "reply", hid, "人工客服来了", "--agent", "li").exit_code == 0
    assert "人工客服来了" in keel("handoff", "show", hid).output
    assert keel("handoff", "claim", hid, "--agent", "wang").exit_code == 2
    assert keel("handoff", "release", hid, "--agent", "li").exit_code == 0
    assert keel("kb", "rollback", "1").exit_code == 0


def test_user_errors_are_one_line(home):
    keel("kb", "publish", str(DEMO_DIR / "kb" / "v1"))
    cases = [
        (("--model", "scripted", "ask", ""), "empty"),
        (("--model", "scripted", "ask", "hi", "--user", "ghost"), "unknown user"),
        (("kb", "rollback", "9"), "does not exist"),
        (("kb", "publish", "/nonexistent"), "not a folder"),
        (("handoff", "reply", "77", "hi"), "not found"),
        (("--model", "nonsense", "ask", "hi"), "unknown model spec"),
    ]
    for args, fragment in cases:
        r = keel(*args)
        assert r.exit_code == 2, (args, r.output)
        assert fragment in r.output
        assert "Traceback" not in r.output


def test_missing_model_cache_is_a_clear_runtime_error(home):
    keel("kb", "publish", str(DEMO_DIR / "kb" / "v1"))
    r = keel("--model", "local", "ask", "hi")
    assert r.exit_code == 3
    assert "keel model prepare" in r.output and "Traceback" not in r.output


def test_bad_config_file(home, tmp_path):
    (tmp_path / "keel.yaml").write_text("retrieval: {top_k: 0}\n")
    r = keel("kb", "versions")
    assert r.exit_code == 2 and "retrieval.top_k" in r.output
