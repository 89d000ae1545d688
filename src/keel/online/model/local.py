"""A local Hugging Face causal LM on CPU (bf16 by default), optionally with a LoRA adapter."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from keel.errors import ModelUnavailable
from keel.online.model.base import Generation, GenerationRequest
from keel.online.model.packaged import model_fingerprint


class LocalBackend:
    """Loads the model on first use; one generation at a time (CPU-bound anyway)."""

    def __init__(
        self,
        model_dir: Path,
        *,
        name: str | None = None,
        adapter_dirs: tuple[Path, ...] = (),
        dtype: str = "bfloat16",
        threads: int = 0,
    ) -> None:
        if not (model_dir / "config.json").exists():
            raise ModelUnavailable(f"no model at {model_dir} (run `keel model prepare`)")
        self.model_dir = model_dir
        self.adapter_dirs = adapter_dirs
        self.name = name or f"local:{model_dir.name}"
        fp = model_fingerprint(model_dir)
        for adapter in adapter_dirs:
            fp = f"{fp[:16]}+{model_fingerprint(adapter)[:16]}"
        self.fingerprint = fp
        self._dtype = dtype
        self._threads = threads
        self._lock = threading.Lock()
        self._model: Any = None
        self._tok: Any = None
        self._choice_ids: dict[tuple[str, ...], list[int]] = {}

    def load(self) -> tuple[Any, Any]:
        with self._lock:
            if self._model is None:
                import torch
                from transformers import AutoModelForCausalLM, AutoTokenizer

                if self._threads:
                    torch.set_num_threads(self._threads)
                self._tok = AutoTokenizer.from_pretrained(self.model_dir)
                model: Any = AutoModelForCausalLM.from_pretrained(self.model_dir, dtype=getattr(torch, self._dtype))
                if self.adapter_dirs:
                    from peft import PeftModel

                    for adapter in self.adapter_dirs:  # LoRA adapters merged in training order
                        model = PeftModel.from_pretrained(model, adapter).merge_and_unload()
                self._model = model.eval()
            return self._model, self._tok

    def _first_token_ids(self, choices: tuple[str, ...]) -> list[int]:
        if choices not in self._choice_ids:
            ids = [self._tok.encode(" " + c, add_special_tokens=False)[0] for c in choices]
            if len(set(ids)) != len(ids):  # fall back to no-space forms
                ids = [self._tok.encode(c, add_special_tokens=False)[0] for c in choices]
            self._choice_ids[choices] = ids
        return self._choice_ids[choices]

    def generate(self, request: GenerationRequest) -> Generation:
        import torch

        model, tok = self.load()
        started = time.perf_counter()
        messages = [
            {"role": m.role.value if m.role.value != "agent" else "assistant", "content": m.content}
            for m in request.messages
        ]
        prompt = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        prompt += request.assistant_prefix
        inputs = tok(prompt, return_tensors="pt", add_special_tokens=False)
        sample = request.temperature > 0
        kwargs: dict[str, Any] = {
            "max_new_tokens": request.max_new_tokens,
            "do_sample": sample,
            "max_time": request.timeout_s,
            "pad_token_id": tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id,
            "return_dict_in_generate": True,
            "output_scores": bool(request.choices),
        }
        if sample:
            kwargs.update(temperature=request.temperature, top_p=request.top_p)
            torch.manual_seed(request.seed)
        with torch.inference_mode():
            out = model.generate(**inputs, **kwargs)
        n_prompt = inputs["input_ids"].shape[1]
        new_ids = out.sequences[0, n_prompt:]
        text = tok.decode(new_ids, skip_special_tokens=True)
        probs = None
        if request.choices and out.scores:
            ids = self._first_token_ids(request.choices)
            logits = out.scores[0][0, ids].float()
            p = torch.softmax(logits, dim=-1).tolist()
            probs = {c: round(v, 4) for c, v in zip(request.choices, p, strict=True)}
        elapsed = (time.perf_counter() - started) * 1000
        if elapsed / 1000 > request.timeout_s * 1.05:
            raise ModelUnavailable(f"local model exceeded its {request.timeout_s:.0f}s budget")
        return Generation(
            text=text,
            choice_probs=probs,
            prompt_tokens=int(n_prompt),
            completion_tokens=int(new_ids.shape[0]),
            latency_ms=round(elapsed, 1),
            model=self.name,
        )
