"""Evaluate the red-line rules on one message."""

from __future__ import annotations

import numpy as np

from keel.domain import Action
from keel.online.rules.schema import CompiledRule, Constraint, MatchKind, RuleHit, RuleSet, RuleVerdict
from keel.text import normalize


def _match(rule: CompiledRule, text: str, raw: str, vec: np.ndarray | None) -> RuleHit | None:
    if rule.unless.find(text):
        return None
    spec = rule.spec
    kw = rule.keywords.find(text)
    if kw:
        return RuleHit(rule_id=spec.id, priority=spec.priority, matched_by=MatchKind.KEYWORD, evidence=kw)
    if rule.all_of:
        found = [group.find(text) for group in rule.all_of]
        if all(found):
            return RuleHit(
                rule_id=spec.id,
                priority=spec.priority,
                matched_by=MatchKind.ALL_OF,
                evidence=" + ".join(f for f in found if f),
            )
    for pattern in rule.regex:
        m = pattern.search(raw) or pattern.search(text)
        if m:
            return RuleHit(
                rule_id=spec.id, priority=spec.priority, matched_by=MatchKind.REGEX, evidence=m.group(0)[:80]
            )
    if rule.example_vecs is not None and vec is not None:
        sims = rule.example_vecs @ vec
        best = int(np.argmax(sims))
        if sims[best] >= rule.threshold:
            return RuleHit(
                rule_id=spec.id,
                priority=spec.priority,
                matched_by=MatchKind.EMBEDDING,
                evidence=rule.example_texts[best][:80],
                score=round(float(sims[best]), 4),
            )
    return None


def evaluate_rules(ruleset: RuleSet, message: str, query_vec: np.ndarray | None) -> RuleVerdict:
    """Every rule that matches, highest priority first; the first forcing rule sets the action."""
    text = normalize(message)
    hits: list[RuleHit] = []
    action: Action | None = None
    action_rule: str | None = None
    reply = {}
    soothe = False
    forbid: list[Constraint] = []
    forbid_topics: list[str] = []
    for rule in ruleset.rules:  # sorted by priority, highest first
        hit = _match(rule, text, message, query_vec)
        if hit is None:
            continue
        hits.append(hit)
        effect = rule.spec.effect
        if effect.action is not None and action is None:
            action, action_rule, reply = effect.action, rule.spec.id, dict(effect.reply)
        soothe = soothe or effect.soothe
        forbid.extend(c for c in effect.forbid if c not in forbid)
        forbid_topics.extend(t for t in effect.forbid_topics if t not in forbid_topics)
    return RuleVerdict(
        hits=tuple(hits),
        action=action,
        action_rule=action_rule,
        reply=reply,
        soothe=soothe,
        forbid=tuple(forbid),
        forbid_topics=tuple(forbid_topics),
    )
