"""``keel init | check | setup``: start a business's project folder, validate it, put it in place."""

from __future__ import annotations

from pathlib import Path

import typer

from keel.cli.common import STATE, config, console, friendly

app = typer.Typer()


@app.command()
@friendly
def init(
    folder: Path = typer.Argument(..., help="the new project folder"),
    example: str | None = typer.Option(None, "--example", help="copy an example business instead: skylark"),
    force: bool = typer.Option(False, "--force", help="write into a non-empty folder (overwrites files)"),
) -> None:
    """Write a commented project scaffold (config, business, rules, templates, KB, customers, eval suite)."""
    from keel.errors import InvalidInput
    from keel.project.scaffold import Example, init_project

    if example is not None and example not in {e.value for e in Example}:
        raise InvalidInput(f"unknown example {example!r}; choose one of: {', '.join(e.value for e in Example)}")
    report = init_project(folder, Example(example) if example else None, force=force)
    what = f"example business {report.example.value}" if report.example else "a new business"
    console.print(f"[green]wrote[/] {what} into [b]{folder}[/] ({len(report.files)} files)")
    cfg = folder / "keel.yaml"
    console.print("next:", highlight=False)
    for cmd in ("check", "setup --skip-model", '--model scripted ask "hello"', "eval run --model scripted"):
        console.print(f"  keel --config {cfg} {cmd}", highlight=False)


@app.command()
@friendly
def check(
    kb: list[Path] = typer.Option([], "--kb", help="also check this KB folder (e.g. before `keel kb publish`)"),
) -> None:
    """Validate the business's files against its business.yaml; findings line by line; exit 1 on errors."""
    from keel.project.check import check_project

    report = check_project(config(), kb)
    for finding in report.findings:
        colour = "red" if finding.severity.value == "error" else "yellow"
        console.print(f"[{colour}]{finding.render()}[/]", highlight=False, soft_wrap=True)
    where = STATE.config_path or "keel.yaml"
    summary = f"{report.errors} error(s), {report.warnings} warning(s) in {len(report.checked)} files/folders ({where})"
    if not report.ok:
        console.print(f"[bold red]check failed:[/] {summary}", highlight=False)
        raise typer.Exit(1)
    console.print(f"[bold green]check passed:[/] {summary}", highlight=False)


@app.command()
@friendly
def setup(
    skip_model: bool = typer.Option(False, "--skip-model", help="do not prepare the local model"),
) -> None:
    """Check, then publish the business's KB folders into an empty KB, load its customers, prepare the model."""
    from keel.project.setup import setup_project

    report = setup_project(config(), prepare_model=not skip_model, log=lambda m: console.print(f"• {m}"))
    for finding in report.check.findings:
        console.print(f"[yellow]{finding.render()}[/]", highlight=False, soft_wrap=True)
    console.print(f"[green]ready:[/] KB version {report.current_version} in force; customers from {report.state}")
