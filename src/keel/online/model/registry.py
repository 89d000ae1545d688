"""Build a model backend from its spec string (``KeelConfig.model``)."""

from __future__ import annotations

import os
from pathlib import Path

from keel.config import KeelConfig
from keel.errors import ConfigError, ModelUnavailable, NotFound
from keel.manifest import ManifestKind, RunStatus, TrainDetails, read_manifest
from keel.online.model.base import ModelBackend
from keel.online.model.llamacpp import LlamaCppBackend
from keel.online.model.local import LocalBackend
from keel.online.model.openai_compat import OpenAIBackend
from keel.online.model.packaged import (
    DEFAULT_PACKAGED,
    PACKAGED,
    PACKAGED_NAME,
    PackagedKey,
    gguf_path,
    is_prepared,
    packaged_dir,
)
from keel.online.model.scripted import ScriptedModel

CHECKPOINT_MANIFEST = "keel-checkpoint.json"


def checkpoints_dir(cfg: KeelConfig) -> Path:
    return cfg.home / "checkpoints"


def _packaged(cfg: KeelConfig) -> Path:
    """The HF folder of the training base (transformers backend)."""
    path = packaged_dir(cfg.model_cache)
    if not is_prepared(path):
        raise ModelUnavailable(
            f"the transformers model is not prepared yet ({path} missing): run `keel model prepare --hf` (once)"
        )
    return path


def _packaged_gguf(cfg: KeelConfig, key: PackagedKey) -> LlamaCppBackend:
    path = gguf_path(cfg.model_cache, key)
    if not path.exists():
        raise ModelUnavailable(
            f"the packaged model {key} is not prepared yet ({path} missing): run `keel model prepare --model {key}`"
        )
    model = PACKAGED[key]
    return LlamaCppBackend(
        path,
        name=f"local:{model.name}",
        threads=cfg.generation.threads or 1,
        batch_threads=cfg.generation.batch_threads,
        fingerprint=model.sha256,
    )


def _checkpoint(cfg: KeelConfig, name: str) -> ModelBackend:
    folder = checkpoints_dir(cfg) / name
    manifest = folder / CHECKPOINT_MANIFEST
    if not manifest.exists():
        raise NotFound(f"no checkpoint named {name!r} (see `keel models list`)")
    man = read_manifest(manifest, ManifestKind.TRAIN)
    details = man.details_as(TrainDetails)
    if details.status is not RunStatus.COMPLETE:
        raise ModelUnavailable(f"checkpoint {name!r} is not finished (status {details.status.value!r})")
    base_dir = Path((man.model.path if man.model else None) or _packaged(cfg))
    if not (base_dir / "config.json").exists():
        raise ModelUnavailable(f"checkpoint {name!r}: its base model {base_dir} is missing (`keel model prepare --hf`)")
    adapters = (*(Path(p) for p in details.parent_adapters), folder / details.adapter_dir)
    if cfg.generation.engine == "transformers":
        return LocalBackend(base_dir, name=f"ckpt:{name}", adapter_dirs=adapters, threads=cfg.generation.threads)
    gguf = folder / "adapter.gguf"  # a LoRA converted with llama.cpp's convert_lora_to_gguf.py
    if not gguf.exists():
        raise ModelUnavailable(
            f"checkpoint {name!r} has no GGUF adapter ({gguf}); use generation.engine: transformers for it"
        )
    from keel.online.model.packaged import PackagedKey

    return LlamaCppBackend(
        gguf_path(cfg.model_cache, PackagedKey.QWEN_0_5B),
        name=f"ckpt:{name}",
        lora=gguf,
        threads=cfg.generation.threads or 1,
        batch_threads=cfg.generation.batch_threads,
    )


def build_backend(cfg: KeelConfig, spec: str | None = None) -> ModelBackend:
    spec = spec or cfg.model
    kind, _, arg = spec.partition(":")
    if kind == "local":
        if not arg:
            return _packaged_gguf(cfg, DEFAULT_PACKAGED)
        if arg in {k.value for k in PackagedKey}:
            return _packaged_gguf(cfg, PackagedKey(arg))
        path = Path(arg)
        if path.suffix == ".gguf":
            return LlamaCppBackend(
                path, threads=cfg.generation.threads or 1, batch_threads=cfg.generation.batch_threads
            )
        return LocalBackend(path, name=f"local:{path.name}", threads=cfg.generation.threads)
    if kind == "hf":
        path = Path(arg) if arg else _packaged(cfg)
        name = f"hf:{PACKAGED_NAME}" if not arg else f"hf:{path.name}"
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
    raise ConfigError(
        f"unknown model spec {spec!r}: use local, local:1.5b, local:0.5b, local:FILE.gguf, local:DIR, hf[:DIR], "
        "ckpt:NAME, openai:URL#MODEL or scripted"
    )
