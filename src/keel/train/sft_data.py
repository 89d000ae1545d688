"""SFT examples from the audit's clean routes (FAQ SFT, style SFT), in the pipeline's own prompt."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from pathlib import Path

from keel.config import KeelConfig
from keel.domain import Frozen, Lang
from keel.errors import InvalidInput
from keel.judge import judge_reply
from keel.online.kb.retrieve import retrieve
from keel.online.kb.store import resolve_version
from keel.online.prompt import pipeline_messages
from keel.online.runtime import Runtime
from keel.prefs.prompts import read_prompts
from keel.text import normalize

SFT_ROUTES = ("faq_sft.jsonl", "style_sft.jsonl")


class SftDataSummary(Frozen):
    out: Path
    examples: int
    by_route: dict[str, int]


def build_sft_data(
    cfg: KeelConfig,
    rt: Runtime,
    datasets_dir: Path,
    out: Path,
    *,
    limit_per_route: int | None = None,
    kb_version: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> SftDataSummary:
    """Every agent turn of the clean routes becomes (pipeline prompt → the agent's reply)."""
    version = resolve_version(rt.db, kb_version)
    day = cfg.today or date.today()
    index = rt.indexes.get(version, rt.tenant)
    counts: dict[str, int] = {}
    total = 0
    seen: set[tuple[str, str]] = set()
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as f:
        for name in SFT_ROUTES:
            path = datasets_dir / name
            if not path.exists():
                raise InvalidInput(f"{path} not found: give the `datasets` folder of an audit run")
            counts[name] = 0
            for p in read_prompts(path, None, every_turn=True):
                if limit_per_route is not None and counts[name] >= limit_per_route:
                    break
                norm = normalize(p.message)
                if len(norm) <= 12 and rt.rules.topic_hit("small_talk", norm):
                    continue  # greetings and thanks teach nothing about the shop's answers
                if (norm, p.historical) in seen:
                    continue  # the same exchange many times over would only teach repetition
                seen.add((norm, p.historical))
                vec = rt.embedder.query([p.message])[0]
                found = retrieve(index, p.message, vec, lang=p.lang, region=p.region, today=day, cfg=rt.cfg.retrieval)
                messages = pipeline_messages(
                    brand_en=cfg.brand_en,
                    brand_zh=cfg.brand_zh,
                    lang=p.lang,
                    passages=found.passages,
                    state_facts="",
                    constraints=(),
                    soothe=False,
                    history=p.history,
                    message=p.message,
                )
                f.write(
                    json.dumps(
                        {
                            "id": p.id,
                            "route": name.removesuffix(".jsonl"),
                            "prompt": [{"role": m.role.value, "content": m.content} for m in messages],
                            "completion": [
                                {
                                    "role": "assistant",
                                    "content": json.dumps(
                                        {
                                            "cites": [],
                                            "reply": p.historical,
                                            "action": _action(p.historical, p.message, p.lang),
                                        },
                                        ensure_ascii=False,
                                    ),
                                }
                            ],
                        },
                        ensure_ascii=False,
                    )
                    + "\n"
                )
                counts[name] += 1
                total += 1
                if progress:
                    progress(total)
    return SftDataSummary(out=out, examples=total, by_route=counts)


def _action(reply: str, message: str, lang: Lang) -> str:
    """The action the agent's reply takes, as the ACTION line the pipeline asks the model for."""
    return judge_reply(reply, message, lang).action.value
