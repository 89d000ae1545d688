"""Typed, frozen configuration, validated when built and read once at the edge (CLI / API).

Sources, later wins: built-in defaults < ``keel.yaml`` (or ``--config FILE``) < ``KEEL_*``
environment variables. Library code receives a :class:`KeelConfig`; it never reads the
environment itself.
"""

from __future__ import annotations

import os
from datetime import date
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from keel.business import Business, load_business, parse_business
from keel.errors import ConfigError
from keel.yamlio import load_yaml

DEMO_DIR = Path(str(resources.files("keel") / "demo"))
EXAMPLES_DIR = Path(str(resources.files("keel") / "examples"))
BUSINESS_FILE = "business.yaml"
#: customer files a business folder may hold, looked for in this order (the sqlite state is seeded from it)
CUSTOMER_FILES = ("users.json", "customers.json")


@lru_cache(maxsize=8)
def _business_at(path: Path, mtime: float) -> Business:
    return load_business(path)


def read_business(path: Path) -> Business:
    """The business file at *path*, read once per change of the file."""
    try:
        mtime = path.stat().st_mtime
    except OSError:
        raise ConfigError(f"business file not found: {path}") from None
    return _business_at(path, mtime)


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RetrievalConfig(_Section):
    """Fusion weights and factors were chosen on the dev half of the suite's gold-labelled cases
    (`keel eval retrieval --tune`) and are reported on the other half (README, "Retrieval")."""

    top_k: int = Field(3, ge=1, le=20, description="passages given to the model")
    excerpt_tokens: int = Field(
        70,
        ge=10,
        description="about how many tokens of each passage the model reads: its best-matching paragraphs (twice "
        "this for the first passage); the prompt after the static prefix is what each reply pays for",
    )
    candidates: int = Field(20, ge=1, le=200, description="candidates per retriever before fusion")
    rrf_k: int = Field(5, ge=1, description="reciprocal-rank-fusion constant")
    dense_weight: float = Field(1.0, ge=0.0, description="weight of the embedding ranking in the fusion")
    lexical_weight: float = Field(0.5, ge=0.0, description="weight of the BM25 ranking in the fusion")
    title_dense_weight: float = Field(
        0.5, ge=0.0, description="weight of the embedding ranking of the heading field (title, questions, tags)"
    )
    title_lexical_weight: float = Field(0.5, ge=0.0, description="weight of the BM25 ranking of the heading field")
    chunk_dense_weight: float = Field(
        0.0, ge=0.0, description="weight of the ranking by each document's best-matching paragraph (embeddings)"
    )
    region_boost: float = Field(
        1.3, ge=1.0, description="fused-score factor for documents scoped to the customer's own region"
    )
    out_of_window_factor: float = Field(
        0.8,
        ge=0.0,
        le=1.0,
        description="fused-score factor for documents outside their validity window (ended / "
        "not started): still findable, ranked below what is in force",
    )
    out_of_region_factor: float = Field(
        1.0,
        ge=0.0,
        le=1.0,
        description="fused-score factor for documents scoped to other regions than the "
        "customer's: findable ('is Black Friday on for Shanghai?'), ranked below, marked as not applying",
    )
    min_support: float = Field(
        0.84,
        ge=0.0,
        le=1.0,
        description="e5 cosine of the best passage from which a question counts as grounded in the KB "
        "when that passage also shares a term with it",
    )
    strong_support: float = Field(
        0.88, ge=0.0, le=1.0, description="e5 cosine from which a question counts as grounded on its own"
    )


class DecisionConfig(_Section):
    complaint_handoff_threshold: int = Field(
        3, ge=1, description="complaints in the last 90 days from which every message goes to a human"
    )
    risk_handoff_levels: tuple[str, ...] = Field(
        ("high",), description="account risk levels whose money/refund/account topics go to a human"
    )
    min_confidence: float = Field(
        0.0, ge=0.0, le=1.0, description="model action confidence below which an answer becomes a handoff"
    )


