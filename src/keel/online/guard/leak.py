"""Prompt leaks: a reply that repeats the prompt's scaffolding instead of talking to the customer.

The scaffolding is what the prompt adds around the facts: the instructions, the section heads and
passage labels, the passages' metadata lines and the customer block. The check is an overlap with
*this turn's* prompt (the longest run of words, or of CJK characters, a reply shares with each part),
not a list of forbidden words: whatever the prompt said, repeating enough of it verbatim is a leak.
"""

from __future__ import annotations

import re
from difflib import SequenceMatcher

from keel.domain import Frozen

_TOKEN = re.compile(r"\*{2,}\d+|[\u3400-\u9fff]|[a-z0-9]+(?:['’][a-z]+)?")
_CJK = re.compile(r"[\u3400-\u9fff]")
_MASKED = re.compile(r"\*{2,}\d+")
_ROLE_TAG = re.compile(
    r"(?:^|\n)\s*(?:<\|im_(?:start|end)\|>|(?:system|assistant|user|customer|agent|客户|客服|用户|助手|系统)\s*[:：])",
    re.I,
)

#: how much of a part a reply may repeat verbatim (a latin word counts 1, a CJK character 0.6); in the
#: customer block values (ids, dates, amounts) do not count: restating them is the point of a state answer,
#: repeating the block's labels and layout is a leak
INSTRUCTION_RUN = 5.0
STATE_RUN = 5.0


class Scaffold(Frozen):
    """The parts of one turn's prompt that are not for the customer's eyes as such."""

    instructions: tuple[str, ...] = ()  # role, rules, output format, language/soothe/constraint notes
    heads: tuple[str, ...] = ()  # section heads and passage labels ("[Passages]", "【客户信息】", "P1")
    meta: tuple[str, ...] = ()  # passage metadata lines ("regions: all; valid: 2026-01-01 – …")
    state_block: str = ""  # the customer block as the prompt showed it


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def _weight(tokens: list[str], values_count: bool = True) -> float:
    return sum(0.6 if _CJK.fullmatch(t) else 1.0 for t in tokens if values_count or not any(ch.isdigit() for ch in t))


def longest_shared_run(reply: str, part: str, values_count: bool = True) -> tuple[float, str]:
    """The heaviest run of tokens *reply* shares with *part*, with its text."""
    a, b = _tokens(reply), _tokens(part)
    if not a or not b:
        return 0.0, ""
    m = SequenceMatcher(None, a, b, autojunk=False).find_longest_match(0, len(a), 0, len(b))
    run = a[m.a : m.a + m.size]
    joiner = "" if all(_CJK.fullmatch(t) for t in run) else " "
    return _weight(run, values_count), joiner.join(run)


def find_leak(reply: str, scaffold: Scaffold | None, allowed: str = "") -> str | None:
    """What the reply repeats of the prompt's scaffolding, or None.

    *allowed* is text the customer may see verbatim (the passages' bodies, the customer's own words):
    a shared run that also occurs there is not a leak.
    """
    if scaffold is None:
        return None
    tag = _ROLE_TAG.search(reply)
    if tag:
        return f"role tag {tag.group(0).strip()!r}"
    low = reply.lower()
    for head in scaffold.heads:
        if re.fullmatch(r"P\d+", head):
            if re.search(rf"(?<![A-Za-z0-9]){head}(?![0-9])", reply):
                return f"passage label {head}"
        elif head.lower() in low:
            return f"section head {head!r}"
    for masked in _MASKED.findall(reply):
        if masked in scaffold.state_block:
            return f"masked value {masked} from the customer block"
    allowed_tokens = " ".join(_tokens(allowed))
    parts = [(p, INSTRUCTION_RUN, True) for p in (*scaffold.instructions, *scaffold.meta)]
    parts += [(line, STATE_RUN, False) for line in scaffold.state_block.splitlines()]
    for part, limit, values_count in parts:
        weight, run = longest_shared_run(reply, part, values_count)
        if weight < limit:
            continue
        if run and _joined(run) in allowed_tokens:
            continue
        return f"repeats the prompt: {run[:80]!r}"
    return None


def _joined(run: str) -> str:
    return " ".join(_tokens(run))
