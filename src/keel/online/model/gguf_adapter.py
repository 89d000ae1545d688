"""A checkpoint's LoRA in GGUF for llama.cpp: the file, its record, and which GGUF base it runs on.

``keel/train/gguf.py`` writes ``<checkpoint>/adapter.gguf`` and, beside it, ``adapter.gguf.json``
(:class:`GgufAdapter`): the PEFT adapters folded into it, the Hugging Face base they were trained on
(folder and fingerprint) and the GGUF base the adapter was checked against. The registry reads the
record to pick that GGUF base: the packaged GGUF whose sha256 is the training base's fingerprint
(the 0.5B for a checkpoint trained on ``local``), or the GGUF file named at export for any other base.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from pydantic import ValidationError

from keel.domain import Frozen
from keel.errors import ModelUnavailable
from keel.online.model.packaged import PACKAGED, PackagedKey

ADAPTER_GGUF = "adapter.gguf"
ADAPTER_GGUF_RECORD = "adapter.gguf.json"


class GgufAdapter(Frozen):
    """What ``adapter.gguf`` was made from and must run on."""

    adapter_sha256: str  # of adapter.gguf
    adapters: tuple[str, ...]  # the PEFT adapter folders folded into it, base side first
    rank: int  # LoRA rank in the GGUF (the ranks of the folded adapters, added up)
    base_model: str  # the Hugging Face base folder the adapters were trained on
    base_fingerprint: str  # ... and its fingerprint (keel-model.json, or a hash of the folder)
    packaged: PackagedKey | None = None  # the packaged GGUF that is that base (sha256 = fingerprint)
    base_gguf: str | None = None  # otherwise: the GGUF base file given or converted at export
    base_gguf_fingerprint: str | None = None  # its header hash (llamacpp.gguf_fingerprint)
    architecture: str  # general.architecture of the base, e.g. qwen2
    converter: str  # which convert_lora_to_gguf.py
    created_at: datetime


def record_path(folder: Path) -> Path:
    return folder / ADAPTER_GGUF_RECORD


def read_gguf_adapter(folder: Path, name: str) -> GgufAdapter:
    """The record of checkpoint *name*'s GGUF adapter; a clear error when it was never converted."""
    path = record_path(folder)
    if not path.exists() or not (folder / ADAPTER_GGUF).exists():
        raise ModelUnavailable(
            f"checkpoint {name!r} has no GGUF adapter for llama.cpp ({folder / ADAPTER_GGUF}): "
            f"run `keel models export-gguf {name}`, or set generation.engine: transformers"
        )
    try:
        return GgufAdapter.model_validate_json(path.read_text(encoding="utf-8"))
    except ValidationError as exc:
        raise ModelUnavailable(
            f"{path}: not a GGUF adapter record ({exc.errors()[0]['msg']}); run `keel models export-gguf {name}` again"
        ) from None


def packaged_base(fingerprint: str) -> PackagedKey | None:
    """The packaged model a Hugging Face base was converted from, by its fingerprint (GGUF sha256)."""
    for key, model in PACKAGED.items():
        if fingerprint and model.sha256 == fingerprint:
            return key
    return None


def same_fingerprint(a: str | None, b: str | None) -> bool:
    """A chained checkpoint's manifest keeps only the first 16 characters of its root's fingerprint."""
    if not a or not b:
        return False
    return a.split("+")[0][:16] == b.split("+")[0][:16]
