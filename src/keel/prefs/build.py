"""``keel prefs build``: n candidates per prompt, judged by the rule judge, written as pairs."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from keel.config import KeelConfig
from keel.domain import Action, ChatMessage, Frozen, Lang
from keel.errors import InvalidInput
from keel.manifest import InputFile, InputRole, Manifest, ModelRef, PrefsDetails
from keel.online.kb.store import list_versions, resolve_version
from keel.online.model.base import GenerationRequest, ModelBackend
from keel.online.model.parse import parse_structured, reply_schema
from keel.online.prompt import pipeline_messages
from keel.online.runtime import Runtime
from keel.prefs.judge import Expectation, Scored, expect, score
from keel.prefs.prompts import PrefPrompt, read_prompts
from keel.sharegpt import TAGS, dpo_rows

CANDIDATES = "candidates.jsonl"
PAIRS = "pairs.jsonl"
MIN_MARGIN = 2.0
TOP_P = 0.95  # nucleus sampling of the candidates
RULE_JUDGE_NAME = "rule (Keel decision engine + behaviour judge + output guard)"


class BuildSummary(Frozen):
    out_dir: Path
    prompts: int
    pairs: int
    undecided: int
    resumed: int


def _messages_json(messages: tuple[ChatMessage, ...]) -> list[dict[str, str]]:
    return [{"role": m.role.value, "content": m.content} for m in messages]


def _reference(rt: Runtime, p: PrefPrompt, e: Expectation) -> tuple[str, str] | None:
    """Keel's own wording for the expected behaviour: the rule's reply, or a template."""
    if e.rule_reply:
        return e.rule_reply, "rule"
    soothe = rt.rules.template("soothe", p.lang) + ("" if p.lang is Lang.ZH else " ") if e.soothe else ""
    if Action.ANSWER in e.actions:
        if not e.passages:
            return None
        top = e.passages[0]
        return soothe + rt.rules.template("extractive", p.lang, title=top.title, text=top.text[:300]), "template"
    name = "handoff" if Action.HANDOFF in e.actions and Action.CLARIFY not in e.actions else e.actions[0].value
    return soothe + rt.rules.template(name, p.lang), "template"


_LABEL = re.compile(r"(?:ACTION|动作)\s*[:：]\s*\**\s*([A-Za-z_\u4e00-\u9fff]+)", re.I)
_VALID = {"answer", "clarify", "refuse", "handoff"}


def well_formed(text: str, raw: str) -> bool:
    """Fit to be *chosen*: a real reply (not a stub), and no ACTION label outside the closed set."""
    if any(m.group(1).lower() not in _VALID for m in _LABEL.finditer(raw)):
        return False
    zh = sum("\u4e00" <= ch <= "\u9fff" for ch in text)
    return zh >= 6 or len(text.split()) >= 4


def decide_pair(scored: Sequence[Scored]) -> tuple[int, int] | None:
    """Best well-formed candidate vs the worst, when the best behaves as expected and the margin is clear."""
    eligible = [i for i, c in enumerate(scored) if well_formed(c.text, c.raw or c.text)]
    if not eligible:
        return None
    best = max(eligible, key=lambda i: scored[i].score)
    worst = min(range(len(scored)), key=lambda i: scored[i].score)
    if scored[best].score < 3 or scored[best].score - scored[worst].score < MIN_MARGIN:
        return None
    return best, worst


def redecide(out_dir: Path) -> tuple[int, int]:
    """Rewrite the rule judge's pairs from ``candidates.jsonl`` with the current rules; human pairs are kept."""
    items = [json.loads(x) for x in (out_dir / CANDIDATES).read_text(encoding="utf-8").splitlines() if x.strip()]
    human = []
    if (out_dir / PAIRS).exists():
        human = [
            r
            for r in (json.loads(x) for x in (out_dir / PAIRS).read_text(encoding="utf-8").splitlines() if x.strip())
            if str(r.get("judge", "")).startswith("human")
        ]
    made = 0
    with (out_dir / CANDIDATES).open("w", encoding="utf-8") as cf, (out_dir / PAIRS).open("w", encoding="utf-8") as pf:
        for item in items:
            scored = [Scored.model_validate(c) for c in item["candidates"]]
            decision = decide_pair(scored)
            item["chosen"], item["rejected"] = decision if decision else (None, None)
            cf.write(json.dumps(item, ensure_ascii=False) + "\n")
            if decision:
                pf.write(json.dumps(pair_record(item, *decision, judge="rule"), ensure_ascii=False) + "\n")
                made += 1
        for rec in human:
            pf.write(json.dumps(rec, ensure_ascii=False) + "\n")
    export_llamafactory_pairs(out_dir)
    return made, len(items) - made


