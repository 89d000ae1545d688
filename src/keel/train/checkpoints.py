"""The checkpoint registry: ``<home>/checkpoints/NAME/`` with an adapter and a manifest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from keel.config import KeelConfig
from keel.errors import ConfigError, NotFound
from keel.manifest import Manifest, ManifestKind, TrainDetails, read_manifest
from keel.online.model.packaged import PACKAGED_NAME, is_prepared, model_fingerprint, packaged_dir
from keel.online.model.registry import CHECKPOINT_MANIFEST, checkpoints_dir


def checkpoint_manifest(cfg: KeelConfig, name: str) -> tuple[Manifest, TrainDetails]:
    path = checkpoints_dir(cfg) / name / CHECKPOINT_MANIFEST
    if not path.exists():
        raise NotFound(f"no checkpoint named {name!r} (see `keel models list`)")
    manifest = read_manifest(path, ManifestKind.TRAIN)
    return manifest, manifest.details_as(TrainDetails)


def resolve_base(cfg: KeelConfig, spec: str) -> tuple[Path, tuple[Path, ...], str]:
    """(base model folder, adapters already applied on top, fingerprint) for a training base spec."""
    kind, _, arg = spec.partition(":")
    if kind == "local" and not arg:
        path = packaged_dir(cfg.model_cache)
        if not is_prepared(path):
            raise NotFound("the packaged model is not prepared yet: run `keel model prepare`")
        return path, (), model_fingerprint(path)
    if kind == "local":
        path = Path(arg)
        if not (path / "config.json").exists():
            raise NotFound(f"no model at {path}")
        return path, (), model_fingerprint(path)
    if kind == "ckpt":
        man, details = checkpoint_manifest(cfg, arg)
        if man.model is None or man.model.path is None:
            raise ConfigError(f"checkpoint {arg!r}: its manifest names no base model folder")
        folder = checkpoints_dir(cfg) / arg
        adapters = (*(Path(p) for p in details.parent_adapters), folder / details.adapter_dir)
        return Path(man.model.path), adapters, f"{(man.model.fingerprint or '')[:16]}+{arg}"
    raise ConfigError(f"a training base must be local, local:DIR or ckpt:NAME, not {spec!r}")


def list_models(cfg: KeelConfig) -> list[dict[str, Any]]:
    """The packaged model (if prepared) and every registered checkpoint."""
    rows: list[dict[str, Any]] = []
    packaged = packaged_dir(cfg.model_cache)
    rows.append(
        {
            "spec": "local",
            "name": PACKAGED_NAME,
            "kind": "packaged",
            "ready": is_prepared(packaged),
            "detail": str(packaged),
        }
    )
    root = checkpoints_dir(cfg)
    for folder in sorted(root.glob("*")) if root.exists() else []:
        man_path = folder / CHECKPOINT_MANIFEST
        if not man_path.exists():
            continue
        man = read_manifest(man_path, ManifestKind.TRAIN)
        details = man.details_as(TrainDetails)
        base = man.model.name if man.model else None
        losses = details.losses
        rows.append(
            {
                "spec": f"ckpt:{folder.name}",
                "name": folder.name,
                "kind": details.method,
                "ready": (folder / details.adapter_dir).exists(),
                "detail": f"base {base} · {details.steps} steps · loss {losses[0].loss:.3f}→{losses[-1].loss:.3f}"
                if losses
                else f"base {base}",
                "created": man.created_at.isoformat(),
            }
        )
    return rows
