"""A GGUF model on llama.cpp (``llama-cpp-python``), CPU, optionally with a GGUF LoRA adapter.

* Prompt-prefix reuse: llama.cpp keeps the last prompt's KV cache and evaluates only the tokens
  after the longest common prefix; Keel's prompt puts its static part first (``online/prompt.py``),
  so a later call pays for the passages, state and message, not for the instructions.
* Structured output: a request with ``json_schema`` is decoded under the grammar llama.cpp builds
  from that schema, so the reply is always one well-formed JSON object.
* Threads: decoding on one thread by default; the prompt (prefill, the long part of a reply here) on
  two, with ``OMP_WAIT_POLICY=PASSIVE`` set before the library loads: spinning OpenMP threads collapse
  to < 1 token/s as soon as anything else runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from keel.errors import ModelUnavailable
from keel.online.model.base import Generation, GenerationRequest


def gguf_fingerprint(path: Path) -> str:
    """A hash of a GGUF file's name, size and first MiB (its header and metadata)."""
    st = path.stat()
    h = hashlib.sha256(f"{path.name}\0{st.st_size}".encode())
    with path.open("rb") as f:  # the header and metadata identify a GGUF well enough
        h.update(f.read(1 << 20))
    return h.hexdigest()


def import_llama_cpp() -> Any:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        import llama_cpp
    except ImportError:
        raise ModelUnavailable(
            "llama-cpp-python is not installed: run `make setup` (it builds the wheel once per machine)"
        ) from None
    return llama_cpp


class LlamaCppBackend:
    """Loads the GGUF on first use; one generation at a time (one KV cache, CPU-bound anyway)."""

    def __init__(
        self,
        gguf: Path,
        *,
        name: str | None = None,
        lora: Path | None = None,
        threads: int = 1,
        batch_threads: int | None = None,
        n_ctx: int = 4096,
        fingerprint: str | None = None,
    ) -> None:
        if not gguf.is_file():
            raise ModelUnavailable(f"no GGUF model at {gguf} (run `keel model prepare`)")
        if lora is not None and not lora.is_file():
            raise ModelUnavailable(f"no GGUF LoRA adapter at {lora}")
        self.gguf = gguf
        self.lora = lora
        self.name = name or f"local:{gguf.stem}"
        fp = fingerprint or gguf_fingerprint(gguf)
        if lora is not None:
            fp = f"{fp[:16]}+{gguf_fingerprint(lora)[:16]}"
        self.fingerprint = fp
        self.threads = max(1, threads)
        self.batch_threads = max(1, batch_threads or self.threads)
        self.n_ctx = n_ctx
        self._lock = threading.Lock()
        self._llm: Any = None
        self._grammars: dict[str, Any] = {}

    def load(self) -> Any:
        if self._llm is None:
            llama_cpp = import_llama_cpp()
            try:
                self._llm = llama_cpp.Llama(
                    model_path=str(self.gguf),
                    lora_path=str(self.lora) if self.lora else None,  # applied at scale 1.0 on every call
                    n_ctx=self.n_ctx,
                    n_batch=512,
                    n_threads=self.threads,
                    n_threads_batch=self.batch_threads,
                    seed=0,
                    verbose=False,
                )
            except (ValueError, RuntimeError) as exc:  # how llama-cpp-python reports a file it cannot use
                what = f"the LoRA adapter {self.lora} on {self.gguf.name}" if self.lora else str(self.gguf)
                hint = " (an adapter converted for another base model?)" if self.lora else ""
                raise ModelUnavailable(f"llama.cpp could not load {what}{hint}: {exc}") from None
        return self._llm

    def _grammar(self, schema: dict[str, Any]) -> Any:
        key = json.dumps(schema, sort_keys=True, ensure_ascii=False)
        if key not in self._grammars:
            llama_cpp = import_llama_cpp()
            self._grammars[key] = llama_cpp.LlamaGrammar.from_json_schema(key, verbose=False)
        return self._grammars[key]

    def render(self, request: GenerationRequest) -> str:
        """The prompt text exactly as the model sees it (the GGUF's own chat template)."""
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        llm = self.load()
        template = llm.metadata.get("tokenizer.chat_template")
        if not template:
            raise ModelUnavailable(f"{self.gguf.name} carries no chat template")
        eos = llm._model.token_get_text(llm.token_eos())
        bos = llm._model.token_get_text(llm.token_bos()) if llm.token_bos() >= 0 else ""
        formatter = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)
        messages = [
            {"role": "assistant" if m.role.value == "agent" else m.role.value, "content": m.content}
            for m in request.messages
        ]
        return str(formatter(messages=messages).prompt) + request.assistant_prefix  # type: ignore[arg-type]

    def generate(self, request: GenerationRequest) -> Generation:
        with self._lock:
            return self._generate(request)

    def _generate(self, request: GenerationRequest) -> Generation:
        llm = self.load()
        prompt = self.render(request)
        started = time.perf_counter()
        deadline = started + request.timeout_s
        tokens = llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)
        if len(tokens) + request.max_new_tokens > self.n_ctx:
            raise ModelUnavailable(f"prompt of {len(tokens)} tokens does not fit the {self.n_ctx}-token context")
        llama_cpp = import_llama_cpp()

        def past_deadline(_ids: Any, _logits: Any) -> bool:
            return time.perf_counter() > deadline

        reused = _common_prefix(llm, tokens)
        out = llm.create_completion(
            prompt=tokens,
            max_tokens=request.max_new_tokens,
            temperature=request.temperature,
            top_p=request.top_p,
            seed=request.seed,
            grammar=self._grammar(request.json_schema) if request.json_schema else None,
            stopping_criteria=llama_cpp.StoppingCriteriaList([past_deadline]),
        )
        elapsed = time.perf_counter() - started
        if elapsed > request.timeout_s * 1.05:
            raise ModelUnavailable(f"local model exceeded its {request.timeout_s:.0f}s budget")
        usage = out.get("usage") or {}
        return Generation(
            text=str(out["choices"][0]["text"]),
            prompt_tokens=int(usage.get("prompt_tokens") or len(tokens)),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            cached_tokens=reused,
            latency_ms=round(elapsed * 1000, 1),
            model=self.name,
        )


def _common_prefix(llm: Any, tokens: list[int]) -> int:
    """How many of *tokens* the KV cache already holds (llama.cpp reuses them)."""
    held = list(llm._input_ids[: llm.n_tokens]) if llm.n_tokens else []
    n = 0
    for a, b in zip(held, tokens[:-1], strict=False):
        if a != b:
            break
        n += 1
    return n
