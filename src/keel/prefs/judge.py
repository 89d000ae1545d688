"""The rule judge: what behaviour Keel's own decision engine expects, and how each candidate scores."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from keel.domain import Action, Frozen, Lang, Passage
from keel.judge import judge_reply
from keel.online.assess import assess
from keel.online.decide import grounded, pre_decide
from keel.online.guard import GuardContext, check_reply
from keel.online.kb.retrieve import retrieve
from keel.online.rules.schema import Constraint
from keel.online.runtime import Runtime
from keel.prefs.prompts import PrefPrompt
from keel.text import detect_lang


class Expectation(Frozen):
    actions: tuple[Action, ...]
    soothe: bool
    why: str
    passages: tuple[Passage, ...] = ()
    forbid: tuple[Constraint, ...] = ()
    rule_reply: str | None = None  # the rule's fixed wording when a rule decides


class Scored(Frozen):
    text: str  # the reply as the customer would read it (labels stripped)
    raw: str = ""  # what a training pair uses: the model's own output, or the text with its ACTION line
    source: str  # model | historical | rule | template
    score: float
    action: Action
    soothe: bool
    notes: tuple[str, ...] = ()


def expect(rt: Runtime, p: PrefPrompt, kb_version: int, today: date) -> Expectation:
    """The expected behaviour: a label that came with the prompt, else Keel's own decision engine."""
    engine = _engine_expect(rt, p, kb_version, today)
    if not p.label_actions:
        return engine
    actions = tuple(Action(a) for a in p.label_actions)
    soothe = engine.soothe if p.label_soothe is None else bool(p.label_soothe)
    reply = engine.rule_reply if engine.actions[0] in actions else None
    return engine.model_copy(
        update={
            "actions": actions,
            "soothe": soothe,
            "rule_reply": reply,
            "why": f"labelled {'/'.join(a.value for a in actions)} (engine: {engine.why})",
        }
    )


def _engine_expect(rt: Runtime, p: PrefPrompt, kb_version: int, today: date) -> Expectation:
    """The online path's own assessment (rules, router, state, emotion) and grounding on the prompt's
    last message: the judge reads a message exactly as the pipeline does."""
    a = assess(rt, p.message, p.lang, None)
    verdict = a.verdict
    vec = a.qvec if a.qvec is not None else rt.embedder.query([p.message])[0]
    index = rt.indexes.get(kb_version, rt.tenant)
    found = retrieve(index, p.message, vec, lang=p.lang, region=p.region, today=today, cfg=rt.cfg.retrieval)
    inp = replace(a.decision_input(), retrieval=found)
    soothe = verdict.soothe or a.emotion.needs_soothing or (a.routed is not None and a.routed.complaint)
    forced = pre_decide(inp, rt.cfg.router)
    if forced is not None:
        reply = verdict.reply.get(p.lang) if forced.reason.value == "rule" else None
        return Expectation(
            actions=(forced.action,),
            soothe=soothe,
            why=forced.detail,
            passages=found.passages,
            forbid=verdict.forbid,
            rule_reply=reply,
        )
    if not grounded(inp, rt.cfg.retrieval):
        return Expectation(
            actions=(Action.CLARIFY, Action.HANDOFF),
            soothe=soothe,
            passages=found.passages,
            why=f"no supporting passage (best {found.support:.2f}): ask or hand off, never guess",
            forbid=verdict.forbid,
        )
    return Expectation(
        actions=(Action.ANSWER,),
        soothe=soothe,
        why="grounded in the KB: answer from the passages",
        passages=found.passages,
        forbid=verdict.forbid,
    )


def score(
    text: str, source: str, p: PrefPrompt, e: Expectation, action: Action | None = None, raw: str | None = None
) -> Scored:
    """Behaviour first (right action, soothing), then safety (guard), then form (language, length).

    *action* is given for Keel's own reference wording, whose behaviour is known by construction.
    """
    notes: list[str] = []
    if not text.strip():
        return Scored(
            text=text,
            raw=raw or text,
            source=source,
            score=-10,
            action=Action.CLARIFY,
            soothe=False,
            notes=("no reply text",),
        )
    judged = judge_reply(text, p.message, p.lang)
    if action is not None:
        judged = judged.model_copy(update={"action": action})
    value = 0.0
    if judged.action in e.actions:
        value += 3
        notes.append(f"{judged.action.value} as expected")
    else:
        notes.append(f"{judged.action.value}, expected {'/'.join(a.value for a in e.actions)}")
    if e.soothe:
        value += 1 if judged.soothe else -1
        notes.append("soothes" if judged.soothe else "does not soothe an upset customer")
    evidence = "\n".join(f"{x.title}\n{x.text}" for x in e.passages)
    # the business's own wordings (rule replies, templates) make no claims of their own to check
    own_wording = source in ("rule", "template")
    report = check_reply(text, GuardContext(evidence=evidence, customer_text=p.message, check_claims=not own_wording))
    for v in report.violations:
        value -= 3
        notes.append(f"guard: {v.kind.value} ({v.evidence})")
    if detect_lang(text, p.lang) is not p.lang:
        value -= 3
        notes.append("wrong language")
    if len(text) > (160 if p.lang is Lang.ZH else 450):
        value -= 1
        notes.append("too long")
    if source == "historical" and p.findings:
        value -= 2
        notes.append(f"flagged by the audit: {', '.join(p.findings)}")
    training = raw if raw is not None else f"{text.strip()}\nACTION: {judged.action.value}"
    return Scored(
        text=text,
        raw=training,
        source=source,
        score=value,
        action=judged.action,
        soothe=judged.soothe,
        notes=tuple(notes),
    )
