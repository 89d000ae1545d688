"""``keel prefs``: build preference pairs with the rule judge, or annotate them in the terminal."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.columns import Columns
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.prompt import Prompt

from keel.cli.common import config, console, friendly

app = typer.Typer(help="Preference pairs for DPO (rule judge or human).", no_args_is_help=True)


@app.command()
@friendly
def build(
    source: Path = typer.Option(..., "--from", help="an audit dataset, e.g. <run>/datasets/preference_candidate.jsonl"),
    n: int = typer.Option(3, "--n", help="model candidates per prompt"),
    out: Path | None = typer.Option(None, "--out", help="preference set folder (default <home>/prefs/<name>)"),
    name: str = typer.Option("default", "--name", help="preference set name"),
    limit: int | None = typer.Option(None, "--limit", help="only the first N prompts"),
    kb_version: int | None = typer.Option(None, "--kb-version"),
    temperature: float = typer.Option(0.8, "--temperature"),
) -> None:
    """Generate n candidates per prompt with the current model, judge them, write chosen/rejected pairs."""
    from keel.online.runtime import open_runtime
    from keel.prefs.build import build_prefs

    cfg = config()
    rt = open_runtime(cfg)
    folder = out or cfg.home / "prefs" / name
    with Progress(
        TextColumn("[b]prefs[/]"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=console
    ) as progress:
        task = progress.add_task("build", total=None)
        summary = build_prefs(
            cfg,
            rt,
            source,
            folder,
            n=n,
            temperature=temperature,
            limit=limit,
            kb_version=kb_version,
            progress=lambda i, total: progress.update(task, completed=i, total=total),
        )
    console.print(
        f"[green]{summary.pairs} pairs[/] by the rule judge, {summary.undecided} left for a human "
        f"(`keel prefs annotate --set {folder}`), {summary.resumed} resumed → {folder}"
    )


@app.command()
@friendly
def boundary(
    out: Path = typer.Option(..., "--out", help="JSONL of boundary prompts (audit routed-record format)"),
    per_category: int = typer.Option(20, "--per-category"),
    seed: int = typer.Option(11, "--seed"),
) -> None:
    """Boundary prompts (refuse / hand off / soothe / ask) with bad historical replies, for `prefs build`."""
    from keel.prefs.boundary import generate_boundary

    result = generate_boundary(out, per_category, seed)
    console.print(f"[green]{result.prompts} boundary prompts[/] → {result.path}  {result.by_category}")


@app.command()
@friendly
def redecide(
    set_dir: Path | None = typer.Option(None, "--set", help="preference set folder"),
    name: str = typer.Option("default", "--name"),
) -> None:
    """Re-apply the rule judge's pair selection to a built set (human choices are kept)."""
    from keel.prefs.build import redecide as run

    folder = set_dir or config().home / "prefs" / name
    made, left = run(folder)
    console.print(f"[green]{made} pairs[/] by the rule judge, {left} left for a human")


def _show(item: dict, index: int, total: int) -> None:
    prompt = item["prompt"]
    convo = "\n".join(f"[b]{m['role']}[/]: {m['content']}" for m in prompt[1:])
    console.rule(
        f"{index}/{total} · {item['id']} · expected {'/'.join(item['expected']['actions'])}"
        f"{' + soothe' if item['expected']['soothe'] else ''}"
    )
    console.print(convo, highlight=False)
    console.print(f"[dim]{item['expected']['why']}[/]")
    panels = [
        Panel(
            c["text"],
            title=f"[{i + 1}] {c['source']} · {c['action']}",
            subtitle=f"rule score {c['score']:+.0f}",
            width=48,
        )
        for i, c in enumerate(item["candidates"])
    ]
    console.print(Columns(panels))


@app.command()
@friendly
def annotate(
    set_dir: Path | None = typer.Option(None, "--set", help="preference set folder"),
    name: str = typer.Option("default", "--name"),
    annotator: str | None = typer.Option(None, "--annotator", help="your name (default: login name)"),
    all_items: bool = typer.Option(False, "--all", help="also review prompts the rule judge decided"),
) -> None:
    """Pick the better and the worse candidate for each prompt; s = skip, q = quit (choices are saved at once)."""
    import getpass

    from keel.prefs.store import pending, record_choice

    folder = set_dir or config().home / "prefs" / name
    who = annotator or getpass.getuser()
    todo = pending(folder, include_rule_decided=all_items)
    if not todo:
        console.print("nothing to annotate")
        return
    done = 0
    for i, item in enumerate(todo, 1):
        _show(item, i, len(todo))
        n = len(item["candidates"])
        better = Prompt.ask(f"better candidate 1-{n}, s skip, q quit", default="s")
        if better == "q":
            break
        if better == "s" or not better.isdigit():
            continue
        worse = Prompt.ask(
            f"worse candidate 1-{n}", default=str(min(range(n), key=lambda k: item["candidates"][k]["score"]) + 1)
        )
        if not worse.isdigit():
            continue
        record_choice(folder, item["id"], int(better) - 1, int(worse) - 1, who)
        done += 1
    console.print(f"[green]{done} pairs saved[/] in {folder / 'pairs.jsonl'}")
