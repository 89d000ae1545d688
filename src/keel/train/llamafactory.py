"""Export Keel's training data for LLaMA-Factory: dataset_info.json, sharegpt files and a YAML config.

The sharegpt rows themselves are :mod:`keel.sharegpt` (the preference sets write the same format).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from keel.domain import Frozen
from keel.errors import InvalidInput
from keel.sharegpt import TAGS, dpo_rows, sft_rows
from keel.train.config import Method, TrainConfig
from keel.train.data import read_examples


class ExportReport(Frozen):
    folder: Path
    files: tuple[str, ...]
    sft_examples: int
    dpo_examples: int
    skipped: int


def _yaml_config(tc: TrainConfig, dataset: str, model_path: str) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "model_name_or_path": model_path,
        "stage": tc.method.value,
        "do_train": True,
        "finetuning_type": "lora",
        "lora_rank": tc.lora.r,
        "lora_alpha": tc.lora.alpha,
        "lora_dropout": tc.lora.dropout,
        "lora_target": ",".join(tc.lora.target_modules),
        "dataset": dataset,
        "dataset_dir": ".",
        "template": "qwen",
        "cutoff_len": tc.max_length,
        "output_dir": f"saves/{tc.name}",
        "logging_steps": tc.logging_steps,
        "save_steps": tc.save_steps,
        "per_device_train_batch_size": tc.batch_size,
        "gradient_accumulation_steps": tc.grad_accum,
        "learning_rate": tc.learning_rate,
        "max_steps": tc.max_steps,
        "lr_scheduler_type": "cosine",
        "bf16": tc.bf16,
        "gradient_checkpointing": tc.gradient_checkpointing,
        "seed": tc.seed,
        "report_to": "none",
    }
    if tc.method is Method.DPO:
        cfg.update(pref_beta=tc.beta, pref_loss="sigmoid")
    return cfg


def export_llamafactory(
    out: Path, *, sft: TrainConfig | None, dpo: TrainConfig | None, model_path: str
) -> ExportReport:
    """Write ``dataset_info.json``, ``keel_sft.json`` / ``keel_dpo.json`` and one YAML per method."""
    if sft is None and dpo is None:
        raise InvalidInput("give an SFT and/or a DPO training config to export")
    out.mkdir(parents=True, exist_ok=True)
    info: dict[str, Any] = {}
    files: list[str] = []
    counts = {"sft": 0, "dpo": 0}
    skipped = 0
    for tc, name in ((sft, "keel_sft"), (dpo, "keel_dpo")):
        if tc is None:
            continue
        examples, _ = read_examples(tc.train_file, tc.method)
        rows, skip = (sft_rows if tc.method is Method.SFT else dpo_rows)(examples)
        skipped += skip
        counts[tc.method.value] = len(rows)
        (out / f"{name}.json").write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
        entry: dict[str, Any] = {
            "file_name": f"{name}.json",
            "formatting": "sharegpt",
            "columns": {"messages": "conversations", "system": "system"},
            "tags": dict(TAGS),
        }
        if tc.method is Method.DPO:
            entry["ranking"] = True
            entry["columns"].update(chosen="chosen", rejected="rejected")
        info[name] = entry
        config_name = f"{name}_{tc.method.value}.yaml"
        (out / config_name).write_text(
            yaml.safe_dump(_yaml_config(tc, name, model_path), sort_keys=False), encoding="utf-8"
        )
        files += [f"{name}.json", config_name]
    (out / "dataset_info.json").write_text(json.dumps(info, ensure_ascii=False, indent=2), encoding="utf-8")
    files.insert(0, "dataset_info.json")
    return ExportReport(
        folder=out, files=tuple(files), sft_examples=counts["sft"], dpo_examples=counts["dpo"], skipped=skipped
    )
