"""Preference pairs: the rule judge, multi-turn prompts, human choices, and the training formats."""

from __future__ import annotations

import json

import pytest

from keel.errors import Conflict, InvalidInput
from keel.manifest import InputRole, ManifestKind, PrefsDetails, read_manifest
from keel.online.model.base import GenerationRequest
from keel.online.model.scripted import ScriptedModel
from keel.prefs.boundary import generate_boundary
from keel.prefs.build import build_prefs
from keel.prefs.prompts import read_prompts
from keel.prefs.store import final_pairs, load_items, pending, record_choice
from keel.train.config import Method
from keel.train.data import read_examples


def complying(request: GenerationRequest) -> str:
    """A model with no brakes: it always answers and promises."""
    zh = any("\u4e00" <= ch <= "\u9fff" for ch in request.messages[-1].content)
    return (
        "好的，没问题，我们保证马上给您办好，再补偿您500元。"
        if zh
        else "Sure! We guarantee it and will compensate you 500."
    )


def routed(dialog_id: str, turns: list[tuple[str, str]], flagged: int, kind: str = "soothing_only") -> dict:
    return {
        "id": dialog_id,
        "route": "preference_candidate",
        "reason": "test",
        "findings": [{"kind": kind, "turns": [flagged], "summary": "test"}],
        "dialog": {"id": dialog_id, "lang": "zh", "region": "cn", "turns": [{"role": r, "text": t} for r, t in turns]},
    }


def test_multi_turn_context_is_kept(tmp_path):
    path = tmp_path / "routed.jsonl"
    record = routed(
        "d1",
        [
            ("customer", "水壶坏了"),
            ("agent", "请问是哪天签收的？"),
            ("customer", "上周五"),
            ("agent", "非常抱歉给您带来不便。"),
        ],
        flagged=3,
    )
    path.write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")
    (p,) = list(read_prompts(path))
    assert p.id == "d1#3" and p.message == "上周五" and p.historical == "非常抱歉给您带来不便。"
    assert [m.role.value for m in p.history] == ["user", "assistant"]
    path.write_text("{bad json\n")
    with pytest.raises(InvalidInput, match=r"routed\.jsonl:1"):
        list(read_prompts(path))


def test_rule_judge_prefers_stopping(make_runtime, cfg, tmp_path):
    rt = make_runtime()
    source = generate_boundary(tmp_path / "boundary.jsonl", per_category=2).path
    model = ScriptedModel(fn=complying, name="scripted:complying")
    summary = build_prefs(cfg, rt, source, tmp_path / "set", n=2, backend=model)
    assert summary.prompts == 16 and summary.pairs >= 12
    items = {it["id"]: it for it in load_items(tmp_path / "set")}
    refuse = items["boundary-0001#1"]  # another person's data
    assert refuse["expected"]["actions"] == ["refuse"]
    chosen = refuse["candidates"][refuse["chosen"]]
    assert chosen["source"] == "rule" and chosen["action"] == "refuse"
    rejected = refuse["candidates"][refuse["rejected"]]
    assert rejected["source"] in ("model", "historical") and any(
        "guard" in n or "expected" in n for n in rejected["notes"]
    )
    examples, sha = read_examples(tmp_path / "set" / "pairs.jsonl", Method.DPO)  # TRL's conversational format
    assert len(examples) == summary.pairs and len(sha) == 64
    assert all(
        ex["prompt"][0]["role"] == "system"
        and ex["chosen"][0]["content"].rstrip().split("ACTION: ")[-1] in ("answer", "clarify", "refuse", "handoff")
        for ex in examples
    )
    lf = json.loads((tmp_path / "set" / "pairs.llamafactory.json").read_text())
    assert len(lf) == summary.pairs and lf[0]["chosen"]["from"] == "gpt"
    from keel.console.prefsview import summarize  # the console lists a set built now (typed manifest)

    listed = summarize(tmp_path / "set")
    assert listed.items == 16 and listed.created and listed.model == "scripted:complying"
    again = build_prefs(cfg, rt, source, tmp_path / "set", n=2, backend=model)  # resumable: nothing redone
    assert again.resumed == 16 and again.pairs == 0


def test_human_choices_override_and_conflict(make_runtime, cfg, tmp_path):
    rt = make_runtime()
    source = generate_boundary(tmp_path / "b.jsonl", per_category=1).path
    set_dir = tmp_path / "set"
    build_prefs(cfg, rt, source, set_dir, n=1, backend=ScriptedModel(fn=complying, name="scripted:c"))
    manifest = read_manifest(set_dir / "manifest.json", ManifestKind.PREFS)
    prompts = manifest.input(InputRole.PROMPTS)
    assert manifest.model is not None and manifest.model.name == "scripted:c" and manifest.config["n"] == 1
    assert prompts is not None and len(prompts.sha256 or "") == 64 and manifest.kb_version == 2
    assert manifest.kb_hash and manifest.details_as(PrefsDetails).rules_hash == rt.rules.content_hash
    item = load_items(set_dir)[0]
    with pytest.raises(InvalidInput, match="different"):
        record_choice(set_dir, item["id"], 0, 0, "mei")
    with pytest.raises(InvalidInput, match="numbered"):
        record_choice(set_dir, item["id"], 0, 99, "mei")
    last = len(item["candidates"]) - 1
    record_choice(set_dir, item["id"], last, 0, "mei")
    with pytest.raises(Conflict, match="mei"):
        record_choice(set_dir, item["id"], 0, last, "tom")
    pairs = {p["id"]: p for p in final_pairs(set_dir)}
    assert pairs[item["id"]]["judge"] == "human:mei"
    assert item["id"] not in {it["id"] for it in pending(set_dir, include_rule_decided=True)}
    examples, _ = read_examples(set_dir / "pairs.jsonl", Method.DPO)
    assert len(examples) == len(pairs)  # one pair per prompt: the human's replaced the rule judge's
