"""Request and response bodies of the HTTP API."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class MessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(..., description="the customer's message", examples=["电子发票在哪里下载？"])
    user_id: str | None = Field(
        None, max_length=128, description="the customer's id in your CRM (state provider)", examples=["u1001"]
    )
    kb_version: int | None = Field(None, ge=1, le=2**31 - 1, description="pin the KB version for this message")
    identity_token: str | None = Field(
        None,
        max_length=2048,
        description="for a business with `identity: {method: token}`: your front end's signed token for this "
        "user (docs/formats/identity.md)",
    )


class AgentReplyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agent: str = Field(..., min_length=1, max_length=128)
    text: str


class AgentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agent: str = Field(..., min_length=1, max_length=128)


class OpenAIMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: str | list[dict[str, Any]] | None = None


class ChatCompletionIn(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str = "keel"
    messages: list[OpenAIMessage] = Field(..., min_length=1)
    user: str | None = Field(None, max_length=128, description="used as the Keel user id")
    stream: bool = False
    conversation_id: str | None = Field(None, max_length=128, description="Keel extension: continue this conversation")
    identity_token: str | None = Field(None, max_length=2048, description="Keel extension: the signed identity token")
