"""The business Keel serves, as configuration: regions, order and ticket statuses, memberships,
customer facts, brand and scope — read once from the business's own ``business.yaml``.

Nothing about a particular shop lives in code: the demo shop's definition is
``keel/demo/business.yaml``, the example SaaS company's ``keel/examples/skylark/business.yaml``.
The format is documented field by field below and in ``docs/formats/business.md``.
"""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from keel.domain import Frozen, Lang
from keel.errors import ConfigError
from keel.yamlio import load_yaml

#: a region, status, membership or fact id: lower-case letters, digits, '_' and '-'
ID_PATTERN = r"^[a-z][a-z0-9_-]{0,63}$"
_ID = re.compile(ID_PATTERN)
ALL_REGIONS = "all"  # a KB document's region that means every region


class Text(Frozen):
    """One wording in each language the business serves."""

    zh: str = Field(min_length=1, description="the Chinese wording")
    en: str = Field(min_length=1, description="the English wording")

    def get(self, lang: Lang) -> str:
        return self.zh if lang is Lang.ZH else self.en


class FactType(StrEnum):
    """How a free-form customer fact is validated, rendered and cited."""

    TEXT = "text"  # any string
    DATE = "date"  # an ISO date (YYYY-MM-DD); rendered with how many days from today
    MONEY = "money"  # {"amount": 12.5, "currency": "EUR"}
    NUMBER = "number"  # an int or a float
    BOOL = "bool"  # true / false


class FactSpec(Text):
    """A customer (or order) fact the business's systems report: its label and its type."""

    type: FactType = Field(FactType.TEXT, description="text (default) | date | money | number | bool")


class Money(Frozen):
    amount: float
    currency: str = Field(min_length=1, max_length=8)

    def render(self) -> str:
        return f"{self.amount:g} {self.currency}"


def _check_ids(values: dict[str, Any], what: str) -> None:
    bad = [k for k in values if not _ID.match(k) or k == ALL_REGIONS]
    if bad:
        raise ValueError(f"{what} ids {bad} must be lower-case letters, digits, '_' or '-' (and not '{ALL_REGIONS}')")


