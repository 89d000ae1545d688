"""Status questions are answered from the customer's own record, without the model."""

import pytest

from keel.domain import Action, Reason
from keel.online.model.scripted import ScriptedModel
from keel.online.pipeline import MessageRequest, handle_message


def send(rt, text, user, conv):
    return handle_message(rt, MessageRequest(conversation_id=conv, text=text, user_id=user))


@pytest.mark.parametrize(
    ("text", "user", "must"),
    [
        ("Where is my order?", "u1006", ["H2026111806", "in transit", "2026-11-28"]),
        ("Any update on H2026111806?", "u1006", ["H2026111806", "in transit"]),
        ("我的水壶到哪了？什么时候能到", "u1006", ["H2026111806", "运输中", "2026-11-28"]),
        ("What's the status of my ticket?", "u1002", ["T-5002", "open"]),
        ("我的工单现在什么状态？", "u1002", ["T-5002", "待处理"]),
    ],
)
def test_status_questions_are_answered_from_the_record(make_runtime, text, user, must):
    model = ScriptedModel()
    rt = make_runtime(model=model)
    r = send(rt, text, user, f"st-{abs(hash(text))}")
    assert r.decision.action is Action.ANSWER and r.decision.reason is Reason.STATE_ANSWER, r.decision
    for needle in must:
        assert needle in r.reply
    assert model.calls == []  # decided and written without the model


def test_a_general_question_is_not_a_status_answer(make_runtime):
    rt = make_runtime()
    r = send(rt, "How long do refunds take?", "u1006", "st-general")
    assert r.decision.reason is not Reason.STATE_ANSWER


def test_an_anonymous_customer_gets_no_status_answer(make_runtime):
    rt = make_runtime()
    r = send(rt, "Where is my order?", None, "st-anon")
    assert r.decision.reason is not Reason.STATE_ANSWER


@pytest.mark.parametrize(
    ("text", "covered", "uncovered"),
    [
        ("How long do refunds take? Also, do you sell garden furniture like hammocks?", "3 business days", "hammocks"),
        ("退款多久到账？另外你们卖不卖吊床？", "3个工作日", "吊床"),
    ],
)
def test_a_partly_covered_message_answers_the_covered_part_and_names_the_rest(make_runtime, text, covered, uncovered):
    from keel.domain import Modifier

    rt = make_runtime()
    r = send(rt, text, None, f"partial-{abs(hash(text))}")
    assert r.decision.action is Action.ANSWER and Modifier.PARTIAL in r.decision.modifiers
    assert covered in r.reply and uncovered in r.reply.split(covered)[-1]


@pytest.mark.parametrize(
    "text",
    [
        "How long do I have to return a lamp in Hong Kong? Is there a time limit?",
        "which ways can I pay? is credit card the only option?",  # too short to ground alone; the same passage
        "香港运费怎么算？买几多钱先包邮？",
    ],
)
def test_a_follow_up_question_is_not_an_uncovered_part(make_runtime, text):
    from keel.domain import Modifier

    rt = make_runtime()
    r = send(rt, text, None, f"partial-follow-{abs(hash(text))}")
    assert Modifier.PARTIAL not in r.decision.modifiers, r.reply


def test_skylark_status_answers_read_from_the_subscription_and_the_request():
    """business.yaml `order.status_facts` picks what a subscription's answer tells; `ticket.aliases` names a request."""
    from datetime import date

    from keel.business import load_business
    from keel.config import EXAMPLES_DIR
    from keel.domain import Lang
    from keel.online.state.answer import status_answer
    from keel.online.state.providers import load_users_file

    folder = EXAMPLES_DIR / "skylark"
    business = load_business(folder / "business.yaml")
    users = {u.user_id: u for u in load_users_file(folder / "customers.json", business)}
    today = date(2026, 11, 24)

    past_due = status_answer(users["s2003"], "What's the status of my subscription?", Lang.EN, today, business)
    assert past_due is not None and past_due.ref == "SUB-310377"
    assert past_due.reply.startswith("Your subscription SUB-310377 (Pro) is past due")
    assert "grace period ends on 2026-12-02 (in 8 days)" in past_due.reply and "10.71 EUR" in past_due.reply
    assert "period started" not in past_due.reply  # not in status_facts
    active = status_answer(users["s2002"], "我的订阅现在是什么状态？", Lang.ZH, today, business)
    assert active is not None
    assert active.reply == "您的订阅 SUB-310522（Team）目前状态：生效中，续费日期 2026-12-03（还有 9 天）。"
    assert "0 SGD" not in active.reply  # an amount of 0 is left out
    ticket = status_answer(users["s2002"], "any update on my ticket?", Lang.EN, today, business)
    assert ticket is not None and ticket.ref == "REQ-40211" and "waiting for your reply" in ticket.reply
    # a request asked about and none on file: no answer from the subscription's record
    assert status_answer(users["s2001"], "any update on my ticket?", Lang.EN, today, business) is None
