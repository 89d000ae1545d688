"""The manifest every offline artefact carries: what it was made from, so it can be made again.

One model for the five kinds (audit run, preference set, checkpoint, eval run, router): the
inputs with their hashes, the KB version, the model, the configuration and its hash, the code
version, when; and what only that kind records in ``details``. Written as ``manifest.json``
(``keel-checkpoint.json`` for a checkpoint) with :meth:`Manifest.write`, read back with
:func:`read_manifest` (or ``Manifest.model_validate``). Manifests written before this model
(no ``details``) are read by converting their old layout; anything else fails with the file and
the field named.
"""

from __future__ import annotations

import functools
import hashlib
import json
import subprocess
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import Field, ValidationError, model_validator

import keel
from keel.domain import Frozen
from keel.errors import InvalidInput


class ManifestKind(StrEnum):
    AUDIT = "audit"
    PREFS = "prefs"
    TRAIN = "train"
    EVAL = "eval"
    ROUTER = "router"


class RunStatus(StrEnum):
    """An eval run or a training job: still going (or stopped part-way), or finished."""

    RUNNING = "running"
    COMPLETE = "complete"


class EvalMode(StrEnum):
    PIPELINE = "pipeline"  # the whole online path
    BARE = "bare"  # the model alone (no rules, retrieval, state, decision, guard)


class InputRole(StrEnum):
    DIALOGS = "dialogs"  # audit: the historical dialogs file
    PROMPTS = "prompts"  # prefs: the prompts file (an audit route or a boundary set)
    TRAINING_DATA = "training_data"  # train: the JSONL of examples or pairs
    SUITE = "suite"  # eval: the suite folder (hash over its cases)
    BANK = "bank"  # router: one example bank


class InputFile(Frozen):
    role: InputRole
    path: str
    sha256: str | None = Field(None, description="of the file (a suite: of its cases); None: it was missing")
    size: int | None = Field(None, description="bytes")


class CodeVersion(Frozen):
    keel: str = Field(description="keel.__version__")
    commit: str | None = Field(None, description="git commit of the source checkout; None: not a checkout")
    dirty: bool | None = Field(None, description="the checkout had uncommitted changes")


class ModelRef(Frozen):
    """The model the artefact was made with: evaluated (eval), sampled (prefs), trained on (train)."""

    name: str
    fingerprint: str | None = None
    path: str | None = None  # train: the base model's folder


class AuditCounts(Frozen):
    dialogs: int
    turns: int
    skipped_lines: int
    findings: dict[str, int]  # dialogs with at least one finding of each kind
    routes: dict[str, int]
    clusters: int
    embedded_questions: int


class AuditSkippedLine(Frozen):
    line: int
    reason: str


class AuditDetails(Frozen):
    seconds: float
    input_format: str  # the format read (the config may say auto)
    kb_passages: int
    embedder: str | None
    python: str
    counts: AuditCounts
    skipped_lines: tuple[AuditSkippedLine, ...] = ()  # the first ones; all are in skipped.jsonl
    outputs: dict[str, Any] = Field(default_factory=dict)  # file names, relative to the run folder


class PrefsDetails(Frozen):
    judge: str  # what decided the pairs
    rules_hash: str | None


class LossPoint(Frozen):
    step: int
    loss: float


class TrainDetails(Frozen):
    name: str  # ckpt:NAME
    method: Literal["sft", "dpo"]
    status: RunStatus
    examples: int
    adapter_dir: str = "adapter"  # relative to the checkpoint folder
    parent_adapters: tuple[str, ...] = ()  # earlier fine-tunes merged into the base, in order
    versions: dict[str, str] = Field(default_factory=dict)  # torch, transformers, peft, trl
    steps: int | None = None
    train_seconds: float | None = None  # the last invocation only (steps after resumed_from_step)
    finished_at: datetime | None = None
    resumed_from_step: int | None = None
    losses: tuple[LossPoint, ...] = ()
    reward_accuracies: tuple[float, ...] = ()  # DPO


