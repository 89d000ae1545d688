"""Value types of the audit: dialogs as read, findings, routes, skipped lines."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any


class Speaker(StrEnum):
    CUSTOMER = "customer"
    AGENT = "agent"
    SYSTEM = "system"


class InputFormat(StrEnum):
    AUTO = "auto"  # by extension (.csv) and, for JSON lines, by the keys of each line
    JSONL = "jsonl"  # Keel's dialog schema (docs/audit.md)
    CSV = "csv"  # one row per turn, columns mapped with --map
    SHAREGPT = "sharegpt"  # {"conversations": [{"from", "value"}]} or {"messages": [{"role", "content"}]}


class FindingKind(StrEnum):
    INCONSISTENT = "inconsistent_answer"
    HIDDEN_EXCEPTION = "hidden_exception"
    SOOTHING_ONLY = "soothing_only"
    VOLATILE = "volatile_knowledge"
    STATE_DEPENDENT = "state_dependent"
    DISPUTED = "disputed_topic"


class Route(StrEnum):
    STYLE_SFT = "style_sft"
    FAQ_SFT = "faq_sft"
    PREFERENCE = "preference_candidate"
    KB_RULES = "excluded_kb_rules"
    RUNTIME_STATE = "excluded_runtime_state"
    BUSINESS_OWNER = "excluded_business_owner"


ROUTE_LABELS: dict[Route, str] = {
    Route.STYLE_SFT: "style SFT",
    Route.FAQ_SFT: "fixed-rule FAQ SFT",
    Route.PREFERENCE: "preference candidate",
    Route.KB_RULES: "excluded → KB/rules",
    Route.RUNTIME_STATE: "excluded → runtime state",
    Route.BUSINESS_OWNER: "excluded → business owner",
}


@dataclass(frozen=True, slots=True)
class Turn:
    role: Speaker
    text: str
    agent: str | None = None  # the human agent who wrote an agent turn, when known


@dataclass(frozen=True, slots=True)
class Dialog:
    """One historical dialog as read from the input, in Keel's normalised shape."""

    dialog_id: str
    turns: tuple[Turn, ...]
    line_no: int  # first line (or CSV row line) of the dialog in the input file
    region: str | None = None
    lang: str | None = None
    agent: str | None = None
    day: date | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def agent_of(self, index: int) -> str | None:
        return self.turns[index].agent or self.agent

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.dialog_id}
        for key, value in (
            ("region", self.region),
            ("lang", self.lang),
            ("agent", self.agent),
            ("date", self.day.isoformat() if self.day else None),
        ):
            if value is not None:
                out[key] = value
        out["turns"] = [
            {"role": t.role.value, "text": t.text, **({"agent": t.agent} if t.agent else {})} for t in self.turns
        ]
        if self.meta:
            out["meta"] = self.meta
        return out


@dataclass(frozen=True, slots=True)
class SkippedLine:
    """An input line (or CSV row) that could not be used, and why; never dropped silently."""

    line_no: int
    reason: str


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem found in one dialog, with the evidence a reviewer needs."""

    kind: FindingKind
    dialog_id: str
    turns: tuple[int, ...]  # indexes into the dialog's turns
    summary: str  # one line a person can read
    evidence: dict[str, Any] = field(default_factory=dict)  # values, passage id/text, cluster, examples

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "dialog_id": self.dialog_id,
            "turns": list(self.turns),
            "summary": self.summary,
            "evidence": self.evidence,
        }
