"""A checkpoint for llama.cpp: its PEFT adapters as one GGUF LoRA (``adapter.gguf``) on the right GGUF base.

llama.cpp's own converters (``convert_lora_to_gguf.py``, ``convert_hf_to_gguf.py`` and the ``gguf-py``
they were written with) come from the llama-cpp-python sdist that ``scripts/llama_wheel.sh`` keeps in
``${KEEL_WHEEL_CACHE:-~/.cache/keel/wheels}/sdist``; they are unpacked once beside it.

1. Fold: a checkpoint stacked on another (DPO on ``ckpt:sft``) was trained on its base with the parent
   merged in. LoRA deltas add up, so the parents and the checkpoint's own adapter become one LoRA whose
   rank is the sum: the A matrices stacked, the B matrices side by side, each B scaled by its adapter's
   own alpha/r (alpha/√r for rsLoRA). llama-cpp-python applies one adapter; this is that one.
2. Convert: ``convert_lora_to_gguf.py --base <HF base folder>``, in f32 (an adapter is a few MB).
3. Base: the packaged GGUF whose sha256 is the HF base's fingerprint (the 0.5B for ``base_model:
   local``), else the GGUF given as ``base_gguf`` or, if asked, converted from the HF base with
   ``convert_hf_to_gguf.py``. Either is checked against the HF base's ``config.json`` (architecture,
   layers, width, vocabulary) and recorded in ``adapter.gguf.json`` for the registry.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from keel.config import KeelConfig
from keel.domain import Frozen
from keel.errors import ConfigError, InvalidInput, ModelUnavailable
from keel.online.model.gguf_adapter import ADAPTER_GGUF, GgufAdapter, packaged_base, record_path
from keel.online.model.llamacpp import gguf_fingerprint
from keel.online.model.packaged import gguf_path, model_fingerprint
from keel.online.model.registry import checkpoints_dir
from keel.train.checkpoints import checkpoint_manifest

LLAMA_CPP_VERSION = "0.3.36"  # scripts/llama_wheel.sh and pyproject's llama-cpp-python pin
_VENDOR = f"llama_cpp_python-{LLAMA_CPP_VERSION}/vendor/llama.cpp/"
_TOOLS = ("convert_lora_to_gguf.py", "convert_hf_to_gguf.py", "conversion/", "gguf-py/")
#: HF ``model_type`` → GGUF ``general.architecture`` where they differ
_ARCH = {"qwen2": "qwen2", "llama": "llama", "mistral": "llama", "qwen3": "qwen3", "gemma2": "gemma2"}


class GgufExport(Frozen):
    path: Path  # adapter.gguf
    record: GgufAdapter
    seconds: float


def wheel_cache() -> Path:
    """Where scripts/llama_wheel.sh keeps its wheels and the sdist (it reads the same variable)."""
    return Path(os.environ.get("KEEL_WHEEL_CACHE") or Path.home() / ".cache" / "keel" / "wheels")


def converters(cache: Path | None = None) -> Path:
    """The folder holding llama.cpp's converters, unpacked from the sdist once."""
    root = cache or wheel_cache()
    target = root / f"llama.cpp-{LLAMA_CPP_VERSION}"
    if (target / "convert_lora_to_gguf.py").exists():
        return target
    sdist = root / "sdist" / f"llama_cpp_python-{LLAMA_CPP_VERSION}.tar.gz"
    if not sdist.exists():
        raise ModelUnavailable(
            f"llama.cpp's GGUF converters come from the llama-cpp-python sdist, not found at {sdist}: "
            "run `make setup` (scripts/llama_wheel.sh keeps it)"
        )
    with tempfile.TemporaryDirectory(dir=root, prefix=".unpack-") as tmp, tarfile.open(sdist) as tar:
        members = []
        for m in tar.getmembers():
            rel = m.name.removeprefix(_VENDOR)
            if rel != m.name and any(rel == t or rel.startswith(t) for t in _TOOLS) and (m.isfile() or m.isdir()):
                m.name = rel
                members.append(m)
        tar.extractall(tmp, members=members, filter="data")
        if not (Path(tmp) / "convert_lora_to_gguf.py").exists():
            raise ModelUnavailable(f"{sdist} carries no convert_lora_to_gguf.py")
        if target.exists():
            shutil.rmtree(target)
        Path(tmp).rename(target)
    return target


def _run(script: Path, args: list[str], what: str) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, str(script), *args], capture_output=True, text=True, env=env, cwd=script.parent
    )
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-6:])
        raise ModelUnavailable(f"{what} failed ({script.name}, exit {proc.returncode}):\n{tail}")