class EvalDetails(Frozen):
    status: RunStatus
    mode: EvalMode
    cases: int
    samples: int = 1  # per case (the run is cases × samples)
    kb_versions: dict[str, str] = Field(default_factory=dict)  # every version the run reads → content hash
    rules_hash: str | None = None
    finished_at: datetime | None = None
    results_sha256: str | None = None


class RouterBank(Frozen):
    """What one bank gave the router (after deduplication); its file and hash are the input of that path."""

    path: str
    examples: int
    by_need: dict[str, int]
    by_source: dict[str, int]  # ``console:prefs:<reviewer>``, ``audit:<run>``, a file name, ...


class RouterDetails(Frozen):
    bank_hash: str  # of the examples in force (what the head learned from); its first 16 characters name it
    examples: int
    by_need: dict[str, int]
    by_source: dict[str, int]
    banks: tuple[RouterBank, ...]  # in the order they were read, as the manifest's inputs
    embedder: str
    seed: int
    train_s: float
    cv_accuracy: float | None = None  # out-of-fold accuracy on the training banks (a dev estimate)
    cv_by_need: dict[str, float] | None = None

    @property
    def fingerprint(self) -> str:
        return self.bank_hash[:16]


Details = AuditDetails | PrefsDetails | TrainDetails | EvalDetails | RouterDetails
DETAILS: dict[ManifestKind, type[Details]] = {
    ManifestKind.AUDIT: AuditDetails,
    ManifestKind.PREFS: PrefsDetails,
    ManifestKind.TRAIN: TrainDetails,
    ManifestKind.EVAL: EvalDetails,
    ManifestKind.ROUTER: RouterDetails,
}
D = TypeVar("D", AuditDetails, PrefsDetails, TrainDetails, EvalDetails, RouterDetails)


