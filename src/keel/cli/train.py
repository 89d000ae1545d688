"""``keel train`` and ``keel models``: fine-tune with TRL + PEFT, export for LLaMA-Factory, list models."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from keel.cli.common import config, console, friendly
from keel.online.model.scripted import ScriptedModel

app = typer.Typer(help="Behaviour fine-tuning (LoRA SFT / DPO) and exports.", no_args_is_help=True)
models_app = typer.Typer(help="Models and checkpoints.", no_args_is_help=True)


def _run(method: str, config_file: Path, name: str | None, max_steps: int | None, restart: bool) -> None:
    from keel.train.config import Method, load_train_config
    from keel.train.trainer import train

    tc = load_train_config(config_file, name=name, max_steps=max_steps)
    if tc.method is not Method(method):
        from keel.errors import ConfigError

        raise ConfigError(f"{config_file} is a {tc.method.value} config; use `keel train {tc.method.value}`")
    with Progress(
        TextColumn("[b]{task.description}[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    ) as progress:
        task = progress.add_task(f"{method} {tc.name}", total=tc.max_steps, loss="–")

        def tick(step: int, total: int, loss: float | None) -> None:
            if loss is not None:
                progress.update(task, completed=step, loss=f"{loss:.4f}")
            else:
                progress.update(task, completed=step)

        info = train(config(), tc, tick, restart=restart)
    first, last = (info.losses[0][1], info.losses[-1][1]) if info.losses else (float("nan"), float("nan"))
    done = (
        f"steps {info.resumed_from + 1}–{info.steps} in {info.seconds / 60:.1f} min"
        f" (resumed after step {info.resumed_from})"
        if info.resumed_from
        else f"{info.steps} steps in {info.seconds / 60:.1f} min"
    )
    console.print(f"[green]checkpoint ckpt:{info.name}[/] — {done}, loss {first:.4f} → {last:.4f}\n  {info.path}")


@app.command()
@friendly
def sft(
    config_file: Path = typer.Option(..., "--config", help="training YAML (method: sft)"),
    name: str | None = typer.Option(None, "--name"),
    max_steps: int | None = typer.Option(None, "--max-steps"),
    restart: bool = typer.Option(False, "--restart", help="discard a previous run of this name"),
) -> None:
    """LoRA SFT on already-correct replies (tone); resumes from the last saved step."""
    _run("sft", config_file, name, max_steps, restart)


@app.command()
@friendly
def dpo(
    config_file: Path = typer.Option(..., "--config", help="training YAML (method: dpo)"),
    name: str | None = typer.Option(None, "--name"),
    max_steps: int | None = typer.Option(None, "--max-steps"),
    restart: bool = typer.Option(False, "--restart", help="discard a previous run of this name"),
) -> None:
    """LoRA DPO on preference pairs (refuse / hand off / soothe); resumes from the last saved step."""
    _run("dpo", config_file, name, max_steps, restart)


@app.command("export-llamafactory")
@friendly
def export_llamafactory(
    out: Path = typer.Option(..., "--out", help="folder for dataset_info.json, datasets and YAML configs"),
    sft_config: Path | None = typer.Option(None, "--sft", help="SFT training YAML"),
    dpo_config: Path | None = typer.Option(None, "--dpo", help="DPO training YAML"),
    model_path: str | None = typer.Option(None, "--model-path", help="model_name_or_path for LLaMA-Factory"),
) -> None:
    """The same data and settings for LLaMA-Factory as an alternative trainer."""
    from keel.online.model.packaged import packaged_dir
    from keel.train.config import load_train_config
    from keel.train.llamafactory import export_llamafactory as export

    report = export(
        out,
        sft=load_train_config(sft_config) if sft_config else None,
        dpo=load_train_config(dpo_config) if dpo_config else None,
        model_path=model_path or str(packaged_dir(config().model_cache).resolve()),
    )
    console.print(
        f"[green]exported[/] {report.sft_examples} SFT and {report.dpo_examples} DPO examples "
        f"({report.skipped} skipped) to {report.folder}: {', '.join(report.files)}"
    )
    console.print(f"train with: llamafactory-cli train {report.folder}/<config>.yaml (run from {report.folder})")


@app.command("sft-data")
@friendly
def sft_data(
    datasets: Path = typer.Option(..., "--from", help="the datasets/ folder of an audit run"),
    out: Path = typer.Option(..., "--out", help="SFT JSONL to write"),
    limit: int | None = typer.Option(None, "--limit", help="at most N examples per route"),
    kb_version: int | None = typer.Option(None, "--kb-version"),
) -> None:
    """SFT examples from the audit's clean routes (FAQ SFT + style SFT), in the pipeline's prompt."""
    from keel.online.runtime import open_runtime
    from keel.train.sft_data import build_sft_data

    cfg = config()
    with console.status("building SFT examples"):
        summary = build_sft_data(
            cfg, open_runtime(cfg, model=_no_model()), datasets, out, limit_per_route=limit, kb_version=kb_version
        )
    console.print(f"[green]{summary.examples} SFT examples[/] → {summary.out}  {summary.by_route}")


def _no_model() -> ScriptedModel:
    from keel.online.model.scripted import ScriptedModel

    return ScriptedModel(name="unused")


@models_app.command("list")
@friendly
def models_list() -> None:
    """The packaged model and every fine-tuned checkpoint (use with --model ckpt:NAME)."""
    from keel.train.checkpoints import list_models

    table = Table("spec", "kind", "ready", "detail")
    for m in list_models(config()):
        table.add_row(m["spec"], m["kind"], "yes" if m["ready"] else "no", m["detail"])
    console.print(table)


@models_app.command("export-gguf")
@friendly
def models_export_gguf(
    name: str = typer.Argument(..., help="the checkpoint (as in ckpt:NAME)"),
    base_gguf: Path | None = typer.Option(
        None, "--base-gguf", help="the GGUF of the checkpoint's base (default: the packaged GGUF it was trained on)"
    ),
    no_convert_base: bool = typer.Option(
        False, "--no-convert-base", help="fail instead of converting a base that is not packaged to GGUF"
    ),
) -> None:
    """Convert ckpt:NAME to a GGUF LoRA for llama.cpp (run it with generation.engine: llamacpp)."""
    from keel.train.gguf import export_gguf

    with console.status(f"converting checkpoint {name} for llama.cpp"):
        export = export_gguf(
            config(), name, base_gguf=base_gguf, convert_base=not no_convert_base, log=lambda m: console.print(f"• {m}")
        )
    rec = export.record
    base = rec.packaged or rec.base_gguf
    console.print(
        f"[green]wrote[/] {export.path} (rank {rec.rank}, {len(rec.adapters)} adapter(s) folded) in {export.seconds}s; "
        f"base: {base}"
    )
    console.print(f"run it: set generation.engine: llamacpp in keel.yaml, then --model ckpt:{name}")
