"""`keel check`: validate a business's files before a publish, and say what was found, line by line.

Checked against the business (business.yaml): the rules file (schema, templates in every language,
topics the rules and the state policy use, region words), every KB folder (front-matter fields,
regions, duplicate ids; which declared regions no document serves), the customer file (unknown
fields, regions, statuses, memberships, facts and their types) and the eval suite (its users and
gold topics). Findings are values; the CLI prints them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from keel.business import ALL_REGIONS, Business
from keel.config import KeelConfig
from keel.domain import Frozen, Lang
from keel.errors import KeelError
from keel.online.kb.documents import DOC_SUFFIXES, FRONT_MATTER, KBDocument
from keel.online.rules.schema import REQUIRED_TEMPLATES, RuleFile
from keel.online.state.providers import user_rows
from keel.online.state.validate import parse_user
from keel.project.locate import json_key_line, json_record_line, nearest, yaml_lines
from keel.redact import contact_key, find_personal_data
from keel.yamlio import load_yaml


class Severity(StrEnum):
    ERROR = "error"  # Keel would refuse or misread this: fix it before publishing
    WARNING = "warning"  # allowed, but probably not what was meant


class Finding(Frozen):
    severity: Severity
    file: str
    line: int | None = None
    message: str

    def render(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.severity.value}: {self.message}"


class CheckReport(Frozen):
    findings: tuple[Finding, ...] = ()
    checked: tuple[str, ...] = ()  # what was read (files and folders)

    @property
    def errors(self) -> int:
        return sum(f.severity is Severity.ERROR for f in self.findings)

    @property
    def warnings(self) -> int:
        return sum(f.severity is Severity.WARNING for f in self.findings)

    @property
    def ok(self) -> bool:
        return self.errors == 0


#: topics the state policy and the pipeline look up by name in the rules file
USED_TOPICS = ("state_query", "money", "personal_fields", "small_talk")
STATUS_TOPIC = "status_question"  # with state_query: the status answer from the customer's record
_KB_FIELDS = frozenset({*KBDocument.model_fields, "id", "region"}) - {"doc_id", "regions"}
_PROBLEM_PATH = re.compile(r"^([A-Za-z0-9_.\[\]-]+): ")


class _Findings:
    def __init__(self) -> None:
        self.items: list[Finding] = []
        self.checked: list[str] = []

    def add(self, severity: Severity, file: Path | str, message: str, line: int | None = None) -> None:
        self.items.append(Finding(severity=severity, file=str(file), line=line, message=message))

    def error(self, file: Path | str, message: str, line: int | None = None) -> None:
        self.add(Severity.ERROR, file, message, line)

    def warning(self, file: Path | str, message: str, line: int | None = None) -> None:
        self.add(Severity.WARNING, file, message, line)


def _read_yaml(out: _Findings, path: Path) -> tuple[Any, dict[tuple[str | int, ...], int]] | None:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        out.error(path, "file not found")
        return None
    except UnicodeDecodeError:
        out.error(path, "not UTF-8 text")
        return None
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        out.error(path, f"not valid YAML: {getattr(exc, 'problem', exc)}", mark.line + 1 if mark else None)
        return None
    out.checked.append(str(path))
    return data, yaml_lines(text)


def _pydantic(out: _Findings, path: Path, exc: ValidationError, lines: dict[tuple[str | int, ...], int]) -> None:
    for err in exc.errors():
        loc = tuple(err["loc"])
        where = ".".join(str(p) for p in loc) or "file"
        msg = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
        out.error(path, f"{where}: {msg}", nearest(lines, loc))


# ---- business ---------------------------------------------------------------------------------


def _check_business(out: _Findings, business: Business) -> None:
    path = business.source or "business.yaml"
    if business.source is not None:
        out.checked.append(str(business.source))
    lines = yaml_lines(business.source.read_text(encoding="utf-8")) if business.source else {}
    for key, spec in (("order", business.order), ("ticket", business.ticket)):
        if not spec.statuses:
            out.warning(
                path,
                f"{key}.statuses: none declared: every customer {key} status will be refused",
                nearest(lines, (key,)),
            )


# ---- rules and templates ----------------------------------------------------------------------


def _check_rules(out: _Findings, path: Path, business: Business) -> set[str]:  # noqa: PLR0912
    """The rules file against its schema and the business; returns the topic names it defines."""
    read = _read_yaml(out, path)
    if read is None:
        return set()
    data, lines = read
    if not isinstance(data, dict):
        out.error(path, "expected a mapping at the top level")
        return set()
    topics = data.get("topics") or {}
    topics = topics if isinstance(topics, dict) else {}
    for i, rule in enumerate(data.get("rules") or []):
        effect = rule.get("effect") if isinstance(rule, dict) else None
        for t in (effect or {}).get("forbid_topics") or []:
            if t not in topics:
                out.error(
                    path,
                    f"rule {rule.get('id')!r} forbids topic {t!r}, which `topics:` does not define",
                    nearest(lines, ("rules", i, "effect", "forbid_topics")),
                )
    for name in USED_TOPICS:
        if name not in topics:
            out.warning(path, f"topics: no {name!r} list (the state policy uses it)", nearest(lines, ("topics",)))
    if STATUS_TOPIC not in topics and (business.order.statuses or business.ticket.statuses):
        out.warning(
            path,
            f"topics: no {STATUS_TOPIC!r} list: status questions will go to the model instead of the record "
            "(business.yaml declares order/ticket statuses)",
            nearest(lines, ("topics",)),
        )
    templates = data.get("templates") or {}
    templates = templates if isinstance(templates, dict) else {}
    for name in REQUIRED_TEMPLATES:
        if name not in templates:
            out.error(
                path,
                f"templates: {name!r} is missing (Keel needs: {', '.join(REQUIRED_TEMPLATES)})",
                nearest(lines, ("templates",)),
            )
    for name, texts in templates.items():
        if name not in REQUIRED_TEMPLATES:
            out.warning(path, f"templates: {name!r} is not a template Keel uses", nearest(lines, ("templates", name)))
        texts = texts if isinstance(texts, dict) else {}
        for lang in Lang:
            if not str(texts.get(lang.value) or "").strip():
                out.error(path, f"template {name!r} has no {lang.value} text", nearest(lines, ("templates", name)))
    for region in data.get("region_terms") or {}:
        if region not in business.regions:
            out.error(
                path,
                f"region_terms: {region!r} is not a region of the business (declared: {', '.join(business.regions)})",
                nearest(lines, ("region_terms", region)),
            )
    pattern = data.get("order_id_pattern")
    if pattern and business.order.id_pattern and pattern != business.order.id_pattern:
        out.warning(
            path,
            "order_id_pattern differs from business.yaml order.id_pattern (the business's wins)",
            nearest(lines, ("order_id_pattern",)),
        )
    try:
        RuleFile.model_validate(data)
    except ValidationError as exc:
        _pydantic(out, path, exc, lines)
    return set(topics)


# ---- knowledge base ---------------------------------------------------------------------------


def _kb_file(out: _Findings, path: Path, business: Business) -> list[KBDocument]:  # noqa: PLR0912
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        out.error(path, "not UTF-8 text")
        return []
    if path.suffix.lower() in {".md", ".markdown"}:
        m = FRONT_MATTER.match(text)
        if not m:
            out.error(path, "a Markdown document must start with '---' front matter", 1)
            return []
        try:
            meta = load_yaml(m.group(1)) or {}
        except yaml.YAMLError as exc:
            out.error(path, f"front matter is not valid YAML: {getattr(exc, 'problem', exc)}")
            return []
        if not isinstance(meta, dict):
            out.error(path, "the front matter must be a mapping", 2)
            return []
        meta.setdefault("body", m.group(2).strip())
        raws, lines = [meta], yaml_lines(m.group(1), first_line=2)
        prefix: tuple[str | int, ...] = ()
    else:
        try:
            data = load_yaml(text)
        except yaml.YAMLError as exc:
            out.error(path, f"not valid YAML: {getattr(exc, 'problem', exc)}")
            return []
        prefix = ("documents",) if isinstance(data, dict) and "documents" in data else ()
        data = data["documents"] if prefix else data
        raws = data if isinstance(data, list) else [data]
        lines = yaml_lines(text)
    docs = []
    for i, raw in enumerate(raws):
        base = (*prefix, i) if len(raws) > 1 or prefix else ()
        if not isinstance(raw, dict):
            out.error(path, "expected a document mapping", nearest(lines, base))
            continue
        label = f"document {raw.get('id')!r}: " if len(raws) > 1 else ""
        for key in raw:
            if key not in _KB_FIELDS:
                out.error(
                    path,
                    f"{label}unknown field {key!r} (KB documents have: {', '.join(sorted(_KB_FIELDS))})",
                    nearest(lines, (*base, key)),
                )
        regions = raw.get("region")
        for r in [regions] if isinstance(regions, str) else list(regions or []):
            if r != ALL_REGIONS and r not in business.regions:
                declared = f"declared: {', '.join(business.regions)}, or {ALL_REGIONS}"
                out.error(
                    path,
                    f"{label}region {r!r} is not a region of the business ({declared})",
                    nearest(lines, (*base, "region")),
                )
        raw = {k: v for k, v in raw.items() if k in _KB_FIELDS}
        raw.setdefault("topic", raw.get("id"))
        try:
            docs.append(KBDocument.model_validate(raw))
        except ValidationError as exc:
            for err in exc.errors():
                loc = tuple(err["loc"])
                key = {"doc_id": "id", "regions": "region"}.get(str(loc[0]), str(loc[0])) if loc else ""
                if key == "region" and "region" in raw:
                    continue  # reported above against the business
                out.error(path, f"{label}field {key!r}: {err['msg']}", nearest(lines, (*base, key)))
    return docs


def _check_contacts(out: _Findings, path: Path, doc: KBDocument, business: Business) -> None:
    """A contact in a KB document that business.yaml does not publish is redacted: say so."""
    public = {contact_key(c) for c in business.public_contacts}
    hidden = sorted({x for x in find_personal_data(doc.body) if contact_key(x) not in public})
    if hidden:
        out.warning(
            path,
            f"document {doc.doc_id!r}: {', '.join(hidden)} will be shown as [EMAIL]/[PHONE] (personal data); "
            "if it is the business's own, list it under public_contacts: in business.yaml",
        )


def _check_kb(out: _Findings, folders: Iterable[tuple[Path, bool]], business: Business) -> set[str]:  # noqa: PLR0912
    """Every KB folder; the regions check runs on the version the folders publish together."""
    final: dict[str, KBDocument] = {}
    for folder, overlay in folders:
        if not folder.is_dir():
            out.error(folder, "KB folder not found")
            continue
        out.checked.append(str(folder))
        seen: dict[str, Path] = {}
        files = [p for p in sorted(folder.rglob("*")) if p.is_file() and p.suffix.lower() in DOC_SUFFIXES]
        if not files:
            out.error(folder, "no documents (.md with front matter, or .yaml)")
        if not overlay:
            final = {}  # a full version replaces what came before
        for path in files:
            for doc in _kb_file(out, path, business):
                if doc.doc_id in seen:
                    out.error(path, f"duplicate document id {doc.doc_id!r} (also in {seen[doc.doc_id]})")
                seen[doc.doc_id] = path
                _check_contacts(out, path, doc, business)
                if doc.deleted:
                    final.pop(doc.doc_id, None)
                else:
                    final[doc.doc_id] = doc
    docs = list(final.values())
    if docs:
        where = business.source or "business.yaml"
        lines = yaml_lines(business.source.read_text(encoding="utf-8")) if business.source else {}
        for region in business.regions:
            serving = [d for d in docs if ALL_REGIONS in d.regions or region in d.regions]
            if not serving:
                out.error(
                    where,
                    f"region {region!r} is declared but no KB document serves it "
                    f"(none has region [{region}] or [{ALL_REGIONS}])",
                    nearest(lines, ("regions", region)),
                )
                continue
            for lang in Lang:
                if not any(d.lang is lang for d in serving):
                    out.warning(
                        where, f"region {region!r} has no {lang.value} document", nearest(lines, ("regions", region))
                    )
    return {d.topic for d in docs}


# ---- customers --------------------------------------------------------------------------------


def _problem_path(problem: str) -> list[str | int]:
    m = _PROBLEM_PATH.match(problem)
    if not m:
        return []
    parts: list[str | int] = []
    for piece in m.group(1).split("."):
        name, *idx = re.split(r"[\[\]]+", piece.strip("]"))
        if name:
            parts.append(name)
        parts += [int(i) for i in idx if i.isdigit()]
    return parts


def _check_customers(out: _Findings, path: Path, business: Business) -> set[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        out.error(path, "customer file not found")
        return set()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        out.error(path, f"not valid JSON: {exc.msg}", exc.lineno)
        return set()
    out.checked.append(str(path))
    try:
        rows = user_rows(data, str(path))
    except KeelError as exc:
        out.error(path, exc.message, 1)
        return set()
    text_lines = text.splitlines()
    ids: set[str] = set()
    items = {"orders": "order_id", "tickets": "ticket_id"}
    for i, row in enumerate(rows):
        uid = str(row.get("user_id")) if isinstance(row, dict) and row.get("user_id") else None
        start = (json_record_line(text_lines, "user_id", uid) if uid else None) or 1
        label = f"user {uid}" if uid else f"user #{i}"
        if uid in ids:
            out.error(path, f"{label}: duplicate user_id", start)
        if uid:
            ids.add(uid)
        _user, problems = parse_user(row, business)
        for problem in problems:
            line = json_key_line(text_lines, start, _problem_path(problem), items)
            out.error(path, f"{label}: {problem}", line)
    return ids


# ---- eval suite -------------------------------------------------------------------------------


def _check_suite(out: _Findings, folder: Path, users: set[str] | None, topics: set[str]) -> None:
    from keel.eval.cases import EvalCase

    if not folder.is_dir():
        out.warning(folder, "eval suite folder not found (`keel eval run` needs one)")
        return
    out.checked.append(str(folder))
    ids: set[str] = set()
    for path in sorted(folder.glob("*.yaml")):
        if path.name.startswith("_"):
            continue
        read = _read_yaml(out, path)
        if read is None:
            continue
        data, lines = read
        for i, item in enumerate((data or {}).get("cases", []) if isinstance(data, dict) else []):
            try:
                case = EvalCase.model_validate(item)
            except ValidationError as exc:
                for err in exc.errors():
                    loc = ("cases", i, *err["loc"])
                    ident = item.get("id", f"#{i}") if isinstance(item, dict) else f"#{i}"
                    where = ".".join(str(p) for p in err["loc"])
                    out.error(path, f"case {ident}: {where}: {err['msg']}", nearest(lines, loc))
                continue
            line = nearest(lines, ("cases", i))
            if case.id in ids:
                out.error(path, f"duplicate case id {case.id}", line)
            ids.add(case.id)
            if users is not None and case.user and case.user not in users:
                out.error(
                    path,
                    f"case {case.id}: user {case.user!r} is not in the customer file",
                    nearest(lines, ("cases", i, "user")),
                )
            unknown = [t for t in case.gold_topics if topics and t not in topics]
            if unknown:
                out.warning(
                    path,
                    f"case {case.id}: gold_topics {unknown} are no KB topic",
                    nearest(lines, ("cases", i, "gold_topics")),
                )
    if not ids:
        out.warning(folder, "no eval cases")


# ---- the whole project ------------------------------------------------------------------------


def _customer_file(cfg: KeelConfig) -> Path | None:
    if cfg.state.startswith("json:"):
        return Path(cfg.state.removeprefix("json:"))
    if cfg.state.startswith("sqlite"):
        return cfg.customers
    return None  # an HTTP service answers for itself


def check_project(cfg: KeelConfig, kb_folders: Iterable[Path] = ()) -> CheckReport:
    """Validate the business's files named by *cfg* (and any extra KB folders) against its business.yaml."""
    out = _Findings()
    business = cfg.business
    _check_business(out, business)
    _check_rules(out, cfg.rules_path, business)
    sources = [(s.folder, s.overlay) for s in cfg.kb_sources] + [(Path(f), False) for f in kb_folders]
    if not sources:
        out.warning(business.source or "keel.yaml", "no KB folder (kb_sources, or a kb/ folder beside business.yaml)")
    topics = _check_kb(out, sources, business)
    customers = _customer_file(cfg)
    users = _check_customers(out, customers, business) if customers is not None else None
    for bank in cfg.router.banks:
        if not bank.exists():
            out.error(bank, "router bank not found (router.banks)")
    _check_suite(out, cfg.eval_suite, users, topics)
    return CheckReport(findings=tuple(out.items), checked=tuple(dict.fromkeys(out.checked)))
