"""A tiny randomly initialised Qwen2 model and a bilingual BPE tokenizer, built in code (no download)."""

from __future__ import annotations

from pathlib import Path

CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
CORPUS = [
    "您好，电子发票可以在我的订单里下载。",
    "抱歉，我们不能提供其他客户的信息。",
    "我帮您转接人工客服，请稍候。",
    "Hello, you can download the invoice from My Orders.",
    "Sorry, I can't share another customer's data.",
    "I'm passing you to a human agent now.",
    "退货请在签收后7天内申请。",
    "Returns within 14 days in the EU.",
    "非常理解您的心情，给您带来不便很抱歉。",
    "I understand how frustrating this is.",
]


def build_tiny_model(folder: Path) -> Path:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(
        CORPUS * 5,
        trainers.BpeTrainer(
            vocab_size=600, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
        ),
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        bos_token=None,
        additional_special_tokens=["<|im_start|>"],
    )
    fast.chat_template = CHATML
    torch.manual_seed(0)
    config = Qwen2Config(
        vocab_size=len(fast),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        eos_token_id=fast.eos_token_id,
        pad_token_id=fast.pad_token_id,
        tie_word_embeddings=True,
    )
    model = Qwen2ForCausalLM(config)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


_CONVERT = """
import runpy, sys
tools = sys.argv[1]
sys.path[:0] = [tools, tools + "/gguf-py"]
from conversion import base
# the tiny tokenizer's pre-tokenizer is Qwen2's, but its vocabulary is not, so the converter's
# fingerprint table does not know it: name it
base.TextModel.get_vocab_base_pre = lambda self, tokenizer: "qwen2"
sys.argv = [tools + "/convert_hf_to_gguf.py", *sys.argv[2:]]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def build_tiny_gguf(model: Path, out: Path) -> Path:
    """The tiny model as an f32 GGUF for llama.cpp, with llama.cpp's own converter (from the sdist)."""
    import os
    import subprocess
    import sys

    from keel.train.gguf import converters

    script = out.parent / "convert_tiny.py"
    script.write_text(_CONVERT, encoding="utf-8")
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, str(script), str(converters()), str(model), "--outfile", str(out), "--outtype", "f32"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return out
