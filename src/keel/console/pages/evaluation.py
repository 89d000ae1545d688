"""Evaluation: the runs, two of them compared (metrics, charts, categories, flipped cases), and the gate."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from starlette.responses import HTMLResponse, Response

from keel.console.auth import Agent
from keel.console.evalview import (
    Evaluated,
    category_rows,
    default_pair,
    evaluate,
    flip_rows,
    gate_policy,
    metric_rows,
    run_path,
    run_rows,
)
from keel.console.page import Page
from keel.console.web import ConsoleRoute, current_agent, keel_config, render, translator
from keel.errors import UserError
from keel.eval.metrics import DESCRIPTION, MetricName
from keel.eval.report import render_html
from keel.manifest import RunStatus

_METRICS_ZH = {
    MetricName.BOUNDARY_CROSSING: ("越界率", "含禁止内容、或回答了红线问题的样本"),
    MetricName.REFUSAL_RECALL: ("拒绝召回率", "应拒绝 / 提示注入样本中被拒绝（或在允许时转人工）的比例"),
    MetricName.OVER_REFUSAL: ("过度拒绝率", "安全的相似问题被拒绝的样本"),
    MetricName.HANDOFF_RECALL: ("转人工召回率", "必须转人工且确实转了的样本"),
    MetricName.HANDOFF_PRECISION: ("转人工精确率", "转人工中对该用例可以接受的比例"),
    MetricName.HANDOFF_RATE: ("转人工率", "全部样本中转人工的比例"),
    MetricName.OVERCONFIDENCE: ("灰区过度自信率", "灰区 / 边界样本被自信地直接回答"),
    MetricName.SOOTHING: ("安抚率", "情绪激动客户的样本中回复做了安抚"),
    MetricName.FACTUAL_ACCURACY: ("事实准确率", "（有事实可核对的）回答说出了知识库中的事实"),
    MetricName.ANSWERABLE_RESOLVED: ("可答问题解决率", "可回答的样本以正确事实作答"),
    MetricName.PASS_RATE: ("通过率", "满足全部预期的样本（pass@1）"),
    MetricName.PASS_HAT_K: ("k 次全过率", "k 次采样全部通过的用例（pass^k）"),
    MetricName.PARAPHRASE_CONSISTENCY: ("改写一致性", "同义改写组内全部采取相同动作"),
    MetricName.SAMPLE_CONSISTENCY: ("采样一致性", "k 次采样全部采取相同动作的用例"),
    MetricName.STYLE_LENGTH_CV: ("长度离散度", "回答长度的离散程度（变异系数，分语言）"),
    MetricName.STYLE_REGISTER: ("语体一致性", "使用多数语体的回答（您/你；正式/随意英文）"),
    MetricName.ERROR_RATE: ("出错率", "运行未能完成的样本"),
    MetricName.PROMPT_LEAK: ("提示泄露率", "回复中重复了提示内容（指令、客户信息块、资料标签）的样本"),
    MetricName.INVENTED_ACTION: ("虚构操作率", "回复声称做了系统并未执行的操作（已退款、已补偿、已修改）的样本"),
}
_METRICS_EN = {
    MetricName.BOUNDARY_CROSSING: "Boundary crossing",
    MetricName.REFUSAL_RECALL: "Refusal recall",
    MetricName.OVER_REFUSAL: "Over-refusal",
    MetricName.HANDOFF_RECALL: "Handoff recall",
    MetricName.HANDOFF_PRECISION: "Handoff precision",
    MetricName.HANDOFF_RATE: "Handoff rate",
    MetricName.OVERCONFIDENCE: "Over-confidence (gray)",
    MetricName.SOOTHING: "Soothing",
    MetricName.FACTUAL_ACCURACY: "Factual accuracy",
    MetricName.ANSWERABLE_RESOLVED: "Answerable, resolved",
    MetricName.PASS_RATE: "Pass rate",
    MetricName.PASS_HAT_K: "pass^k",
    MetricName.PARAPHRASE_CONSISTENCY: "Paraphrase consistency",
    MetricName.SAMPLE_CONSISTENCY: "Sample consistency",
    MetricName.STYLE_LENGTH_CV: "Length spread (CV)",
    MetricName.STYLE_REGISTER: "Register consistency",
    MetricName.ERROR_RATE: "Error rate",
    MetricName.PROMPT_LEAK: "Prompt leaks",
    MetricName.INVENTED_ACTION: "Invented actions",
}

STRINGS = {
    "en": {
        "nav.eval": "Evaluation",
        "eval.title": "Evaluation",
        "eval.runs": "Runs",
        "eval.run": "Run",
        "eval.created": "Started",
        "eval.model": "Model",
        "eval.mode": "Mode",
        "eval.kb": "KB",
        "eval.cases": "Cases × k",
        "eval.status": "Status",
        "eval.pass_rate": "Pass rate",
        "eval.boundary": "Boundary crossing",
        "eval.baseline": "Baseline",
        "eval.candidate": "Candidate",
        "eval.compare": "Compare and gate",
        "eval.pick_hint": "Pick a baseline and a candidate of the same suite.",
        "eval.none": "No evaluation run yet.",
        "eval.none_hint": "Start one with:",
        "eval.progress": "{done} of {total} samples",
        "eval.policy": "Gate policy: {source}",
        "eval.policy_default": "built-in (no risk metric may get significantly worse)",
        "eval.all_runs": "← All runs",
        "eval.compare_title": "{candidate} against {baseline}",
        "eval.gate": "Release gate",
        "eval.gate_pass": "PASS",
        "eval.gate_fail": "FAIL",
        "eval.gate_pass_why": "No risk metric got significantly worse.",
        "eval.gate_fail_why": "A risk metric got worse: this candidate must not be released, whatever it gained.",
        "eval.partial": "Run {run} is still running: its numbers are partial.",
        "eval.role": "Role",
        "eval.suite": "Suite",
        "eval.report": "Download the HTML report",
        "eval.metrics": "Metrics",
        "eval.metric": "Metric",
        "eval.what": "What it counts",
        "eval.delta": "Δ [95% CI]",
        "eval.verdict": "Verdict",
        "eval.paired": "paired",
        "eval.risk": "risk metric: the gate watches it",
        "eval.categories": "Pass rate per category",
        "eval.category": "Category",
        "eval.change": "Change",
        "eval.flips": "Cases that flipped ({fixed} fixed, {broke} broke)",
        "eval.no_flips": "No case changed between the two runs.",
        "eval.flips_cut": "The first {n} are shown.",
        "eval.case": "Case",
        "eval.message": "Customer message",
        "eval.expected": "Expected",
        "eval.err.pick": "Pick both a baseline and a candidate run.",
        "eval.err.same": "The baseline and the candidate are the same run; pick two different runs.",
        "runstatus.complete": "complete",
        "runstatus.running": "running",
        "runmode.bare": "bare model",
        "runmode.pipeline": "full pipeline",
        "verdict.better": "better",
        "verdict.worse": "worse",
        "verdict.same": "no significant change",
        "verdict.n/a": "n/a",
        "verdict.up": "up",
        "verdict.down": "down",
        "flip.fixed": "fixed",
        "flip.broke": "broke",
        "category.faq": "FAQ",
        "category.fixed_rule": "Fixed rule",
        "category.must_refuse": "Must refuse",
        "category.safe_lookalike": "Safe look-alike",
        "category.handoff_explicit": "Explicit handoff",
        "category.handoff_implicit": "Implicit handoff",
        "category.gray": "Gray area",
        "category.upset": "Upset customer",
        "category.state_dependent": "State-dependent",
        "category.kb_changed": "KB changed",
        "category.injection": "Prompt injection",
        "category.multi_turn": "Multi-turn",
        **{f"metric.{m.value}": label for m, label in _METRICS_EN.items()},
        **{f"metricdesc.{m.value}": DESCRIPTION[m] for m in MetricName},
    },
    "zh": {
        "nav.eval": "评测",
        "eval.title": "评测",
        "eval.runs": "评测运行",
        "eval.run": "运行",
        "eval.created": "开始时间",
        "eval.model": "模型",
        "eval.mode": "模式",
        "eval.kb": "知识库",
        "eval.cases": "用例 × k",
        "eval.status": "状态",
        "eval.pass_rate": "通过率",
        "eval.boundary": "越界率",
        "eval.baseline": "基线",
        "eval.candidate": "候选",
        "eval.compare": "对比并过闸",
        "eval.pick_hint": "选择同一评测集上的一个基线和一个候选。",
        "eval.none": "还没有评测运行。",
        "eval.none_hint": "可用以下命令开始：",
        "eval.progress": "已完成 {done} / {total} 个样本",
        "eval.policy": "发布闸门策略：{source}",
        "eval.policy_default": "内置（任何风险指标都不得显著变差）",
        "eval.all_runs": "← 全部评测运行",
        "eval.compare_title": "{candidate} 对比 {baseline}",
        "eval.gate": "发布闸门",
        "eval.gate_pass": "通过",
        "eval.gate_fail": "未通过",
        "eval.gate_pass_why": "没有风险指标显著变差。",
        "eval.gate_fail_why": "有风险指标变差：无论准确率提升多少，这个候选都不能发布。",
        "eval.partial": "运行 {run} 仍在进行中：数字只是部分结果。",
        "eval.role": "角色",
        "eval.suite": "评测集",
        "eval.report": "下载 HTML 报告",
        "eval.metrics": "指标",
        "eval.metric": "指标",
        "eval.what": "统计的是什么",
        "eval.delta": "差值 [95% 置信区间]",
        "eval.verdict": "结论",
        "eval.paired": "配对",
        "eval.risk": "风险指标：发布闸门会检查它",
        "eval.categories": "各类别通过率",
        "eval.category": "类别",
        "eval.change": "变化",
        "eval.flips": "结果翻转的用例（修复 {fixed} 个，退化 {broke} 个）",
        "eval.no_flips": "两次运行之间没有用例发生变化。",
        "eval.flips_cut": "只显示前 {n} 个。",
        "eval.case": "用例",
        "eval.message": "客户消息",
        "eval.expected": "预期",
        "eval.err.pick": "请同时选择一个基线运行和一个候选运行。",
        "eval.err.same": "基线和候选是同一次运行，请选择两次不同的运行。",
        "runstatus.complete": "已完成",
        "runstatus.running": "进行中",
        "runmode.bare": "裸模型",
        "runmode.pipeline": "完整流程",
        "verdict.better": "更好",
        "verdict.worse": "更差",
        "verdict.same": "无显著变化",
        "verdict.n/a": "不适用",
        "verdict.up": "上升",
        "verdict.down": "下降",
        "flip.fixed": "修复",
        "flip.broke": "退化",
        "category.faq": "常见问题",
        "category.fixed_rule": "固定规则",
        "category.must_refuse": "必须拒绝",
        "category.safe_lookalike": "安全的相似问题",
        "category.handoff_explicit": "明确要求转人工",
        "category.handoff_implicit": "隐含需转人工",
        "category.gray": "灰区",
        "category.upset": "情绪激动",
        "category.state_dependent": "依赖用户状态",
        "category.kb_changed": "知识库变更",
        "category.injection": "提示注入",
        "category.multi_turn": "多轮对话",
        **{f"metric.{m.value}": label for m, (label, _) in _METRICS_ZH.items()},
        **{f"metricdesc.{m.value}": desc for m, (_, desc) in _METRICS_ZH.items()},
    },
}


class _PickError(UserError):
    """Not two different runs picked."""

    http_status = 422


router = APIRouter(route_class=ConsoleRoute)
PAGE = Page(key="eval", path="/console/eval", label="nav.eval", router=router, strings=STRINGS)


def _runs_page(
    request: Request, agent: Agent, baseline: str = "", candidate: str = "", *, error: str = "", status: int = 200
) -> Response:
    rows = run_rows(keel_config(request))
    if not baseline and not candidate:
        baseline, candidate = default_pair(rows)
    _, source = gate_policy()
    context = {"rows": rows, "baseline": baseline, "candidate": candidate, "error": error, "policy_source": source}
    return render(
        request, "evaluation/runs.html", context, agent=agent, status=status, active=PAGE.key, canonical="/console/eval"
    )


@router.get("/eval")
def runs(request: Request, baseline: str = "", candidate: str = "", agent: Agent = Depends(current_agent)) -> Response:
    return _runs_page(request, agent, baseline, candidate)


def _evaluate(request: Request, baseline: str, candidate: str) -> Evaluated:
    t = translator(request)
    if not baseline or not candidate:
        raise _PickError(t("eval.err.pick"))
    if baseline == candidate:
        raise _PickError(t("eval.err.same"))
    cfg = keel_config(request)
    policy, _ = gate_policy()
    return evaluate(run_path(cfg, baseline), run_path(cfg, candidate), policy)


@router.get("/eval/compare")
def compare(
    request: Request, baseline: str = "", candidate: str = "", agent: Agent = Depends(current_agent)
) -> Response:
    """Both runs side by side with the gate verdict on top; a bad choice returns to the list, choice kept."""
    baseline, candidate = baseline.strip(), candidate.strip()
    try:
        found = _evaluate(request, baseline, candidate)
    except UserError as exc:
        return _runs_page(request, agent, baseline, candidate, error=exc.message, status=exc.http_status)
    c = found.comparison
    _, source = gate_policy()
    query = urlencode({"baseline": baseline, "candidate": candidate})
    context = {
        "c": c,
        "verdict": found.verdict,
        "metric_png": found.metric_png,
        "category_png": found.category_png,
        "metrics": metric_rows(c),
        "categories": category_rows(c),
        "flips": flip_rows(c),
        "fixed": sum(f.direction == "fixed" for f in c.flips[0]),
        "broke": sum(f.direction == "broke" for f in c.flips[0]),
        "flips_total": len(c.flips[0]),
        "running": [r.run_id for r in c.runs if r.details.status is not RunStatus.COMPLETE],
        "policy_source": source,
        "report_url": f"/console/eval/report?{query}",
        "back_url": f"/console/eval?{query}",
    }
    return render(
        request,
        "evaluation/compare.html",
        context,
        agent=agent,
        active=PAGE.key,
        canonical=f"/console/eval/compare?{query}",
    )


@router.get("/eval/report")
def report(
    request: Request, baseline: str = "", candidate: str = "", agent: Agent = Depends(current_agent)
) -> Response:
    """The library's self-contained HTML report of the same comparison, as a download."""
    found = _evaluate(request, baseline.strip(), candidate.strip())
    name = f"keel-eval-{candidate.strip()}-vs-{baseline.strip()}.html"
    return HTMLResponse(
        render_html(found.comparison, found.verdict),
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Content-Security-Policy": "default-src 'none'; img-src data:; style-src 'unsafe-inline'",
            "X-Content-Type-Options": "nosniff",
        },
    )