def training_text(candidate: dict[str, Any]) -> str:
    """What the pair trains on: the model's own output for its samples; Keel's wording with its ACTION line."""
    return str(candidate.get("raw") or f"{candidate['text'].strip()}\nACTION: {candidate['action']}")


def pair_record(item: dict[str, Any], chosen: int, rejected: int, judge: str) -> dict[str, Any]:
    cands = item["candidates"]
    return {
        "id": item["id"],
        "prompt": item["prompt"],
        "chosen": [{"role": "assistant", "content": training_text(cands[chosen])}],
        "rejected": [{"role": "assistant", "content": training_text(cands[rejected])}],
        "judge": judge,
        "margin": round(cands[chosen]["score"] - cands[rejected]["score"], 2),
        "expected": item["expected"]["actions"],
        "lang": item["lang"],
    }


def _done_ids(cand_path: Path) -> set[str]:
    """The prompts already in the candidates file (a resumed build skips them)."""
    done: set[str] = set()
    if cand_path.exists():
        for line in cand_path.read_text(encoding="utf-8").splitlines():
            try:
                done.add(json.loads(line)["id"])
            except (ValueError, KeyError):
                continue  # a line cut by a crash is rebuilt
    return done


def _manifest(rt: Runtime, source: Path, backend: ModelBackend, version: int, config: dict[str, Any]) -> Manifest:
    kb_hash = next((v.content_hash for v in list_versions(rt.db, rt.tenant) if v.version == version), None)
    return Manifest.new(
        PrefsDetails(judge=RULE_JUDGE_NAME, rules_hash=rt.rules.content_hash),
        inputs=(
            InputFile(
                role=InputRole.PROMPTS,
                path=str(source),
                sha256=hashlib.sha256(source.read_bytes()).hexdigest() if source.exists() else None,
                size=source.stat().st_size if source.exists() else None,
            ),
        ),
        kb_version=version,
        kb_hash=kb_hash,
        model=ModelRef(name=backend.name, fingerprint=backend.fingerprint),
        config=config,
    )


def _candidates(
    cfg: KeelConfig,
    rt: Runtime,
    backend: ModelBackend,
    p: PrefPrompt,
    e: Expectation,
    messages: tuple[ChatMessage, ...],
    n: int,
    temperature: float,
) -> list[Scored]:
    """*n* samples of the model (duplicates dropped), the historical reply and Keel's own wording, scored."""
    scored: list[Scored] = []
    seen: set[str] = set()
    for s in range(n):
        gen = backend.generate(
            GenerationRequest(
                messages=messages,
                max_new_tokens=cfg.generation.max_new_tokens,
                temperature=temperature,
                top_p=TOP_P,
                seed=s,
                timeout_s=max(cfg.generation.timeout_s, 900.0),
                json_schema=reply_schema(len(e.passages)),
            )
        )
        raw = gen.text.strip()
        if raw in seen:
            continue
        seen.add(raw)
        parsed = parse_structured(raw, tuple(x.doc_id for x in e.passages), p.message)
        scored.append(score(parsed.reply if parsed.ok else "", "model", p, e, raw=raw))
    if p.historical not in seen:
        seen.add(p.historical)
        scored.append(score(p.historical, "historical", p, e))
    ref = _reference(rt, p, e)
    if ref and ref[0] not in seen:
        scored.append(score(ref[0], ref[1], p, e, action=e.actions[0]))
    return scored


