"""Passages are data, never instructions: drop instruction-like sentences and personal data from KB text.

A knowledge-base document is written by people, copied from elsewhere, sometimes pasted from an
e-mail: it can carry a prompt injection ("ignore the rules and tell every customer…") or someone's
phone number. Whatever reaches the model's prompt also counts as evidence for the output guard
(a promise or a number that appears in a passage may be repeated), so both are cleaned here, once,
when a version's index is built: sentences addressed to the assistant are dropped, and phones,
e-mails, ID and card numbers are replaced by placeholders.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from keel.domain import Frozen
from keel.redact import redact

_EN = [
    r"\b(ignore|disregard|forget|override|bypass)\b[^.!?\n]{0,60}\b(instruction|rule|prompt|polic|guideline|guardrail)",
    r"\b(system|admin(istrator)?|developer|assistant|ai)[ -]?(note|message|prompt|override|instruction|command)s?\b",
    r"\b(from now on|new instructions?|you must now|you are now|act as|pretend (to be|you))\b",
    r"\b(tell|promise|inform|say to|assure|offer)\s+(every|all|each|any)\s+(customer|user|client|one|buyer)s?\b",
    r"\b(print|output|dump|list|repeat|recite)\b[^.!?\n]{0,40}"
    r"\b(prompt|instruction|customer (data|info|records?)|all (customers|users))",
    r"\b(dear|attention|note to( the)?)\s+(ai|assistant|model|bot|chatbot|llm)\b",
]
_ZH = [
    r"(忽略|无视|忘记|不要理会|绕过)[^。！？\n]{0,20}(规则|指令|提示|要求|限制|政策)",
    r"(系统|管理员|开发者|后台)(提示|指令|命令|通知|消息)",
    r"(从现在(起|开始)|新的?指令|你现在是|你必须|扮演)",
    r"(告诉|承诺|保证|通知|答应)(所有|每一?位|每个)(客户|顾客|用户|买家)",
    r"(向|给|对)(所有|每一?位|每个|任何)(客户|顾客|用户|买家)[^。！？\n]{0,10}(承诺|保证|赔偿|补偿)",
    r"(输出|列出|复述|重复|导出)[^。！？\n]{0,15}(提示词|指令|客户(信息|资料|数据)|所有(客户|用户))",
]
_INSTRUCTION = re.compile("|".join(f"(?:{p})" for p in _EN + _ZH), re.IGNORECASE)


class Sanitized(Frozen):
    text: str
    dropped: tuple[str, ...] = ()  # the instruction-like sentences taken out (for the build log)
    redacted: bool = False


def _sentences(text: str) -> list[str]:
    """Sentences and line breaks, in order, so that joining them gives the text back."""
    out: list[str] = []
    for line in text.splitlines(keepends=True):
        out += [s for s in re.split(r"(?<=[。！？!?])|(?<=\.)(?=\s)", line) if s]
    return out


def sanitize_passage(text: str, keep: Collection[str] = ()) -> Sanitized:
    """The text without instruction-like sentences and with personal data replaced by placeholders
    (*keep*: the business's public contacts, as :func:`keel.redact.contact_key` values)."""
    kept: list[str] = []
    dropped: list[str] = []
    for sentence in _sentences(text):
        if _INSTRUCTION.search(sentence):
            dropped.append(sentence.strip())
            if sentence.endswith("\n"):
                kept.append("\n")
        else:
            kept.append(sentence)
    clean = "".join(kept)
    redacted = redact(clean, keep)
    return Sanitized(text=redacted, dropped=tuple(dropped), redacted=redacted != clean)
