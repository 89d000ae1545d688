"""The router's offline loop: audit routes become examples, train writes a manifest of its inputs,
eval keeps its report beside the router, and the gate stops a router that reads person messages worse.

The banks are small and built in code from Keel's own generic banks (40 examples per class to train,
20 per class of the second author's bank to test), so each training takes a second or two.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from typer.testing import CliRunner

from keel.audit.needs import exchange_needs
from keel.cli.main import app
from keel.config import DEMO_DIR
from keel.errors import InvalidInput
from keel.eval.router_gate import RouterGatePolicy, gate_router
from keel.manifest import InputRole, Manifest, ManifestKind, RouterDetails, read_manifest
from keel.online.router import banks as banks_module
from keel.online.router.banks import GENERIC_BANK_DIR, Need, dedup_key
from keel.online.router.evaluate import Rate, read_report

runner = CliRunner()


def _sample(path: Path, per_need: int) -> list[dict[str, str]]:
    taken: dict[str, int] = defaultdict(int)
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if taken[row["need"]] < per_need:
            taken[row["need"]] += 1
            out.append({k: row[k] for k in ("text", "need", "lang")})
    return out


def _write(path: Path, rows: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def home(tmp_path: Path, embedding_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A Keel home whose router learns from one small bank (Keel's generic banks are left out)."""
    monkeypatch.setenv("KEEL_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(banks_module, "generic_banks", lambda: ())
    base = _sample(GENERIC_BANK_DIR / "generic.jsonl", 40)
    _write(tmp_path / "base.jsonl", base)
    _write(tmp_path / "broken.jsonl", [{**r, "need": "question"} if r["need"] == "person" else r for r in base])
    more = [r for r in _sample(GENERIC_BANK_DIR / "generic.jsonl", 50) if r not in base and r["need"] == "question"]
    _write(tmp_path / "more.jsonl", base + more)
    _write(tmp_path / "test.jsonl", _sample(GENERIC_BANK_DIR / "generic-2.jsonl", 20))
    (tmp_path / "keel.yaml").write_text(f"embedding_cache_dir: {embedding_cache}\n")
    use_bank(tmp_path, "base.jsonl")
    return tmp_path


def use_bank(folder: Path, name: str) -> None:
    """Point the home's router at another bank (keel.yaml's first line keeps the shared embedding cache)."""
    cache = (folder / "keel.yaml").read_text().splitlines()[0]
    (folder / "keel.yaml").write_text(f"{cache}\nrouter:\n  banks: [{folder / name}]\n")


def keel(*args: str) -> tuple[int, str]:
    """Exit code and output, its whitespace collapsed (rich wraps long lines)."""
    r = runner.invoke(app, list(args))
    return r.exit_code, " ".join(r.output.split())


def manifest(home: Path) -> Manifest:
    return read_manifest(home / "home" / "router" / "manifest.json", ManifestKind.ROUTER)


def fingerprint(home: Path) -> str:
    return manifest(home).details_as(RouterDetails).fingerprint


# ---------------------------------------------------------------- train and eval write their inputs down
def test_train_writes_a_manifest_of_its_inputs(home: Path) -> None:
    _write(home / "people.jsonl", [{"text": "can a real person look at my case", "need": "person", "lang": "en"}])
    assert keel("router", "add", str(home / "people.jsonl"))[0] == 0
    code, out = keel("router", "train", "--no-cv")
    assert code == 0, out
    man = manifest(home)
    details = man.details_as(RouterDetails)
    base, learned = details.banks
    base_file, learned_file = man.inputs
    assert base.path == base_file.path == str(home / "base.jsonl")
    assert learned.path == learned_file.path and learned_file.path.endswith("router/learned.jsonl")
    assert {base_file.role, learned_file.role} == {InputRole.BANK}
    assert base_file.sha256 == hashlib.sha256((home / "base.jsonl").read_bytes()).hexdigest()
    assert base.examples == 320 and base.by_need == {n.value: 40 for n in Need}
    assert base.by_source == {"base.jsonl": 320}
    assert learned.by_need == {"person": 1} and learned.by_source == {"learned:people.jsonl": 1}
    assert details.by_need["person"] == 41 and details.by_source == {"base.jsonl": 320, "learned:people.jsonl": 1}
    assert details.embedder and len(man.config_hash) == 64 and details.examples == 321
    assert man.config["router"] and man.created_at.tzinfo is not None


def test_an_older_router_manifest_still_loads_and_a_damaged_one_says_to_retrain(home: Path) -> None:
    from keel.online.router.store import load_saved

    assert keel("router", "train", "--no-cv")[0] == 0
    folder = home / "home" / "router"
    new = manifest(home)
    details = new.details_as(RouterDetails)
    old = {  # the layout keel wrote before the one manifest model
        "kind": "router",
        "keel_version": "0.9.0",
        "created_at": new.created_at.isoformat(),
        "bank_hash": details.bank_hash,
        "banks": [{**b.model_dump(), "sha256": i.sha256} for b, i in zip(details.banks, new.inputs, strict=True)],
        "examples": details.examples,
        "by_need": details.by_need,
        "by_source": details.by_source,
        "embedder": details.embedder,
        "config_hash": "c" * 64,
        "seed": 0,
        "train_s": 1.5,
    }
    (folder / "manifest.json").write_text(json.dumps(old))
    saved = load_saved(folder)
    assert saved is not None and saved.fingerprint == details.fingerprint and saved.manifest.config_hash == "c" * 64
    assert saved.details.banks == details.banks and saved.manifest.inputs[0].sha256 == new.inputs[0].sha256
    (folder / "manifest.json").write_text(json.dumps({"kind": "router", "bank_hash": 3}))
    with pytest.raises(InvalidInput, match="keel router train"):
        load_saved(folder)
    code, out = keel("router", "gate", "test.jsonl")
    assert code == 2 and "manifest.json" in out and "keel router train" in out


def test_eval_keeps_its_report_beside_the_router(home: Path) -> None:
    assert keel("router", "train", "--no-cv")[0] == 0
    code, out = keel("router", "eval", "test.jsonl", "--out", "elsewhere.json")
    assert code == 0, out
    kept = home / "home" / "router" / "eval-test.json"
    assert kept.read_text() == (home / "elsewhere.json").read_text()
    report = read_report(kept)
    assert report.router == fingerprint(home) and report.examples == 160
    assert report.bank_sha256 == hashlib.sha256((home / "test.jsonl").read_bytes()).hexdigest()
    assert report.router_config_hash == manifest(home).config_hash
    assert set(report.by_need) == {n.value for n in Need}


# ---------------------------------------------------------------- the gate
def test_the_gate_stops_a_router_trained_on_a_broken_bank(home: Path) -> None:
    assert keel("router", "train", "--no-cv")[0] == 0
    before = manifest(home)
    code, out = keel("router", "gate", "test.jsonl")
    assert code == 0 and "nothing to gate" in out
    use_bank(home, "broken.jsonl")  # every person example relabelled as a question
    code, out = keel("router", "gate", "test.jsonl", "--accept")
    assert code == 1, out
    assert "GATE FAILED" in out and "person:" in out and "below the current router's interval" in out
    verdict = json.loads((home / "home" / "router" / "gate.json").read_text())
    assert verdict["accepted"] is False and not verdict["unchanged"]
    person = next(c for v in verdict["verdicts"] for c in v["checks"] if c["need"] == "person")
    assert not person["passed"] and person["candidate"]["accuracy"] < person["current"]["low"]
    assert manifest(home) == before  # refused: the router in force stays
    router_dir, kept = home / "home" / "router", before.details_as(RouterDetails).fingerprint
    assert read_report(router_dir / "eval-test.json").router == kept
    assert read_report(router_dir / "candidate" / "eval-test.json").router != kept


def test_the_gate_passes_and_accepts_a_router_that_is_not_worse(home: Path) -> None:
    assert keel("router", "train", "--no-cv")[0] == 0
    before = manifest(home)
    use_bank(home, "more.jsonl")  # ten more questions
    code, out = keel("router", "gate", "test.jsonl", "--accept")
    assert code == 0 and "GATE PASSED" in out and "saved as the router" in out, out
    assert fingerprint(home) != before.details_as(RouterDetails).fingerprint
    assert read_report(home / "home" / "router" / "eval-test.json").router == fingerprint(home)


def test_the_gate_needs_a_saved_router(home: Path) -> None:
    code, out = keel("router", "gate", "test.jsonl")
    assert code == 2 and "keel router train" in out


def _rate(correct: int, n: int = 100) -> Rate:
    from keel.eval.stats import wilson

    lo, hi = wilson(correct, n)
    return Rate(n=n, correct=correct, accuracy=correct / n, low=round(lo, 4), high=round(hi, 4))


def _report(person: int, bank_sha: str = "b" * 64):
    from keel.online.router.evaluate import RouterEval

    rates = {n.value: _rate(90) for n in Need} | {"person": _rate(person)}
    return RouterEval(bank="h.jsonl", bank_sha256=bank_sha, router=f"r{person}", router_config_hash="c",
                      created_at="2026-12-01T00:00:00+00:00", examples=800, overall=_rate(90), by_need=rates,
                      by_lang={}, by_style={}, confusion={}, ece=0.0, gray_rate=0.0, errors=())


def test_the_gate_refuses_below_the_interval_and_warns_inside_it() -> None:
    current = _report(90)  # person 0.90 [0.826, 0.945]
    inside = gate_router(_report(83), current)
    assert inside.passed and next(c for c in inside.checks if c.need is Need.PERSON).worse
    below = gate_router(_report(82), current)
    assert not below.passed and [c.need for c in below.checks if not c.passed] == [Need.PERSON]
    assert gate_router(_report(82), current, RouterGatePolicy(tolerance=0.01)).passed
    assert gate_router(_report(50), current, RouterGatePolicy(needs=(Need.UNSAFE,))).passed  # not gated
    with pytest.raises(InvalidInput, match="different banks"):
        gate_router(_report(90, bank_sha="a" * 64), current)


# ---------------------------------------------------------------- audit routes become examples
@pytest.fixture
def audit_run(tmp_path: Path, embedding_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KEEL_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "keel.yaml").write_text(f"embedding_cache_dir: {embedding_cache}\n")
    assert keel("kb", "publish", str(DEMO_DIR / "kb" / "v1"))[0] == 0
    assert keel("audit", "generate", "gen.jsonl", "--dialogs", "400", "--seed", "3")[0] == 0
    code, out = keel("audit", "run", "gen.jsonl", "--kb-version", "1", "--out", str(tmp_path / "run"), "--no-embed")
    assert code == 0, out
    return tmp_path / "run"


def _expected(label: dict) -> Need:
    """What the generator planted in a dialog's first substantive exchange."""
    if label["scenario"] in ("soothing-only", "soothe-and-resolve"):
        return Need.COMPLAINT
    if label["scenario"] == "state":
        return Need.ACCOUNT
    return Need.PERSON if label["topic"] == "human-agent" else Need.QUESTION


def test_audit_routes_read_as_needs_match_what_the_generator_planted(audit_run: Path) -> None:
    from keel.audit.exchange import is_substantive

    labels = {(r := json.loads(x))["id"]: r for x in (audit_run.parent / "gen.labels.jsonl").read_text().splitlines()}
    first: dict[str, tuple[Need, Need | None]] = {}
    chitchat = Counter()
    for got in exchange_needs(audit_run):
        if not is_substantive(got.text):
            chitchat[got.need] += 1
        elif got.dialog_id not in first:
            first[got.dialog_id] = (_expected(labels[got.dialog_id]), got.need)
    assert chitchat and set(chitchat) == {Need.CHITCHAT}
    for need in (Need.ACCOUNT, Need.COMPLAINT, Need.PERSON, Need.QUESTION):
        labelled = [exp for exp, got in first.values() if got is need]
        assert len(labelled) >= 5, need
        assert sum(exp is need for exp in labelled) / len(labelled) >= 0.95, need  # precision
    assert any(got is None for _, got in first.values())  # the ambiguous ones are left out


def test_router_add_from_audit_dry_run_then_add_once(audit_run: Path) -> None:
    learned = audit_run.parent / "home" / "router" / "learned.jsonl"
    code, out = keel("router", "add", "--from-audit", str(audit_run), "--dry-run")
    assert code == 0, out
    assert "dry run: nothing added" in out and not learned.exists()
    for need in ("account", "complaint", "person", "question", "chitchat"):
        assert need in out
    code, out = keel("router", "add", "--from-audit", str(audit_run))
    assert code == 0 and "new example(s)" in out
    rows = [json.loads(x) for x in learned.read_text(encoding="utf-8").splitlines()]
    assert rows and {r["source"] for r in rows} == {"audit:run"}
    by_text = {r["text"]: r["need"] for r in rows}
    own = ("my order", "my ticket", "my parcel", "my refund", "我的订单", "我的工单", "我的包裹", "我的退款")
    assert any(n == "account" and any(o in t for o in own) for t, n in by_text.items())
    asks = ("真人", "转人工", "human agent", "real person")
    assert any(n == "person" and any(a in t for a in asks) for t, n in by_text.items())
    assert len({dedup_key(t) for t in by_text}) == len(rows)  # order numbers aside, one example per phrasing
    code, out = keel("router", "add", "--from-audit", str(audit_run))
    assert code == 0 and "0 new example(s)" in out
    assert keel("router", "add", "--from-audit", str(audit_run.parent / "nope"))[0] == 2
    assert keel("router", "add")[0] == 2  # a file or --from-audit
