"""Build a model backend from its spec string (``KeelConfig.model``)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from keel.config import KeelConfig
from keel.errors import ConfigError, ModelUnavailable, NotFound
from keel.online.model.base import ModelBackend
from keel.online.model.local import LocalBackend
from keel.online.model.openai_compat import OpenAIBackend
from keel.online.model.packaged import PACKAGED_NAME, is_prepared, packaged_dir
from keel.online.model.scripted import ScriptedModel

CHECKPOINT_MANIFEST = "keel-checkpoint.json"


def checkpoints_dir(cfg: KeelConfig) -> Path:
    return cfg.home / "checkpoints"


def _packaged(cfg: KeelConfig) -> Path:
    path = packaged_dir(cfg.model_cache)
    if not is_prepared(path):
        raise ModelUnavailable(
            f"the local model is not prepared yet ({path} missing): run `keel model prepare` (about a minute, once)"
        )
    return path


def _checkpoint(cfg: KeelConfig, name: str) -> LocalBackend:
    folder = checkpoints_dir(cfg) / name
    manifest = folder / CHECKPOINT_MANIFEST
    if not manifest.exists():
        raise NotFound(f"no checkpoint named {name!r} (see `keel models list`)")
    data = json.loads(manifest.read_text())
    if data.get("status") != "complete":
        raise ModelUnavailable(f"checkpoint {name!r} is not finished (status {data.get('status')!r})")
    base_dir = Path(data.get("base_model_dir") or _packaged(cfg))
    if not (base_dir / "config.json").exists():
        raise ModelUnavailable(f"checkpoint {name!r}: its base model {base_dir} is missing (`keel model prepare`)")
    adapters = (*(Path(p) for p in data.get("parent_adapters", [])), folder / data.get("adapter_dir", "adapter"))
    return LocalBackend(base_dir, name=f"ckpt:{name}", adapter_dirs=adapters, threads=cfg.generation.threads)


def build_backend(cfg: KeelConfig, spec: str | None = None) -> ModelBackend:
    spec = spec or cfg.model
    kind, _, arg = spec.partition(":")
    if kind == "local":
        path = Path(arg) if arg else _packaged(cfg)
        name = f"local:{PACKAGED_NAME}" if not arg else f"local:{path.name}"
        return LocalBackend(path, name=name, threads=cfg.generation.threads)
    if kind == "ckpt":
        if not arg:
            raise ConfigError("ckpt: needs a checkpoint name, e.g. ckpt:dpo-001")
        return _checkpoint(cfg, arg)
    if kind == "openai":
        url, _, model = arg.partition("#")
        if not url:
            raise ConfigError("openai: needs a base URL, e.g. openai:http://127.0.0.1:8000/v1#qwen")
        return OpenAIBackend(url, model or "default", api_key=os.environ.get("KEEL_OPENAI_API_KEY"))
    if kind == "scripted":
        return ScriptedModel.from_file(Path(arg)) if arg else ScriptedModel()
    raise ConfigError(f"unknown model spec {spec!r}: use local, local:DIR, ckpt:NAME, openai:URL#MODEL or scripted")