def _lora_pairs(adapter: Path) -> tuple[dict[str, Any], dict[str, tuple[Any, Any]]]:
    from safetensors.torch import load_file

    config = json.loads((adapter / "adapter_config.json").read_text(encoding="utf-8"))
    if config.get("peft_type", "LORA") != "LORA":
        raise ConfigError(f"{adapter}: a {config.get('peft_type')} adapter; llama.cpp takes LoRA only")
    if config.get("rank_pattern") or config.get("alpha_pattern") or config.get("use_dora"):
        raise ConfigError(f"{adapter}: rank/alpha patterns and DoRA do not convert to a GGUF LoRA")
    weights = load_file(str(adapter / "adapter_model.safetensors"))
    pairs: dict[str, list[Any]] = {}
    for key, tensor in weights.items():
        for part, slot in ((".lora_A.weight", 0), (".lora_B.weight", 1)):
            if key.endswith(part):
                pairs.setdefault(key.removesuffix(part), [None, None])[slot] = tensor.float()
                break
        else:
            raise ConfigError(f"{adapter}: {key} is not a LoRA A/B matrix (modules_to_save do not convert)")
    if any(a is None or b is None for a, b in pairs.values()):
        raise ConfigError(f"{adapter}: a LoRA module lacks its A or B matrix")
    return config, {k: (v[0], v[1]) for k, v in pairs.items()}


def fold_adapters(adapters: tuple[Path, ...], out: Path) -> int:
    """Write one PEFT LoRA to *out* whose delta is the sum of *adapters*' deltas; returns its rank.

    llama.cpp scales a module's delta by alpha / rank (its A's rows), so each B is pre-scaled to give
    ``Σ scaling_i · B_i A_i`` under the one alpha written (the largest folded rank).
    """
    import torch
    from safetensors.torch import save_file

    modules: dict[str, list[tuple[Any, Any, float]]] = {}
    first: dict[str, Any] = {}
    targets: set[str] = set()
    for adapter in adapters:
        config, pairs = _lora_pairs(adapter)
        first = first or config
        targets |= set(config.get("target_modules") or [])
        for module, (a, b) in pairs.items():
            r = a.shape[0]
            alpha = float(config["lora_alpha"])
            scaling = alpha / (math.sqrt(r) if config.get("use_rslora") else r)
            modules.setdefault(module, []).append((a, b, scaling))
    ranks = {m: sum(a.shape[0] for a, _b, _s in parts) for m, parts in modules.items()}
    alpha_out = max(ranks.values())
    tensors: dict[str, Any] = {}
    for module, parts in modules.items():
        rank = ranks[module]
        tensors[f"{module}.lora_A.weight"] = torch.cat([a for a, _b, _s in parts], dim=0).contiguous()
        tensors[f"{module}.lora_B.weight"] = torch.cat(
            [b * (s * rank / alpha_out) for _a, b, s in parts], dim=1
        ).contiguous()
    out.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(out / "adapter_model.safetensors"))
    config = {
        "peft_type": "LORA",
        "task_type": first.get("task_type", "CAUSAL_LM"),
        "base_model_name_or_path": first.get("base_model_name_or_path"),
        "r": alpha_out,
        "lora_alpha": alpha_out,
        "use_rslora": False,
        "target_modules": sorted(targets),
        "bias": "none",
    }
    (out / "adapter_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    return alpha_out


def _field(reader: Any, key: str) -> Any:
    field = reader.fields.get(key)
    return field.contents() if field is not None else None


def check_base(base_gguf: Path, hf_base: Path) -> str:
    """*base_gguf*'s architecture, after checking it has the HF base's shape; a clear error if not."""
    from gguf import GGUFReader

    config = json.loads((hf_base / "config.json").read_text(encoding="utf-8"))
    try:
        reader = GGUFReader(base_gguf)
    except (ValueError, OSError) as exc:
        raise InvalidInput(f"{base_gguf}: not a GGUF file ({exc})") from None
    arch = str(_field(reader, "general.architecture") or "")
    if str(_field(reader, "general.type") or "model") != "model":
        raise InvalidInput(f"{base_gguf}: a GGUF {_field(reader, 'general.type')}, not a base model")
    embed = next((t for t in reader.tensors if t.name == "token_embd.weight"), None)
    found = {
        "architecture": arch,
        "layers": _field(reader, f"{arch}.block_count"),
        "width": _field(reader, f"{arch}.embedding_length"),
        "vocabulary": int(embed.shape[1]) if embed is not None and len(embed.shape) > 1 else None,
    }
    model_type = str(config.get("model_type", ""))
    wanted = {
        "architecture": _ARCH.get(model_type, model_type),
        "layers": config.get("num_hidden_layers"),
        "width": config.get("hidden_size"),
        "vocabulary": config.get("vocab_size"),
    }
    wrong = [f"{k} {found[k]} (trained on: {v})" for k, v in wanted.items() if v is not None and found[k] != v]
    if wrong:
        raise InvalidInput(
            f"{base_gguf} is not the model the checkpoint was trained on ({hf_base}): " + ", ".join(wrong)
        )
    return arch


def _convert_base(tools: Path, hf_base: Path, fingerprint: str, cache: Path) -> Path:
    out = cache / f"base-{fingerprint.split('+')[0][:16]}-f16.gguf"
    if out.exists():
        return out
    cache.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".part")
    try:
        _run(
            tools / "convert_hf_to_gguf.py",
            [str(hf_base), "--outfile", str(tmp), "--outtype", "f16"],
            f"converting the base {hf_base} to GGUF (pass its GGUF with --base-gguf instead)",
        )
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