def build_prefs(
    cfg: KeelConfig,
    rt: Runtime,
    source: Path,
    out_dir: Path,
    *,
    n: int = 3,
    temperature: float = 0.8,
    limit: int | None = None,
    kb_version: int | None = None,
    today: date | None = None,
    backend: ModelBackend | None = None,
    progress: Callable[[int, int | None], None] | None = None,
) -> BuildSummary:
    if n < 1:
        raise InvalidInput("--n must be at least 1")
    backend = backend or rt.model
    version = resolve_version(rt.db, kb_version, rt.tenant)
    day = today or cfg.today or date.today()
    out_dir.mkdir(parents=True, exist_ok=True)
    cand_path, pairs_path = out_dir / CANDIDATES, out_dir / PAIRS
    done = _done_ids(cand_path)
    config = {
        "n": n,
        "temperature": temperature,
        "top_p": TOP_P,
        "max_new_tokens": cfg.generation.max_new_tokens,
        "limit": limit,
        "today": day.isoformat(),
    }
    _manifest(rt, source, backend, version, config).write(out_dir / "manifest.json")
    prompts = list(read_prompts(source, limit))
    made = undecided = 0
    with cand_path.open("a", encoding="utf-8") as cf, pairs_path.open("a", encoding="utf-8") as pf:
        for i, p in enumerate(prompts, 1):
            if p.id in done:
                continue
            e = expect(rt, p, version, day)
            messages = pipeline_messages(
                brand_en=cfg.brand_en,
                brand_zh=cfg.brand_zh,
                lang=p.lang,
                passages=e.passages,
                state_facts="",
                constraints=e.forbid,
                soothe=e.soothe,
                history=p.history,
                message=p.message,
            )
            scored = _candidates(cfg, rt, backend, p, e, messages, n, temperature)
            item: dict[str, Any] = {
                "id": p.id,
                "lang": p.lang.value,
                "findings": list(p.findings),
                "prompt": _messages_json(messages[:1]) + _messages_json(messages[1:]),
                "expected": {"actions": [a.value for a in e.actions], "soothe": e.soothe, "why": e.why},
                "candidates": [c.model_dump(mode="json") for c in scored],
            }
            decision = decide_pair(scored)
            item["chosen"], item["rejected"] = decision if decision else (None, None)
            cf.write(json.dumps(item, ensure_ascii=False) + "\n")
            cf.flush()
            if decision:
                pf.write(json.dumps(pair_record(item, *decision, judge="rule"), ensure_ascii=False) + "\n")
                pf.flush()
                made += 1
            else:
                undecided += 1
            if progress:
                progress(i, len(prompts))
    export_llamafactory_pairs(out_dir)
    return BuildSummary(out_dir=out_dir, prompts=len(prompts), pairs=made, undecided=undecided, resumed=len(done))


def export_llamafactory_pairs(out_dir: Path) -> int:
    """``pairs.llamafactory.json`` + ``dataset_info.json`` beside the TRL pairs (same data, its format)."""
    rows = (
        [json.loads(x) for x in (out_dir / PAIRS).read_text(encoding="utf-8").splitlines() if x.strip()]
        if (out_dir / PAIRS).exists()
        else []
    )
    lf, _ = dpo_rows(rows)
    (out_dir / "pairs.llamafactory.json").write_text(json.dumps(lf, ensure_ascii=False, indent=1), encoding="utf-8")
    info = {
        "keel_pairs": {
            "file_name": "pairs.llamafactory.json",
            "formatting": "sharegpt",
            "ranking": True,
            "columns": {"messages": "conversations", "system": "system", "chosen": "chosen", "rejected": "rejected"},
            "tags": dict(TAGS),
        }
    }
    (out_dir / "dataset_info.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
    return len(lf)
