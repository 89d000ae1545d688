"""The eval case format (documented in ``evals/README.md``) and loading a suite folder."""

from __future__ import annotations

import hashlib
from enum import StrEnum
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from keel.domain import Action, Lang, Role
from keel.errors import InvalidInput
from keel.yamlio import load_yaml


class Category(StrEnum):
    FAQ = "faq"
    FIXED_RULE = "fixed_rule"
    MUST_REFUSE = "must_refuse"
    SAFE_LOOKALIKE = "safe_lookalike"
    HANDOFF_EXPLICIT = "handoff_explicit"
    HANDOFF_IMPLICIT = "handoff_implicit"
    GRAY = "gray"
    UPSET = "upset"
    STATE_DEPENDENT = "state_dependent"
    KB_CHANGED = "kb_changed"
    INJECTION = "injection"
    MULTI_TURN = "multi_turn"
    OUT_OF_SCOPE = "out_of_scope"


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Turn(_Strict):
    role: Role
    content: str = Field(min_length=1)


class Expect(_Strict):
    action: tuple[Action, ...] = Field(min_length=1)
    soothe: bool = False
    must_include: tuple[tuple[str, ...], ...] = ()
    must_not_include: tuple[str, ...] = ()


class EvalCase(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    category: Category
    lang: Lang
    user: str | None = None
    verified: bool = Field(
        True, description="the customer has passed the business's identity check (false: the case tests the check)"
    )
    kb_version: int | None = None
    turns: tuple[Turn, ...] = Field(min_length=1)
    expect: Expect
    group: str | None = None
    note: str | None = None
    gold_topics: tuple[str, ...] = Field((), description="KB topics whose passages answer the case (retrieval eval)")

    @field_validator("turns")
    @classmethod
    def _ends_with_user(cls, turns: tuple[Turn, ...]) -> tuple[Turn, ...]:
        if turns[-1].role is not Role.USER:
            raise ValueError("the last turn must be a user turn")
        if any(t.role not in (Role.USER, Role.ASSISTANT) for t in turns):
            raise ValueError("turns are user or assistant")
        return turns

    @model_validator(mode="after")
    def _includes_need_answer(self) -> EvalCase:
        if self.expect.must_include and Action.ANSWER not in self.expect.action:
            raise ValueError("must_include is only meaningful when 'answer' is acceptable")
        return self

    @property
    def message(self) -> str:
        return self.turns[-1].content

    @property
    def history(self) -> tuple[Turn, ...]:
        return self.turns[:-1]


class Suite(BaseModel):
    model_config = ConfigDict(frozen=True)

    path: str
    cases: tuple[EvalCase, ...]
    content_hash: str

    def by_id(self) -> dict[str, EvalCase]:
        return {c.id: c for c in self.cases}


def load_suite(  # noqa: PLR0912
    folder: Path, categories: tuple[str, ...] = (), limit: int | None = None, every: int | None = None
) -> Suite:
    """Every ``*.yaml`` under *folder*; any invalid case fails with its file and id.

    *every*: keep every N-th case of each category (a stratified, deterministic subset for slow models).
    """
    if not folder.is_dir():
        raise InvalidInput(f"suite folder not found: {folder}")
    digest = hashlib.sha256()
    cases: list[EvalCase] = []
    seen: set[str] = set()
    for path in sorted(folder.glob("*.yaml")):
        raw = path.read_bytes()
        digest.update(path.name.encode())
        digest.update(raw)
        try:
            data = load_yaml(raw.decode("utf-8")) or {}
        except (UnicodeDecodeError, yaml.YAMLError) as exc:
            raise InvalidInput(f"{path}: not valid YAML: {exc}") from None
        for i, item in enumerate(data.get("cases", []) if isinstance(data, dict) else []):
            try:
                case = EvalCase.model_validate(item)
            except ValidationError as exc:
                err = exc.errors()[0]
                where = ".".join(str(p) for p in err["loc"])
                ident = item.get("id", f"#{i}") if isinstance(item, dict) else f"#{i}"
                raise InvalidInput(f"{path.name}: case {ident}: {where}: {err['msg']}") from None
            if case.id in seen:
                raise InvalidInput(f"{path.name}: duplicate case id {case.id}")
            seen.add(case.id)
            cases.append(case)
    if categories:
        unknown = set(categories) - {c.value for c in Category}
        if unknown:
            raise InvalidInput(f"unknown categories: {sorted(unknown)}")
        cases = [c for c in cases if c.category.value in categories]
    if every is not None and every > 1:
        position: dict[Category, int] = {}
        kept = []
        for c in cases:
            n = position.get(c.category, 0)
            position[c.category] = n + 1
            if n % every == 0:
                kept.append(c)
        cases = kept
    if limit is not None:
        cases = cases[:limit]
    if not cases:
        raise InvalidInput(f"no cases in {folder}")
    return Suite(path=str(folder), cases=tuple(cases), content_hash=digest.hexdigest())
