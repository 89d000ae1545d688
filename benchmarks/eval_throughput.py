"""Eval throughput: cases per second with the scripted model (the pipeline without the model), and with
the real packaged model on a small sample (how much of the time is generation), in one run.
The suite's query vectors are kept in `.keel/index` after the first evaluation (every checkpoint is
evaluated on the same suite), so after the first run of this script they are read, not embedded.

    .venv/bin/python benchmarks/eval_throughput.py [--real-cases 12]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from _machine import loadavg, machine
from rich.console import Console

from keel.config import load_config
from keel.eval.run import EvalRunConfig, load_outcomes, run_eval
from keel.online.model.scripted import ScriptedModel
from keel.setup_demo import setup_demo

REPO = Path(__file__).resolve().parents[1]
console = Console()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--real-cases", type=int, default=12, help="cases run with the real model (0 = skip)")
    ap.add_argument(
        "--workers", type=int, default=1, help="concurrent cases (mostly Python under the GIL: 1 is fastest on 2 cores)"
    )
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "eval_throughput.json")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="keel-evalbench-"))
    try:
        cfg = load_config(
            env={},
            home=work / "home",
            model="scripted",
            today=date(2026, 11, 24),
            embedding_cache_dir=REPO / ".keel" / "index",
        )
        setup_demo(cfg, prepare_model=False, log=lambda _m: None)
        suite = REPO / "evals" / "suite"
        # warm-up: embedder, lexicons, KB index (not counted)
        run_eval(cfg, EvalRunConfig(suite=suite, model="scripted", limit=5), work / "warm", backend=ScriptedModel())
        load_before = loadavg()
        started = time.perf_counter()
        summary = run_eval(
            cfg,
            EvalRunConfig(suite=suite, model="scripted"),
            work / "scripted",
            backend=ScriptedModel(),
            workers=args.workers,
        )
        wall = time.perf_counter() - started
        outcomes = load_outcomes(work / "scripted")
        per_case = sum(o.latency_ms for o in outcomes) / len(outcomes)
        result: dict[str, object] = {
            "machine": machine(load_before),
            "scripted": {
                "cases": summary.total,
                "seconds": round(wall, 2),
                "cases_per_s": round(summary.total / wall, 1),
                "pipeline_ms_per_case": round(per_case, 2),
            },
        }
        if args.real_cases:
            from keel.online.model.registry import build_backend

            backend = build_backend(cfg, "local:" + str(REPO / ".keel" / "models" / "qwen2.5-coder-0.5b-instruct"))
            rc = EvalRunConfig(suite=suite, model="local", categories=("faq", "gray", "upset"), limit=args.real_cases)
            run_eval(cfg, rc.model_copy(update={"limit": 1}), work / "real-warm", backend=backend)  # loads weights
            started = time.perf_counter()
            real = run_eval(cfg, rc, work / "real", backend=backend)
            wall_real = time.perf_counter() - started
            result["real_model"] = {
                "cases": real.total,
                "seconds": round(wall_real, 1),
                "cases_per_s": round(real.total / wall_real, 3),
                "generation_seconds": round(real.model_seconds, 1),
                "generation_share": round(real.model_seconds / wall_real, 3),
            }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))
        console.print_json(json.dumps(result))
        rate = result["scripted"]["cases_per_s"]  # type: ignore[index]
        console.print(f"target ≥ 200 cases/s without the model: {'met' if rate >= 200 else 'NOT met'} ({rate}/s)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
