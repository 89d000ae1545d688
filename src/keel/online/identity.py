"""Identity: the check a customer passes before Keel answers about their own account.

The business configures it (``identity:`` in business.yaml): none (the caller's user id is trusted),
fields (the customer states values on their record) or token (the front end signs who is logged
in). Until the check passes, the customer's record stays out of the turn — no state block in the
prompt, no status answers — so an unverified customer gets general answers only, and an account
question gets the request to verify. The question is remembered and answered once the check passes;
after ``max_attempts`` failed attempts a human takes over.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from enum import StrEnum

from keel.business import IdentityMethod, IdentitySpec, Text
from keel.domain import Action, Decision, Lang, Reason
from keel.online.conversations import Memory
from keel.online.state.identity import TokenCheck, check_token, stated
from keel.online.state.model import UserState


class IdentityStatus(StrEnum):
    NOT_REQUIRED = "not_required"  # no check configured, or no customer named
    VERIFIED = "verified"  # passed earlier in the conversation, a valid token, or a trusted caller
    JUST_VERIFIED = "just_verified"  # this message passed it
    UNVERIFIED = "unverified"
    FAILED = "failed"  # this message answered the check and did not match
    LOCKED = "locked"  # too many failed attempts


@dataclass(frozen=True)
class Identity:
    status: IdentityStatus
    failures: int = 0
    pending: str | None = None  # the account question asked before the check (answer it once passed)
    token: TokenCheck | None = None

    @property
    def trusted(self) -> bool:
        """May this turn use the customer's record?"""
        return self.status in (IdentityStatus.NOT_REQUIRED, IdentityStatus.VERIFIED, IdentityStatus.JUST_VERIFIED)

    @property
    def verified(self) -> bool:
        return self.status in (IdentityStatus.VERIFIED, IdentityStatus.JUST_VERIFIED)


_ATTEMPT = re.compile(r"@|\d{3,}")


def _attempt(text: str) -> bool:
    """Does a message after the request to verify look like an answer to it (not a new question)?"""
    return bool(_ATTEMPT.search(text)) or len(text.strip()) <= 40


def check_identity(
    spec: IdentitySpec,
    user: UserState | None,
    memory: Memory,
    text: str,
    token: str | None = None,
    trusted_caller: bool = False,
) -> Identity:
    """Where this turn stands with the identity check (reads the token's secret from the environment)."""
    if not spec.required or user is None:
        return Identity(IdentityStatus.NOT_REQUIRED)
    if memory.verified or trusted_caller:
        return Identity(IdentityStatus.VERIFIED)
    if spec.method is IdentityMethod.TOKEN:
        checked = check_token(token, user.user_id, os.environ.get(spec.secret_env), spec.max_age_s) if token else None
        if checked is TokenCheck.VALID:  # the customer signed in and asks again: no remembered question
            return Identity(IdentityStatus.JUST_VERIFIED, token=checked)
        return Identity(IdentityStatus.UNVERIFIED, pending=memory.pending_question, token=checked)
    if stated(user, spec, text):
        return Identity(IdentityStatus.JUST_VERIFIED, pending=memory.pending_question)
    if memory.asked_to_verify and _attempt(text):
        failures = memory.verify_failures + 1
        status = IdentityStatus.LOCKED if failures >= spec.max_attempts else IdentityStatus.FAILED
        return Identity(status, failures=failures, pending=memory.pending_question)
    return Identity(IdentityStatus.UNVERIFIED, failures=memory.verify_failures, pending=memory.pending_question)


def identity_decision(identity: Identity, account_question: bool, forced: Decision | None) -> Decision | None:
    """The check's own decision, or None. Red lines and stopping routes outrank it; an answer to the
    check is not read as out of scope or small talk."""
    if forced is not None and forced.reason not in (Reason.OUT_OF_SCOPE, Reason.SMALL_TALK):
        return None
    if identity.status is IdentityStatus.LOCKED:
        detail = f"identity check failed {identity.failures} times"
        return Decision(action=Action.HANDOFF, reason=Reason.IDENTITY_FAILED, detail=detail, confidence=1.0)
    if identity.status is IdentityStatus.FAILED:
        detail = f"identity check did not match (attempt {identity.failures})"
        return Decision(action=Action.CLARIFY, reason=Reason.VERIFY_IDENTITY, detail=detail, confidence=1.0)
    if identity.status is IdentityStatus.UNVERIFIED and account_question and forced is None:
        token = f" (token {identity.token.value})" if identity.token else ""
        detail = f"account question before the identity check{token}"
        return Decision(action=Action.CLARIFY, reason=Reason.VERIFY_IDENTITY, detail=detail, confidence=1.0)
    return None


_ASK = Text(
    en="Before I look at your account I need to confirm it's you: please send me the {fields} on your account.",
    zh="查看您的账户信息前，需要先核实您的身份：请发送您账户上登记的{fields}。",
)
_RETRY = Text(
    en="Sorry, that doesn't match our records. Please check the {fields} on your account and send them again.",
    zh="抱歉，与我们的记录不一致。请核对您账户上登记的{fields}后再发送一次。",
)
_SIGN_IN = Text(
    en="Please sign in to your account first, then ask me again — I can only look at an account once you're signed in.",
    zh="请先登录您的账户，然后再问我一次——登录后我才能查看您的账户信息。",
)
_VERIFIED = Text(en="Thank you, you're verified.", zh="谢谢，身份已核实。")


def _fields(spec: IdentitySpec, lang: Lang) -> str:
    labels = [t.get(lang) for t in spec.fields.values()]
    if lang is Lang.ZH:
        return "和".join(labels)
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]


def identity_reply(spec: IdentitySpec, identity: Identity, lang: Lang) -> str:
    """What the customer reads when the check asks (or asks again)."""
    if spec.method is IdentityMethod.TOKEN:
        return (spec.sign_in or _SIGN_IN).get(lang)
    wording = _RETRY if identity.status is IdentityStatus.FAILED else _ASK
    return wording.get(lang).format(fields=_fields(spec, lang))


def with_verified(reply: str, identity: Identity, lang: Lang) -> str:
    """A reply of the turn that passed the check starts by saying so."""
    if identity.status is not IdentityStatus.JUST_VERIFIED or identity.token is not None:
        return reply
    return f"{_VERIFIED.get(lang)}{'' if lang is Lang.ZH else ' '}{reply}"


def remembered(identity: Identity, decision: Decision, question: str) -> Memory:
    """What the conversation keeps after this turn."""
    asking = decision.reason is Reason.VERIFY_IDENTITY
    return Memory(
        last_action=decision.action,
        last_reason=decision.reason,
        verified=identity.verified,
        verify_failures=0 if identity.verified else identity.failures,
        pending_question=(identity.pending or question) if asking else None,
    )
