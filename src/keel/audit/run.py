"""``run_audit``: read → describe → cluster → policy checks → consistency → route → write.

Two streaming passes. Pass 1 reads the input once, keeps only bounded per-cluster state and
spools each dialog with its local findings to disk. Between the passes the cluster statistics
are compared with the KB. Pass 2 reads the spool, adds inconsistency / dispute findings, routes
every dialog and writes the datasets, the findings, the manifest and the report.
"""

from __future__ import annotations

import hashlib
import json
import platform
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from keel.audit.cluster import ClusterPassages, QuestionClusterer
from keel.audit.consistency import ANY_REGION, STANCE, ConsistencyStats, Decision, Example, value_key
from keel.audit.exceptions import hidden_exception
from keel.audit.exchange import Exchange, describe, infer_region, split_exchanges
from keel.audit.lexicon import content_tokens
from keel.audit.policy import PolicyBook, load_policy
from keel.audit.read import DialogReader
from keel.audit.report import write_html
from keel.audit.route import route_dialog
from keel.audit.schema import Dialog, Finding, FindingKind, InputFormat, Route, SkippedLine
from keel.audit.signals import VolatileDetector, soothing_only, state_dependent
from keel.db import Database
from keel.domain import Frozen
from keel.embed import Embedder, EmbeddingCache
from keel.errors import InvalidInput
from keel.manifest import AuditCounts, AuditDetails, AuditSkippedLine, InputFile, InputRole, Manifest

ProgressSink = Callable[[int, int, int], None]  # (bytes done, bytes total, dialogs so far)


