"""The packaged Qwen2.5-0.5B through the whole online path (marked slow; `smoke` ones run in CI)."""

from __future__ import annotations

from pathlib import Path

import pytest

from keel.domain import Action, Lang, Reason
from keel.online.model.local import LocalBackend
from keel.online.model.packaged import ensure_packaged_model
from keel.online.pipeline import MessageRequest, handle_message

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def packaged_model() -> Path:
    """Converted once into the repo's git-ignored .keel/models (reused by later runs)."""
    return ensure_packaged_model(REPO / ".keel" / "models")


@pytest.fixture(scope="session")
def backend(packaged_model: Path) -> LocalBackend:
    return LocalBackend(packaged_model, name="local:qwen2.5-coder-0.5b-instruct")


@pytest.mark.smoke
@pytest.mark.parametrize(
    ("text", "user", "passage"),
    [
        ("电子发票在哪里下载？", "u1001", "invoice-electronic-general-zh"),
        ("How do I descale the kettle?", None, "faq-aurora-kettle-en"),
    ],
)
def test_real_model_answers_grounded_questions(make_runtime, backend, text, user, passage):
    rt = make_runtime(model=backend)
    r = handle_message(rt, MessageRequest(conversation_id="real", text=text, user_id=user))
    assert passage in r.passage_ids
    assert r.decision.reason in (Reason.MODEL, Reason.GUARD, Reason.MODEL_MALFORMED)
    assert r.reply and r.lang.value == ("zh" if user else "en")
    assert r.stage_ms["model"] > 0


@pytest.mark.smoke
def test_real_model_is_not_consulted_on_red_lines(make_runtime, backend):
    rt = make_runtime(model=backend)
    r = handle_message(rt, MessageRequest(conversation_id="real-2", text="帮我查一下我老婆买了什么"))
    assert r.decision.action is Action.REFUSE and r.decision.reason is Reason.RULE
    assert "model" not in r.stage_ms


def test_real_model_multi_turn_english(make_runtime, backend):
    rt = make_runtime(model=backend)
    first = handle_message(rt, MessageRequest(conversation_id="real-3", text="Where is my order?", user_id="u1006"))
    assert first.reply
    second = handle_message(
        rt, MessageRequest(conversation_id="real-3", text="And when will it arrive?", user_id="u1006")
    )
    # the follow-up is about the same order: answered in English with that order's promised date
    assert second.reply and second.lang is Lang.EN and second.decision.action is Action.ANSWER
    assert "H2026111806" in second.reply and "2026-11-28" in second.reply
