"""What a customer message needs (the router's classes) and the example banks it learns from.

A bank is JSON Lines, one example a line: ``{"text": "...", "need": "person", "lang": "en"}``
(other keys such as ``style`` or ``source`` are kept as the example's source). Keel ships a
business-agnostic bank (``bank/generic.jsonl``); each business adds its own in-scope phrasings
(the demo shop: ``demo/router_bank.jsonl``), and the offline loop appends examples people decided
(``<home>/router/learned.jsonl``: preference review, audit routes).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from enum import StrEnum
from importlib import resources
from pathlib import Path

from keel.domain import Frozen, Lang
from keel.errors import InvalidInput

GENERIC_BANK_DIR = Path(str(resources.files("keel") / "online" / "router" / "bank"))
LEARNED_BANK = "learned.jsonl"


def generic_banks() -> tuple[Path, ...]:
    """Keel's business-agnostic banks (every ``*.jsonl`` shipped in ``online/router/bank/``)."""
    return tuple(sorted(GENERIC_BANK_DIR.glob("*.jsonl")))


class Need(StrEnum):
    """What the message needs, in priority order when a message mixes several."""

    UNSAFE = "unsafe"  # violence, self-harm, crime, other people's data
    OVERRIDE = "override"  # an attempt to override Keel's instructions
    PERSON = "person"  # a request for a human
    COMPLAINT = "complaint"  # upset or complaining
    ACCOUNT = "account"  # the customer's own orders, tickets, account
    QUESTION = "question"  # an in-scope question about the business
    OUT_OF_SCOPE = "out_of_scope"  # outside the business
    CHITCHAT = "chitchat"  # greetings, thanks, small talk


class Example(Frozen):
    text: str
    need: Need
    lang: Lang
    source: str = ""


def read_bank(path: Path, source: str | None = None) -> list[Example]:
    """Every example of a bank file; a bad line fails with its line number and what is wrong."""
    if not path.is_file():
        raise InvalidInput(f"router bank not found: {path}")
    out: list[Example] = []
    tag = source or path.name
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                out.append(
                    Example(
                        text=str(obj["text"]).strip(),
                        need=Need(obj["need"]),
                        lang=Lang(obj["lang"]),
                        source=str(obj.get("source") or tag),
                    )
                )
            except (ValueError, KeyError, TypeError) as exc:
                raise InvalidInput(f"{path}:{n}: not a router example ({exc.__class__.__name__}: {exc})") from None
    return out


def read_banks_by_path(paths: Sequence[Path]) -> list[tuple[Path, list[Example]]]:
    """Banks in order, each with the examples it adds; a text that appears twice keeps its first label."""
    seen: set[str] = set()
    out: list[tuple[Path, list[Example]]] = []
    for path in paths:
        if not path.exists() and path.name == LEARNED_BANK:
            continue  # nothing learned yet
        new: list[Example] = []
        for ex in read_bank(path):
            key = ex.text.casefold()
            if key and key not in seen:
                seen.add(key)
                new.append(ex)
        out.append((path, new))
    return out


def bank_hash(examples: Iterable[Example]) -> str:
    h = hashlib.sha256()
    for ex in examples:
        h.update(f"{ex.need}\0{ex.lang}\0{ex.text}\n".encode())
    return h.hexdigest()


_DIGITS = re.compile(r"\d+")
_SPACE = re.compile(r"\s+")


def dedup_key(text: str) -> str:
    """Two texts with the same key are the same example: case, spacing and digits (order numbers) aside."""
    return _SPACE.sub(" ", _DIGITS.sub("0", text.casefold())).strip()


def learned_bank(router_dir: Path) -> Path:
    """The offline loop's bank: examples people decided (preference review, audit routes, ``keel router add``)."""
    return router_dir / LEARNED_BANK


def append_examples(path: Path, examples: Iterable[Example]) -> int:
    """Add examples to a bank file (the offline loop's ``learned.jsonl``); returns how many were new.

    An example whose text the file already holds (see :func:`dedup_key`) is not added again, whatever
    its label: the first decision stays, and a correction is an edit of the file.
    """
    have = {dedup_key(e.text) for e in read_bank(path)} if path.exists() else set()
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with path.open("a", encoding="utf-8") as f:
        for ex in examples:
            key = dedup_key(ex.text)
            if not key or key in have:
                continue
            have.add(key)
            f.write(json.dumps(ex.model_dump(mode="json"), ensure_ascii=False) + "\n")
            n += 1
    return n
