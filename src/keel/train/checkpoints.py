"""The checkpoint registry: ``<home>/checkpoints/NAME/`` with an adapter and a manifest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from keel.config import KeelConfig
from keel.errors import ConfigError, NotFound
from keel.online.model.packaged import PACKAGED_NAME, is_prepared, model_fingerprint, packaged_dir
from keel.online.model.registry import CHECKPOINT_MANIFEST, checkpoints_dir


def read_manifest(cfg: KeelConfig, name: str) -> dict[str, Any]:
    path = checkpoints_dir(cfg) / name / CHECKPOINT_MANIFEST
    if not path.exists():
        raise NotFound(f"no checkpoint named {name!r} (see `keel models list`)")
    data: dict[str, Any] = json.loads(path.read_text())
    return data


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
        man = read_manifest(cfg, arg)
        folder = checkpoints_dir(cfg) / arg
        adapters = (*(Path(p) for p in man.get("parent_adapters", [])), folder / man["adapter_dir"])
        return Path(man["base_model_dir"]), adapters, f"{man['base_fingerprint'][:16]}+{arg}"
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
        man = json.loads(man_path.read_text())
        losses = man.get("losses") or []
        rows.append(
            {
                "spec": f"ckpt:{folder.name}",
                "name": folder.name,
                "kind": man.get("method", "?"),
                "ready": (folder / man.get("adapter_dir", "adapter")).exists(),
                "detail": f"base {man.get('base_model')} · {man.get('steps')} steps · "
                f"loss {losses[0]['loss']:.3f}→{losses[-1]['loss']:.3f}"
                if losses
                else f"base {man.get('base_model')}",
                "created": man.get("created"),
            }
        )
    return rows
