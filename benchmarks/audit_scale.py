"""Audit throughput and peak memory at 10k, 100k and 1M turns of generated dialogs.

    .venv/bin/python benchmarks/audit_scale.py                 # 10k, 100k, 1M turns
    .venv/bin/python benchmarks/audit_scale.py --turns 10000 100000
    .venv/bin/python benchmarks/audit_scale.py --noise 0.3      # less repetitive text

Each size is generated first (not timed), then audited in a fresh child process that reports
its wall time and peak RSS (``resource.getrusage``), so sizes do not share caches or memory.
The KB is the demo KB (v1 + v2 overlay) in a scratch database; its passage vectors come from the
embedding cache (``--cache``, default ``.keel/index``) so only question embeddings are timed.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def generate(path: Path, turns: int, seed: int, noise: float) -> tuple[int, int]:
    """Write dialogs until *turns* turns are reached; (dialogs, turns)."""
    from keel.demo.dialogs import iter_generated

    n = t = 0
    with path.open("w", encoding="utf-8") as fd:
        for record, _ in iter_generated(10**9, seed, noise):
            fd.write(json.dumps(record, ensure_ascii=False) + "\n")
            n += 1
            t += len(record["turns"])
            if t >= turns:
                break
    return n, t


def child(args: argparse.Namespace) -> None:
    from keel.audit.run import AuditConfig, run_audit
    from keel.config import DEMO_DIR
    from keel.db import open_database
    from keel.embed import EmbeddingCache, default_embedder
    from keel.online.kb import store

    db = open_database(f"sqlite:///{args.work / 'kb.sqlite'}")
    if store.current_version(db) is None:
        store.publish_folder(db, DEMO_DIR / "kb" / "v1")
        store.publish_folder(db, DEMO_DIR / "kb" / "v2", overlay=True)
    embedder = default_embedder()
    cache = EmbeddingCache(args.cache / "embeddings.sqlite", embedder)
    cfg = AuditConfig(input=args.input, kb_version=store.current_version(db) or 2,
                      out_dir=args.work / f"run-{args.input.stem}", max_embeddings=args.max_embeddings)
    start = time.perf_counter()
    result = run_audit(cfg, db=db, cache=cache, embedder=embedder if args.max_embeddings else None)
    seconds = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"dialogs": result.dialogs, "turns": result.turns, "seconds": seconds,
                      "peak_rss_mib": peak_kib / 1024, "clusters": result.clusters,
                      "embedded": result.embedded_questions, "findings": result.findings}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--noise", type=float, default=0.0, help="generator noise (fillers, typos, closings)")
    parser.add_argument("--max-embeddings", type=int, default=3000)
    parser.add_argument("--cache", type=Path, default=Path(".keel/index"))
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temp folder)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--input", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    work = args.work or Path(tempfile.mkdtemp(prefix="keel-audit-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    for turns in args.turns:
        path = work / f"dialogs-{turns}.jsonl"
        generate(path, turns, args.seed, args.noise)
        cmd = [sys.executable, __file__, "--child", "--input", str(path), "--work", str(work),
               "--cache", str(args.cache), "--max-embeddings", str(args.max_embeddings)]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=dict(os.environ))
        row = json.loads(out.stdout.strip().splitlines()[-1])
        row["file_mib"] = path.stat().st_size / 2**20
        rows.append(row)
        print(f"{row['turns']:>9,} turns {row['dialogs']:>8,} dialogs  {row['seconds']:7.1f} s  "
              f"{row['dialogs'] / row['seconds']:7.0f} dialogs/s  {row['turns'] / row['seconds']:8.0f} turns/s  "
              f"peak RSS {row['peak_rss_mib']:6.0f} MiB  (input {row['file_mib']:.0f} MiB, "
              f"{row['clusters']} clusters, {row['embedded']} embedded)", flush=True)
        path.unlink()
    for a, b in itertools.pairwise(rows):
        print(f"{a['turns']:,} → {b['turns']:,} turns (×{b['turns'] / a['turns']:.0f}): time ×"
              f"{b['seconds'] / a['seconds']:.1f}, peak RSS ×{b['peak_rss_mib'] / a['peak_rss_mib']:.2f}")


if __name__ == "__main__":
    main()
