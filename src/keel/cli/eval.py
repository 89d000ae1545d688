"""``keel eval``: run the suite, compare runs, gate a release, check the judge."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from keel.cli.common import config, console, friendly
from keel.errors import InvalidInput

app = typer.Typer(help="Behaviour evaluation: run, compare, gate.", no_args_is_help=True)


@app.command()
@friendly
def run(
    model: str = typer.Option("local", "--model", "-m", help="local | ckpt:NAME | openai:URL#MODEL | scripted"),
    kb_version: int | None = typer.Option(None, "--kb-version", help="KB version to pin (default: in force)"),
    samples: int = typer.Option(1, "--samples", "-k", help="samples per case (pass^k)"),
    bare: bool = typer.Option(False, "--bare", help="the bare model: no rules, retrieval, state or guard"),
    suite: Path | None = typer.Option(None, "--suite", help="suite folder (default: the config's eval_suite)"),
    out: Path | None = typer.Option(None, "--out", help="run folder (default: <home>/runs/<id>)"),
    resume: str | None = typer.Option(None, "--resume", help="continue an interrupted run (id or folder)"),
    category: list[str] = typer.Option([], "--category", "-c", help="only these categories"),
    limit: int | None = typer.Option(None, "--limit", help="only the first N cases"),
    every: int | None = typer.Option(
        None, "--every", min=1, help="every N-th case of each category (a stratified subset for slow models)"
    ),
    temperature: float | None = typer.Option(None, "--temperature", help="default 0 (k=1) or 0.7 (k>1)"),
    seed: int = typer.Option(0, "--seed"),
    workers: int = typer.Option(1, "--workers", help="concurrent cases (overlaps storage and retrieval)"),
) -> None:
    """Run the suite (resumable) and write a run folder with a manifest, results and metrics."""
    from keel.eval.compare import load_run, resolve_run
    from keel.eval.report import terminal_table
    from keel.eval.run import EvalRunConfig, load_manifest, run_eval

    cfg = config()
    run_dir = resolve_run(cfg, resume) if resume else out
    if run_dir is not None and resume:
        rc = EvalRunConfig.model_validate(load_manifest(run_dir).config["run"])
    else:
        rc = EvalRunConfig(
            suite=suite or cfg.eval_suite,
            model=model,
            kb_version=kb_version,
            samples=samples,
            bare=bare,
            temperature=temperature,
            seed=seed,
            categories=tuple(category),
            limit=limit,
            every=every,
        )
    with Progress(
        TextColumn("[b]eval[/] {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
    ) as progress:
        task = progress.add_task(f"{rc.model} · {rc.mode}", total=None)

        def tick(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        summary = run_eval(cfg, rc, run_dir, progress=tick, workers=workers)
    console.print(
        f"run folder: [b]{summary.run_dir}[/]  ({summary.done} new samples, {summary.skipped} resumed, "
        f"{summary.errors} errors, {summary.seconds:.0f}s, model {summary.model_seconds:.0f}s)"
    )
    if (summary.run_dir / "metrics.json").exists():
        loaded = load_run(summary.run_dir)
        table = Table("metric", "value", "95% CI", "n")
        for name, m in loaded.metrics.metrics.items():
            ci = f"[{m.low:.2f}, {m.high:.2f}]" if m.low is not None and m.high is not None else ""
            table.add_row(name.value, "–" if m.value is None else f"{m.value:.3f}", ci, str(m.n))
        console.print(table)
        _ = terminal_table  # the comparison table lives in `keel eval compare`


@app.command("runs")
@friendly
def runs_() -> None:
    """List the eval runs under the Keel home."""
    from keel.eval.compare import list_runs

    table = Table("run", "status", "model", "mode", "KB", "cases×k", "pass", "crossing")
    for r in list_runs(config()):
        m = r["metrics"] or {}
        table.add_row(
            r["run_id"],
            r["status"] or "",
            r["model"],
            r["mode"],
            str(r["kb"] or "–"),
            f"{r['cases']}×{r['samples']}",
            f"{m.get('pass_rate', 0) or 0:.3f}" if m else "",
            f"{m.get('boundary_crossing_rate', 0) or 0:.3f}" if m else "",
        )
    console.print(table)


@app.command()
@friendly
def compare(
    runs: list[str] = typer.Argument(..., help="baseline first, then the runs to compare with it"),
    html: Path | None = typer.Option(None, "--html", help="write the HTML report here"),
    gate_policy: Path | None = typer.Option(None, "--gate", help="also run the gate (last run vs baseline)"),
) -> None:
    """Side-by-side metrics with 95% intervals, per-category deltas, flipped cases; optional HTML."""
    from keel.eval.compare import compare_runs, resolve_run
    from keel.eval.gate import load_policy, run_gate
    from keel.eval.report import render_html, terminal_table

    cfg = config()
    paths = [resolve_run(cfg, r) for r in runs]
    comparison = compare_runs(paths)
    console.print(terminal_table(comparison))
    for i, flips in enumerate(comparison.flips, 1):
        fixed = sum(f.direction == "fixed" for f in flips)
        console.print(f"run {i}: {fixed} cases fixed, {len(flips) - fixed} broke (details in the HTML report)")
    verdict = run_gate(paths[-1], paths[0], load_policy(gate_policy)) if gate_policy else None
    if html:
        html.parent.mkdir(parents=True, exist_ok=True)
        html.write_text(render_html(comparison, verdict), encoding="utf-8")
        console.print(f"HTML report: [b]{html}[/]")


@app.command()
@friendly
def gate(
    run: str = typer.Argument(..., help="the candidate run"),
    baseline: str = typer.Option(..., "--baseline", help="the run it must not be riskier than"),
    policy: Path | None = typer.Option(None, "--policy", help="gate YAML (default: the four risk metrics)"),
) -> None:
    """Exit non-zero when a risk metric is significantly worse than the baseline; say why."""
    from keel.eval.compare import resolve_run
    from keel.eval.gate import load_policy, run_gate

    cfg = config()
    verdict = run_gate(resolve_run(cfg, run), resolve_run(cfg, baseline), load_policy(policy))
    for check in verdict.checks:
        mark = "[green]✔[/]" if check.passed else "[bold red]✘[/]"
        console.print(f"{mark} {check.why}", highlight=False)
    for warning in verdict.warnings:
        console.print(f"[yellow]⚠ not gated, but significantly worse:[/] {warning}", highlight=False)
    if verdict.passed:
        console.print(f"[bold green]GATE PASSED[/]: {verdict.candidate} is not riskier than {verdict.baseline}")
        return
    console.print(f"[bold red]GATE FAILED[/]: {verdict.candidate} is riskier than {verdict.baseline}")
    raise typer.Exit(1)


@app.command("judge-check")
@friendly
def judge_check(
    path: Path = typer.Option(Path("evals/judge_calibration.jsonl"), "--file", help="hand-labelled replies"),
) -> None:
    """Agreement of the behaviour judge with hand labels (dev half tuned, test half held out)."""
    from keel.eval.judge_check import check_judge

    table = Table("split", "n", "action agreement [95% CI]", "κ", "soothe agreement", "zh", "en")
    results = check_judge(path)
    for s in results:
        table.add_row(
            s.split,
            str(s.n),
            f"{s.action_agreement:.3f} [{s.action_low:.2f}, {s.action_high:.2f}]",
            f"{s.kappa:.2f}",
            f"{s.soothe_agreement:.3f}",
            f"{s.by_lang.get('zh', 0):.3f}",
            f"{s.by_lang.get('en', 0):.3f}",
        )
    console.print(table)
    test = next(s for s in results if s.split == "test")
    conf = Table("label \\ judged", *test.confusion.keys(), title="confusion on the held-out test half")
    for label, row in test.confusion.items():
        conf.add_row(label, *(str(v) for v in row.values()))
    console.print(conf)


@app.command("retrieval")
@friendly
def retrieval(
    suite: Path | None = typer.Option(
        None, "--suite", help="suite folder (cases with gold_topics count; default: the config's eval_suite)"
    ),
    kb_version: int | None = typer.Option(None, "--kb-version", help="KB version to pin (default: in force)"),
    split: str = typer.Option("test", "--split", help="dev | test | all (halves by paraphrase group)"),
    tune: bool = typer.Option(False, "--tune", help="choose fusion weights on the dev half, then report --split"),
    misses: int = typer.Option(0, "--misses", help="print this many missed cases"),
) -> None:
    """Retrieval hit@1, hit@3 and MRR per language and category, on the suite's gold-labelled cases."""
    from keel.eval.cases import load_suite
    from keel.eval.retrieval import Split, evaluate_retrieval, tune_fusion
    from keel.eval.run import suite_today
    from keel.online.kb.store import resolve_version
    from keel.online.model.scripted import ScriptedModel
    from keel.online.runtime import open_runtime

    if split not in {s.value for s in Split}:
        raise InvalidInput(f"--split is one of {', '.join(s.value for s in Split)}, not {split!r}")
    cfg = config()
    suite = suite or cfg.eval_suite
    loaded = load_suite(suite)
    rt = open_runtime(cfg, model=ScriptedModel())
    version = resolve_version(rt.db, kb_version, rt.tenant)
    today = suite_today(suite) or rt.today()
    rcfg = cfg.retrieval
    if tune:
        rcfg, dev = tune_fusion(rt, loaded, version, today)
        chosen = {k: v for k, v in rcfg.model_dump().items() if v != cfg.retrieval.model_dump()[k]}
        console.print(
            f"dev half (n={dev.n}): MRR {dev.mrr:.3f}, hit@1 {dev.hit1:.3f}, hit@3 {dev.hit3:.3f} "
            f"with {chosen or 'the config'} — set them under `retrieval:` in keel.yaml"
        )
    report = evaluate_retrieval(rt, loaded, version, today, Split(split), rcfg)
    table = Table("", "n", "hit@1", "hit@3", "MRR", title=f"retrieval, KB v{version}, {split} half")
    for name, sc in [("all", report.overall), *report.by_lang.items(), *report.by_category.items()]:
        table.add_row(name, str(sc.n), f"{sc.hit1:.3f}", f"{sc.hit3:.3f}", f"{sc.mrr:.3f}")
    console.print(table)
    for c in [c for c in report.cases if c.rank != 1][:misses]:
        console.print(f"  {c.case_id}: gold {list(c.gold)} rank {c.rank} got {list(c.topics[:3])}")