def config_hash(config: dict[str, Any]) -> str:
    """sha256 of the configuration's canonical JSON (sorted keys)."""
    text = json.dumps(config, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@functools.cache
def code_version() -> CodeVersion:
    """Keel's version, and the git commit when Keel runs from its own source checkout."""
    here = Path(__file__).resolve()

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", *args], cwd=here.parent, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    top = git("rev-parse", "--show-toplevel")
    if not top or (Path(top) / "src" / "keel" / here.name).resolve() != here:
        return CodeVersion(keel=keel.__version__)  # an installed copy (or a checkout of something else)
    status = git("status", "--porcelain", "--untracked-files=no")
    return CodeVersion(
        keel=keel.__version__, commit=git("rev-parse", "HEAD"), dirty=None if status is None else bool(status)
    )


class Manifest(Frozen):
    kind: ManifestKind
    created_at: datetime
    code: CodeVersion
    inputs: tuple[InputFile, ...] = ()
    kb_version: int | None = None  # the KB version in force for the artefact
    kb_hash: str | None = None  # that version's content hash
    model: ModelRef | None = None
    config: dict[str, Any] = Field(default_factory=dict)  # the settings that shaped it, as JSON
    config_hash: str
    details: Details

    @classmethod
    def new(
        cls,
        details: Details,
        *,
        inputs: tuple[InputFile, ...] = (),
        kb_version: int | None = None,
        kb_hash: str | None = None,
        model: ModelRef | None = None,
        config: dict[str, Any] | None = None,
        created_at: datetime | None = None,
    ) -> Manifest:
        """A manifest made now, by this code, of the kind *details* belongs to."""
        kind = next(k for k, c in DETAILS.items() if isinstance(details, c))
        config = config or {}
        return cls(
            kind=kind,
            created_at=created_at or datetime.now(UTC),
            code=code_version(),
            inputs=inputs,
            kb_version=kb_version,
            kb_hash=kb_hash,
            model=model,
            config=config,
            config_hash=config_hash(config),
            details=details,
        )

    @model_validator(mode="before")
    @classmethod
    def _typed_details(cls, data: Any) -> Any:
        """Older layouts are converted; ``details`` is read as the model of the manifest's kind."""
        if not isinstance(data, dict):
            return data
        if "details" not in data:
            data = _from_old_layout(data)
        kind, details = data.get("kind"), data.get("details")
        if kind in set(ManifestKind) and isinstance(details, dict):
            try:
                data = {**data, "details": DETAILS[ManifestKind(kind)].model_validate(details)}
            except ValidationError as exc:
                err = exc.errors()[0]
                raise ValueError(f"details.{'.'.join(str(p) for p in err['loc'])}: {err['msg']}") from None
        return data

    @model_validator(mode="after")
    def _details_match_kind(self) -> Manifest:
        if not isinstance(self.details, DETAILS[self.kind]):
            raise ValueError(f"details of kind {_KIND_OF[type(self.details)]}, in a manifest of kind {self.kind}")
        return self

    def details_as(self, cls: type[D]) -> D:
        """``details``, typed; InvalidInput when the manifest is of another kind."""
        if not isinstance(self.details, cls):
            raise InvalidInput(f"expected a manifest of kind {_KIND_OF[cls]}, found one of kind {self.kind}")
        return self.details

    def input(self, role: InputRole) -> InputFile | None:
        return next((i for i in self.inputs if i.role is role), None)

    def write(self, path: Path) -> None:
        path.write_text(self.model_dump_json(indent=2), encoding="utf-8")


_KIND_OF = {c: k for k, c in DETAILS.items()}


def read_manifest(path: Path, kind: ManifestKind | None = None) -> Manifest:
    """The manifest at *path* (of *kind*, when given); InvalidInput naming the file and the field otherwise."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read the manifest ({exc.strerror})") from None
    except ValueError as exc:
        raise InvalidInput(f"{path}: the manifest is not valid JSON ({exc})") from None
    try:
        manifest = Manifest.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        msg = str(err["msg"]).removeprefix("Value error, ")
        raise InvalidInput(f"{path}: not a Keel manifest ({where + ': ' if where else ''}{msg})") from None
    if kind is not None and manifest.kind is not kind:
        raise InvalidInput(f"{path}: a manifest of kind {manifest.kind}, expected {kind}")
    return manifest


# ---- manifests written before this model (no `details`): the old layout of each kind ----


def _from_old_layout(old: dict[str, Any]) -> dict[str, Any]:
    if old.get("kind") == ManifestKind.AUDIT:
        return _old_audit(old)
    if old.get("kind") == ManifestKind.ROUTER:
        return _old_router(old)
    if "method" in old and "dataset" in old:
        return _old_train(old)
    if "mode" in old and "suite" in old:
        return _old_eval(old)
    if "judge" in old and "source" in old:
        return _old_prefs(old)
    raise ValueError("no `details` and not an older Keel layout (audit, prefs, train, eval or router)")


def _old_code(old: dict[str, Any]) -> dict[str, Any]:
    version = old.get("keel_version") or str(old.get("tool", "")).removeprefix("keel ") or "unknown"
    return {"keel": version}


def _old_envelope(old: dict[str, Any], kind: ManifestKind, config: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {
        "kind": kind,
        "created_at": old.get("created") or old.get("started_at"),
        "code": _old_code(old),
        "config": config,
        "config_hash": config_hash(config),
        **fields,
    }


def _old_eval(old: dict[str, Any]) -> dict[str, Any]:
    suite, kb = old.get("suite") or {}, old.get("kb") or {}
    head = kb.get("default_version")
    versions = kb.get("versions") or {}
    return _old_envelope(
        old,
        ManifestKind.EVAL,
        {"run": old.get("run") or {}, **(old.get("config") or {})},
        inputs=[{"role": InputRole.SUITE, "path": suite.get("path", ""), "sha256": suite.get("hash")}],
        kb_version=head,
        kb_hash=versions.get(str(head)),
        model=old.get("model"),
        details={
            "status": old.get("status", RunStatus.RUNNING),
            "mode": old.get("mode"),
            "cases": suite.get("cases", 0),
            "samples": (old.get("run") or {}).get("samples", 1),
            "kb_versions": versions,
            "rules_hash": old.get("rules_hash"),
            "finished_at": old.get("finished"),
            "results_sha256": old.get("results_sha256"),
        },
    )


def _old_audit(old: dict[str, Any]) -> dict[str, Any]:
    source, kb = old.get("input") or {}, old.get("kb") or {}
    return _old_envelope(
        old,
        ManifestKind.AUDIT,
        old.get("config") or {},
        inputs=[
            {
                "role": InputRole.DIALOGS,
                "path": source.get("path", ""),
                "sha256": source.get("sha256"),
                "size": source.get("bytes"),
            }
        ],
        kb_version=kb.get("version"),
        kb_hash=kb.get("content_hash"),
        details={
            "seconds": old.get("seconds", 0.0),
            "input_format": source.get("format", ""),
            "kb_passages": kb.get("passages", 0),
            "embedder": old.get("embedder"),
            "python": old.get("python", ""),
            "counts": old.get("counts"),
            "skipped_lines": old.get("skipped_lines", []),
            "outputs": old.get("outputs", {}),
        },
    )


def _old_prefs(old: dict[str, Any]) -> dict[str, Any]:
    return _old_envelope(
        old,
        ManifestKind.PREFS,
        {"n": old.get("n"), "temperature": old.get("temperature"), "today": old.get("today")},
        inputs=[{"role": InputRole.PROMPTS, "path": old["source"], "sha256": old.get("source_sha256")}],
        kb_version=old.get("kb_version"),
        model={"name": old.get("model"), "fingerprint": old.get("model_fingerprint")},
        details={"judge": old.get("judge"), "rules_hash": old.get("rules_hash")},
    )


def _old_train(old: dict[str, Any]) -> dict[str, Any]:
    dataset = old.get("dataset") or {}
    status = RunStatus.COMPLETE if old.get("status") == RunStatus.COMPLETE else RunStatus.RUNNING
    return _old_envelope(
        old,
        ManifestKind.TRAIN,
        old.get("config") or {},
        inputs=[{"role": InputRole.TRAINING_DATA, "path": dataset.get("path", ""), "sha256": dataset.get("sha256")}],
        model={
            "name": old.get("base_model"),
            "fingerprint": old.get("base_fingerprint"),
            "path": old.get("base_model_dir"),
        },
        details={
            "name": old.get("name"),
            "method": old.get("method"),
            "status": status,
            "examples": dataset.get("examples", 0),
            "adapter_dir": old.get("adapter_dir", "adapter"),
            "parent_adapters": old.get("parent_adapters", []),
            "versions": old.get("versions", {}),
            "steps": old.get("steps"),
            "train_seconds": old.get("train_seconds"),
            "finished_at": old.get("finished"),
            "resumed_from_step": old.get("resumed_from_step"),
            "losses": old.get("losses", []),
            "reward_accuracies": old.get("reward_accuracies", []),
        },
    )


def _old_router(old: dict[str, Any]) -> dict[str, Any]:
    """A router manifest of the layout before this model: the settings were hashed, not kept."""
    banks = old.get("banks") or []
    return {
        **_old_envelope(old, ManifestKind.ROUTER, {}),
        "created_at": old.get("created_at"),
        "config_hash": old.get("config_hash", config_hash({})),
        "inputs": [{"role": InputRole.BANK, "path": b.get("path", ""), "sha256": b.get("sha256")} for b in banks],
        "details": {
            "bank_hash": old.get("bank_hash"),
            "examples": old.get("examples", 0),
            "by_need": old.get("by_need", {}),
            "by_source": old.get("by_source", {}),
            "banks": [{k: b.get(k) for k in ("path", "examples", "by_need", "by_source")} for b in banks],
            "embedder": old.get("embedder"),
            "seed": old.get("seed", 0),
            "train_s": old.get("train_s", 0.0),
            "cv_accuracy": old.get("cv_accuracy"),
            "cv_by_need": old.get("cv_by_need"),
        },
    }
