"""Build a model backend from its spec string (``KeelConfig.model``)."""

from __future__ import annotations

import os
from pathlib import Path

from keel.config import KeelConfig
from keel.errors import ConfigError, ModelUnavailable, NotFound
from keel.manifest import ManifestKind, RunStatus, TrainDetails, read_manifest
from keel.online.model.base import ModelBackend
from keel.online.model.gguf_adapter import ADAPTER_GGUF, packaged_base, read_gguf_adapter, same_fingerprint
from keel.online.model.llamacpp import LlamaCppBackend, gguf_fingerprint
from keel.online.model.local import LocalBackend
from keel.online.model.openai_compat import OpenAIBackend
from keel.online.model.packaged import (
    DEFAULT_PACKAGED,
    PACKAGED,
    PACKAGED_NAME,
    PackagedKey,
    gguf_path,
    is_prepared,
    model_fingerprint,
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
    if cfg.generation.engine == "llamacpp":
        return _checkpoint_llamacpp(cfg, name, folder, man.model.fingerprint if man.model else None, base_dir)
    if not (base_dir / "config.json").exists():
        raise ModelUnavailable(f"checkpoint {name!r}: its base model {base_dir} is missing (`keel model prepare --hf`)")
    adapters = (*(Path(p) for p in details.parent_adapters), folder / details.adapter_dir)
    return LocalBackend(base_dir, name=f"ckpt:{name}", adapter_dirs=adapters, threads=cfg.generation.threads)


def _checkpoint_llamacpp(
    cfg: KeelConfig, name: str, folder: Path, trained_fp: str | None, base_dir: Path
) -> LlamaCppBackend:
    """The checkpoint's GGUF LoRA on the GGUF of the very base it was trained on (never another one)."""
    info = read_gguf_adapter(folder, name)
    base_fp = model_fingerprint(base_dir) if (base_dir / "config.json").exists() else trained_fp
    if not same_fingerprint(info.base_fingerprint, base_fp):
        raise ModelUnavailable(
            f"checkpoint {name!r}: its GGUF adapter was converted for the base {info.base_model} "
            f"({info.base_fingerprint[:12]}), but the checkpoint was trained on {base_dir} ({(base_fp or '?')[:12]}): "
            f"run `keel models export-gguf {name}` again"
        )
    if info.packaged is not None:
        if packaged_base(info.base_fingerprint) is not info.packaged:
            raise ModelUnavailable(
                f"checkpoint {name!r} was trained on {info.base_model}, which is not the packaged model "
                f"{info.packaged}: run `keel models export-gguf {name}` again"
            )
        gguf = gguf_path(cfg.model_cache, info.packaged)
        if not gguf.exists():
            raise ModelUnavailable(
                f"checkpoint {name!r} runs on the packaged model {info.packaged}, which is not prepared "
                f"({gguf} missing): run `keel model prepare --model {info.packaged}`"
            )
        fingerprint = PACKAGED[info.packaged].sha256
    else:
        gguf = Path(info.base_gguf or "")
        if not info.base_gguf or not gguf.is_file():
            raise ModelUnavailable(
                f"checkpoint {name!r}: the GGUF of its base ({info.base_gguf}) is missing: "
                f"run `keel models export-gguf {name} --base-gguf FILE`"
            )
        fingerprint = gguf_fingerprint(gguf)
        if info.base_gguf_fingerprint and fingerprint != info.base_gguf_fingerprint:
            raise ModelUnavailable(
                f"checkpoint {name!r}: {gguf} changed since its adapter was converted for it: "
                f"run `keel models export-gguf {name} --base-gguf FILE` again"
            )
    return LlamaCppBackend(
        gguf,
        name=f"ckpt:{name}",
        lora=folder / ADAPTER_GGUF,
        threads=cfg.generation.threads or 1,
        batch_threads=cfg.generation.batch_threads,
        fingerprint=fingerprint,
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
