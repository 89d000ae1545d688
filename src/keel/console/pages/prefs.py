"""Preference review: a prompt's candidates side by side; a reviewer picks the better and the worse.

The choice is written by :func:`keel.prefs.store.record_choice`, exactly as ``keel prefs annotate``
writes it (a ``human:<name>`` pair in ``pairs.jsonl``, the LLaMA-Factory export refreshed). With the
pair the reviewer confirms or corrects what the customer's message needed (pre-filled with the
router's reading); that label goes to the router's learned bank (``<home>/router/learned.jsonl``,
source ``console:prefs:<reviewer>``), once per message.
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import Response

from keel.console.auth import Agent, Permission
from keel.console.i18n import Translator
from keel.console.page import Page
from keel.console.prefsview import (
    customer_message,
    find_item,
    item_view,
    learn_need,
    list_sets,
    next_after,
    pairs_file,
    review_queue,
    router_guess,
    set_dir,
    summarize,
    verdicts,
)
from keel.console.web import (
    ConsoleRoute,
    check_csrf,
    current_agent,
    flash,
    keel_config,
    redirect,
    render,
    require,
    runtime,
    translator,
)
from keel.errors import Conflict, InvalidInput
from keel.online.router.banks import Need, learned_bank
from keel.prefs.store import decided_ids, load_items, record_choice

STRINGS = {
    "en": {
        "nav.prefs": "Preferences",
        "prefs.title": "Preference review",
        "prefs.sets": "Preference sets",
        "prefs.set": "Set",
        "prefs.items": "Prompts",
        "prefs.rule": "Rule-decided",
        "prefs.human": "Human-decided",
        "prefs.pending": "Pending",
        "prefs.built": "Built",
        "prefs.model": "Model",
        "prefs.review": "Review",
        "prefs.none": "No preference set yet.",
        "prefs.none_hint": "Build one from an audit run with:",
        "prefs.all_sets": "← All preference sets",
        "prefs.only_pending": "Undecided only ({n})",
        "prefs.with_rule": "Also the rule judge's ({n})",
        "prefs.queue": "Queue",
        "prefs.more": "and {n} more",
        "prefs.done": "Nothing left to review here: every prompt has a pair.",
        "prefs.done_rule": "Review the rule judge's pairs too",
        "prefs.position": "{pos} of {total} to review",
        "prefs.not_in_queue": "not in the review queue",
        "prefs.lang": "Language",
        "prefs.findings": "Audit findings",
        "prefs.system_prompt": "System prompt ({n} characters)",
        "prefs.conversation": "Conversation",
        "prefs.earlier_reply": "Earlier reply",
        "prefs.expected": "What Keel expects",
        "prefs.expected_action": "Action",
        "prefs.soothe": "soothe the customer",
        "prefs.why": "Why",
        "prefs.candidates": "Candidates",
        "prefs.candidate": "Candidate {n}",
        "prefs.score": "rule score {score}",
        "prefs.notes": "Judge's notes",
        "prefs.better": "Better",
        "prefs.worse": "Worse",
        "prefs.submit": "Save this pair",
        "prefs.skip": "Skip",
        "prefs.how": "Pick the better and the worse behaviour, then save.",
        "prefs.no_permission": "Picking a preference needs the reviewer or admin role.",
        "prefs.decided_rule": "The rule judge chose candidate {better} over {worse}.",
        "prefs.decided_human": "{name} chose candidate {better} over {worse}.",
        "prefs.decided_you": "You chose candidate {better} over {worse}; saving again replaces it.",
        "prefs.mark_better": "better",
        "prefs.mark_worse": "worse",
        "prefs.recorded": "Saved for {id}: candidate {better} is better than {worse}.",
        "prefs.pairs_file": "Pairs are written to {path}",
        "prefs.err.missing": "Pick one better and one worse candidate before saving.",
        "prefs.err.same": "Candidate {n} cannot be both the better and the worse; pick two different ones.",
        "prefs.err.taken": "{name} has already judged this prompt; your choice was not saved.",
        "prefs.kept": "Your picks are kept below.",
        "prefs.need": "What the customer's last message needed",
        "prefs.need_skip": "— not sure: do not teach the router —",
        "prefs.need_guess": "The router reads it as {need} (p = {p}).",
        "prefs.need_no_router": "The router is off here; pick the need yourself, or leave it.",
        "prefs.need_how": "Saved with the pair to the router's learned bank ({path}); `keel router train` learns it.",
        "prefs.need_added": "The router's learned bank now holds this message as {need}.",
        "prefs.need_known": "The learned bank already holds this message; it was not added again.",
        "prefs.err.need": "{need} is not one of the router's needs; pick one from the list.",
        "prefsource.model": "model sample",
        "prefsource.historical": "historical agent reply",
        "prefsource.rule": "rule's fixed wording",
        "prefsource.template": "Keel template",
    },
    "zh": {
        "nav.prefs": "偏好标注",
        "prefs.title": "偏好评审",
        "prefs.sets": "偏好数据集",
        "prefs.set": "数据集",
        "prefs.items": "提示数",
        "prefs.rule": "规则已判",
        "prefs.human": "人工已判",
        "prefs.pending": "待评审",
        "prefs.built": "生成时间",
        "prefs.model": "模型",
        "prefs.review": "评审",
        "prefs.none": "还没有偏好数据集。",
        "prefs.none_hint": "可用以下命令从审计结果生成：",
        "prefs.all_sets": "← 全部偏好数据集",
        "prefs.only_pending": "仅未判定（{n}）",
        "prefs.with_rule": "含规则已判（{n}）",
        "prefs.queue": "待评队列",
        "prefs.more": "还有 {n} 条",
        "prefs.done": "这里已没有待评审的内容：每个提示都有了偏好对。",
        "prefs.done_rule": "也评审规则裁判给出的偏好对",
        "prefs.position": "待评审第 {pos} / {total} 条",
        "prefs.not_in_queue": "不在待评队列中",
        "prefs.lang": "语言",
        "prefs.findings": "审计发现",
        "prefs.system_prompt": "系统提示词（{n} 个字符）",
        "prefs.conversation": "对话",
        "prefs.earlier_reply": "之前的回复",
        "prefs.expected": "Keel 的预期",
        "prefs.expected_action": "动作",
        "prefs.soothe": "需要安抚客户",
        "prefs.why": "原因",
        "prefs.candidates": "候选回复",
        "prefs.candidate": "候选 {n}",
        "prefs.score": "规则得分 {score}",
        "prefs.notes": "裁判备注",
        "prefs.better": "更好",
        "prefs.worse": "更差",
        "prefs.submit": "保存这一对",
        "prefs.skip": "跳过",
        "prefs.how": "选出更好和更差的行为，然后保存。",
        "prefs.no_permission": "标注偏好需要 reviewer 或 admin 角色。",
        "prefs.decided_rule": "规则裁判认为候选 {better} 优于候选 {worse}。",
        "prefs.decided_human": "{name} 认为候选 {better} 优于候选 {worse}。",
        "prefs.decided_you": "你认为候选 {better} 优于候选 {worse}；再次保存会替换它。",
        "prefs.mark_better": "更好",
        "prefs.mark_worse": "更差",
        "prefs.recorded": "已保存 {id}：候选 {better} 优于候选 {worse}。",
        "prefs.pairs_file": "偏好对写入 {path}",
        "prefs.err.missing": "保存前请选出一个更好的和一个更差的候选。",
        "prefs.err.same": "候选 {n} 不能既是更好的又是更差的，请选两个不同的候选。",
        "prefs.err.taken": "{name} 已经评审过这个提示，你的选择未保存。",
        "prefs.kept": "你的选择保留在下方。",
        "prefs.need": "客户最后一条消息需要什么",
        "prefs.need_skip": "— 不确定：不用于训练路由 —",
        "prefs.need_guess": "路由判断为{need}（p = {p}）。",
        "prefs.need_no_router": "这里未启用路由；可自行选择，或留空。",
        "prefs.need_how": "与偏好对一起写入路由的学习样本库（{path}）；`keel router train` 会学到它。",
        "prefs.need_added": "路由的学习样本库已记下这条消息：{need}。",
        "prefs.need_known": "学习样本库里已有这条消息，未重复添加。",
        "prefs.err.need": "{need} 不是路由的类别，请从列表中选择。",
        "prefsource.model": "模型采样",
        "prefsource.historical": "历史人工回复",
        "prefsource.rule": "规则固定话术",
        "prefsource.template": "Keel 模板",
    },
}

router = APIRouter(route_class=ConsoleRoute)
PAGE = Page(key="prefs", path="/console/prefs", label="nav.prefs", router=router, strings=STRINGS)
QUEUE_SHOWN = 30  # queue entries listed beside the item


def _review_url(name: str, item_id: str | None, include_rule: bool) -> str:
    query = {k: v for k, v in (("item", item_id or ""), ("all", "1" if include_rule else "")) if v}
    return f"/console/prefs/{name}" + (f"?{urlencode(query)}" if query else "")


@router.get("/prefs")
def prefs(request: Request, agent: Agent = Depends(current_agent)) -> Response:
    sets = list_sets(keel_config(request).home)
    return render(request, "prefs/sets.html", {"sets": sets}, agent=agent, active=PAGE.key)


def _review(
    request: Request,
    agent: Agent,
    name: str,
    item_id: str | None,
    include_rule: bool,
    *,
    picks: tuple[int | None, int | None] = (None, None),
    need: str | None = None,
    error: str = "",
    status: int = 200,
) -> Response:
    path = set_dir(keel_config(request).home, name)
    items = load_items(path)
    queue = review_queue(path, include_rule)
    item = find_item(items, item_id) if item_id else (queue[0] if queue else None)
    can_review = agent.can(Permission.REVIEW)
    guess = router_guess(runtime(request), customer_message(item)) if item and can_review else None
    ids = [it["id"] for it in queue]
    following = next_after(queue, item["id"]) if item else None
    context = {
        "summary": summarize(path),
        "include_rule": include_rule,
        "counts": {
            "pending": len(review_queue(path, False)) if include_rule else len(queue),
            "with_rule": len(queue) if include_rule else len(review_queue(path, True)),
        },
        "queue": queue[:QUEUE_SHOWN],
        "queue_more": max(0, len(queue) - QUEUE_SHOWN),
        "item": item_view(item) if item else None,
        "verdict": verdicts(path, items).get(item["id"]) if item else None,
        "position": ids.index(item["id"]) + 1 if item and item["id"] in ids else None,
        "total": len(queue),
        "skip_url": _review_url(name, following, include_rule) if following else "",
        "tab_urls": (_review_url(name, None, False), _review_url(name, None, True)),
        "item_url": lambda i: _review_url(name, i, include_rule),
        "picks": picks,
        "needs": [n.value for n in Need],
        "guess": guess,
        "need_pick": need if need is not None else (guess.need.value if guess else ""),
        "learned_path": str(learned_bank(keel_config(request).router_dir)),
        "error": error,
        "can_review": can_review,
        "pairs_path": str(pairs_file(path)),
    }
    canonical = _review_url(name, item["id"] if item else None, include_rule)
    return render(
        request, "prefs/review.html", context, agent=agent, status=status, active=PAGE.key, canonical=canonical
    )


@router.get("/prefs/{name}")
def review(
    name: str, request: Request, item: str = "", all: str = "", agent: Agent = Depends(current_agent)
) -> Response:
    return _review(request, agent, name, item or None, all == "1")


def _pick(value: str) -> int | None:
    value = value.strip()
    return int(value) if value.isdigit() else None


def _explain(t: Translator, exc: InvalidInput | Conflict, picks: tuple[int, int], judge: str) -> str:
    """The failure in the reviewer's language; the library's own words when nothing better is known."""
    if isinstance(exc, Conflict) and judge.startswith("human:"):
        return t("prefs.err.taken", name=judge.removeprefix("human:"))
    if isinstance(exc, InvalidInput) and picks[0] == picks[1]:
        return t("prefs.err.same", n=picks[0])
    return exc.message


@router.post("/prefs/{name}/choose")
def choose(
    name: str,
    request: Request,
    agent: Agent = Depends(current_agent),
    csrf: str = Form(""),
    item_id: str = Form(""),
    chosen: str = Form(""),
    rejected: str = Form(""),
    all: str = Form(""),
    need: str = Form(""),
) -> Response:
    """Record the reviewer's pair (and the need they confirmed); any mistake re-renders the same item
    with the picks kept, and writes nothing."""
    check_csrf(request, csrf)
    require(agent, Permission.REVIEW)
    t = translator(request)
    path = set_dir(keel_config(request).home, name)
    include_rule = all == "1"
    item = find_item(load_items(path), item_id)
    better, worse = _pick(chosen), _pick(rejected)
    need = need.strip()
    if need and need not in {n.value for n in Need}:
        return _review(
            request,
            agent,
            name,
            item_id,
            include_rule,
            picks=(better, worse),
            need="",
            error=t("prefs.err.need", need=need),
            status=422,
        )
    if better is None or worse is None:
        return _review(
            request,
            agent,
            name,
            item_id,
            include_rule,
            picks=(better, worse),
            need=need,
            error=t("prefs.err.missing"),
            status=422,
        )
    following = next_after(review_queue(path, include_rule), item_id)
    try:
        record_choice(path, item_id, better - 1, worse - 1, agent.name)
    except (InvalidInput, Conflict) as exc:
        message = _explain(t, exc, (better, worse), decided_ids(path).get(item_id, ""))
        return _review(
            request,
            agent,
            name,
            item_id,
            include_rule,
            picks=(better, worse),
            need=need,
            error=f"{message} {t('prefs.kept')}",
            status=exc.http_status,
        )
    message = t("prefs.recorded", id=item_id, better=better, worse=worse)
    if need:
        added = learn_need(runtime(request), item, Need(need), agent.name)
        message += " " + (t("prefs.need_added", need=t.label("need", need)) if added else t("prefs.need_known"))
    flash(request, message)
    return redirect(_review_url(name, following, include_rule))
