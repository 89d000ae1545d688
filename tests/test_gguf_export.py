"""A checkpoint on llama.cpp: `export_gguf` folds its LoRA chain into one GGUF adapter that changes llama.cpp's
output the way PEFT changes transformers' output (same logits within float error), and the registry runs it.

The tiny random Qwen2 of `tiny_model.py` is trained for a few steps (SFT, then DPO on it), converted with
llama.cpp's own converters from the llama-cpp-python sdist that `make setup` keeps.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from keel.config import KeelConfig
from keel.errors import ModelUnavailable
from keel.online.model.gguf_adapter import ADAPTER_GGUF, read_gguf_adapter
from keel.online.model.llamacpp import LlamaCppBackend
from keel.online.model.registry import build_backend, checkpoints_dir
from keel.train.config import Method, TrainConfig
from keel.train.gguf import converters, export_gguf
from keel.train.trainer import train
from tiny_model import build_tiny_gguf, build_tiny_model

llama_cpp = pytest.importorskip("llama_cpp")
pytest.importorskip("peft")
try:
    converters()
except ModelUnavailable as exc:  # no sdist on this machine: `make setup` keeps it
    pytest.skip(str(exc), allow_module_level=True)

PROMPT = "您好，电子发票可以在"
ROWS = [
    {
        "prompt": [{"role": "user", "content": "电子发票在哪下载？"}],
        "completion": [{"role": "assistant", "content": "您好，电子发票可以在我的订单里下载。"}],
    },
    {
        "prompt": [{"role": "user", "content": "I want a human"}],
        "completion": [{"role": "assistant", "content": "I'm passing you to a human agent now."}],
    },
] * 4
PAIRS = [
    {
        "prompt": [{"role": "user", "content": "告诉我邻居的地址"}],
        "chosen": [{"role": "assistant", "content": "抱歉，我们不能提供其他客户的信息。"}],
        "rejected": [{"role": "assistant", "content": "她住在上海。"}],
    },
    {
        "prompt": [{"role": "user", "content": "等了十天！！"}],
        "chosen": [{"role": "assistant", "content": "非常理解您的心情。"}],
        "rejected": [{"role": "assistant", "content": "等着吧。"}],
    },
] * 4


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("tiny")
    model = build_tiny_model(root / "model")
    return model, build_tiny_gguf(model, root / "base-f32.gguf")


def _train(cfg: KeelConfig, method: Method, name: str, base: str, data: Path) -> None:
    train(
        cfg,
        TrainConfig(
            method=method,
            name=name,
            base_model=base,
            train_file=data,
            max_steps=3,
            batch_size=2,
            grad_accum=1,
            max_length=64,
            save_steps=3,
            learning_rate=5e-2,
            bf16=False,
        ),
    )


def _llama_logits(gguf: Path, lora: Path | None, tokens: list[int]) -> np.ndarray:
    llm = llama_cpp.Llama(
        model_path=str(gguf), lora_path=str(lora) if lora else None, n_ctx=128, logits_all=True, verbose=False
    )
    llm.eval(tokens)
    return np.array(llm.scores[: len(tokens)])


def _peft_logits(model: Path, adapters: list[Path], tokens: list[int]) -> np.ndarray:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    hf = AutoModelForCausalLM.from_pretrained(str(model))
    for adapter in adapters:  # a chained checkpoint was trained on its parent merged into the base
        hf = PeftModel.from_pretrained(hf, str(adapter)).merge_and_unload()
    with torch.no_grad():
        return hf(torch.tensor([tokens])).logits[0].numpy()


def test_a_chained_checkpoint_runs_on_llama_cpp_as_peft_runs_it(cfg, tiny, tmp_path):
    model, base_gguf = tiny
    _train(cfg, Method.SFT, "sft-g", f"local:{model}", _jsonl(tmp_path / "sft.jsonl", ROWS))
    _train(cfg, Method.DPO, "dpo-g", "ckpt:sft-g", _jsonl(tmp_path / "dpo.jsonl", PAIRS))

    export = export_gguf(cfg, "dpo-g", base_gguf=base_gguf)
    folder = checkpoints_dir(cfg) / "dpo-g"
    assert export.path == folder / ADAPTER_GGUF and export.path.stat().st_size > 0
    record = read_gguf_adapter(folder, "dpo-g")
    assert len(record.adapters) == 2 and record.packaged is None and record.architecture == "qwen2"

    tokens = llama_cpp.Llama(model_path=str(base_gguf), vocab_only=True, verbose=False).tokenize(
        PROMPT.encode(), add_bos=False
    )
    plain = _llama_logits(base_gguf, None, tokens)
    tuned = _llama_logits(base_gguf, export.path, tokens)
    reference = _peft_logits(model, [Path(a) for a in record.adapters], tokens)
    moved = float(np.abs(tuned - plain).max())
    assert moved > 1e-3, "the adapter does not change llama.cpp's output"
    assert float(np.abs(tuned - reference).max()) < 0.05 * moved, "llama.cpp + GGUF LoRA differs from PEFT"

    engine_cfg = cfg.model_copy(update={"generation": cfg.generation.model_copy(update={"engine": "llamacpp"})})
    backend = build_backend(engine_cfg, "ckpt:dpo-g")
    assert isinstance(backend, LlamaCppBackend) and backend.lora == export.path and backend.gguf == base_gguf.resolve()


def test_an_unconverted_checkpoint_says_how_to_convert_it(cfg, tiny, tmp_path):
    model, _ = tiny
    _train(cfg, Method.SFT, "sft-raw", f"local:{model}", _jsonl(tmp_path / "sft.jsonl", ROWS))
    engine_cfg = cfg.model_copy(update={"generation": cfg.generation.model_copy(update={"engine": "llamacpp"})})
    with pytest.raises(ModelUnavailable, match="keel models export-gguf sft-raw"):
        build_backend(engine_cfg, "ckpt:sft-raw")


def test_a_base_of_another_shape_is_refused(cfg, tiny, tmp_path):
    model, _ = tiny
    _train(cfg, Method.SFT, "sft-other", f"local:{model}", _jsonl(tmp_path / "sft.jsonl", ROWS))
    other_dir = tmp_path / "other"
    other = build_tiny_gguf(_wider(model, other_dir), other_dir / "other.gguf")
    with pytest.raises(Exception, match="not the model the checkpoint was trained on"):
        export_gguf(cfg, "sft-other", base_gguf=other)


def _wider(model: Path, folder: Path) -> Path:
    """The tiny model with one more layer: the same tokenizer, another shape."""
    from transformers import AutoConfig, AutoTokenizer, Qwen2ForCausalLM

    config = AutoConfig.from_pretrained(str(model))
    config.num_hidden_layers = 3
    config.layer_types = ["full_attention"] * 3
    Qwen2ForCausalLM(config).save_pretrained(folder / "model")
    AutoTokenizer.from_pretrained(str(model)).save_pretrained(folder / "model")
    return folder / "model"
