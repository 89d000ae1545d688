"""Redact personal data (phones, e-mails, ID and card numbers) before anything is logged."""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_CN_ID = re.compile(
    r"(?<![0-9A-Za-z])\d{6}(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx](?![0-9A-Za-z])"
)
_CARD = re.compile(r"(?<![0-9A-Za-z+])(?:\d[ -]?){12,18}\d(?![0-9A-Za-z])")
_PHONE_INTL = re.compile(r"(?<![\w+])\+\d{1,3}(?:[ \-]?\(?\d{1,4}\)?){2,5}(?!\w)")
_CN_MOBILE = re.compile(r"(?<![0-9A-Za-z])1[3-9]\d[ \-]?\d{4}[ \-]?\d{4}(?![0-9A-Za-z])")
_LOCAL_PHONE = re.compile(r"(?<![0-9A-Za-z])(?:0\d{2,3}[ \-]?)?\d{4}[ \-]\d{4}(?![0-9A-Za-z])")


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def _card(m: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", m.group(0))
    return "[CARD]" if 13 <= len(digits) <= 19 and _luhn(digits) else m.group(0)


def contact_key(value: str) -> str:
    """How a contact is compared: an e-mail address lower-cased, a phone number by its digits."""
    return value.strip().lower() if "@" in value else re.sub(r"\D", "", value)


def redact(text: str, keep: Collection[str] = ()) -> str:
    """Replace personal data with typed placeholders; other text is kept.

    *keep* are :func:`contact_key` values of contacts that are not personal (the business's own
    published addresses and numbers): they stay as written.
    """

    def _placeholder(name: str) -> Any:
        return lambda m: m.group(0) if keep and contact_key(m.group(0)) in keep else name

    text = _EMAIL.sub(_placeholder("[EMAIL]"), text)
    text = _CN_ID.sub("[ID]", text)
    text = _CARD.sub(_card, text)
    text = _PHONE_INTL.sub(_placeholder("[PHONE]"), text)
    text = _CN_MOBILE.sub(_placeholder("[PHONE]"), text)
    return _LOCAL_PHONE.sub(_placeholder("[PHONE]"), text)


def redact_value(value: Any) -> Any:
    """Redact every string inside a JSON-like value."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(v) for v in value]
    return value


def find_personal_data(text: str) -> list[str]:
    """The personal-data strings in *text* (for the output guard)."""
    found = [m.group(0) for m in _EMAIL.finditer(text)]
    found += [m.group(0) for m in _CN_ID.finditer(text)]
    found += [m.group(0) for m in _CARD.finditer(text) if _card(m) == "[CARD]"]
    for pattern in (_PHONE_INTL, _CN_MOBILE, _LOCAL_PHONE):
        found += [m.group(0) for m in pattern.finditer(text)]
    return found
