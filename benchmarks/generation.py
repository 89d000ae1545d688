"""Generation speed: transformers (bf16) vs llama.cpp (GGUF) on the same pipeline prompts, both packaged models.

The prompts are the ones the pipeline really builds (static prefix, passages, state, message), captured
from demo messages. For each engine × model, in one run with one generation thread each:

* prefill tokens/s (a prompt evaluated from an empty cache) and decode tokens/s (greedy, up to 64 tokens),
* the first reply's latency (empty cache) and the latency of later replies, whose static prompt prefix
  llama.cpp reuses from its KV cache (transformers has none: every reply pays the whole prompt).

    .venv/bin/python benchmarks/generation.py [--prompts 8] [--hf-prompts 3] [--skip-hf-1.5b]

Results: benchmarks/results/generation.json, with the machine's load before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

from _machine import loadavg, machine
from rich.console import Console
from rich.table import Table

from keel.config import load_config
from keel.online.model.base import GenerationRequest
from keel.online.model.packaged import PACKAGED, PackagedKey, ensure_packaged_model, gguf_path, packaged_gguf
from keel.online.model.scripted import ScriptedModel
from keel.online.pipeline import MessageRequest, handle_message
from keel.online.runtime import open_runtime
from keel.setup_demo import setup_demo

REPO = Path(__file__).resolve().parents[1]
console = Console()
MESSAGES = [
    ("u1001", "电子发票在哪里下载？"),
    ("u1006", "How long do refunds take?"),
    ("u1002", "退货运费谁出？"),
    (None, "Do you ship to Hong Kong, and how much is it?"),
    ("u1007", "港湾会员有什么权益？"),
    (None, "Can I pay in instalments?"),
    ("u1003", "保修期是多久？"),
    (None, "What is price protection?"),
    ("u1008", "双十一的优惠还有吗"),
    (None, "How do I reopen a closed ticket?"),
]
DECODE_TOKENS = 64


def capture_prompts(n: int) -> list[GenerationRequest]:
    """The GenerationRequests the pipeline builds for the demo messages (scripted model, demo KB)."""
    work = Path(tempfile.mkdtemp(prefix="keel-genbench-"))
    cfg = load_config(
        env={}, home=work, model="scripted", today=date(2026, 11, 24), embedding_cache_dir=REPO / ".keel" / "index"
    )
    setup_demo(cfg, prepare_model=False, log=lambda _m: None)
    model = ScriptedModel()
    rt = open_runtime(cfg, model=model)
    for i, (user, text) in enumerate(MESSAGES[:n]):
        handle_message(rt, MessageRequest(conversation_id=f"bench-{i}", text=text, user_id=user))
    return [r.model_copy(update={"max_new_tokens": DECODE_TOKENS, "timeout_s": 900.0}) for r in model.calls]


def bench_llamacpp(gguf: Path, prompts: list[GenerationRequest], batch_threads: int = 1) -> dict[str, Any]:
    from keel.online.model.llamacpp import LlamaCppBackend

    backend = LlamaCppBackend(gguf, threads=1, batch_threads=batch_threads)
    llm = backend.load()
    # prefill and decode measured apart, on the first prompt, from an empty cache
    tokens = llm.tokenize(backend.render(prompts[0]).encode(), add_bos=False, special=True)
    llm.reset()
    t0 = time.perf_counter()
    llm.eval(tokens)
    prefill_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    n = 0
    for _tok in llm.generate(tokens, temp=0.0, reset=True):  # the prompt is in the cache: decode only
        n += 1
        if n >= DECODE_TOKENS:
            break
    decode_s = time.perf_counter() - t0
    # whole replies: the first from an empty cache, the others reuse the static prefix
    llm.reset()  # the next reply starts from an empty cache
    latencies, cached, prompt_tokens = [], [], []
    for req in prompts:
        gen = backend.generate(req)
        latencies.append(gen.latency_ms / 1000)
        cached.append(gen.cached_tokens)
        prompt_tokens.append(gen.prompt_tokens)
    return {
        "prefill_tok_s": round(len(tokens) / prefill_s, 1),
        "decode_tok_s": round(n / decode_s, 2),
        "first_reply_s": round(latencies[0], 2),
        "reused_reply_p50_s": round(statistics.median(latencies[1:]), 2),
        "reused_reply_max_s": round(max(latencies[1:]), 2),
        "prompt_tokens_mean": round(statistics.mean(prompt_tokens)),
        "cached_tokens_mean": round(statistics.mean(cached[1:])),
        "replies": len(latencies),
    }


def bench_transformers(model_dir: Path | None, gguf: Path, prompts: list[GenerationRequest]) -> dict[str, Any]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(1)
    if model_dir is not None:
        tok = AutoTokenizer.from_pretrained(model_dir)
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.bfloat16).eval()
    else:  # de-quantised from the GGUF in memory (the 1.5B has no saved HF folder)
        tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.bfloat16).eval()
    latencies, prefill_rates, decode_rates = [], [], []
    for req in prompts:
        messages = [{"role": m.role.value, "content": m.content} for m in req.messages]
        text = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        inputs = tok(text, return_tensors="pt", add_special_tokens=False)
        n_prompt = inputs["input_ids"].shape[1]
        with torch.inference_mode():
            t0 = time.perf_counter()
            model(**inputs)
            prefill_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            out = model.generate(**inputs, max_new_tokens=DECODE_TOKENS, do_sample=False, pad_token_id=tok.eos_token_id)
            total_s = time.perf_counter() - t0
        new = out.shape[1] - n_prompt
        latencies.append(total_s)
        prefill_rates.append(n_prompt / prefill_s)
        decode_rates.append(new / max(total_s - prefill_s, 1e-6))
    return {
        "prefill_tok_s": round(statistics.median(prefill_rates), 1),
        "decode_tok_s": round(statistics.median(decode_rates), 2),
        "first_reply_s": round(latencies[0], 2),
        "reused_reply_p50_s": round(statistics.median(latencies[1:]), 2) if len(latencies) > 1 else None,
        "reused_reply_max_s": round(max(latencies[1:]), 2) if len(latencies) > 1 else None,
        "replies": len(latencies),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prompts", type=int, default=8, help="pipeline prompts per llama.cpp row")
    ap.add_argument("--hf-prompts", type=int, default=3, help="prompts per transformers row (slow)")
    ap.add_argument(
        "--skip-hf-1.5b",
        dest="skip_hf_15",
        action="store_true",
        help="skip transformers on the 1.5B (de-quantised, slow)",
    )
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "generation.json")
    args = ap.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    cache = REPO / ".keel" / "models"
    prompts = capture_prompts(max(args.prompts, args.hf_prompts))
    before = loadavg()
    rows: dict[str, dict[str, Any]] = {}
    for key in (PackagedKey.QWEN_0_5B, PackagedKey.QWEN_1_5B):
        gguf = packaged_gguf(cache, key, log=console.print)
        console.print(f"[bold]llama.cpp[/] {PACKAGED[key].name}")
        rows[f"llama.cpp {key}"] = bench_llamacpp(gguf, prompts[: args.prompts])
        console.print(f"[bold]llama.cpp, prefill on 2 threads[/] {PACKAGED[key].name}")
        rows[f"llama.cpp {key} (prefill 2 threads)"] = bench_llamacpp(gguf, prompts[: args.prompts], batch_threads=2)
        if key is PackagedKey.QWEN_1_5B and args.skip_hf_15:
            continue
        console.print(f"[bold]transformers[/] {PACKAGED[key].name}")
        hf_dir = ensure_packaged_model(cache, log=console.print) if key is PackagedKey.QWEN_0_5B else None
        rows[f"transformers {key}"] = bench_transformers(hf_dir, gguf_path(cache, key), prompts[: args.hf_prompts])
    ratios = {}
    for key in ("0.5b", "1.5b"):
        hf, lc = rows.get(f"transformers {key}"), rows.get(f"llama.cpp {key}")
        if hf and lc:
            ratios[f"decode speed-up {key}"] = round(lc["decode_tok_s"] / hf["decode_tok_s"], 2)
    table = Table(title="generation (decode on 1 thread)")
    for col in ("engine / model", "prefill tok/s", "decode tok/s", "first reply s", "reused reply p50 s"):
        table.add_column(col)
    for name, r in rows.items():
        table.add_row(
            name, str(r["prefill_tok_s"]), str(r["decode_tok_s"]), str(r["first_reply_s"]), str(r["reused_reply_p50_s"])
        )
    console.print(table)
    console.print(ratios)
    args.out.write_text(
        json.dumps(
            {"machine": machine(before), "decode_tokens": DECODE_TOKENS, "rows": rows, "ratios": ratios}, indent=2
        )
    )
    console.print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
