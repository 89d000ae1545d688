"""Run one LoRA SFT or DPO job with TRL + PEFT on CPU; resumable; register the checkpoint."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from keel.config import KeelConfig
from keel.domain import Frozen
from keel.errors import ConfigError
from keel.manifest import (
    InputFile,
    InputRole,
    LossPoint,
    Manifest,
    ManifestKind,
    ModelRef,
    RunStatus,
    TrainDetails,
    read_manifest,
)
from keel.online.model.registry import CHECKPOINT_MANIFEST, checkpoints_dir
from keel.train.checkpoints import resolve_base
from keel.train.config import Method, TrainConfig
from keel.train.data import read_examples

Progress = Callable[[int, int, float | None], None]


class CheckpointInfo(Frozen):
    name: str
    path: Path
    method: Method
    steps: int
    losses: tuple[tuple[int, float], ...]
    seconds: float
    resumed_from: int | None


def _load_model(base: Path, adapters: tuple[Path, ...]) -> tuple[Any, Any]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model: Any = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    if adapters:
        from peft import PeftModel

        for adapter in adapters:  # earlier fine-tunes become part of the base
            model = PeftModel.from_pretrained(model, adapter).merge_and_unload()
    return model, tokenizer


def _callback(total: int, progress: Progress | None) -> Any:
    from transformers import TrainerCallback

    class _Report(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, float] | None = None, **kw: Any) -> None:
            if progress and logs is not None:
                progress(state.global_step, total, logs.get("loss"))

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if progress:
                progress(state.global_step, total, None)

    return _Report()


def _last_checkpoint(work: Path) -> tuple[str | None, int | None]:
    found = sorted(work.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1])) if work.exists() else []
    return (str(found[-1]), int(found[-1].name.split("-")[-1])) if found else (None, None)


def train(
    cfg: KeelConfig, tc: TrainConfig, progress: Progress | None = None, *, restart: bool = False
) -> CheckpointInfo:
    """Train (or resume) *tc* and register ``ckpt:<tc.name>`` with its manifest."""
    import peft
    import torch
    import transformers
    import trl
    from datasets import Dataset
    from peft import LoraConfig

    examples, data_sha = read_examples(tc.train_file, tc.method)
    base_dir, parent_adapters, base_fp = resolve_base(cfg, tc.base_model)
    folder = checkpoints_dir(cfg) / tc.name
    work = folder / "trainer"
    if restart and folder.exists():
        shutil.rmtree(folder)
    man_path = folder / CHECKPOINT_MANIFEST
    if man_path.exists() and not restart:
        old = read_manifest(man_path, ManifestKind.TRAIN).details_as(TrainDetails)
        if old.status is RunStatus.COMPLETE:
            raise ConfigError(f"checkpoint {tc.name!r} already exists; pick another name or pass --restart")
    folder.mkdir(parents=True, exist_ok=True)
    resume, resumed_step = _last_checkpoint(work)
    if tc.threads:
        torch.set_num_threads(tc.threads)

    model, tokenizer = _load_model(base_dir, parent_adapters)
    lora = LoraConfig(
        r=tc.lora.r,
        lora_alpha=tc.lora.alpha,
        lora_dropout=tc.lora.dropout,
        target_modules=list(tc.lora.target_modules),
        task_type="CAUSAL_LM",
    )
    common: dict[str, Any] = dict(
        output_dir=str(work),
        max_steps=tc.max_steps,
        per_device_train_batch_size=tc.batch_size,
        gradient_accumulation_steps=tc.grad_accum,
        learning_rate=tc.learning_rate,
        bf16=tc.bf16,
        use_cpu=True,
        gradient_checkpointing=tc.gradient_checkpointing,
        save_steps=tc.save_steps,
        save_total_limit=2,
        logging_steps=tc.logging_steps,
        report_to="none",
        seed=tc.seed,
        max_length=tc.max_length,
        dataloader_num_workers=0,
        disable_tqdm=True,
        lr_scheduler_type="cosine",
        warmup_steps=min(5, tc.max_steps // 10),
    )
    dataset = Dataset.from_list(examples)
    trainer: Any
    if tc.method is Method.SFT:
        from trl import SFTConfig, SFTTrainer

        trainer = SFTTrainer(
            model=model,
            args=SFTConfig(**common),
            train_dataset=dataset,
            processing_class=tokenizer,
            peft_config=lora,
            callbacks=[_callback(tc.max_steps, progress)],
        )
    else:
        from trl import DPOConfig, DPOTrainer

        trainer = DPOTrainer(
            model=model,
            args=DPOConfig(**common, beta=tc.beta),
            train_dataset=dataset,
            processing_class=tokenizer,
            peft_config=lora,
            callbacks=[_callback(tc.max_steps, progress)],
        )
    details = TrainDetails(
        name=tc.name,
        method=tc.method.value,
        status=RunStatus.RUNNING,
        examples=len(examples),
        parent_adapters=tuple(str(p) for p in parent_adapters),
        versions={
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "peft": peft.__version__,
            "trl": trl.__version__,
        },
    )
    manifest = Manifest.new(
        details,
        inputs=(InputFile(role=InputRole.TRAINING_DATA, path=str(tc.train_file), sha256=data_sha),),
        model=ModelRef(name=tc.base_model, fingerprint=base_fp, path=str(base_dir)),
        config=tc.model_dump(mode="json"),
    )
    manifest.write(man_path)
    started = time.time()
    trainer.train(resume_from_checkpoint=resume)
    seconds = time.time() - started
    trainer.model.save_pretrained(folder / details.adapter_dir)
    tokenizer.save_pretrained(folder / details.adapter_dir)
    history = trainer.state.log_history
    losses = tuple((int(h["step"]), float(h["loss"])) for h in history if "loss" in h)
    details = details.model_copy(
        update={
            "status": RunStatus.COMPLETE,
            "steps": int(trainer.state.global_step),
            "train_seconds": round(seconds, 1),
            "finished_at": datetime.now(UTC),
            "resumed_from_step": resumed_step,
            "losses": tuple(LossPoint(step=s, loss=round(v, 5)) for s, v in losses),
            "reward_accuracies": tuple(
                round(float(h["rewards/accuracies"]), 4) for h in history if "rewards/accuracies" in h
            ),
        }
    )
    manifest.model_copy(update={"details": details}).write(man_path)
    return CheckpointInfo(
        name=tc.name,
        path=folder,
        method=tc.method,
        steps=int(trainer.state.global_step),
        losses=losses,
        seconds=seconds,
        resumed_from=resumed_step,
    )
