"""Keel's own deadline on every model call: a hung or slow backend cannot hold a customer.

Backends have their own timeouts (HTTP read timeouts, ``max_time``), but none bounds the whole
call: a server that trickles bytes, a stuck lock or a bug can. The call runs on a bounded pool
of threads and Keel waits at most ``timeout_s``; past that the turn goes on without the model
(``model_failed`` → a handoff). A thread still stuck in a backend keeps its pool slot until the
backend returns; with every slot stuck, new calls wait in the queue and time out the same way.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from keel.errors import ModelUnavailable
from keel.online.model.base import Generation, GenerationRequest, ModelBackend


class ModelCaller:
    """Calls a backend with a deadline; one per runtime (worker process)."""

    def __init__(self, max_concurrent: int = 16) -> None:
        self._pool = ThreadPoolExecutor(max_workers=max_concurrent, thread_name_prefix="keel-model")

    def generate(self, model: ModelBackend, request: GenerationRequest) -> Generation:
        future = self._pool.submit(model.generate, request)
        try:
            return future.result(timeout=request.timeout_s)
        except FutureTimeout:
            future.cancel()
            raise ModelUnavailable(f"model gave no answer within the {request.timeout_s:g}s deadline") from None

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