class RecordSpec(Frozen):
    """What the business calls a kind of customer record (orders, subscriptions, tickets) and its statuses."""

    noun: Text = Field(description="what one record is called, e.g. order / 订单, subscription / 订阅")
    id_pattern: str | None = Field(None, description="regex of the record ids as customers write them")
    statuses: dict[str, Text] = Field(
        default_factory=dict, description="every status a record can have (id → label per language)"
    )
    aliases: tuple[str, ...] = Field(
        (),
        description="other words customers use for one record, in either language (e.g. ticket for a "
        "`request`): a status question naming one is about this kind of record",
    )
    status_facts: tuple[str, ...] | None = Field(
        None,
        description="orders only: the facts (ids from `facts:`) a status answer tells after the status, in "
        "this order, read from the order, else from the customer's own facts (an amount of 0 is left out); "
        "default: every dated fact on the order",
    )

    @field_validator("id_pattern")
    @classmethod
    def _compiles(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                re.compile(v)
            except re.error as exc:
                raise ValueError(f"bad regex {v!r}: {exc}") from None
        return v

    @field_validator("statuses")
    @classmethod
    def _status_ids(cls, v: dict[str, Text]) -> dict[str, Text]:
        _check_ids(v, "status")
        return v

    def label(self, status: str, lang: Lang) -> str:
        known = self.statuses.get(status)
        return known.get(lang) if known else status.replace("_", " ")


class IdentityMethod(StrEnum):
    """How a customer proves who they are before Keel answers about their own account."""

    NONE = "none"  # the caller's user id is trusted (the front end has logged the customer in)
    FIELDS = "fields"  # the customer states values on their record (e.g. e-mail, or name + postcode)
    TOKEN = "token"  # the front end sends a signed token (itsdangerous; the secret in an environment variable)


#: record values a `fields` check may ask for besides the customer's own `verify:` keys
RECORD_FIELDS = ("email", "phone", "name")


class IdentitySpec(Frozen):
    """The verification step that must pass before account-specific answers (``identity:`` in business.yaml)."""

    method: IdentityMethod = Field(IdentityMethod.NONE, description="none (default) | fields | token")
    fields: dict[str, Text] = Field(
        default_factory=dict,
        description="for `fields`: what the customer must state, id → label; an id is `email`, `phone`, "
        "`name` or a key of the customer's `verify:` (e.g. postcode)",
    )
    secret_env: str = Field(
        "KEEL_IDENTITY_SECRET",
        pattern=r"^[A-Z][A-Z0-9_]{0,63}$",
        description="for `token`: the environment variable holding the signing secret (never in a file)",
    )
    max_age_s: int = Field(3600, ge=60, le=30 * 86400, description="for `token`: how long a token stays valid")
    max_attempts: int = Field(3, ge=1, le=10, description="failed attempts before the conversation goes to a human")
    sign_in: Text | None = Field(None, description="for `token`: what to tell a customer who is not signed in")

    @field_validator("fields")
    @classmethod
    def _field_ids(cls, v: dict[str, Text]) -> dict[str, Text]:
        _check_ids(v, "identity field")
        return v

    @model_validator(mode="after")
    def _fields_for_method(self) -> IdentitySpec:
        if self.method is IdentityMethod.FIELDS and not self.fields:
            raise ValueError("method `fields` needs at least one field (e.g. fields: {email: {en: e-mail, zh: 邮箱}})")
        if self.method is not IdentityMethod.FIELDS and self.fields:
            raise ValueError(f"`fields` is only used with method `fields`, not {self.method.value!r}")
        return self

    @property
    def required(self) -> bool:
        return self.method is not IdentityMethod.NONE


_ORDER_NOUN = Text(zh="订单", en="order")
_TICKET_NOUN = Text(zh="工单", en="ticket")


class Business(Frozen):
    """One business, validated when read. Every id is checked; unknown keys are errors."""

    name: Text = Field(description="the brand, as the prompts and templates name it")
    default_lang: Lang = Field(Lang.ZH, description="the language of a message that has no letters")
    regions: dict[str, Text] = Field(
        min_length=1,
        description="the regions the business serves (id → name); KB documents and customers use these ids",
    )
    order: RecordSpec = Field(RecordSpec(noun=_ORDER_NOUN), description="the customer's purchases")
    ticket: RecordSpec = Field(RecordSpec(noun=_TICKET_NOUN), description="the customer's support requests")
    memberships: dict[str, Text] = Field(
        default_factory=dict,
        description="loyalty / membership programmes (id → name); none: the prompt has no membership line",
    )
    facts: dict[str, FactSpec] = Field(
        default_factory=dict,
        description="free-form facts the customer records (and their orders) may carry under `facts:`: "
        "id → label per language and type",
    )
    scope: Text | None = Field(None, description="what the assistant helps with, in a few words")
    identity: IdentitySpec = Field(
        IdentitySpec(), description="the verification step before account-specific answers (default: none)"
    )
    public_contacts: tuple[str, ...] = Field(
        (),
        description="the business's own published e-mail addresses and phone numbers: the KB may show them "
        "to customers; every other address or number in a KB document is redacted as personal data",
    )
    source: Path | None = Field(None, description="the file this was read from (set by the loader)")

    @model_validator(mode="before")
    @classmethod
    def _with_nouns(cls, data: Any) -> Any:
        if isinstance(data, dict):  # a record section without `noun:` keeps the default noun
            for key, noun in (("order", _ORDER_NOUN), ("ticket", _TICKET_NOUN)):
                section = data.get(key)
                if isinstance(section, dict) and "noun" not in section:
                    data = {**data, key: {**section, "noun": noun.model_dump()}}
        return data

    @field_validator("regions", "memberships", "facts")
    @classmethod
    def _ids(cls, v: dict[str, Any]) -> dict[str, Any]:
        _check_ids(v, "region / membership / fact")
        return v

    @model_validator(mode="after")
    def _status_facts_declared(self) -> Business:
        if self.ticket.status_facts is not None:
            raise ValueError("ticket.status_facts: tickets carry no facts (status_facts is for `order:`)")
        unknown = [f for f in self.order.status_facts or () if f not in self.facts]
        if unknown:
            raise ValueError(f"order.status_facts: {unknown} are not facts declared under `facts:`")
        return self

    @property
    def folder(self) -> Path | None:
        return self.source.parent if self.source else None

    def check_fact(self, key: str, value: Any) -> str | None:
        """Why *value* is not a valid value of fact *key* (None when it is)."""
        spec = self.facts.get(key)
        if spec is None:
            known = ", ".join(sorted(self.facts)) or "none"
            return f"unknown fact {key!r} (business.yaml `facts:` declares: {known})"
        return fact_problem(spec.type, value)


def fact_problem(kind: FactType, value: Any) -> str | None:
    """Why *value* is not of type *kind* (None when it is); null is every type's "not set"."""
    if value is None:
        return None
    if kind is FactType.TEXT:
        return None if isinstance(value, str) else f"expected text, got {value!r}"
    if kind is FactType.BOOL:
        return None if isinstance(value, bool) else f"expected true or false, got {value!r}"
    if kind is FactType.NUMBER:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return None if ok else f"expected a number, got {value!r}"
    if kind is FactType.DATE:
        if isinstance(value, date):
            return None
        try:
            date.fromisoformat(str(value))
        except ValueError:
            return f"expected a date (YYYY-MM-DD), got {value!r}"
        return None if isinstance(value, str) else f"expected a date (YYYY-MM-DD), got {value!r}"
    if isinstance(value, Money):
        return None
    try:
        Money.model_validate(value)
    except ValidationError:
        return f"expected money as {{amount: 12.5, currency: EUR}}, got {value!r}"
    return None


def parse_business(data: Any, source: str) -> Business:
    """Validate a parsed ``business.yaml``; one line naming the field on error."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level")
    try:
        return Business.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "business"
        msg = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
        raise ConfigError(f"{source}: {where}: {msg}") from None


def load_business(path: Path) -> Business:
    """Read and validate the business file at *path*."""
    try:
        data = load_yaml(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"business file not found: {path}") from None
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc.__class__.__name__}") from None
    business = parse_business(data, str(path))
    return business.model_copy(update={"source": path})
