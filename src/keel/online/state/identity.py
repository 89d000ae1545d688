"""Identity against the customer's record: the values a `fields` check asks for, and a signed token.

A `fields` check passes when the customer's message states every value the business asks for
(``identity.fields``: e-mail, phone, name or a key of the record's ``verify:``), compared after
case folding and without spaces and punctuation, so "Maria.Garcia@Example.com" and "10 115" match.
A `token` check passes when the front end's token, signed with the business's secret, names the
same customer and is not older than ``identity.max_age_s``.
"""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from keel.business import RECORD_FIELDS, IdentitySpec
from keel.online.state.model import UserState

_SALT = "keel-identity"
_NOISE = re.compile(r"[\s\-_.·,，。:：;；()（）/]+")


def record_value(user: UserState, key: str) -> str | None:
    """The record's value for identity field *key* (None when the record has none)."""
    value = getattr(user, key, None) if key in RECORD_FIELDS else user.verify.get(key)
    return value.strip() or None if isinstance(value, str) else None


def _squash(text: str) -> str:
    return _NOISE.sub("", unicodedata.normalize("NFKC", text).casefold())


def stated(user: UserState, spec: IdentitySpec, text: str) -> bool:
    """True when *text* states every value the business asks for, as the record has them."""
    if not spec.fields:
        return False
    message = _squash(text)
    for key in spec.fields:
        value = record_value(user, key)
        if not value or _squash(value) not in message:
            return False
    return True


class TokenCheck(StrEnum):
    VALID = "valid"
    EXPIRED = "expired"
    INVALID = "invalid"  # bad signature, malformed, or for another customer
    NO_SECRET = "no_secret"  # the business asks for tokens but the secret is not set


def sign_token(user_id: str, secret: str) -> str:
    """A token that says *user_id* is signed in (what the company's front end sends with each message)."""
    return URLSafeTimedSerializer(secret, salt=_SALT).dumps({"user": user_id})


def check_token(token: str, user_id: str, secret: str | None, max_age_s: int) -> TokenCheck:
    if not secret:
        return TokenCheck.NO_SECRET
    try:
        data = URLSafeTimedSerializer(secret, salt=_SALT).loads(token, max_age=max_age_s)
    except SignatureExpired:
        return TokenCheck.EXPIRED
    except BadSignature:
        return TokenCheck.INVALID
    return TokenCheck.VALID if isinstance(data, dict) and data.get("user") == user_id else TokenCheck.INVALID
