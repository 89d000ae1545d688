"""The typed training config (YAML), validated when read."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from keel.errors import ConfigError
from keel.yamlio import load_yaml


class Method(StrEnum):
    SFT = "sft"
    DPO = "dpo"


class LoraSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    r: int = Field(8, ge=1, le=256)
    alpha: int = Field(16, ge=1)
    dropout: float = Field(0.05, ge=0.0, lt=1.0)
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")


class TrainConfig(BaseModel):
    """One training job. Every field lands in the checkpoint's manifest."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    method: Method
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$", description="checkpoint name (ckpt:NAME)")
    base_model: str = Field("local", description="local | local:DIR | ckpt:NAME (e.g. DPO on top of an SFT run)")
    train_file: Path = Field(description="JSONL: prompt/completion (SFT) or prompt/chosen/rejected (DPO)")
    max_steps: int = Field(60, ge=1, le=100_000)
    batch_size: int = Field(2, ge=1, le=64)
    grad_accum: int = Field(2, ge=1, le=64)
    learning_rate: float = Field(1e-4, gt=0, lt=1)
    max_length: int = Field(384, ge=32, le=8192, description="tokens per example (prompt + reply)")
    beta: float = Field(0.1, gt=0, description="DPO temperature")
    lora: LoraSettings = LoraSettings()
    seed: int = 0
    bf16: bool = Field(True, description="bf16 autocast on CPU")
    gradient_checkpointing: bool = True
    save_steps: int = Field(10, ge=1, description="checkpoint every N steps (resumable)")
    logging_steps: int = Field(1, ge=1)
    threads: int = Field(0, ge=0, description="torch threads; 0 = all cores")


def load_train_config(path: Path, **overrides: object) -> TrainConfig:
    try:
        data = load_yaml(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(f"training config not found: {path}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping")
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return TrainConfig.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise ConfigError(f"{path}: {where}: {err['msg']}") from None
