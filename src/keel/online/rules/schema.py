"""The rule file: its schema, and loading it (validated, example embeddings precomputed)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from keel.domain import Action, Frozen, Lang
from keel.embed import Embedder
from keel.errors import ConfigError
from keel.text import TermMatcher, normalize
from keel.yamlio import load_yaml


class Constraint(StrEnum):
    """What a rule can forbid the reply to contain; the output guard enforces each."""

    COMPENSATION_PROMISE = "compensation_promise"  # money, vouchers, gifts outside policy
    OUTCOME_GUARANTEE = "outcome_guarantee"  # "guaranteed", "definitely will"
    OTHER_PERSON_DATA = "other_person_data"  # anyone's data but the asking user's
    INTERNAL_INFO = "internal_info"  # system prompt, rules, internal notes


class MatchKind(StrEnum):
    KEYWORD = "keyword"
    ALL_OF = "all_of"
    REGEX = "regex"
    EMBEDDING = "embedding"


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Terms(_Strict):
    """Terms per language; matched as case-folded substrings of the normalised message."""

    zh: tuple[str, ...] = ()
    en: tuple[str, ...] = ()

    def all(self) -> tuple[str, ...]:
        return tuple(normalize(t) for t in (*self.zh, *self.en) if t.strip())

    def matcher(self) -> TermMatcher:
        return TermMatcher(self.all())


class Match(_Strict):
    keywords: Terms = Terms()
    all_of: tuple[Terms, ...] = Field((), description="every group must contribute one term")
    regex: tuple[str, ...] = ()
    examples: Terms = Field(Terms(), description="example messages for embedding similarity")
    threshold: float | None = Field(None, ge=0.0, le=1.0)
    unless: Terms = Field(Terms(), description="terms that cancel a hit (safe look-alikes)")

    @field_validator("regex")
    @classmethod
    def _compiles(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in v:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"bad regex {pattern!r}: {exc}") from None
        return v


class Effect(_Strict):
    action: Action | None = Field(None, description="force this action (refuse or handoff)")
    soothe: bool = False
    forbid: tuple[Constraint, ...] = ()
    forbid_topics: tuple[str, ...] = Field((), description="named `topics` the reply must not touch (guard-enforced)")
    reply: dict[Lang, str] = Field(default_factory=dict, description="fixed reply per language")

    @field_validator("action")
    @classmethod
    def _only_strict(cls, v: Action | None) -> Action | None:
        if v in (Action.ANSWER, Action.CLARIFY):
            raise ValueError("a rule can force only 'refuse' or 'handoff'")
        return v


class RuleSpec(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]{1,63}$")
    priority: int = Field(ge=0, le=1000)
    description: str = ""
    match: Match
    effect: Effect

    @model_validator(mode="after")
    def _has_matcher(self) -> RuleSpec:
        m = self.match
        if not (m.keywords.all() or m.all_of or m.regex or m.examples.all()):
            raise ValueError(f"rule {self.id!r} matches nothing (give keywords, all_of, regex or examples)")
        if self.effect.action is not None and not self.effect.reply:
            raise ValueError(f"rule {self.id!r} forces an action: give its reply in zh and en")
        return self


class RuleFile(_Strict):
    version: int = 1
    embedding_threshold: float = Field(0.92, ge=0.0, le=1.0)
    topics: dict[str, Terms] = Field(default_factory=dict, description="named term lists used by policies")
    order_id_pattern: str | None = Field(None, description="regex of the business's order ids (state checks)")
    region_terms: dict[str, Terms] = Field(
        default_factory=dict,
        description="per region of the business, the words that name it in a message (places, countries): an "
        "anonymous customer who writes 'I live in France' is served the EU documents",
    )
    templates: dict[str, dict[Lang, str]] = Field(default_factory=dict)
    rules: tuple[RuleSpec, ...]

    @model_validator(mode="after")
    def _unique(self) -> RuleFile:
        ids = [r.id for r in self.rules]
        dup = {i for i in ids if ids.count(i) > 1}
        if dup:
            raise ValueError(f"duplicate rule ids: {sorted(dup)}")
        for r in self.rules:
            unknown = [t for t in r.effect.forbid_topics if t not in self.topics]
            if unknown:
                raise ValueError(f"rule {r.id!r} forbids unknown topics {unknown} (define them under `topics:`)")
        return self


@dataclass(frozen=True)
class CompiledRule:
    spec: RuleSpec
    keywords: TermMatcher
    all_of: tuple[TermMatcher, ...]
    regex: tuple[re.Pattern[str], ...]
    unless: TermMatcher
    example_texts: tuple[str, ...]
    example_vecs: np.ndarray | None
    threshold: float


@dataclass(frozen=True)
class RuleSet:
    """Rules ordered by priority (highest first), ready to evaluate."""

    rules: tuple[CompiledRule, ...]
    topics: dict[str, TermMatcher]
    templates: dict[str, dict[Lang, str]]
    source: str
    content_hash: str
    uses_embeddings: bool = field(default=False)
    order_id: re.Pattern[str] | None = None
    regions: dict[str, TermMatcher] = field(default_factory=dict)

    def region_in(self, normalized_text: str) -> str | None:
        """The one region a message names (None when it names none or several)."""
        named = [r for r, terms in self.regions.items() if terms.find(normalized_text)]
        return named[0] if len(named) == 1 else None

    def region_named(self, texts: Sequence[str]) -> str | None:
        """The region the customer's messages name, the latest message first."""
        for text in reversed(texts):
            region = self.region_in(normalize(text))
            if region:
                return region
        return None

    def fixed_wording(self) -> str:
        """Every template in every language: the business's own words, which a reply may use freely."""
        return "\n".join(text for texts in self.templates.values() for text in texts.values())

    def template(self, name: str, lang: Lang, **values: Any) -> str:
        texts = self.templates.get(name)
        if not texts:
            raise ConfigError(f"rules file has no template {name!r}")
        text = texts.get(lang) or next(iter(texts.values()))
        return text.format(**values) if values else text

    def topic_hit(self, topic: str, normalized_text: str) -> str | None:
        matcher = self.topics.get(topic)
        return matcher.find(normalized_text) if matcher else None


