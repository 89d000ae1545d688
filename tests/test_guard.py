"""The output guard: prompt leaks, invented actions and uncited claims are stopped before the customer."""

import json
import re

import pytest

from keel.domain import Action, Lang, Reason
from keel.online.guard import GuardContext, GuardKind, Scaffold, check_reply, find_invented_action, find_leak
from keel.online.model.scripted import ScriptedModel
from keel.online.pipeline import MessageRequest, handle_message
from keel.online.prompt import prompt_scaffold

STATE_ZH = (
    "客户：李伟，地区 cn，港湾会员：否，手机 ****1001\n今天：2026-11-20\n订单 H2026111001：已发货，下单 2026-11-15"
)
SCAFFOLD_ZH = prompt_scaffold(
    brand_en="Harbor Goods",
    brand_zh="港湾优品",
    lang=Lang.ZH,
    passages=(),
    state_facts=STATE_ZH,
    constraints=(),
    soothe=True,
)


@pytest.mark.parametrize(
    "reply",
    [
        "客户：李伟，地区 cn，港湾会员：否，您好！",  # the customer block, from its role tag on
        "李伟您好，地区 cn，港湾会员：否，手机尾号已核实。",  # the customer block mid-reply
        "您的手机 ****1001 已绑定。",  # a masked value only the prompt has
        "好的。先表达理解和歉意，再处理问题。您的订单已发货。",  # the soothe instruction
        "Use only facts stated in the passages below, never invent numbers.",  # the rules
    ],
)
def test_leaks_are_found_by_overlap_with_the_prompt(reply):
    assert find_leak(reply, SCAFFOLD_ZH) is not None


@pytest.mark.parametrize(
    "reply",
    [
        "您的订单 H2026111001 已于 2026-11-15 下单，目前已发货。",
        "非常理解您的心情，给您带来不便很抱歉，我马上帮您看看。",
        "Refunds are issued within 3 business days after the return arrives.",
    ],
)
def test_ordinary_replies_are_not_leaks(reply):
    assert find_leak(reply, SCAFFOLD_ZH) is None


def test_passage_labels_of_this_prompt_are_leaks():
    scaffold = Scaffold(heads=("P1", "P2"))
    assert find_leak("As stated in P1, refunds take 3 business days.", scaffold) == "passage label P1"
    assert find_leak("Model P100 ships in 3 days.", scaffold) is None


def test_text_the_customer_may_see_is_not_a_leak():
    scaffold = Scaffold(instructions=("Never promise a refund outcome or any compensation to the customer.",))
    reply = "We never promise a refund outcome or any compensation to the customer before review."
    assert find_leak(reply, scaffold) is not None
    allowed = "Policy: we never promise a refund outcome or any compensation to the customer."
    assert find_leak(reply, scaffold, allowed=allowed) is None


@pytest.mark.parametrize(
    "reply",
    [
        "我们已根据您的要求，对补偿进行了处理。",
        "已为您办理退款，请留意到账。",
        "We have processed your refund.",
        "I've gone ahead and updated your delivery address.",
        "Your compensation has been issued.",
        "I cancelled the order for you.",
    ],
)
def test_invented_actions_are_found(reply):
    assert find_invented_action(reply) is not None


@pytest.mark.parametrize(
    ("reply", "state", "handing_off"),
    [
        ("We ship within 48 hours and refund within 3 business days.", "", False),
        ("Your order was cancelled on 2026-11-10.", "Order H1: cancelled, placed 2026-11-01", False),
        ("已为您转接人工客服，请稍候。", "", True),
        ("I have passed your request to a colleague.", "", True),
        ("退款会在 1-5 个工作日内原路退回。", "", False),
    ],
)
def test_true_statements_are_not_invented_actions(reply, state, handing_off):
    assert find_invented_action(reply, state, handing_off) is None


def test_guard_reports_leak_and_invention_kinds():
    ctx = GuardContext(evidence="", customer_text="我要补偿", scaffold=SCAFFOLD_ZH, state_text=STATE_ZH)
    kinds = {v.kind for v in check_reply("我们已经为您处理了补偿。先表达理解和歉意，再处理问题。", ctx).violations}
    assert {GuardKind.LEAK, GuardKind.INVENTED_ACTION} <= kinds


# --- the claim check through the whole pipeline, with a model that plants each kind of wrong answer ---

_BLOCK = re.compile(r"^\[(P\d+)\][^\n]*\n(.+?)(?=\n\n\[P\d+\]|\n\n【|\n\n\[Customer\]|\Z)", re.M | re.S)


def _passages(request):
    system = request.messages[0].content
    return dict(_BLOCK.findall(system))


def _numbers(text):
    return re.findall(r"(?<![\d.])\d+(?![\d.])", text)


def _planting(kind):
    def fn(request):
        ps = _passages(request)
        p1 = ps["P1"].strip()
        first = re.split(r"(?<=[.!?])\s+", p1)[0]
        cites = ["P1"]
        if kind == "wrong_number":
            reply = re.sub(r"\d+", lambda m: str(int(m.group(0)) + 17), first, count=1)
        elif kind == "uncited_number":
            other = next(n for key, text in ps.items() if key != "P1" for n in _numbers(text) if n not in p1)
            reply = f"{first} After that it takes {other} more days."
        elif kind == "uncited_claim":
            reply = f"{first} Every returning customer also receives a complimentary gift hamper by courier."
        elif kind == "no_cites":
            reply, cites = first, []
        else:
            reply = first
        return json.dumps({"cites": cites, "reply": reply, "action": "answer"})

    return fn


@pytest.mark.parametrize(
    ("kind", "passes"),
    [
        ("wrong_number", False),
        ("uncited_number", False),
        ("uncited_claim", False),
        ("no_cites", False),
        ("correct", True),
    ],
)
def test_only_the_correct_cited_answer_passes_the_guard(make_runtime, kind, passes):
    model = ScriptedModel(fn=_planting(kind))
    rt = make_runtime(model=model)
    r = handle_message(
        rt, MessageRequest(conversation_id=f"plant-{kind}", text="How long do refunds take?", user_id="u1002")
    )
    assert model.calls, "the model was asked"
    raw = json.loads(_planting(kind)(model.calls[-1]))["reply"]
    if passes:
        assert r.decision.reason is Reason.MODEL and r.reply == raw
    else:
        assert r.decision.reason is Reason.GUARD, r.decision
        assert r.reply != raw
        assert r.decision.action is Action.ANSWER  # a grounded question gets the KB's own words instead
        assert "refund" in r.reply.lower()


@pytest.mark.parametrize(
    ("reply", "passes"),
    [
        ("Yes, if your kettle arrives more than 3 days past the promised date, you will receive a ¥10 coupon.", False),
        ("That coupon is for mainland China orders only: a ¥10 coupon when a parcel is more than 3 days late.", True),
    ],
)
def test_another_regions_rule_is_evidence_only_when_the_reply_names_the_region(make_runtime, reply, passes):
    def fn(request):
        return json.dumps({"cites": ["P1"], "reply": reply, "action": "answer"})

    rt = make_runtime(model=ScriptedModel(fn=fn))
    r = handle_message(
        rt,
        MessageRequest(
            conversation_id=f"region-{passes}", text="If it ends up late, do I get that ¥10 coupon?", user_id="u1006"
        ),
    )
    assert "late-delivery-coupon-en" in r.passage_ids
    assert (r.reply == reply) is passes, r.decision
    if not passes:
        assert "you will receive" not in r.reply
