"""``keel audit`` on the command line: run, bad files, generate, score."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from keel.cli.main import app
from keel.config import DEMO_DIR

runner = CliRunner()


@pytest.fixture
def home(tmp_path: Path, embedding_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KEEL_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "keel.yaml").write_text(f"embedding_cache_dir: {embedding_cache}\n")
    assert runner.invoke(app, ["kb", "publish", str(DEMO_DIR / "kb" / "v1")]).exit_code == 0
    return tmp_path


def test_run_reports_skipped_lines_and_routes(home: Path) -> None:
    path = home / "d.jsonl"
    good = {"id": "a", "region": "cn", "turns": [{"role": "customer", "text": "退款多久到账？"},
                                                {"role": "agent", "text": "仓库收到退货后3个工作日内退款。"}]}
    path.write_text(json.dumps(good, ensure_ascii=False) + "\nnot json\n", encoding="utf-8")
    r = runner.invoke(app, ["audit", "run", str(path), "--kb-version", "1", "--out", str(home / "run"),
                            "--no-embed"])
    assert r.exit_code == 0, r.output
    assert "1 malformed line(s) skipped" in r.output and "line 2" in r.output
    assert (home / "run" / "manifest.json").exists() and (home / "run" / "report.html").exists()


@pytest.mark.parametrize("content", ["", "garbage\n{also bad\n"])
def test_empty_or_unusable_file_is_one_clear_error(home: Path, content: str) -> None:
    path = home / "bad.jsonl"
    path.write_text(content, encoding="utf-8")
    r = runner.invoke(app, ["audit", "run", str(path), "--kb-version", "1", "--no-embed"])
    assert r.exit_code == 2
    assert r.output.count("error:") == 1 and ("empty" in r.output or "no dialog could be read" in r.output)


def test_unknown_kb_version_and_bad_map(home: Path) -> None:
    path = home / "d.csv"
    path.write_text("dialog_id,role,text\n", encoding="utf-8")
    assert runner.invoke(app, ["audit", "run", str(path), "--kb-version", "9"]).exit_code == 2
    r = runner.invoke(app, ["audit", "run", str(path), "--kb-version", "1", "--map", "nonsense"])
    assert r.exit_code == 2 and "COLUMN=FIELD" in r.output


def test_generate_then_score(home: Path) -> None:
    out = home / "gen.jsonl"
    r = runner.invoke(app, ["audit", "generate", str(out), "--dialogs", "200", "--seed", "1"])
    assert r.exit_code == 0, r.output
    assert sum(1 for _ in out.open()) == 200 and (home / "gen.labels.jsonl").exists()
    r = runner.invoke(app, ["audit", "run", str(out), "--kb-version", "1", "--out", str(home / "run"),
                            "--no-embed"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["audit", "score", str(home / "run")])
    assert r.exit_code == 0, r.output
    assert "precision" in r.output and "hidden exceptions" in r.output
    assert json.loads((home / "run" / "score.json").read_text())["dialogs"] == 200
