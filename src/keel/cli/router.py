"""``keel router``: train the behaviour router, measure it on a held-out bank, add learned examples, gate it."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from keel.cli.common import config, console, friendly
from keel.embed import EmbeddingCache, default_embedder
from keel.errors import InvalidInput

app = typer.Typer(help="The behaviour router (what a message needs).", no_args_is_help=True)

HELD_OUT = (Path("evals/router/heldout.jsonl"), Path("evals/router/heldout-b.jsonl"))


def _cache() -> EmbeddingCache:
    return EmbeddingCache(config().index_dir / "embeddings.sqlite", default_embedder())


@app.command()
@friendly
def train(
    cv: bool = typer.Option(True, "--cv/--no-cv", help="5-fold cross-validation on the training banks"),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Train on the banks in force (Keel's generic bank, the business's, what was learned) and save it."""
    from keel.online.router.store import MANIFEST_FILE, train_router

    cfg = config()
    trained = train_router(cfg, _cache(), seed=seed, cv=cv, progress=lambda m: console.print(f"• {m}"))
    man = trained.details
    table = Table("sha256", "examples", "by source")
    table.add_column("bank", overflow="fold")
    for given, b in zip(trained.manifest.inputs, man.banks, strict=True):
        sha = (given.sha256 or "")[:12]
        table.add_row(sha, str(b.examples), ", ".join(f"{k} {v}" for k, v in b.by_source.items()), b.path)
    console.print(table)
    console.print(f"examples by need: {json.dumps(man.by_need)}")
    if man.cv_accuracy is not None:
        console.print(f"cross-validated accuracy (training banks, a dev estimate): {man.cv_accuracy:.3f}")
    console.print(
        f"[green]router saved[/] in {cfg.router_dir} (fingerprint {man.fingerprint}, {man.train_s}s; "
        f"manifest {cfg.router_dir / MANIFEST_FILE})"
    )


@app.command("eval")
@friendly
def evaluate(
    bank: Path = typer.Argument(HELD_OUT[0], help="labelled JSONL bank the router never saw"),
    out: Path | None = typer.Option(None, "--out", help="also write the full report (JSON) here"),
    errors: int = typer.Option(0, "--errors", help="print this many misrouted examples"),
) -> None:
    """Accuracy per class (95% intervals), per language and style, confusion matrix, calibration.

    The report is kept beside the router (<home>/router/eval-<bank name>.json)."""
    from keel.online.router.evaluate import evaluate_router, report_path, write_report
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
    for path in (report_path(cfg.router_dir, bank), *((out,) if out else ())):
        console.print(f"report written to {write_report(path, report)}")


def _audit_run(ref: str) -> Path:
    """An audit run folder, or a run id under <home>/audit."""
    path = Path(ref)
    if (path / "manifest.json").is_file():
        return path
    under = config().home / "audit" / ref
    if (under / "manifest.json").is_file():
        return under
    raise InvalidInput(f"no audit run {ref!r} (a folder with manifest.json, or a run id under {under.parent})")


@app.command()
@friendly
def add(
    file: Path | None = typer.Argument(None, help="JSONL examples {text, need, lang} that people decided"),
    from_audit: str | None = typer.Option(
        None, "--from-audit", help="an audit run (folder or id): the need each agent's handling shows"
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="show the counts per need, add nothing"),
) -> None:
    """Add examples to the learned bank (<home>/router/learned.jsonl); `keel router train` picks them up."""
    from keel.online.router.banks import Example, Need, append_examples, dedup_key, learned_bank, read_bank

    if (file is None) == (from_audit is None):
        raise InvalidInput("give a JSONL file of examples or --from-audit RUN (one of the two)")
    cfg = config()
    target = learned_bank(cfg.router_dir)
    examples: list[Example]
    if from_audit is not None:
        from keel.audit.needs import needs_from_run

        got = needs_from_run(_audit_run(from_audit))
        examples = list(got.examples)
        skipped = ", ".join(f"{k} {v}" for k, v in sorted(got.skipped.items())) or "none"
        console.print(f"audit run {got.run}: {len(examples)} example(s) (exchanges left out: {skipped})")
    else:
        assert file is not None
        examples = read_bank(file, source=f"learned:{file.name}")
    have = {dedup_key(e.text) for e in read_bank(target)} if target.exists() else set()
    table = Table("need", "examples", "new", title="dry run: nothing added" if dry_run else None)
    for need in Need:
        mine = [e for e in examples if e.need is need]
        if not mine:
            continue
        table.add_row(need.value, str(len(mine)), str(sum(dedup_key(e.text) not in have for e in mine)))
    console.print(table)
    if dry_run:
        return
    n = append_examples(target, examples)
    console.print(f"[green]{n} new example(s)[/] added to {target} ({len(examples) - n} known)")


@app.command()
@friendly
def gate(
    banks: list[Path] = typer.Argument(None, help="held-out banks (default: evals/router/heldout*.jsonl)"),
    accept: bool = typer.Option(False, "--accept", help="save the candidate as the router when it passes"),
    tolerance: float = typer.Option(0.0, "--tolerance", min=0.0, max=1.0, help="drop below the interval allowed"),
) -> None:
    """Exit non-zero when a router trained on the banks in force reads unsafe, person or override
    messages worse than the saved router (below its 95% interval) on a held-out bank; say why."""
    from keel.eval.router_gate import GATE_FILE, RouterGatePolicy, gate_banks_in_force

    cfg = config()
    chosen = list(banks) if banks else [p for p in HELD_OUT if p.is_file()]
    run = gate_banks_in_force(
        cfg,
        _cache(),
        chosen,
        RouterGatePolicy(tolerance=tolerance),
        accept=accept,
        progress=lambda m: console.print(f"• {m}"),
    )
    if run.unchanged:
        console.print(
            f"[green]GATE PASSED[/]: the banks in force are those router {run.current} learned; nothing to gate"
        )
        return
    for verdict in run.verdicts:
        console.print(f"[b]{verdict.bank}[/] (all classes {verdict.overall[0]:.3f} → {verdict.overall[1]:.3f})")
        for check in verdict.checks:
            mark = "[bold red]✘[/]" if not check.passed else ("[yellow]⚠[/]" if check.worse else "[green]✔[/]")
            console.print(f"  {mark} {check.why}", highlight=False)
    where = cfg.router_dir / GATE_FILE
    if not run.passed:
        console.print(
            f"[bold red]GATE FAILED[/]: candidate {run.candidate} reads these classes worse than "
            f"router {run.current} ({where})"
        )
        raise typer.Exit(1)
    done = "saved as the router" if run.accepted else "`keel router train` or --accept saves it"
    console.print(
        f"[bold green]GATE PASSED[/]: candidate {run.candidate} is not worse than {run.current}; {done} ({where})"
    )