class GenerationConfig(_Section):
    max_new_tokens: int = Field(120, ge=8, le=2048)
    temperature: float = Field(0.0, ge=0.0, le=2.0, description="0 = greedy")
    top_p: float = Field(0.9, gt=0.0, le=1.0)
    timeout_s: float = Field(120.0, gt=0.0, description="a model call slower than this is a failure")
    seed: int = 0
    threads: int = Field(
        1,
        ge=0,
        description="generation threads (llama.cpp and torch); 0 = all cores. 1 is the safe default on a shared "
        "machine; 2 runs with OMP_WAIT_POLICY=PASSIVE",
    )
    batch_threads: int = Field(
        2,
        ge=1,
        description="llama.cpp threads for evaluating the prompt (prefill); waiting threads sleep "
        "(OMP_WAIT_POLICY=PASSIVE), so 2 is safe on a busy 2-core machine",
    )
    engine: Literal["llamacpp", "transformers"] = Field(
        "transformers",
        description="engine for fine-tuned checkpoints (ckpt:NAME): llama.cpp with a GGUF LoRA, or transformers",
    )


class RouterConfig(_Section):
    banks: tuple[Path, ...] = Field(
        (),
        description="example banks the router learns from, after Keel's generic bank; default: the business "
        "folder's router_bank.jsonl (<home>/router/learned.jsonl, what the offline loop added, always comes last)",
    )
    thresholds: dict[str, float] = Field(
        default_factory=lambda: {"unsafe": 0.5, "override": 0.5, "person": 0.45, "complaint": 0.45},
        description="probability from which a message counts as unsafe / override / person / complaint "
        "(checked in that order, before the most probable class)",
    )
    stop_thresholds: dict[str, float] = Field(
        default_factory=lambda: {"unsafe": 0.75, "override": 0.7},
        description="probability from which an unsafe / override message is refused outright; between its "
        "threshold and this it takes the careful path: grounded answers only, no other person's data, no "
        "internal information",
    )
    out_of_scope_threshold: float = Field(
        0.55,
        ge=0.0,
        le=1.0,
        description="probability from which a message is declined as outside the business "
        "(below: answered only if the KB supports it)",
    )
    clause_threshold: float = Field(
        0.7, ge=0.0, le=1.0, description="the same for one sentence of a longer message (stricter: less context)"
    )
    min_confidence: float = Field(
        0.45, ge=0.0, le=1.0, description="a top probability below this is a gray route (never a guess)"
    )
    enabled: bool = Field(True, description="False: rules, state and grounding only (for comparisons)")


class LimitsConfig(_Section):
    max_message_chars: int = Field(20_000, ge=1, description="longer customer messages are rejected")
    max_history_turns: int = Field(12, ge=0, description="earlier messages given to the model")


class KBSource(_Section):
    """A knowledge-base folder that `keel setup` publishes into an empty knowledge base."""

    folder: Path = Field(description="folder of Markdown (front matter) or YAML documents")
    overlay: bool = Field(False, description="lay the documents over the version before (changed documents only)")
    note: str = Field("", description="what this version is")


def _kb_sources(folder: Path) -> tuple[KBSource, ...]:
    """The business folder's ``kb/``: its sub-folders in name order (v1 full, later ones overlays), or itself."""
    kb = folder / "kb"
    if not kb.is_dir():
        return ()
    subs = sorted(p for p in kb.iterdir() if p.is_dir())
    if not subs:
        return (KBSource(folder=kb),)
    return tuple(KBSource(folder=p, overlay=i > 0, note=f"{p.name} ({kb})") for i, p in enumerate(subs))


