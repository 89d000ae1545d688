"""The model backend is slow, down, hung or talks garbage: the customer still gets a safe reply or a
handoff within a bounded time, and the failure is in the trace. A real OpenAI-compatible server on
127.0.0.1 (``fake_openai.FakeModelServer``) stands in for vLLM."""

from __future__ import annotations

import threading
import time

import pytest

from fake_openai import FakeModelServer
from keel.domain import Action, Reason
from keel.online import handoff as queue
from keel.online.kb import store
from keel.online.model.base import Generation, GenerationRequest
from keel.online.model.openai_compat import OpenAIBackend
from keel.online.pipeline import MessageRequest, handle_message
from keel.online.trace import Trace, parse_trace, traces_for

pytestmark = [pytest.mark.storage, pytest.mark.faults]

DEADLINE_S = 1.0
QUESTION = "电子发票在哪里下载？"


@pytest.fixture(scope="module")
def server():
    with FakeModelServer(delay_s=4.0) as running:
        yield running


def warm(rt):
    """Build the KB index first: the bound under test is the model's, not the first index build."""
    rt.indexes.get(store.resolve_version(rt.db, None))
    return rt


@pytest.fixture
def rt(make_runtime, server):
    server.mode = "ok"
    gen = {"timeout_s": DEADLINE_S, "max_new_tokens": 64}
    return warm(make_runtime(model=OpenAIBackend(server.url, "fake"), generation=gen))


def ask(rt, conv, text=QUESTION):
    started = time.monotonic()
    result = handle_message(rt, MessageRequest(conversation_id=conv, text=text, user_id="u1001"))
    return result, time.monotonic() - started


def model_trace(rt, conv) -> Trace:
    (row,) = traces_for(rt.db, conv, rt.tenant)
    trace = parse_trace(row)
    assert trace is not None and trace.model is not None
    return trace


def test_a_healthy_server_answers(rt, server):
    result, _ = ask(rt, "ok-1")
    assert result.decision.action is Action.ANSWER and result.reply
    assert model_trace(rt, "ok-1").model.name.startswith("openai:http://127.0.0.1")
    assert server.calls >= 1


@pytest.mark.parametrize(
    ("mode", "error"),
    # a slow server is cut off by the HTTP client's timeout or by Keel's own deadline, whichever fires first
    [("slow", ("deadline", "timed out")), ("error", ("HTTP 500",)), ("not_json", ("malformed",))],
)
def test_slow_or_broken_server_hands_off_in_time(rt, server, mode, error):
    server.mode = mode
    result, took = ask(rt, f"bad-{mode}")
    assert took < DEADLINE_S + 1.5, f"{mode}: the customer waited {took:.1f}s"
    assert result.decision.action is Action.HANDOFF and result.decision.reason is Reason.MODEL_FAILED
    assert result.reply and result.handoff_id
    assert queue.get_handoff(rt.db, result.handoff_id, rt.tenant).reason == "model_failed"
    trace = model_trace(rt, f"bad-{mode}")
    assert any(e in (trace.model.error or "") for e in error) and trace.decision.reason == "model_failed"


def test_garbage_output_falls_back_safely(rt, server):
    server.mode = "garbage"
    result, took = ask(rt, "garbage")
    assert took < DEADLINE_S + 1.5
    # unparseable → the malformed-output fallback; parseable noise → the guard; either way a KB quote or a human
    assert result.decision.reason in (Reason.MODEL_MALFORMED, Reason.GUARD)
    assert "DEADBEEF" not in result.reply and "░" not in result.reply and "levitate" not in result.reply
    trace = model_trace(rt, "garbage")
    assert "DEADBEEF" in (trace.model.raw or "") and trace.decision.reason in ("model_malformed", "guard")


def test_a_server_that_is_gone(make_runtime):
    from keel.api.background import free_port

    gone = OpenAIBackend(f"http://127.0.0.1:{free_port()}/v1", "gone")
    rt = warm(make_runtime(model=gone, generation={"timeout_s": DEADLINE_S}))
    result, took = ask(rt, "gone")
    assert took < DEADLINE_S + 1.5
    assert result.decision.action is Action.HANDOFF and result.decision.reason is Reason.MODEL_FAILED
    assert "unreachable" in (model_trace(rt, "gone").model.error or "")


class HungBackend:
    """A backend that never returns by itself (a stuck lock, a wedged driver)."""

    name = "hung"
    fingerprint = "hung"

    def __init__(self) -> None:
        self.release = threading.Event()

    def generate(self, request: GenerationRequest) -> Generation:
        self.release.wait(60)
        return Generation(text="REPLY: too late\nACTION: answer")


def test_keel_enforces_the_deadline_itself(make_runtime):
    hung = HungBackend()
    rt = warm(make_runtime(model=hung, generation={"timeout_s": 0.5}))
    try:
        results = []
        for i in range(3):  # later calls queue behind stuck ones and still come back in time
            result, took = ask(rt, f"hung-{i}")
            results.append(result)
            assert took < 2.0
        assert all(r.decision.reason is Reason.MODEL_FAILED for r in results)
        assert "deadline" in (model_trace(rt, "hung-0").model.error or "")
    finally:
        hung.release.set()
