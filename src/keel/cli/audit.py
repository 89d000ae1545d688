"""``keel audit``: audit historical dialogs, generate a labelled set, score a run."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from keel.cli.common import config, console, friendly
from keel.errors import InvalidInput

if TYPE_CHECKING:
    from keel.audit.run import AuditResult

app = typer.Typer(help="Audit historical dialogs before fine-tuning and route every sample.", no_args_is_help=True)


def _column_map(pairs: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        column, sep, field = pair.partition("=")
        if not sep or not column.strip() or not field.strip():
            raise InvalidInput(f"--map {pair!r}: use COLUMN=FIELD, e.g. --map 会话ID=dialog_id")
        out[column.strip()] = field.strip()
    return out


def _audit(
    file: Path,
    kb_version: int | None,
    fmt: str,
    mapping: list[str],
    out: Path | None,
    max_embeddings: int,
    no_embed: bool,
    seed: int = 0,
) -> AuditResult:
    from keel.audit.run import AuditConfig, run_audit
    from keel.audit.schema import InputFormat
    from keel.db import open_database
    from keel.domain import DEFAULT_TENANT
    from keel.embed import EmbeddingCache, default_embedder
    from keel.online.kb import store

    cfg = config()
    db = open_database(cfg.db_url)
    version = store.resolve_version(db, kb_version, DEFAULT_TENANT)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    run_dir = out or cfg.home / "audit" / f"{stamp}-{file.stem}"
    try:
        input_format = InputFormat(fmt)
    except ValueError:
        raise InvalidInput(f"--format {fmt!r}: use one of {[f.value for f in InputFormat]}") from None
    audit_cfg = AuditConfig(
        input=file,
        kb_version=version,
        out_dir=run_dir,
        format=input_format,
        column_map=_column_map(mapping),
        max_embeddings=0 if no_embed else max_embeddings,
        seed=seed,
    )
    embedder = default_embedder()
    cache = EmbeddingCache(cfg.index_dir / "embeddings.sqlite", embedder)
    with Progress(
        TextColumn("[bold]auditing[/]"),
        BarColumn(),
        DownloadColumn(),
        TextColumn("{task.fields[dialogs]:,} dialogs"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("audit", total=max(1, file.stat().st_size if file.is_file() else 1), dialogs=0)

        def progress(done: int, total: int, dialogs: int) -> None:
            bar.update(task, completed=done, total=max(1, total), dialogs=dialogs)

        return run_audit(audit_cfg, db=db, cache=cache, embedder=None if no_embed else embedder, progress=progress)


@app.command("run")
@friendly
def run_cmd(
    file: Path = typer.Argument(..., help="dialogs: JSONL (Keel schema, ShareGPT or OpenAI messages) or CSV"),
    kb_version: int | None = typer.Option(
        None, "--kb-version", help="KB version to check against (default: the version in force)"
    ),
    fmt: str = typer.Option("auto", "--format", help="auto | jsonl | csv | sharegpt"),
    mapping: list[str] = typer.Option(
        [], "--map", help="CSV column=field (dialog_id, role, text, agent, turn, region, lang, date); repeatable"
    ),
    out: Path | None = typer.Option(None, "--out", help="run folder (default <home>/audit/<run id>)"),
    max_embeddings: int = typer.Option(3000, "--max-embeddings", help="questions embedded at most"),
    no_embed: bool = typer.Option(False, "--no-embed", help="MinHash clustering only (fastest)"),
    seed: int = typer.Option(0, "--seed", help="seed of the example reservoirs in the report"),
) -> None:
    """Audit historical dialogs: findings with evidence, every dialog routed, datasets + report."""
    from keel.audit.report import print_report

    result = _audit(file, kb_version, fmt, mapping, out, max_embeddings, no_embed, seed)
    print_report(result, console)


@app.command("generate")
@friendly
def generate_cmd(
    out: Path = typer.Argument(..., help="output JSONL; labels go to <name>.labels.jsonl beside it"),
    dialogs: int = typer.Option(5000, "--dialogs", min=1, help="how many dialogs"),
    seed: int = typer.Option(7, "--seed", help="random seed"),
    noise: float = typer.Option(
        0.0, "--noise", min=0.0, max=1.0, help="chance per turn of fillers, typos and closing questions"
    ),
) -> None:
    """Generate demo-shop dialogs with planted problems and their labels."""
    from keel.demo.dialogs import write_generated

    gen = write_generated(out, dialogs, seed, noise)
    planted = ", ".join(f"{k} {v}" for k, v in gen.planted.items())
    console.print(
        f"[green]wrote[/] {gen.dialogs:,} dialogs ({gen.turns:,} turns) to {gen.dialogs_path}; "
        f"labels in {gen.labels_path}\nplanted: {planted}",
        highlight=False,
    )


def _print_score(run_dir: Path, labels: Path) -> None:
    from keel.audit.evaluate import score_run
    from keel.audit.report import FINDING_LABELS

    score = score_run(run_dir, labels)
    table = Table(
        "finding",
        "planted",
        "found",
        "true pos.",
        "precision",
        "recall",
        title=f"Precision / recall per finding type ({score.dialogs:,} dialogs)",
    )
    for k in score.kinds:
        table.add_row(
            FINDING_LABELS[k.kind],
            str(k.planted),
            str(k.found),
            str(k.true_positives),
            f"{k.precision:.3f}",
            f"{k.recall:.3f}",
        )
    console.print(table)
    console.print(f"route accuracy: {score.route_accuracy:.3f}")
    (run_dir / "score.json").write_text(score.model_dump_json(indent=2), encoding="utf-8")


@app.command("score")
@friendly
def score_cmd(
    run_dir: Path = typer.Argument(..., help="a run folder of `keel audit run`"),
    labels: Path | None = typer.Option(None, "--labels", help="plant labels (default: beside the input)"),
) -> None:
    """Precision and recall per finding type of a run on a generated (labelled) set."""
    from keel.demo.dialogs import labels_path_for
    from keel.manifest import InputRole, ManifestKind, read_manifest

    manifest = run_dir / "manifest.json"
    if labels is None:
        if not manifest.exists():
            raise InvalidInput(f"{run_dir}: no manifest.json (not an audit run folder)")
        dialogs = read_manifest(manifest, ManifestKind.AUDIT).input(InputRole.DIALOGS)
        if dialogs is None:
            raise InvalidInput(f"{manifest}: names no dialogs file; give --labels")
        labels = labels_path_for(Path(dialogs.path))
    _print_score(run_dir, labels)


@app.command("evaluate")
@friendly
def evaluate_cmd(
    dialogs: int = typer.Option(5000, "--dialogs", min=1, help="generated dialogs"),
    seed: int = typer.Option(7, "--seed", help="generator seed"),
    noise: float = typer.Option(
        0.0, "--noise", min=0.0, max=1.0, help="chance per turn of fillers, typos and closing questions"
    ),
    kb_version: int | None = typer.Option(None, "--kb-version", help="KB version (default: in force)"),
    out: Path | None = typer.Option(None, "--out", help="run folder"),
) -> None:
    """One command: generate a labelled set, audit it, print precision/recall per finding type."""
    from keel.audit.report import print_report
    from keel.demo.dialogs import write_generated

    cfg = config()
    run_dir = out or cfg.home / "audit" / (f"eval-{dialogs}-seed{seed}" + (f"-noise{noise}" if noise else ""))
    gen = write_generated(run_dir / "generated.jsonl", dialogs, seed, noise)
    result = _audit(Path(gen.dialogs_path), kb_version, "auto", [], run_dir / "run", 3000, False, seed)
    print_report(result, console)
    _print_score(Path(result.run_dir), Path(gen.labels_path))
