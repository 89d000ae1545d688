import pytest

from keel.domain import Action, Reason
from keel.errors import Conflict, InvalidInput
from keel.online import handoff as queue
from keel.online.conversations import ConversationStatus, load_conversation
from keel.online.pipeline import MessageRequest, handle_message

pytestmark = pytest.mark.storage


def send(rt, text, conv="h1", user="u1001"):
    return handle_message(rt, MessageRequest(conversation_id=conv, text=text, user_id=user))


def test_round_trip(runtime):
    first = send(runtime, "转人工")
    assert first.decision.action is Action.HANDOFF and first.handoff_id
    h = queue.get_handoff(runtime.db, first.handoff_id, runtime.tenant)
    assert h.status is queue.HandoffStatus.QUEUED and h.context["rule_hits"][0]["rule_id"] == "human_request"
    assert "u1001" in (h.context["user_id"] or "") and "H2026111501" in h.context["state"]

    held = send(runtime, "还在吗？")
    assert held.held_by_human and held.reply is None and held.decision.reason is Reason.HUMAN_HOLDS

    queue.claim(runtime.db, h.id, "alice", runtime.tenant)
    with pytest.raises(Conflict, match="alice"):
        queue.claim(runtime.db, h.id, "bob", runtime.tenant)
    with pytest.raises(InvalidInput):
        queue.reply(runtime.db, h.id, "alice", "   ", runtime.tenant)
    queue.reply(runtime.db, h.id, "alice", "您好，我是人工客服小李，请问有什么可以帮您？", runtime.tenant)
    conv = load_conversation(runtime.db, "h1", runtime.tenant)
    assert [m.role.value for m in conv.messages] == ["user", "assistant", "user", "agent"]
    assert conv.messages[-1].author == "alice"
    assert conv.status is ConversationStatus.HUMAN

    queue.release(runtime.db, h.id, "alice", tenant=runtime.tenant)
    assert load_conversation(runtime.db, "h1", runtime.tenant).status is ConversationStatus.BOT
    back = send(runtime, "电子发票在哪里下载？")
    assert not back.held_by_human and back.reply
    with pytest.raises(Conflict):
        queue.release(runtime.db, h.id, "alice", tenant=runtime.tenant)


def test_one_open_handoff_per_conversation_and_close(runtime):
    a = send(runtime, "转人工", conv="h2")
    assert len(queue.list_handoffs(runtime.db, tenant=runtime.tenant)) == 1
    queue.close(runtime.db, a.handoff_id, tenant=runtime.tenant)
    assert load_conversation(runtime.db, "h2", runtime.tenant).status is ConversationStatus.CLOSED
    again = send(runtime, "I want a human agent", conv="h2")
    assert again.handoff_id != a.handoff_id and not again.held_by_human


def test_conversation_belongs_to_its_user(runtime):
    send(runtime, "你好", conv="mine", user="u1001")
    with pytest.raises(Conflict, match="another user"):
        send(runtime, "你好", conv="mine", user="u1002")


def test_claim_next_never_gives_one_handoff_to_two_agents(runtime):
    from concurrent.futures import ThreadPoolExecutor

    ids = {send(runtime, "转人工", conv=f"q{i}", user=None).handoff_id for i in range(12)}
    assert len(ids) == 12

    def agent(name):
        won = []
        while (h := queue.claim_next(runtime.db, name, runtime.tenant)) is not None:
            assert h.claimed_by == name and h.status is queue.HandoffStatus.CLAIMED
            won.append(h.id)
        return won

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(agent, [f"agent-{i}" for i in range(6)]))
    claimed = [hid for won in results for hid in won]
    assert sorted(claimed) == sorted(ids)  # every handoff once, none twice
    assert queue.claim_next(runtime.db, "late", runtime.tenant) is None
    assert all(h.claimed_by for h in queue.list_handoffs(runtime.db, tenant=runtime.tenant))
    with pytest.raises(InvalidInput):
        queue.claim_next(runtime.db, "bad\x00name", runtime.tenant)


def test_concurrent_turns_of_one_conversation_keep_order_and_one_handoff(runtime):
    from concurrent.futures import ThreadPoolExecutor

    texts = ["转人工"] * 3 + ["电子发票在哪里下载？"] * 3
    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(lambda t: send(runtime, t, conv="busy"), texts))
    conv = load_conversation(runtime.db, "busy", runtime.tenant)
    assert [m.seq for m in conv.messages] == list(range(1, len(conv.messages) + 1))
    assert len({r.turn_id for r in results}) == 6
    assert len(queue.list_handoffs(runtime.db, tenant=runtime.tenant)) == 1
