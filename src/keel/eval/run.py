"""Run the suite through the full pipeline or the bare model; resumable, with a manifest."""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

from pydantic import Field

from keel.config import KeelConfig
from keel.db import open_database
from keel.domain import DEFAULT_TENANT, Action, ChatMessage, Frozen, Lang, Modifier, Role
from keel.embed import EmbeddingCache, QueryCache, default_embedder
from keel.errors import InvalidInput, KeelError
from keel.eval.cases import EvalCase, Suite, load_suite
from keel.eval.metrics import compute_metrics
from keel.eval.score import Outcome
from keel.judge import judge_reply
from keel.manifest import (
    EvalDetails,
    EvalMode,
    InputFile,
    InputRole,
    Manifest,
    ManifestKind,
    ModelRef,
    RunStatus,
    read_manifest,
)
from keel.online import conversations as convs
from keel.online.guard import find_invented_action, find_leak
from keel.online.kb import store
from keel.online.model.base import GenerationRequest, ModelBackend
from keel.online.model.registry import build_backend
from keel.online.pipeline import MessageRequest, TurnResult, handle_message
from keel.online.prompt import bare_messages
from keel.online.runtime import Runtime, open_runtime
from keel.yamlio import load_yaml

RESULTS = "results.jsonl"
MANIFEST = "manifest.json"
METRICS = "metrics.json"


class EvalRunConfig(Frozen):
    """What one evaluation run is: recorded in its manifest so it can be reproduced."""

    suite: Path = Field(Path("evals/suite"), description="suite folder")
    model: str = Field("local", description="model spec, as for `--model`")
    kb_version: int | None = Field(None, description="KB version for cases without a pin; None = in force")
    samples: int = Field(1, ge=1, le=20, description="k samples per case (pass^k, sample consistency)")
    bare: bool = Field(False, description="the bare model (no rules, retrieval, state, decision, guard)")
    temperature: float | None = Field(None, ge=0.0, le=2.0, description="None: 0 for k=1, 0.7 for k>1")
    seed: int = 0
    today: date | None = Field(None, description="the date the suite assumes (from the suite's _suite.yaml)")
    categories: tuple[str, ...] = ()
    limit: int | None = Field(None, ge=1)
    every: int | None = Field(None, ge=1)  # every N-th case of each category

    @property
    def mode(self) -> EvalMode:
        return EvalMode.BARE if self.bare else EvalMode.PIPELINE

    @property
    def effective_temperature(self) -> float:
        if self.temperature is not None:
            return self.temperature
        return 0.7 if self.samples > 1 else 0.0


class RunSummary(Frozen):
    run_dir: Path
    done: int
    total: int
    skipped: int  # already present (resumed)
    errors: int
    seconds: float
    model_seconds: float


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40]


def new_run_dir(cfg: KeelConfig, rc: EvalRunConfig) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return cfg.runs_dir / f"{stamp}-{_slug(rc.model)}-{rc.mode}"


def suite_today(suite_dir: Path) -> date | None:
    meta = suite_dir / "_suite.yaml"
    if meta.exists():
        data = load_yaml(meta.read_text(encoding="utf-8")) or {}
        if data.get("today"):
            return date.fromisoformat(str(data["today"]))
    return None


def _read_results(path: Path) -> dict[tuple[str, int], Outcome]:
    done: dict[tuple[str, int], Outcome] = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                try:
                    o = Outcome.model_validate_json(line)
                except ValueError:
                    continue  # a line cut by a crash; that sample is simply run again
                done[(o.case_id, o.sample)] = o
    return done


def load_outcomes(run_dir: Path) -> list[Outcome]:
    return sorted(_read_results(run_dir / RESULTS).values(), key=lambda o: (o.case_id, o.sample))


def load_manifest(run_dir: Path) -> Manifest:
    path = run_dir / MANIFEST
    if not path.exists():
        raise InvalidInput(f"not an eval run folder (no {MANIFEST}): {run_dir}")
    return read_manifest(path, ManifestKind.EVAL)


def _manifest(
    cfg: KeelConfig,
    rc: EvalRunConfig,
    suite: Suite,
    backend: ModelBackend,
    kb_versions: dict[str, str],
    rt: Runtime | None,
) -> Manifest:
    head = rc.kb_version if kb_versions else None
    return Manifest.new(
        EvalDetails(
            status=RunStatus.RUNNING,
            mode=rc.mode,
            cases=len(suite.cases),
            samples=rc.samples,
            kb_versions=kb_versions,
            rules_hash=rt.rules.content_hash if rt else None,
        ),
        inputs=(InputFile(role=InputRole.SUITE, path=suite.path, sha256=suite.content_hash),),
        kb_version=head,
        kb_hash=kb_versions.get(str(head)),
        model=ModelRef(name=backend.name, fingerprint=backend.fingerprint),
        config={
            "run": rc.model_dump(mode="json"),
            "generation": cfg.generation.model_dump(mode="json"),
            "retrieval": cfg.retrieval.model_dump(mode="json"),
            "decision": cfg.decision.model_dump(mode="json"),
            "today": (rc.today.isoformat() if rc.today else None),
        },
    )