class KeelConfig(_Section):
    """Everything a Keel process needs to know, validated once.

    The business (``business:`` → its ``business.yaml``) is read here, once: its folder supplies the
    defaults of the rules file, the seed customers, the router bank, the KB folders and the eval suite,
    so a business folder made by ``keel init`` needs no other setting.
    """

    business: Business = Field(
        description="the business's own file (business.yaml: brand, regions, statuses, memberships, facts); "
        "default: the demo shop"
    )

    home: Path = Field(Path(".keel"), description="folder for databases, indexes, model cache, runs")
    database_url: str | None = Field(None, description="SQLAlchemy URL; default sqlite:///<home>/keel.sqlite")
    model: str = Field(
        "local",
        description="model backend spec: local (the default packaged model on llama.cpp) | local:1.5b | local:0.5b | "
        "local:FILE.gguf | local:DIR (HF folder, transformers) | hf[:DIR] | ckpt:NAME | openai:URL[#MODEL] | "
        "scripted[:FILE]",
    )
    rules_path: Path = Field(
        description="red-line rules YAML (with topics and templates); default <business>/rules.yaml"
    )
    state: str = Field("sqlite", description="state provider: sqlite[:FILE] | json:FILE | http(s)://URL")
    customers: Path | None = Field(
        None,
        description="customer file an empty sqlite state store is seeded from; default <business>/users.json "
        "(or customers.json)",
    )
    kb_sources: tuple[KBSource, ...] = Field(
        description="KB folders `keel setup` publishes into an empty knowledge base, in order; default the "
        "business folder's kb/ sub-folders (the first a full version, the others overlays)",
    )
    eval_suite: Path = Field(
        description="the behaviour eval suite (`keel eval run`); default <business>/evals/suite, else evals/suite"
    )
    kb_version: int | None = Field(None, description="pin retrieval to this KB version; None = current")
    embedding_cache_dir: Path | None = Field(
        None, description="where passage embeddings are cached (shared by KB versions); default <home>/index"
    )
    today: date | None = Field(None, description="override today's date (reproducible evals and demos)")
    default_lang: str = Field(
        pattern="^(zh|en)$", description="language when a message has no letters; default the business's"
    )
    api_auth: Literal["required", "off"] = Field(
        "required",
        description="'required': every /v1 call needs an API key (Authorization: Bearer or X-API-Key), whose "
        "tenant scopes it; 'off': no key, everything is the default tenant (a single-tenant box behind your own "
        "gateway, tests)",
    )
    retrieval: RetrievalConfig = RetrievalConfig()
    decision: DecisionConfig = DecisionConfig()
    generation: GenerationConfig = GenerationConfig()
    router: RouterConfig = RouterConfig()
    limits: LimitsConfig = LimitsConfig()

    @model_validator(mode="before")
    @classmethod
    def _from_business(cls, data: Any) -> Any:
        """Read the business file, then fill the defaults that come from its folder."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        business = _business(data.get("business"))
        data["business"] = business
        folder = business.folder or DEMO_DIR
        if data.get("rules_path") is None:
            data["rules_path"] = folder / "rules.yaml"
        if data.get("default_lang") is None:
            data["default_lang"] = business.default_lang.value
        if "customers" not in data:
            data["customers"] = next((folder / f for f in CUSTOMER_FILES if (folder / f).exists()), None)
        if data.get("kb_sources") is None:
            data["kb_sources"] = _kb_sources(folder)
        if data.get("eval_suite") is None:
            own = folder / "evals" / "suite"
            data["eval_suite"] = own if own.is_dir() else Path("evals/suite")
        return data

    @field_validator("home", "rules_path")
    @classmethod
    def _expand(cls, v: Path) -> Path:
        return Path(os.path.expanduser(str(v)))

    @property
    def brand_en(self) -> str:
        """The business's name in English prompts and templates."""
        return self.business.name.en

    @property
    def brand_zh(self) -> str:
        """The business's name in Chinese prompts and templates."""
        return self.business.name.zh

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'keel.sqlite'}"

    @property
    def model_cache(self) -> Path:
        return self.home / "models"

    @property
    def index_dir(self) -> Path:
        return self.embedding_cache_dir or self.home / "index"

    @property
    def router_dir(self) -> Path:
        return self.home / "router"

    @property
    def router_banks(self) -> tuple[Path, ...]:
        from keel.online.router.banks import generic_banks

        folder = self.business.folder or DEMO_DIR
        own = self.router.banks or tuple(p for p in (folder / "router_bank.jsonl",) if p.exists())
        return (*generic_banks(), *own, self.router_dir / "learned.jsonl")

    @property
    def runs_dir(self) -> Path:
        return self.home / "runs"

    def with_overrides(self, **changes: Any) -> KeelConfig:
        """A new validated config with some top-level fields replaced."""
        data = self.model_dump()
        data.update({k: v for k, v in changes.items() if v is not None})
        return build_config(data)


