"""``keel router``: train the behaviour router, measure it on a held-out bank, add learned examples."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from keel.cli.common import config, console, friendly
from keel.embed import EmbeddingCache, default_embedder

app = typer.Typer(help="The behaviour router (what a message needs).", no_args_is_help=True)


def _cache() -> EmbeddingCache:
    return EmbeddingCache(config().index_dir / "embeddings.sqlite", default_embedder())


@app.command()
@friendly
def train(
    cv: bool = typer.Option(True, "--cv/--no-cv", help="5-fold cross-validation on the training banks"),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Train on the banks in force (Keel's generic bank, the business's, what was learned) and save it."""
    from keel.online.router.store import train_router

    cfg = config()
    trained = train_router(cfg, _cache(), seed=seed, cv=cv, progress=lambda m: console.print(f"• {m}"))
    man = trained.manifest
    table = Table("bank", "examples")
    for b in man.banks:
        table.add_row(b.path, str(b.examples))
    console.print(table)
    console.print(f"examples by need: {json.dumps(man.by_need)}")
    if man.cv_accuracy is not None:
        console.print(f"cross-validated accuracy (training banks, a dev estimate): {man.cv_accuracy:.3f}")
    console.print(f"[green]router saved[/] in {cfg.router_dir} (fingerprint {man.fingerprint}, {man.train_s}s)")


@app.command("eval")
@friendly
def evaluate(
    bank: Path = typer.Argument(Path("evals/router/heldout.jsonl"), help="labelled JSONL bank the router never saw"),
    out: Path | None = typer.Option(None, "--out", help="write the full report (JSON) here"),
    errors: int = typer.Option(0, "--errors", help="print this many misrouted examples"),
) -> None:
    """Accuracy per class (95% intervals), per language and style, confusion matrix, calibration."""
    from keel.online.router.evaluate import evaluate_router
    from keel.online.router.store import load_router

    cfg = config()
    cache = _cache()
    router = load_router(cfg, cache, progress=lambda m: console.print(f"• {m}"))
    report = evaluate_router(router, bank, cache, cfg.router)
    table = Table("need", "n", "accuracy", "95% interval", title=f"router {report.router} on {bank}")
    for name, r in report.by_need.items():
        table.add_row(name, str(r.n), f"{r.accuracy:.3f}", f"[{r.low:.2f}, {r.high:.2f}]")
    o = report.overall
    table.add_row("[bold]all", str(o.n), f"[bold]{o.accuracy:.3f}", f"[{o.low:.2f}, {o.high:.2f}]")
    console.print(table)
    langs = ", ".join(f"{k} {v.accuracy:.3f} (n={v.n})" for k, v in report.by_lang.items())
    console.print(f"by language: {langs}")
    if len(report.by_style) > 1:
        console.print("by style: " + ", ".join(f"{k} {v.accuracy:.3f}" for k, v in report.by_style.items()))
    console.print(f"calibration error (ECE): {report.ece:.3f} · gray routes: {report.gray_rate:.3f}")
    for e in report.errors[:errors]:
        console.print(f"  {e['gold']:>12} → {e['routed']:<12} {e['p']}  {e['text'][:100]}")
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(report.model_dump_json(indent=2))
        console.print(f"report written to {out}")


@app.command()
@friendly
def add(
    file: Path = typer.Argument(..., help="JSONL examples {text, need, lang} that people decided"),
) -> None:
    """Add examples to the learned bank (<home>/router/learned.jsonl); `keel router train` picks them up."""
    from keel.online.router.banks import append_examples, read_bank

    cfg = config()
    examples = read_bank(file, source=f"learned:{file.name}")
    n = append_examples(cfg.router_dir / "learned.jsonl", examples)
    console.print(
        f"[green]{n} new example(s)[/] added to {cfg.router_dir / 'learned.jsonl'} ({len(examples) - n} known)"
    )