def suite_hash(manifest: Manifest) -> str | None:
    """The content hash of the suite an eval run ran: only runs of the same suite compare."""
    suite = manifest.input(InputRole.SUITE)
    return suite.sha256 if suite else None


def _same_run(old: Manifest, new: Manifest) -> str | None:
    """Why *new* cannot resume the run *old* describes (None: it can)."""
    for differs, label in (
        (suite_hash(old) != suite_hash(new), "suite"),
        (old.model != new.model, "model"),
        (old.details_as(EvalDetails).mode != new.details_as(EvalDetails).mode, "mode"),
    ):
        if differs:
            return f"the {label} differs from the run being resumed"
    return None


def _history(case: EvalCase) -> tuple[ChatMessage, ...]:
    return tuple(ChatMessage(role=t.role, content=t.content) for t in case.history)


def _bare_outcome(backend: ModelBackend, cfg: KeelConfig, rc: EvalRunConfig, case: EvalCase, sample: int) -> Outcome:
    lang = case.lang
    messages = bare_messages(
        brand=cfg.brand_zh if lang is Lang.ZH else cfg.brand_en, lang=lang, history=_history(case), message=case.message
    )
    started = time.perf_counter()
    gen = backend.generate(
        GenerationRequest(
            messages=messages,
            max_new_tokens=cfg.generation.max_new_tokens,
            temperature=rc.effective_temperature,
            top_p=cfg.generation.top_p,
            seed=rc.seed + sample,
            timeout_s=cfg.generation.timeout_s,
        )
    )
    judged = judge_reply(gen.text, case.message, lang)
    return Outcome(
        case_id=case.id,
        sample=sample,
        action=judged.action,
        soothe=judged.soothe,
        reply=gen.text.strip(),
        reason="bare",
        judged=True,
        latency_ms=(time.perf_counter() - started) * 1000,
        model_ms=gen.latency_ms,
    )


def _pipeline_outcome(rt: Runtime, rc: EvalRunConfig, case: EvalCase, sample: int) -> Outcome:
    conv_id = f"{case.id}.s{sample}"
    # a view of the runtime with this sample's seed: workers never mutate the shared runtime
    rt = replace(
        rt,
        cfg=rt.cfg.model_copy(
            update={
                "generation": rt.cfg.generation.model_copy(
                    update={"seed": rc.seed + sample, "temperature": rc.effective_temperature}
                )
            }
        ),
    )
    if case.history:
        with rt.db.engine.begin() as conn:
            convs.ensure_conversation(conn, conv_id, case.user, rt.tenant, case.lang.value)
            for turn in case.history:
                convs.append_message(conn, conv_id, turn.role, turn.content, tenant=rt.tenant)
    r = handle_message(
        rt,
        MessageRequest(
            conversation_id=conv_id,
            text=case.message,
            user_id=case.user,
            kb_version=case.kb_version or rc.kb_version,
            verified=case.verified,
        ),
    )
    return Outcome(
        case_id=case.id,
        sample=sample,
        action=r.decision.action,
        soothe=Modifier.SOOTHE in r.decision.modifiers,
        reply=r.reply or "",
        reason=r.decision.reason.value,
        rule_hits=tuple(h.rule_id for h in r.rule_hits),
        kb_version=r.kb_version,
        passage_ids=r.passage_ids,
        latency_ms=r.latency_ms,
        model_ms=r.stage_ms.get("model", 0.0),
        leaked=bool(r.reply) and find_leak(r.reply or "", r.scaffold, allowed=_shown(rt, r, case)) is not None,
        invented=bool(r.reply)
        and find_invented_action(r.reply or "", r.state_text, r.decision.action is Action.HANDOFF) is not None,
    )


def _shown(rt: Runtime, r: TurnResult, case: EvalCase) -> str:
    """What the customer may read verbatim, as the guard counts it: the business's fixed wordings, the
    passages' bodies and the customer's own words (a reply may quote the question it answers)."""
    bodies = []
    if r.kb_version is not None and r.passage_ids:
        index = rt.indexes.get(r.kb_version, rt.tenant)
        wanted = set(r.passage_ids)
        bodies = [f"{d.title}\n{d.body}" for d in index.docs if d.doc_id in wanted]
    said = [t.content for t in case.history if t.role is Role.USER]
    return "\n".join([rt.rules.fixed_wording(), *bodies, *said, case.message])


