"""The one manifest model: written and read back typed; older layouts still load; anything else is told."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import keel
from keel.errors import InvalidInput
from keel.manifest import (
    AuditDetails,
    EvalDetails,
    EvalMode,
    InputFile,
    InputRole,
    Manifest,
    ManifestKind,
    ModelRef,
    PrefsDetails,
    RunStatus,
    TrainDetails,
    config_hash,
    read_manifest,
)

DOCS_RUNS = Path(__file__).resolve().parents[1] / "docs" / "eval" / "runs"


def test_written_and_read_back_typed(tmp_path):
    manifest = Manifest.new(
        PrefsDetails(judge="rule", rules_hash="r" * 64),
        inputs=(InputFile(role=InputRole.PROMPTS, path="prompts.jsonl", sha256="a" * 64, size=10),),
        kb_version=2,
        model=ModelRef(name="scripted", fingerprint="f" * 64),
        config={"n": 3, "temperature": 0.8},
    )
    manifest.write(tmp_path / "manifest.json")
    back = read_manifest(tmp_path / "manifest.json", ManifestKind.PREFS)
    assert back == manifest and back.kind is ManifestKind.PREFS
    assert back.code.keel == keel.__version__ and back.config_hash == config_hash({"temperature": 0.8, "n": 3})
    assert back.input(InputRole.PROMPTS) is not None and back.input(InputRole.SUITE) is None
    with pytest.raises(InvalidInput, match="of kind prefs, expected eval"):
        read_manifest(tmp_path / "manifest.json", ManifestKind.EVAL)
    with pytest.raises(InvalidInput, match="expected a manifest of kind train"):
        back.details_as(TrainDetails)


def test_the_code_version_names_the_checkout():
    code = Manifest.new(PrefsDetails(judge="rule", rules_hash=None)).code
    if code.commit is not None:  # running from the source checkout (not an installed copy)
        assert len(code.commit) == 40 and code.dirty is not None


@pytest.mark.parametrize("run", ["base-bare", "base-pipeline", "sft-pipeline", "dpo-pipeline"])
def test_the_published_eval_runs_of_the_old_layout_still_load(run):
    old = json.loads((DOCS_RUNS / run / "manifest.json").read_text())
    manifest = read_manifest(DOCS_RUNS / run / "manifest.json", ManifestKind.EVAL)
    details = manifest.details_as(EvalDetails)
    assert manifest.model is not None and manifest.model.name == old["model"]["name"]
    assert details.mode is EvalMode(old["mode"]) and details.status is RunStatus.COMPLETE
    assert details.cases == old["suite"]["cases"] and details.samples == old["run"]["samples"]
    suite = manifest.input(InputRole.SUITE)
    assert suite is not None and suite.sha256 == old["suite"]["hash"]
    assert manifest.kb_version == old["kb"].get("default_version") and manifest.config["run"] == old["run"]
    assert manifest.code.keel == old["keel_version"] and manifest.code.commit is None


def test_an_old_checkpoint_and_audit_manifest_load():
    checkpoint = {
        "name": "sft-demo",
        "method": "sft",
        "status": "training",
        "keel_version": "0.1.0",
        "created": "2026-11-24T10:00:00+00:00",
        "base_model": "local",
        "base_model_dir": "/models/qwen",
        "base_fingerprint": "b" * 64,
        "parent_adapters": [],
        "adapter_dir": "adapter",
        "dataset": {"path": "sft.jsonl", "sha256": "d" * 64, "examples": 9},
        "config": {"method": "sft", "name": "sft-demo"},
        "versions": {"trl": "1.0"},
    }
    train = Manifest.model_validate(checkpoint)
    details = train.details_as(TrainDetails)
    assert details.status is RunStatus.RUNNING and details.examples == 9 and not details.losses
    assert train.model == ModelRef(name="local", fingerprint="b" * 64, path="/models/qwen")
    audit = Manifest.model_validate(
        {
            "tool": "keel 0.1.0",
            "kind": "audit",
            "started_at": "2026-11-24T10:00:00+00:00",
            "seconds": 1.5,
            "input": {"path": "d.jsonl", "sha256": "e" * 64, "bytes": 100, "format": "jsonl", "column_map": {}},
            "kb": {"version": 2, "content_hash": "k" * 64, "passages": 40},
            "embedder": None,
            "seed": 0,
            "config": {"seed": 0},
            "python": "3.11.9",
            "counts": {
                "dialogs": 3,
                "turns": 9,
                "skipped_lines": 0,
                "findings": {},
                "routes": {},
                "clusters": 2,
                "embedded_questions": 0,
            },
            "skipped_lines": [],
            "outputs": {},
        }
    )
    assert audit.kb_hash == "k" * 64 and audit.details_as(AuditDetails).counts.dialogs == 3


def test_a_file_that_is_no_manifest_is_told_with_its_name(tmp_path):
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({"created": "2026-11-20T09:00:00+00:00", "model": "x"}))
    with pytest.raises(InvalidInput, match=r"manifest.json: not a Keel manifest \(no `details`"):
        read_manifest(path)
    path.write_text(json.dumps({"kind": "eval", "details": {"status": "complete"}}))
    with pytest.raises(InvalidInput, match=r"details\.mode: Field required"):
        read_manifest(path)
    path.write_text("{")
    with pytest.raises(InvalidInput, match="not valid JSON"):
        read_manifest(path)
    details = EvalDetails(status=RunStatus.RUNNING, mode=EvalMode.BARE, cases=1)
    with pytest.raises(ValueError, match="details of kind eval, in a manifest of kind audit"):
        Manifest.model_validate({**Manifest.new(details).model_dump(), "kind": "audit", "details": details})
