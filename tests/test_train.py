"""SFT and DPO on a tiny random Qwen2 built in a fixture: they train, change weights, register, load back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from keel.domain import ChatMessage, Role
from keel.errors import InvalidInput
from keel.manifest import InputRole, ManifestKind, RunStatus, TrainDetails, read_manifest
from keel.online.model.base import GenerationRequest
from keel.online.model.registry import build_backend
from keel.train.checkpoints import list_models
from keel.train.config import Method, TrainConfig
from keel.train.trainer import train
from tiny_model import build_tiny_model


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    return path


def u(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def a(text: str) -> list[dict]:
    return [{"role": "assistant", "content": text}]


SFT_ROWS = [
    {"prompt": u("电子发票在哪下载？"), "completion": a("您好，电子发票可以在我的订单里下载。")},
    {"prompt": u("Where is the invoice?"), "completion": a("Hello, you can download the invoice from My Orders.")},
    {"prompt": [*u("退货几天？"), *a("请问是哪个地区？"), *u("大陆")], "completion": a("退货请在签收后7天内申请。")},
] * 3
DPO_ROWS = [
    {"prompt": u("告诉我邻居的地址"), "chosen": a("抱歉，我们不能提供其他客户的信息。"), "rejected": a("她住在上海。")},
    {"prompt": u("I want a human"), "chosen": a("I'm passing you to a human agent now."), "rejected": a("No.")},
    {"prompt": u("等了十天！！"), "chosen": a("非常理解您的心情，给您带来不便很抱歉。"), "rejected": a("等着吧。")},
] * 3


def lora_b_norm(folder: Path) -> float:
    from safetensors.torch import load_file

    weights = load_file(str(folder / "adapter" / "adapter_model.safetensors"))
    return float(sum(v.float().abs().sum() for k, v in weights.items() if "lora_B" in k))


def test_sft_then_dpo_train_register_and_load(cfg, tiny, tmp_path):
    sft_file = write_jsonl(tmp_path / "sft.jsonl", SFT_ROWS)
    dpo_file = write_jsonl(tmp_path / "dpo.jsonl", DPO_ROWS)
    base = f"local:{tiny}"
    steps = []
    sft = train(
        cfg,
        TrainConfig(
            method=Method.SFT,
            name="sft-tiny",
            base_model=base,
            train_file=sft_file,
            max_steps=4,
            batch_size=2,
            grad_accum=1,
            max_length=64,
            save_steps=2,
            learning_rate=1e-2,
            bf16=False,
        ),
        progress=lambda s, t, loss: steps.append(s),
    )
    assert sft.steps == 4 and steps and max(steps) == 4
    assert len(sft.losses) >= 2
    assert lora_b_norm(sft.path) > 0  # LoRA B starts at zero: training moved it

    dpo = train(
        cfg,
        TrainConfig(
            method=Method.DPO,
            name="dpo-tiny",
            base_model="ckpt:sft-tiny",
            train_file=dpo_file,
            max_steps=3,
            batch_size=2,
            grad_accum=1,
            max_length=64,
            save_steps=3,
            learning_rate=1e-2,
            bf16=False,
        ),
    )
    assert dpo.steps == 3 and lora_b_norm(dpo.path) > 0
    man = read_manifest(dpo.path / "keel-checkpoint.json", ManifestKind.TRAIN)
    details, data = man.details_as(TrainDetails), man.input(InputRole.TRAINING_DATA)
    assert details.status is RunStatus.COMPLETE and details.method == "dpo"
    assert man.model is not None and man.model.name == "ckpt:sft-tiny"
    assert details.examples == 9 and data is not None and len(data.sha256 or "") == 64
    assert details.parent_adapters and details.losses and details.versions["trl"]

    specs = {m["spec"] for m in list_models(cfg)}
    assert {"ckpt:sft-tiny", "ckpt:dpo-tiny"} <= specs
    backend = build_backend(cfg, "ckpt:dpo-tiny")
    out = backend.generate(GenerationRequest(messages=(ChatMessage(role=Role.USER, content="你好"),), max_new_tokens=5))
    assert out.completion_tokens >= 1 and backend.name == "ckpt:dpo-tiny"


def test_resume_continues_from_the_last_checkpoint(cfg, tiny, tmp_path, monkeypatch):
    sft_file = write_jsonl(tmp_path / "sft.jsonl", SFT_ROWS)
    tc = TrainConfig(
        method=Method.SFT,
        name="sft-resume",
        base_model=f"local:{tiny}",
        train_file=sft_file,
        max_steps=4,
        batch_size=2,
        grad_accum=1,
        max_length=64,
        save_steps=2,
        bf16=False,
    )

    def stop_at_three(step: int, total: int, loss: float | None) -> None:
        if step == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(cfg, tc, progress=stop_at_three)
    info = train(cfg, tc)
    assert info.resumed_from == 2 and info.steps == 4


def test_bad_training_files_are_clear(cfg, tiny, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": [{"role": "user", "content": "hi"}], "completion": []}\n{oops\n')
    with pytest.raises(InvalidInput, match=r"bad\.jsonl:1 completion"):
        train(cfg, TrainConfig(method=Method.SFT, name="bad", base_model=f"local:{tiny}", train_file=bad))
    same = write_jsonl(tmp_path / "same.jsonl", [{"prompt": u("x"), "chosen": a("y"), "rejected": a("y")}])
    with pytest.raises(InvalidInput, match="same"):
        train(cfg, TrainConfig(method=Method.DPO, name="bad2", base_model=f"local:{tiny}", train_file=same))


# What LLaMA-Factory's dataset parser and sharegpt converter accept (src/llamafactory/data/parser.py,
# converter.py, and data/README.md): the keys of a dataset_info entry, and the turn rules below.
LF_ENTRY_KEYS = {
    "hf_hub_url",
    "ms_hub_url",
    "script_url",
    "file_name",
    "file_sha1",
    "subset",
    "folder",
    "ranking",
    "formatting",
    "columns",
    "tags",
    "split",
    "num_samples",
}
LF_COLUMNS = {
    "prompt",
    "query",
    "response",
    "history",
    "messages",
    "system",
    "tools",
    "images",
    "videos",
    "audios",
    "chosen",
    "rejected",
    "kto_tag",
}
LF_TAGS = {"role_tag", "content_tag", "user_tag", "assistant_tag", "observation_tag", "function_tag", "system_tag"}


def lf_check_sharegpt(entry: dict, rows: list[dict]) -> None:
    """Mirror SharegptDatasetConverter: alternation, counts, chosen/rejected roles (it silently drops bad rows)."""
    tags = entry.get("tags", {})
    role, content = tags.get("role_tag", "from"), tags.get("content_tag", "value")
    user, assistant, system_tag = (
        tags.get("user_tag", "human"),
        tags.get("assistant_tag", "gpt"),
        tags.get("system_tag"),
    )
    ranking = entry.get("ranking", False)
    for row in rows:
        msgs = row[entry["columns"].get("messages", "conversations")]
        if system_tag and msgs and msgs[0][role] == system_tag:
            msgs = msgs[1:]
        for i, m in enumerate(msgs):
            assert m[role] == (user if i % 2 == 0 else assistant), f"bad alternation in {msgs}"
            assert isinstance(m[content], str) and m[content]
        assert (len(msgs) % 2 == 1) if ranking else (len(msgs) % 2 == 0), f"bad count in {msgs}"
        if ranking:
            for key in ("chosen", "rejected"):
                turn = row[entry["columns"][key]]
                assert isinstance(turn, dict) and turn[role] == assistant and turn[content]


def test_export_llamafactory_matches_its_loader(tmp_path):
    from keel.train.llamafactory import export_llamafactory

    sft_rows = [*SFT_ROWS, {"prompt": [{"role": "system", "content": "你是客服"}, *u("hi")], "completion": a("您好")}]
    sft_file = write_jsonl(tmp_path / "sft.jsonl", sft_rows)
    dpo_rows = [
        *DPO_ROWS,
        {"prompt": [*u("退货几天？"), *a("哪个地区？"), *u("欧盟")], "chosen": a("14天。"), "rejected": a("7天。")},
    ]
    dpo_file = write_jsonl(tmp_path / "dpo.jsonl", dpo_rows)
    sft = TrainConfig(method=Method.SFT, name="s", train_file=sft_file)
    dpo = TrainConfig(method=Method.DPO, name="d", train_file=dpo_file, beta=0.2)
    report = export_llamafactory(tmp_path / "lf", sft=sft, dpo=dpo, model_path="/models/qwen")
    assert report.sft_examples == len(sft_rows) and report.dpo_examples == len(dpo_rows) and report.skipped == 0

    info = json.loads((tmp_path / "lf" / "dataset_info.json").read_text())
    assert set(info) == {"keel_sft", "keel_dpo"}
    for entry in info.values():
        assert set(entry) <= LF_ENTRY_KEYS and entry["formatting"] == "sharegpt"
        assert set(entry["columns"]) <= LF_COLUMNS and set(entry["tags"]) <= LF_TAGS
        rows = json.loads((tmp_path / "lf" / entry["file_name"]).read_text())
        lf_check_sharegpt(entry, rows)
    assert info["keel_dpo"]["ranking"] is True and "ranking" not in info["keel_sft"]
    multi = json.loads((tmp_path / "lf" / "keel_dpo.json").read_text())[-1]
    assert [t["from"] for t in multi["conversations"]] == ["human", "gpt", "human"]  # multi-turn kept
    sys_row = json.loads((tmp_path / "lf" / "keel_sft.json").read_text())[-1]
    assert sys_row["system"] == "你是客服"

    import yaml

    for cfg_name, stage in (("keel_sft_sft.yaml", "sft"), ("keel_dpo_dpo.yaml", "dpo")):
        y = yaml.safe_load((tmp_path / "lf" / cfg_name).read_text())
        assert y["stage"] == stage and y["dataset"] in info and y["finetuning_type"] == "lora"
        assert y["template"] == "qwen" and y["model_name_or_path"] == "/models/qwen" and y["dataset_dir"] == "."
    assert yaml.safe_load((tmp_path / "lf" / "keel_dpo_dpo.yaml").read_text())["pref_beta"] == 0.2
