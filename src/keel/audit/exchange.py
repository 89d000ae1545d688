"""A dialog as exchanges: the customer's turns, then the agent's turns that answer them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from keel.audit import facts
from keel.audit.lexicon import GRANT, QUALITY_CLAIM, REFUSAL, SMALL_TALK
from keel.audit.schema import Dialog, Speaker
from keel.text import detect_lang, normalize, tokenize

_SENTENCE = re.compile(r"(?<=[。！？!?；;])|(?<=\.)\s+|\n+")
_SIGNS = {"HK$": "hk", "港币": "hk", "港元": "hk", "€": "eu", "欧元": "eu"}


@dataclass(slots=True)
class Exchange:
    """One customer question (possibly several turns) and the agent's reply turns to it."""

    index: int
    customer_turns: tuple[int, ...]
    agent_turns: tuple[int, ...]
    question: str
    answer: str
    agent: str | None
    substantive: bool = False
    values: frozenset[tuple[str, str]] = frozenset()
    stance: str | None = None
    grant: str | None = None  # the agent sentence that grants something
    elapsed: int | None = None  # days since delivery/purchase the customer mentions
    quality_claim: bool = False
    cluster: int = -1
    kb_decided: bool = False  # a KB rule covered this case (window, exclusion, limit)
    flagged: bool = False  # a local finding already explains this exchange
    extra: dict[str, object] = field(default_factory=dict)


def split_exchanges(dialog: Dialog) -> list[Exchange]:
    out: list[Exchange] = []
    cust: list[int] = []
    agent: list[int] = []

    def flush() -> None:
        if cust and agent:
            turns = dialog.turns
            out.append(
                Exchange(
                    index=len(out),
                    customer_turns=tuple(cust),
                    agent_turns=tuple(agent),
                    question=" ".join(turns[i].text for i in cust),
                    answer=" ".join(turns[i].text for i in agent),
                    agent=dialog.agent_of(agent[0]),
                )
            )

    for i, turn in enumerate(dialog.turns):
        if turn.role is Speaker.CUSTOMER:
            if agent:
                flush()
                cust, agent = [], []
            cust.append(i)
        elif turn.role is Speaker.AGENT and cust:
            agent.append(i)
    flush()
    return out


def is_substantive(question: str) -> bool:
    """More than greetings and thanks: at least two content words besides small talk."""
    rest = normalize(question)
    for _ in range(6):
        term = SMALL_TALK.find(rest)
        if term is None:
            break
        rest = rest.replace(term, " ")
    words = [t for t in tokenize(rest) if len(t) > 1 or not t.isascii()]
    return len(words) >= 2 or (len(rest.strip()) >= 6 and any("\u4e00" <= c <= "\u9fff" for c in rest))


def grant_sentence(answer: str) -> str | None:
    """The first sentence that gives the customer something, unless it refuses."""
    for sentence in _SENTENCE.split(answer):
        if not sentence or not sentence.strip():
            continue
        norm = normalize(sentence)
        if GRANT.find(norm) and not REFUSAL.find(norm):
            return sentence.strip()
    return None


def describe(ex: Exchange) -> Exchange:
    """Fill the per-exchange facts read from its own text."""
    ex.substantive = is_substantive(ex.question)
    ex.values = facts.values(ex.answer) - facts.values(ex.question)  # echoes of the customer are no claim
    ex.stance = facts.stance(ex.answer) if facts.is_yes_no_question(ex.question) else None
    ex.grant = grant_sentence(ex.answer)
    ex.elapsed = facts.elapsed_days(ex.question)
    ex.quality_claim = QUALITY_CLAIM.find(normalize(ex.question)) is not None
    return ex


def infer_region(dialog: Dialog) -> str | None:
    """The dialog's region if given, else from currency signs the agent or customer wrote."""
    if dialog.region:
        return dialog.region
    text = " ".join(t.text for t in dialog.turns)
    for sign, region in _SIGNS.items():
        if sign in text:
            return region
    return None


def dialog_lang(dialog: Dialog) -> str:
    if dialog.lang in ("zh", "en"):
        return dialog.lang
    return detect_lang(" ".join(t.text for t in dialog.turns if t.role is Speaker.CUSTOMER)).value