_ENV = {
    "KEEL_HOME": "home",
    "KEEL_DATABASE_URL": "database_url",
    "KEEL_MODEL": "model",
    "KEEL_RULES": "rules_path",
    "KEEL_BUSINESS": "business",
    "KEEL_STATE": "state",
    "KEEL_KB_VERSION": "kb_version",
    "KEEL_TODAY": "today",
    "KEEL_API_AUTH": "api_auth",
}


def _business(raw: Any) -> Business:
    if raw is None:
        return read_business(DEMO_DIR / BUSINESS_FILE)
    if isinstance(raw, Business):
        return raw
    if isinstance(raw, dict):  # a dumped config read back (`keel serve` workers)
        return parse_business(raw, "business")
    if isinstance(raw, str | Path):
        path = Path(os.path.expanduser(str(raw)))
        return read_business(path / BUSINESS_FILE if path.is_dir() else path)
    raise ConfigError(f"business: expected the path of a business.yaml, got {raw!r}")


#: settings holding a path: relative ones in a config file are read from the file's folder
_PATH_KEYS = ("home", "business", "rules_path", "customers", "embedding_cache_dir", "eval_suite")


def _relative_to(data: dict[str, Any], base: Path) -> dict[str, Any]:
    """Resolve the relative paths of a config file against its folder (so `--config DIR/keel.yaml` works anywhere)."""

    def fix(value: Any) -> Any:
        if isinstance(value, str | Path) and str(value) and not Path(os.path.expanduser(str(value))).is_absolute():
            return str(base / str(value))
        return value

    data = dict(data)
    for key in _PATH_KEYS:
        if key in data and data[key] is not None:
            data[key] = fix(data[key])
    state = data.get("state")
    if isinstance(state, str):
        for prefix in ("json:", "sqlite:"):
            if state.startswith(prefix) and state != prefix:
                data["state"] = prefix + str(fix(state.removeprefix(prefix)))
    router = data.get("router")
    if isinstance(router, dict) and isinstance(router.get("banks"), list):
        data["router"] = {**router, "banks": [fix(b) for b in router["banks"]]}
    sources = data.get("kb_sources")
    if isinstance(sources, list):
        data["kb_sources"] = [
            {**s, "folder": fix(s.get("folder"))} if isinstance(s, dict) else {"folder": fix(s)} for s in sources
        ]
    return data


def build_config(data: dict[str, Any]) -> KeelConfig:
    try:
        return KeelConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'config'}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"invalid configuration: {problems}") from None


def load_config(path: Path | None = None, env: dict[str, str] | None = None, **overrides: Any) -> KeelConfig:
    """Read ``keel.yaml`` (or *path*), then ``KEEL_*`` variables, then explicit overrides."""
    env = dict(os.environ) if env is None else env
    data: dict[str, Any] = {}
    file = path or (Path("keel.yaml") if Path("keel.yaml").exists() else None)
    if file is not None:
        if not file.exists():
            raise ConfigError(f"config file not found: {file}")
        try:
            loaded = load_yaml(file.read_text(encoding="utf-8")) or {}
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{file}: not valid YAML ({exc.__class__.__name__})") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"{file}: expected a mapping at the top level")
        data.update(_relative_to(loaded, file.resolve().parent))
    for var, key in _ENV.items():
        if env.get(var):
            data[key] = env[var]
    data.update({k: v for k, v in overrides.items() if v is not None})
    return build_config(data)