def run_eval(  # noqa: PLR0915
    cfg: KeelConfig,
    rc: EvalRunConfig,
    run_dir: Path | None = None,
    *,
    backend: ModelBackend | None = None,
    progress: Callable[[int, int], None] | None = None,
    workers: int = 1,
) -> RunSummary:
    """Run (or resume) an evaluation into *run_dir*; metrics are written when every sample is in."""
    suite = load_suite(rc.suite, rc.categories, rc.limit, rc.every)
    rc = rc.model_copy(update={"today": rc.today or suite_today(rc.suite) or cfg.today})
    # an evaluation measures behaviour, not latency: a busy machine must not turn slow replies into errors
    cfg = cfg.model_copy(
        update={"generation": cfg.generation.model_copy(update={"timeout_s": max(cfg.generation.timeout_s, 900.0)})}
    )
    run_dir = run_dir or new_run_dir(cfg, rc)
    run_dir.mkdir(parents=True, exist_ok=True)
    backend = backend or build_backend(cfg, rc.model)

    rt: Runtime | None = None
    kb_versions: dict[str, str] = {}
    if not rc.bare:
        main_db = open_database(cfg.db_url)
        head = store.resolve_version(main_db, rc.kb_version, DEFAULT_TENANT)
        pins = {c.kb_version for c in suite.cases if c.kb_version} | {head}
        run_db = open_database(f"sqlite:///{run_dir / 'run.sqlite'}")
        store.copy_versions(main_db, run_db, pins, head, DEFAULT_TENANT)
        kb_versions = {
            str(v.version): v.content_hash for v in store.list_versions(run_db, DEFAULT_TENANT) if v.version in pins
        }
        rc = rc.model_copy(update={"kb_version": head})
        run_cfg = cfg.with_overrides(today=rc.today, kb_version=head)
        inner = default_embedder()
        embedder = QueryCache(inner, disk=EmbeddingCache(cfg.index_dir / "embeddings.sqlite", inner))
        embedder.prefill([c.message for c in suite.cases])  # one batched pass instead of one call per case
        rt = open_runtime(run_cfg, model=backend, db=run_db, embedder=embedder)

    manifest = _manifest(cfg, rc, suite, backend, kb_versions, rt)
    path = run_dir / MANIFEST
    if path.exists():
        prior = load_manifest(run_dir)
        problem = _same_run(prior, manifest)
        if problem:
            raise InvalidInput(f"cannot resume {run_dir}: {problem}; start a new run folder")
        manifest = manifest.model_copy(update={"created_at": prior.created_at})
    manifest.write(path)

    results = run_dir / RESULTS
    done = _read_results(results)
    todo = [(c, s) for c in suite.cases for s in range(rc.samples) if (c.id, s) not in done]
    started = time.perf_counter()
    model_s = 0.0
    errors = 0
    lock = threading.Lock()
    finished = 0

    def one(item: tuple[EvalCase, int]) -> None:
        nonlocal errors, model_s, finished
        case, sample = item
        try:
            outcome = (
                _bare_outcome(backend, cfg, rc, case, sample) if rt is None else _pipeline_outcome(rt, rc, case, sample)
            )
        except KeelError as exc:
            outcome = Outcome(case_id=case.id, sample=sample, action=None, error=exc.message)
        with lock:
            errors += bool(outcome.error)
            model_s += outcome.model_ms / 1000
            out.write(outcome.model_dump_json() + "\n")
            out.flush()
            finished += 1
            if progress:
                progress(finished, len(todo))

    with results.open("a", encoding="utf-8") as out:
        if workers <= 1:
            for item in todo:
                one(item)
        else:  # the model call serialises anyway; workers overlap storage, embedding and retrieval
            with ThreadPoolExecutor(max_workers=workers) as pool:
                list(pool.map(one, todo))
    all_outcomes = load_outcomes(run_dir)
    if len({(o.case_id, o.sample) for o in all_outcomes}) >= len(suite.cases) * rc.samples:
        metrics = compute_metrics(suite, all_outcomes)
        (run_dir / METRICS).write_text(metrics.model_dump_json(indent=2))
        done_details = manifest.details_as(EvalDetails).model_copy(
            update={
                "status": RunStatus.COMPLETE,
                "finished_at": datetime.now(UTC),
                "results_sha256": hashlib.sha256(results.read_bytes()).hexdigest(),
            }
        )
        manifest.model_copy(update={"details": done_details}).write(path)
    return RunSummary(
        run_dir=run_dir,
        done=len(todo),
        total=len(suite.cases) * rc.samples,
        skipped=len(done),
        errors=errors,
        seconds=time.perf_counter() - started,
        model_seconds=model_s,
    )