class RuleHit(Frozen):
    rule_id: str
    priority: int
    matched_by: MatchKind
    evidence: str
    score: float = 1.0


class RuleVerdict(Frozen):
    """The rule stage's output: every hit, and what the highest-priority hits impose."""

    hits: tuple[RuleHit, ...] = ()
    action: Action | None = None
    action_rule: str | None = None
    reply: dict[Lang, str] = Field(default_factory=dict)
    soothe: bool = False
    forbid: tuple[Constraint, ...] = ()
    forbid_topics: tuple[str, ...] = ()

    @property
    def rule_ids(self) -> tuple[str, ...]:
        return tuple(h.rule_id for h in self.hits)


class TemplateName(StrEnum):
    """The fixed wordings a business writes (rules file ``templates:``), each in every language."""

    SOOTHE = "soothe"
    CLARIFY = "clarify"
    HANDOFF = "handoff"
    REFUSE = "refuse"
    HUMAN_HOLDS = "human_holds"
    MODEL_FAILED = "model_failed"
    EXTRACTIVE = "extractive"
    OUT_OF_SCOPE = "out_of_scope"  # what the assistant can help with, for a message outside the business
    SMALL_TALK = "small_talk"  # a friendly reply to a greeting or thanks


REQUIRED_TEMPLATES = tuple(t.value for t in TemplateName)


def load_rules(path: Path, embedder: Embedder | None) -> RuleSet:
    """Validate the YAML file and precompute what matching needs."""
    import hashlib

    try:
        raw = path.read_bytes()
        data = load_yaml(raw.decode("utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"rules file not found: {path}") from None
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    try:
        spec = RuleFile.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise ConfigError(f"{path}: {where}: {err['msg']}") from None
    missing = [t for t in REQUIRED_TEMPLATES if t not in spec.templates]
    if missing:
        raise ConfigError(f"{path}: templates missing: {missing}")
    compiled = []
    uses_embeddings = False
    for rule in sorted(spec.rules, key=lambda r: -r.priority):
        examples = rule.match.examples.zh + rule.match.examples.en
        vecs = None
        if examples:
            if embedder is None:
                raise ConfigError(f"rule {rule.id!r} uses examples but no embedder is available")
            vecs = embedder.query(list(examples))
            uses_embeddings = True
        compiled.append(
            CompiledRule(
                spec=rule,
                keywords=rule.match.keywords.matcher(),
                all_of=tuple(g.matcher() for g in rule.match.all_of),
                regex=tuple(re.compile(p, re.IGNORECASE) for p in rule.match.regex),
                unless=rule.match.unless.matcher(),
                example_texts=tuple(examples),
                example_vecs=vecs,
                threshold=rule.match.threshold or spec.embedding_threshold,
            )
        )
    return RuleSet(
        rules=tuple(compiled),
        topics={name: terms.matcher() for name, terms in spec.topics.items()},
        templates={k: dict(v) for k, v in spec.templates.items()},
        source=str(path),
        content_hash=hashlib.sha256(raw).hexdigest(),
        uses_embeddings=uses_embeddings,
        order_id=re.compile(spec.order_id_pattern) if spec.order_id_pattern else None,
        regions={name: terms.matcher() for name, terms in spec.region_terms.items()},
    )