def export_gguf(
    cfg: KeelConfig,
    name: str,
    *,
    base_gguf: Path | None = None,
    convert_base: bool = True,
    log: Callable[[str], None] = lambda _m: None,
) -> GgufExport:
    """Write ``ckpt:NAME``'s ``adapter.gguf`` and its record; the GGUF base is chosen as above."""
    import time

    started = time.time()
    man, details = checkpoint_manifest(cfg, name)
    if man.model is None or not man.model.path:
        raise ConfigError(f"checkpoint {name!r}: its manifest names no base model folder")
    hf_base = Path(man.model.path)
    if not (hf_base / "config.json").exists():
        raise ModelUnavailable(
            f"checkpoint {name!r}: its base model {hf_base} is missing; the converter needs its config "
            "(`keel model prepare --hf` for the packaged one)"
        )
    fingerprint = model_fingerprint(hf_base)
    folder = checkpoints_dir(cfg) / name
    adapters = (*(Path(p) for p in details.parent_adapters), folder / details.adapter_dir)
    for adapter in adapters:
        if not (adapter / "adapter_config.json").exists():
            raise ModelUnavailable(f"checkpoint {name!r}: adapter {adapter} is missing")
    packaged = None if base_gguf else packaged_base(fingerprint)
    tools = converters()
    if packaged is not None:
        base = gguf_path(cfg.model_cache, packaged)
        if not base.exists():
            raise ModelUnavailable(
                f"checkpoint {name!r} was trained on the packaged model {packaged}; prepare its GGUF first: "
                f"`keel model prepare --model {packaged}`"
            )
    elif base_gguf is not None:
        if not base_gguf.is_file():
            raise InvalidInput(f"no GGUF file at {base_gguf}")
        base = base_gguf.resolve()
    elif convert_base:
        log(f"converting the base model {hf_base} to GGUF (f16)")
        base = _convert_base(tools, hf_base, fingerprint, cfg.model_cache)
    else:
        raise ModelUnavailable(
            f"checkpoint {name!r} was trained on {hf_base}, which is no packaged model: "
            f"run `keel models export-gguf {name}` (converts that base too) or pass --base-gguf FILE"
        )
    arch = check_base(base, hf_base)
    target = folder / ADAPTER_GGUF
    with tempfile.TemporaryDirectory(dir=folder, prefix=".gguf-") as tmp:
        work = Path(tmp)
        log(f"folding {len(adapters)} adapter(s) into one LoRA")
        rank = fold_adapters(adapters, work / "lora")
        log("converting the LoRA with llama.cpp's convert_lora_to_gguf.py")
        _run(
            tools / "convert_lora_to_gguf.py",
            ["--base", str(hf_base), "--outfile", str(work / ADAPTER_GGUF), "--outtype", "f32", str(work / "lora")],
            f"converting checkpoint {name!r} to a GGUF LoRA",
        )
        (work / ADAPTER_GGUF).replace(target)
    record = GgufAdapter(
        adapter_sha256=_sha256(target),
        adapters=tuple(str(a) for a in adapters),
        rank=rank,
        base_model=str(hf_base),
        base_fingerprint=fingerprint,
        packaged=packaged,
        base_gguf=None if packaged else str(base),
        base_gguf_fingerprint=None if packaged else gguf_fingerprint(base),
        architecture=arch,
        converter=f"convert_lora_to_gguf.py from llama-cpp-python {LLAMA_CPP_VERSION}",
        created_at=datetime.now(UTC),
    )
    record_path(folder).write_text(record.model_dump_json(indent=2), encoding="utf-8")
    return GgufExport(path=target, record=record, seconds=round(time.time() - started, 1))
