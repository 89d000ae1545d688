"""LLaMA-Factory's sharegpt format, shared by the preference sets (``prefs``) and the exports (``train``).

LLaMA-Factory's sharegpt loader wants: ``conversations`` as ``{"from", "value"}`` turns alternating
human/gpt after an optional leading system turn; an even number of turns for SFT; for preference
(``ranking: true``) an odd number ending with the human turn, and ``chosen``/``rejected`` as single
gpt turns.
"""

from __future__ import annotations

from typing import Any

_FROM = {"user": "human", "assistant": "gpt", "system": "system"}

#: the ``tags`` of a sharegpt entry in ``dataset_info.json``
TAGS = {
    "role_tag": "from",
    "content_tag": "value",
    "user_tag": "human",
    "assistant_tag": "gpt",
    "system_tag": "system",
}


def turns(messages: list[dict[str, str]]) -> tuple[str, list[dict[str, str]]]:
    """(system text, alternating human/gpt turns) of chat messages; same-speaker runs are merged."""
    system = ""
    if messages and messages[0]["role"] == "system":
        system, messages = messages[0]["content"], messages[1:]
    out: list[dict[str, str]] = []
    for m in messages:
        if m["role"] == "system":
            system = (system + "\n" + m["content"]).strip()
            continue
        if out and _FROM[m["role"]] == out[-1]["from"]:  # merge same-speaker runs to keep alternation
            out[-1]["value"] += "\n" + m["content"]
        else:
            out.append({"from": _FROM[m["role"]], "value": m["content"]})
    return system, out


def sft_rows(examples: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """Prompt/completion examples as sharegpt rows, and how many could not be (not human-first, odd)."""
    rows, skipped = [], 0
    for ex in examples:
        system, conv = turns(ex["prompt"] + ex["completion"])
        if not conv or conv[0]["from"] != "human" or len(conv) % 2:
            skipped += 1
            continue
        rows.append({"conversations": conv, "system": system})
    return rows, skipped


def dpo_rows(examples: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """Prompt/chosen/rejected pairs as sharegpt ranking rows, and how many could not be."""
    rows, skipped = [], 0
    for ex in examples:
        system, conv = turns(ex["prompt"])
        if not conv or conv[0]["from"] != "human" or len(conv) % 2 == 0:
            skipped += 1
            continue
        rows.append(
            {
                "conversations": conv,
                "system": system,
                "chosen": {"from": "gpt", "value": ex["chosen"][-1]["content"]},
                "rejected": {"from": "gpt", "value": ex["rejected"][-1]["content"]},
            }
        )
    return rows, skipped
