"""Per-message time of the online path minus the model call, against a 10,000-document KB.

Runs 1,000 customer messages (taken from the eval suite, zh and en) through the whole pipeline
with an instant scripted model, so what is measured is everything but generation: validation,
storage, embedding, rules, state, emotion, retrieval, prompt, decision, guard, trace. Then it
times the real packaged model on a few messages and reports the overhead as a share of one
model call, all in one run (machines here are noisy; compare ratios, not absolute numbers).

    .venv/bin/python benchmarks/pipeline_overhead.py [--messages 1000] [--docs 10000] [--model-samples 5]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from datetime import date
from pathlib import Path

import yaml
from _machine import loadavg, machine
from rich.console import Console
from rich.progress import track

from keel.config import DEMO_DIR, load_config
from keel.db import open_database
from keel.online.kb import store
from keel.online.kb.documents import DocKind, KBDocument, load_folder
from keel.online.model.scripted import ScriptedModel
from keel.online.pipeline import MessageRequest, handle_message
from keel.online.runtime import open_runtime

REPO = Path(__file__).resolve().parents[1]
console = Console()

_PRODUCTS_ZH = ["电水壶", "台扇", "耳机", "台灯", "加湿器", "电饭煲", "吹风机", "空气炸锅", "咖啡机", "电热毯"]
_PRODUCTS_EN = [
    "kettle",
    "desk fan",
    "earbuds",
    "desk lamp",
    "humidifier",
    "rice cooker",
    "hair dryer",
    "air fryer",
    "coffee maker",
    "electric blanket",
]
_ASPECTS_ZH = ["清洁方法", "保修说明", "常见故障", "配件清单", "安装步骤", "节能模式", "噪音问题", "包装尺寸"]
_ASPECTS_EN = [
    "cleaning",
    "warranty notes",
    "common faults",
    "accessories",
    "setup steps",
    "eco mode",
    "noise",
    "package size",
]


def synthetic_docs(n: int, seed: int = 7) -> list[KBDocument]:
    """Product-manual style documents, half zh half en, to grow the KB to n documents."""
    rng = random.Random(seed)
    docs = []
    for i in range(n):
        zh = i % 2 == 0
        p = rng.randrange(len(_PRODUCTS_ZH))
        a = rng.randrange(len(_ASPECTS_ZH))
        sku = f"SKU{10000 + i // 2}"
        if zh:
            title = f"{sku} {_PRODUCTS_ZH[p]}：{_ASPECTS_ZH[a]}"
            body = (
                f"{sku} 型号{_PRODUCTS_ZH[p]}的{_ASPECTS_ZH[a]}。额定功率 {rng.randint(20, 2000)} 瓦，"
                f"建议每 {rng.randint(1, 12)} 个月检查一次。如遇问题请保留订单号并联系售后。"
            )
        else:
            title = f"{sku} {_PRODUCTS_EN[p]}: {_ASPECTS_EN[a]}"
            body = (
                f"{_ASPECTS_EN[a].capitalize()} for the {sku} {_PRODUCTS_EN[p]}. Rated power "
                f"{rng.randint(20, 2000)} W; check it every {rng.randint(1, 12)} months. Keep your order number "
                "if you need after-sales help."
            )
        docs.append(
            KBDocument.model_validate(
                {
                    "id": f"bench-{i}",
                    "topic": f"bench-{i // 2}",
                    "lang": "zh" if zh else "en",
                    "title": title,
                    "kind": DocKind.FAQ,
                    "region": ["all"],
                    "body": body,
                }
            )
        )
    return docs


def suite_messages(limit: int, seed: int = 11) -> list[tuple[str, str | None]]:
    cases = []
    for f in sorted((REPO / "evals" / "suite").glob("[!_]*.yaml")):
        for case in yaml.safe_load(f.read_text(encoding="utf-8"))["cases"]:
            cases.append((case["turns"][-1]["content"], case.get("user")))
    rng = random.Random(seed)
    rng.shuffle(cases)
    return [cases[i % len(cases)] for i in range(limit)]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=1000)
    ap.add_argument("--docs", type=int, default=10_000)
    ap.add_argument("--model-samples", type=int, default=5, help="real-model calls to time (0 = skip)")
    ap.add_argument("--home", type=Path, default=REPO / ".keel" / "bench-overhead")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "pipeline_overhead.json")
    args = ap.parse_args()
    load_before = loadavg()

    cfg = load_config(
        env={}, home=args.home, today=date(2026, 11, 24), model="scripted", embedding_cache_dir=REPO / ".keel" / "index"
    )
    db = open_database(cfg.db_url)
    demo = load_folder(DEMO_DIR / "kb" / "v1")
    want = max(0, args.docs - len(demo))
    if store.current_version(db) is None or store.list_versions(db)[-1].doc_count != len(demo) + want:
        store.publish_documents(db, demo + synthetic_docs(want), note=f"benchmark KB, {args.docs} docs")
    version = store.current_version(db)
    rt = open_runtime(cfg, model=ScriptedModel(), db=db)
    console.print(f"KB version {version}: {store.list_versions(db)[-1].doc_count} documents; embedding (cached)…")
    t0 = time.perf_counter()
    with console.status("building the index (embeddings are cached for later runs)"):
        rt.indexes.get(version or 0)
    console.print(f"index ready in {time.perf_counter() - t0:.1f}s")

    messages = suite_messages(args.messages)
    for text, user in messages[:20]:  # warm-up: first calls load lexicons and caches
        handle_message(rt, MessageRequest(conversation_id=f"warm-{random.random()}", text=text, user_id=user))
    overhead: list[float] = []
    model_ms: list[float] = []
    stages: dict[str, list[float]] = {}
    for i, (text, user) in enumerate(track(messages, description="messages", console=console)):
        r = handle_message(rt, MessageRequest(conversation_id=f"bench-{i}", text=text, user_id=user))
        m = r.stage_ms.get("model", 0.0)
        model_ms.append(m)
        overhead.append(r.latency_ms - m)
        for k, v in r.stage_ms.items():
            stages.setdefault(k, []).append(v)

    real_ms: list[float] = []
    if args.model_samples:
        from keel.online.model.registry import build_backend

        backend = build_backend(cfg, "local:" + str(REPO / ".keel" / "models" / "qwen2.5-coder-0.5b-instruct"))
        rt_real = open_runtime(cfg, model=backend, db=db)
        grounded = [m for m in messages if m[0].startswith(("电子发票", "How", "退款", "What"))] or messages
        for i, (text, user) in enumerate(
            track(grounded[: args.model_samples + 1], description="real model", console=console)
        ):
            r = handle_message(rt_real, MessageRequest(conversation_id=f"real-{i}", text=text, user_id=user))
            if i and "model" in r.stage_ms:  # the first call also loads the weights
                real_ms.append(r.stage_ms["model"])

    p50, p99 = pct(overhead, 50), pct(overhead, 99)
    result = {
        "machine": machine(load_before),
        "messages": len(overhead),
        "kb_documents": store.list_versions(db)[-1].doc_count,
        "overhead_ms": {
            "p50": round(p50, 2),
            "p90": round(pct(overhead, 90), 2),
            "p99": round(p99, 2),
            "mean": round(statistics.mean(overhead), 2),
        },
        "stage_ms_p50": {k: round(pct(v, 50), 3) for k, v in stages.items()},
        "real_model_call_ms_median": round(statistics.median(real_ms), 1) if real_ms else None,
    }
    if real_ms:
        result["overhead_p50_share_of_model_call"] = round(p50 / statistics.median(real_ms), 5)
        result["overhead_p99_share_of_model_call"] = round(p99 / statistics.median(real_ms), 5)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    console.print_json(json.dumps(result))
    ok = p99 < 20 and (not real_ms or p50 / statistics.median(real_ms) < 0.02)
    console.print(f"target (p99 < 20 ms, overhead < 2% of a model call): {'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