class AuditConfig(BaseModel):
    """What to audit and how; validated when built, frozen."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    input: Path = Field(description="the historical dialogs file")
    kb_version: int = Field(ge=1, description="the KB version the policy checks are pinned to")
    out_dir: Path = Field(description="run folder: datasets, findings, manifest, report")
    format: InputFormat = Field(InputFormat.AUTO, description="input format; auto = by extension and keys")
    column_map: dict[str, str] = Field(default_factory=dict, description="CSV column → dialog field")
    batch_size: int = Field(256, ge=1, le=10_000, description="dialogs per clustering/embedding batch")
    minhash_threshold: float = Field(0.6, gt=0, le=1, description="Jaccard from which two questions match")
    embed_threshold: float = Field(0.94, gt=0, le=1, description="e5 cosine from which two questions match")
    max_embeddings: int = Field(3000, ge=0, description="questions embedded at most; past it MinHash only")
    max_clusters: int = Field(50_000, ge=1, description="question clusters kept at most")
    dispute_min_count: int = Field(3, ge=1, description="dialogs a value needs to count in a dispute")
    dispute_min_share: float = Field(0.1, ge=0, le=1, description="share a value needs to count in a dispute")
    grounded_words: int = Field(
        3,
        ge=1,
        description="content words an answer shares with a passage that fits "
        "its question to count as KB-grounded (FAQ SFT)",
    )
    seed: int = Field(0, description="seed of the example reservoirs (the findings do not depend on it)")
    keep_spool: bool = Field(False, description="keep the pass-1 spool file (debugging)")


class AuditResult(Frozen):
    run_dir: str
    dialogs: int
    turns: int
    skipped: int
    skipped_lines: tuple[tuple[int, str], ...]  # the first ones; all are in skipped.jsonl
    findings: dict[str, int]  # dialogs with at least one finding of each kind
    routes: dict[str, int]
    clusters: int
    embedded_questions: int
    worst_clusters: tuple[dict[str, Any], ...]
    examples: dict[str, tuple[dict[str, Any], ...]]
    seconds: float
    manifest: str
    report_html: str
    kb_version: int


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fd:
        for chunk in iter(lambda: fd.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _batches(items: Iterator[Dialog], size: int) -> Iterator[list[Dialog]]:
    batch: list[Dialog] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


class _Analysis:
    """Pass-1 state: policy, clustering, statistics (all bounded)."""

    def __init__(self, cfg: AuditConfig, book: PolicyBook, embedder: Embedder | None) -> None:
        self.cfg = cfg
        self.book = book
        self.clusterer = QuestionClusterer(
            embedder,
            minhash_threshold=cfg.minhash_threshold,
            embed_threshold=cfg.embed_threshold,
            max_embeddings=cfg.max_embeddings,
            max_clusters=cfg.max_clusters,
        )
        self.passages = ClusterPassages(book, self.clusterer)
        self.stats = ConsistencyStats(cfg.dispute_min_count, cfg.dispute_min_share, cfg.seed)
        self.volatile = VolatileDetector(book)
        self.turns = 0

    def batch(self, dialogs: list[Dialog]) -> list[dict[str, Any]]:
        described: list[tuple[Dialog, str | None, list[Exchange]]] = []
        questions: list[str] = []
        slots: list[Exchange] = []
        for d in dialogs:
            self.turns += len(d.turns)
            exs = [describe(x) for x in split_exchanges(d)]
            described.append((d, infer_region(d), exs))
            for x in exs:
                if x.substantive:
                    questions.append(x.question)
                    slots.append(x)
        for x, cid in zip(slots, self.clusterer.assign(questions), strict=True):
            x.cluster = cid
        return [self._dialog(d, region, exs) for d, region, exs in described]

    def _dialog(self, d: Dialog, region: str | None, exs: list[Exchange]) -> dict[str, Any]:
        findings: list[Finding] = []
        agent_turns = {i for x in exs for i in x.agent_turns}
        for f in (state_dependent(d, agent_turns), self.volatile.detect(d)):
            if f is not None:
                findings.append(f)
        # turns carrying state or volatile content are not compared across agents (they are already
        # excluded); the dialog's other exchanges still are
        local_turns = {t for f in findings for t in f.turns}
        grounded = False
        entries: list[dict[str, Any]] = []
        for x in exs:
            ranked = self.passages.get(x.cluster, region)
            exc = None
            if x.grant or x.stance or x.values:  # only these need the KB rules
                exc = hidden_exception(d, x, region, self.book, ranked)
            soothe = soothing_only(d, x)
            for f in (exc, soothe):
                if f is not None:
                    findings.append(f)
                    x.flagged = True
            touched = local_turns.intersection(x.agent_turns + x.customer_turns)
            if x.flagged or touched or not x.substantive:
                continue
            # a case a KB rule decided and the agent followed is a fixed rule too
            grounded = grounded or x.kb_decided or self._grounded(x, region, ranked)
            # a case a KB rule decided (window, exclusion, limit) is judged on its own, not compared
            if x.cluster >= 0 and not x.kb_decided and (x.values or x.stance):
                turn = x.agent_turns[0]
                self.stats.observe(
                    x.cluster, region, x.values, x.stance, Example(d.dialog_id, turn, x.agent, x.answer[:220])
                )
                near = set()
                for i, _ in self.book.by_tokens(content_tokens(x.question), region, k=2):
                    near |= {v for _, v in self.book.passages[i].values}
                entries.append(
                    {
                        "c": x.cluster,
                        "r": region,
                        "v": sorted(x.values),
                        "s": x.stance,
                        "t": list(x.agent_turns),
                        "n": sorted(near & {v for _, v in x.values}),
                    }
                )
        return {"d": d.to_json(), "line": d.line_no, "f": [f.to_json() for f in findings], "g": grounded, "x": entries}

    def _grounded(self, x: Exchange, region: str | None, ranked: list[tuple[int, float]]) -> bool:
        """Does the answer state what a passage fitting its question says (a value, or enough words)?"""
        words = content_tokens(x.answer)
        for i, _ in ranked[:2]:
            p = self.book.passages[i]
            if x.values & p.values or len(words & p.tokens) >= self.cfg.grounded_words:
                return True
        return False


def _consistency_findings(
    record: dict[str, Any], decisions: dict[tuple[int, str | None, str], Decision]
) -> list[Finding]:
    out: list[Finding] = []
    did = record["d"]["id"]
    for e in record["x"]:
        pairs = [(value_key(dim, v), v) for dim, v in e["v"]]
        if e["s"]:
            pairs.append((STANCE, e["s"]))
        for key, value in pairs:
            dec = decisions.get((e["c"], e["r"], key)) or decisions.get((e["c"], ANY_REGION, key))
            if dec is None or value not in dec.flagged:
                continue
            if dec.kind is FindingKind.INCONSISTENT and value in e.get("n", ()):
                continue  # a passage that fits this very question states the value
            if dec.kind is FindingKind.INCONSISTENT:
                others = ", ".join(f"{v} ×{n}" for v, n in dec.counts.items() if v != value)
                out.append(
                    Finding(
                        kind=FindingKind.INCONSISTENT,
                        dialog_id=did,
                        turns=tuple(e["t"]),
                        summary=f"says {value} where other agents say {others} (KB: "
                        f"{', '.join(dec.kb_values) or '-'}, {dec.passage_id})",
                        evidence=dec.evidence(value),
                    )
                )
            else:
                values = ", ".join(f"{v} ×{n}" for v, n in dec.counts.items())
                out.append(
                    Finding(
                        kind=FindingKind.DISPUTED,
                        dialog_id=did,
                        turns=tuple(e["t"]),
                        summary=f"agents split on {dec.question[:60]!r} ({values}); no KB passage decides",
                        evidence=dec.evidence(value),
                    )
                )
            break
    return out


def run_audit(
    cfg: AuditConfig,
    *,
    db: Database,
    cache: EmbeddingCache,
    embedder: Embedder | None,
    progress: ProgressSink | None = None,
) -> AuditResult:
    """Audit one file against one KB version; everything is written under ``cfg.out_dir``."""
    started = time.monotonic()
    started_at = datetime.now(UTC)
    out = cfg.out_dir
    out.mkdir(parents=True, exist_ok=True)
    book = load_policy(db, cfg.kb_version, cache)
    analysis = _Analysis(cfg, book, embedder)
    skipped_first: list[tuple[int, str]] = []
    spool_path = out / ".spool.jsonl"

    with (out / "skipped.jsonl").open("w", encoding="utf-8") as skipped_fd:

        def on_skip(s: SkippedLine) -> None:
            skipped_fd.write(json.dumps({"line": s.line_no, "reason": s.reason}, ensure_ascii=False) + "\n")
            if len(skipped_first) < 50:
                skipped_first.append((s.line_no, s.reason))

        reader = DialogReader(cfg.input, cfg.format, cfg.column_map, on_skip=on_skip)
        with spool_path.open("w", encoding="utf-8") as spool:
            for batch in _batches(iter(reader), cfg.batch_size):
                for record in analysis.batch(batch):
                    spool.write(json.dumps(record, ensure_ascii=False) + "\n")
                if progress:
                    progress(reader.bytes_read, reader.size, reader.dialogs)
        if progress:
            progress(reader.size, reader.size, reader.dialogs)
    if reader.dialogs == 0:
        spool_path.unlink(missing_ok=True)
        first = "; ".join(f"line {n}: {r}" for n, r in skipped_first[:3])
        raise InvalidInput(f"{cfg.input}: no dialog could be read ({reader.skipped} lines skipped: {first})")

    decisions = analysis.stats.decide(book, analysis.clusterer, analysis.passages)
    totals = _write_outputs(cfg, spool_path, decisions)
    if not cfg.keep_spool:
        spool_path.unlink(missing_ok=True)

    worst = _worst_clusters(decisions)
    (out / "clusters.json").write_text(json.dumps(worst, ensure_ascii=False, indent=2), encoding="utf-8")
    manifest_path = out / "manifest.json"
    Manifest.new(
        AuditDetails(
            seconds=round(time.monotonic() - started, 2),
            input_format=reader.fmt.value,
            kb_passages=len(book.passages),
            embedder=getattr(embedder, "name", None),
            python=platform.python_version(),
            counts=AuditCounts(
                dialogs=reader.dialogs,
                turns=analysis.turns,
                skipped_lines=reader.skipped,
                findings=totals["findings"],
                routes=totals["routes"],
                clusters=len(analysis.clusterer.clusters),
                embedded_questions=analysis.clusterer.embedded,
            ),
            skipped_lines=tuple(AuditSkippedLine(line=n, reason=r) for n, r in skipped_first),
            outputs={
                "datasets": {r.value: f"datasets/{r.value}.jsonl" for r in Route},
                "findings": "findings.jsonl",
                "skipped": "skipped.jsonl",
                "clusters": "clusters.json",
                "report": "report.html",
            },
        ),
        inputs=(
            InputFile(role=InputRole.DIALOGS, path=str(cfg.input), sha256=file_sha256(cfg.input), size=reader.size),
        ),
        kb_version=book.version,
        kb_hash=book.content_hash,
        config=cfg.model_dump(mode="json"),
        created_at=started_at,
    ).write(manifest_path)
    result = AuditResult(
        run_dir=str(out),
        dialogs=reader.dialogs,
        turns=analysis.turns,
        skipped=reader.skipped,
        skipped_lines=tuple(skipped_first),
        findings=totals["findings"],
        routes=totals["routes"],
        clusters=len(analysis.clusterer.clusters),
        embedded_questions=analysis.clusterer.embedded,
        worst_clusters=tuple(worst[:10]),
        examples=totals["examples"],
        seconds=round(time.monotonic() - started, 2),
        manifest=str(manifest_path),
        report_html=str(out / "report.html"),
        kb_version=book.version,
    )
    write_html(result, out / "report.html")
    return result


def _write_outputs(
    cfg: AuditConfig, spool_path: Path, decisions: dict[tuple[int, str | None, str], Decision]
) -> dict[str, Any]:
    out = cfg.out_dir
    (out / "datasets").mkdir(exist_ok=True)
    handles = {r: (out / "datasets" / f"{r.value}.jsonl").open("w", encoding="utf-8") for r in Route}
    finding_counts: Counter[str] = Counter()
    route_counts: Counter[str] = Counter({r.value: 0 for r in Route})
    examples: dict[str, list[dict[str, Any]]] = {k.value: [] for k in FindingKind}
    try:
        with spool_path.open(encoding="utf-8") as spool, (out / "findings.jsonl").open("w", encoding="utf-8") as ff:
            for line in spool:
                record = json.loads(line)
                findings = [_finding(f) for f in record["f"]] + _consistency_findings(record, decisions)
                route, reason = route_dialog(findings, bool(record["g"]))
                route_counts[route.value] += 1
                for kind in {f.kind for f in findings}:
                    finding_counts[kind.value] += 1
                for f in findings:
                    ff.write(json.dumps(f.to_json(), ensure_ascii=False) + "\n")
                    shown = examples[f.kind.value]
                    if len(shown) < 5:
                        shown.append({**f.to_json(), "dialog": record["d"]})
                handles[route].write(
                    json.dumps(
                        {
                            "id": record["d"]["id"],
                            "route": route.value,
                            "reason": reason,
                            "findings": [
                                {
                                    "kind": f.kind.value,
                                    "turns": list(f.turns),
                                    "summary": f.summary,
                                    **({"policy": _policy_hint(f)} if route is Route.PREFERENCE else {}),
                                }
                                for f in findings
                            ],
                            "dialog": record["d"],
                        },
                        ensure_ascii=False,
                    )
                    + "\n"
                )
    finally:
        for h in handles.values():
            h.close()
    return {
        "findings": {k.value: finding_counts.get(k.value, 0) for k in FindingKind},
        "routes": dict(route_counts),
        "examples": {k: tuple(v) for k, v in examples.items()},
    }


def _policy_hint(f: Finding) -> dict[str, Any]:
    """What the chosen side of a preference pair should follow (from the finding's evidence)."""
    ev = f.evidence
    keys = ("passage_id", "passage_rule", "kb_values", "value", "reply", "grant")
    return {k: ev[k] for k in keys if ev.get(k)}


def _finding(data: dict[str, Any]) -> Finding:
    return Finding(
        kind=FindingKind(data["kind"]),
        dialog_id=data["dialog_id"],
        turns=tuple(data["turns"]),
        summary=data["summary"],
        evidence=data["evidence"],
    )


def _worst_clusters(decisions: dict[tuple[int, str | None, str], Decision]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for dec in decisions.values():
        flagged = sum(n for v, n in dec.counts.items() if v in dec.flagged)
        rows.append(
            {
                "kind": dec.kind.value,
                "cluster": dec.cluster,
                "region": dec.region,
                "key": dec.key,
                "question": dec.question,
                "flagged_dialogs": flagged,
                "values": dec.counts,
                "flagged_values": sorted(dec.flagged),
                "kb_values": list(dec.kb_values),
                "passage_id": dec.passage_id,
                "passage_text": dec.passage_text,
                "agents": dec.agents,
                "examples": dec.examples,
            }
        )
    rows.sort(key=lambda r: -int(r["flagged_dialogs"]))
    return rows[:50]
