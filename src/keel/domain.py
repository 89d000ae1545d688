"""Value types shared by every stage: closed sets as enums, decisions as values."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

#: the tenant of a single-business install: the demo, the CLI's default, the offline steps' data
DEFAULT_TENANT = "default"


class Frozen(BaseModel):
    """Base of Keel's immutable value objects."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Lang(StrEnum):
    ZH = "zh"
    EN = "en"


class Role(StrEnum):
    USER = "user"
    ASSISTANT = "assistant"
    AGENT = "agent"  # a human agent replying from the handoff queue
    SYSTEM = "system"


class Action(StrEnum):
    """What Keel does with a customer message."""

    ANSWER = "answer"
    CLARIFY = "clarify"
    REFUSE = "refuse"
    HANDOFF = "handoff"


#: Strictness order used when two sources propose different actions: higher is safer.
ACTION_STRICTNESS: dict[Action, int] = {
    Action.ANSWER: 0,
    Action.CLARIFY: 1,
    Action.REFUSE: 2,
    Action.HANDOFF: 3,
}


class Modifier(StrEnum):
    SOOTHE = "soothe"
    PARTIAL = "partial"  # some of what was asked may not be disclosed


class Reason(StrEnum):
    """Why the final action is what it is (one per decision)."""

    RULE = "rule"  # a red-line rule forced the action
    STATE = "state"  # the user's runtime state forced the action
    HUMAN_HOLDS = "human_holds"  # a human agent holds the conversation
    NO_GROUNDING = "no_grounding"  # factual question with no supporting passage
    MODEL = "model"  # the model's proposal was accepted
    MODEL_MALFORMED = "model_malformed"  # the model's output could not be parsed
    MODEL_FAILED = "model_failed"  # the backend failed or timed out
    GUARD = "guard"  # the output guard blocked the reply
    SMALL_TALK = "small_talk"  # greeting / thanks
    ROUTER = "router"  # the behaviour router read what the message needs (unsafe, override, person, complaint)
    OUT_OF_SCOPE = "out_of_scope"  # the message is outside the business
    STATE_ANSWER = "state_answer"  # a status question answered from the customer's own record
    VERIFY_IDENTITY = "verify_identity"  # an account question from a customer who has not passed the identity check
    IDENTITY_FAILED = "identity_failed"  # the identity check failed too often: a human takes over


class ChatMessage(Frozen):
    role: Role
    content: str


class Validity(StrEnum):
    """Where today falls in a document's validity window."""

    IN_FORCE = "in_force"
    ENDED = "ended"  # valid_to is past: it may only be quoted as having ended
    UPCOMING = "upcoming"  # valid_from is ahead: it may only be quoted as not started yet


class DocKind(StrEnum):
    """What a knowledge-base document is."""

    FAQ = "faq"
    POLICY = "policy"
    PROMOTION = "promotion"


class Passage(Frozen):
    """A retrieved knowledge-base passage (one document of a pinned version)."""

    doc_id: str
    topic: str
    title: str
    text: str  # the excerpt that answers the message (the whole document when it is short)
    full_text: str = ""  # the whole document
    lang: Lang
    kind: DocKind
    regions: tuple[str, ...]
    valid_from: date | None = None
    valid_to: date | None = None
    validity: Validity = Validity.IN_FORCE
    for_region: bool = True  # False: scoped to other regions than the customer's (quote only as such)
    score: float = 0.0


class Decision(Frozen):
    """The final decision for one customer message."""

    action: Action
    modifiers: tuple[Modifier, ...] = ()
    reason: Reason
    detail: str = Field("", description="human-readable why, for the trace and the agent")
    confidence: float = Field(0.0, ge=0.0, le=1.0)

    @property
    def soothe(self) -> bool:
        return Modifier.SOOTHE in self.modifiers


def jsonable(value: Any) -> Any:
    """Turn pydantic models, enums and dates into plain JSON values."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, StrEnum):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    return value
