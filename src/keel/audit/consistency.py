"""Inconsistent answers and disputed topics, from bounded per-cluster value statistics.

Pass 1 observes, for each (question cluster, region, value key), which values agents stated,
how often, by which agents, with a few example answers. After pass 1, :func:`decide` compares
them with the KB passages that fit the cluster:

* some stated values are in the KB and others are not → the others are **inconsistent answers**
  (where several passages fit, the KB's value is the one most agents follow);
* none is in the KB and agents split between alternatives → a **disputed topic**.

A yes/no stance is compared only where no KB rule decided the case (otherwise a "yes" the KB
forbids is a hidden exception, and a "yes" and a "no" may both be right for different facts).
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from keel.audit.cluster import ClusterPassages, QuestionClusterer
from keel.audit.policy import PolicyBook
from keel.audit.schema import FindingKind

STANCE = "stance"
ANY_REGION = "*"  # the pooled statistics of a cluster over all regions


def value_key(dim: str, value: str) -> str:
    """Values compete only within a key: durations, amounts per currency, percentages, stance."""
    if dim == "dur":
        return "dur"  # 30 minutes and 2 hours answer the same question    if dim == "amt":
        return "amt:" + "".join(c for c in value if not (c.isdigit() or c == "."))
    return dim


@dataclass
class Example:
    dialog_id: str
    turn: int
    agent: str | None
    answer: str


@dataclass
class KeyStats:
    """One (cluster, region, key): value counts, which values co-occur, a few examples (bounded)."""

    counts: Counter[str] = field(default_factory=Counter)
    sets: Counter[frozenset[str]] = field(default_factory=Counter)
    agents: dict[str, set[str]] = field(default_factory=dict)
    examples: dict[str, list[Example]] = field(default_factory=dict)
    total: int = 0

    def observe(
        self, values: frozenset[str], example: Example, rng: random.Random, max_values: int = 24, keep: int = 3
    ) -> None:
        self.total += 1
        if len(self.sets) < 64 or values in self.sets:
            self.sets[values] += 1
        for v in values:
            if v not in self.counts and len(self.counts) >= max_values:
                continue
            self.counts[v] += 1
            agents = self.agents.setdefault(v, set())
            if example.agent and len(agents) < 8:
                agents.add(example.agent)
            shown = self.examples.setdefault(v, [])
            if len(shown) < keep:
                shown.append(example)
            else:  # reservoir sampling: every answer with this value is equally likely to be shown
                j = rng.randrange(self.counts[v])
                if j < keep:
                    shown[j] = example

    def without(self, value: str, others: set[str]) -> int:
        """Exchanges that state one of *others* and not *value*."""
        return sum(n for s, n in self.sets.items() if value not in s and s & others)

    def alone(self, value: str, others: set[str]) -> int:
        """Exchanges that state *value* and none of *others*."""
        return sum(n for s, n in self.sets.items() if value in s and not s & others)


@dataclass(frozen=True)
class Decision:
    kind: FindingKind  # INCONSISTENT or DISPUTED
    cluster: int
    region: str | None
    key: str
    flagged: frozenset[str]  # values whose exchanges get the finding
    kb_values: tuple[str, ...]
    passage_id: str | None
    passage_text: str | None
    counts: dict[str, int]
    agents: dict[str, list[str]]
    examples: dict[str, list[dict[str, Any]]]
    question: str

    def evidence(self, value: str) -> dict[str, Any]:
        return {
            "cluster": self.cluster,
            "cluster_question": self.question,
            "region": self.region,
            "key": self.key,
            "value": value,
            "values": self.counts,
            "agents": self.agents,
            "kb_values": list(self.kb_values),
            "passage_id": self.passage_id,
            "passage_text": self.passage_text,
            "examples": self.examples,
        }


class ConsistencyStats:
    """All (cluster, region, key) statistics of a run."""

    def __init__(self, min_count: int = 3, min_share: float = 0.1, seed: int = 0) -> None:
        self.stats: dict[tuple[int, str | None, str], KeyStats] = {}
        self.rng = random.Random(seed)
        self.min_count = min_count
        self.min_share = min_share

    def observe(
        self, cluster: int, region: str | None, values: frozenset[tuple[str, str]], stance: str | None, example: Example
    ) -> None:
        by_key: dict[str, set[str]] = {}
        for dim, value in values:
            by_key.setdefault(value_key(dim, value), set()).add(value)
        if stance:
            by_key[STANCE] = {stance}
        for key, vals in by_key.items():
            # per region (a KB value may differ by region) and pooled (disputes need no region)
            for reg in (region, ANY_REGION):
                stats = self.stats.setdefault((cluster, reg, key), KeyStats())
                stats.observe(frozenset(vals), example, self.rng)

    def decide(
        self, book: PolicyBook, clusterer: QuestionClusterer, passages: ClusterPassages
    ) -> dict[tuple[int, str | None, str], Decision]:
        decisions: dict[tuple[int, str | None, str], Decision] = {}
        for (cid, region, key), st in self.stats.items():
            if len(st.counts) < 2:
                continue
            decision = self._decide_one(cid, region, key, st, book, clusterer, passages)
            if decision is not None:
                decisions[(cid, region, key)] = decision
        return decisions

    def _kb_choice(
        self, key: str, st: KeyStats, book: PolicyBook, ranked: list[tuple[int, float]]
    ) -> tuple[set[str], set[str], str | None, str | None]:
        """The KB values for this key from the fitting passage most agents agree with."""
        best: tuple[int, set[str], str, str] | None = None
        seen: set[str] = set()
        near: set[str] = set()  # values any fitting passage states
        for i, _ in ranked:
            p = book.passages[i]
            if p.topic in seen:
                continue
            seen.add(p.topic)
            kb = {v for d, v in book.topic_values(p.topic) if value_key(d, v) == key}
            near |= kb
            mass = sum(st.counts[v] for v in kb if v in st.counts)
            if mass and (best is None or mass > best[0]):
                best = (mass, kb, p.doc_id, p.excerpt())
        if best is None:
            return set(), near, None, None
        return best[1], near, best[2], best[3]

    def _decide_one(
        self,
        cid: int,
        region: str | None,
        key: str,
        st: KeyStats,
        book: PolicyBook,
        clusterer: QuestionClusterer,
        passages: ClusterPassages,
    ) -> Decision | None:
        kb: set[str] = set()
        near: set[str] = set()
        pid = ptext = None
        if key != STANCE:
            ranked = passages.get(cid, None if region == ANY_REGION else region)
            kb, near, pid, ptext = self._kb_choice(key, st, book, ranked)
        supported = {v for v in st.counts if v in kb}
        if region != ANY_REGION and not supported:
            return None  # disputes are judged on the pooled statistics
        if supported:
            flagged = {v for v in st.counts if v not in near and st.without(v, supported) >= 2}
            kind = FindingKind.INCONSISTENT
        elif st.counts.keys() & near:
            return None  # the KB states some of these values near this question: not undecided
        else:
            need = max(self.min_count, self.min_share * st.total)
            alternatives = {v for v, n in st.counts.items() if n >= need}
            # alternatives must really compete: they are seldom stated together
            flagged = {v for v in alternatives if st.alone(v, alternatives - {v}) >= need}
            if len(flagged) < 2:
                return None
            kind = FindingKind.DISPUTED
        if not flagged:
            return None
        return Decision(
            kind=kind,
            cluster=cid,
            region=region,
            key=key,
            flagged=frozenset(flagged),
            kb_values=tuple(sorted(kb)),
            passage_id=pid,
            passage_text=ptext,
            counts=dict(st.counts.most_common()),
            agents={v: sorted(a) for v, a in st.agents.items()},
            examples={v: [e.__dict__ for e in ex] for v, ex in st.examples.items()},
            question=clusterer.clusters[cid].text if cid >= 0 else "",
        )
