"""Read knowledge-base documents from a folder of Markdown (front matter) or YAML files."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError, field_validator

from keel.business import ALL_REGIONS, ID_PATTERN
from keel.domain import DocKind, Frozen, Lang
from keel.errors import InvalidInput
from keel.yamlio import load_yaml

FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*(?:\n|\Z)(.*)\Z", re.DOTALL)
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
_REGION = re.compile(ID_PATTERN)


class KBDocument(Frozen):
    """One knowledge-base document, the unit of retrieval."""

    doc_id: str = Field(alias="id")
    topic: str
    lang: Lang
    title: str = Field(min_length=1)
    kind: DocKind
    regions: tuple[str, ...] = Field((ALL_REGIONS,), alias="region")
    valid_from: date | None = None
    valid_to: date | None = None
    tags: tuple[str, ...] = ()
    questions: tuple[str, ...] = Field((), description="how customers ask for this document (searched with the title)")
    body: str = Field(min_length=1)
    deleted: bool = Field(False, description="in an overlay: remove this document")

    model_config = Frozen.model_config | {"populate_by_name": True}

    @field_validator("doc_id", "topic")
    @classmethod
    def _id_shape(cls, v: str) -> str:
        if not _ID.match(v):
            raise ValueError("ids use letters, digits, '.', '_' and '-' (max 200)")
        return v

    @field_validator("regions", mode="before")
    @classmethod
    def _regions(cls, v: Any) -> tuple[str, ...]:
        # which regions exist is the business's to say (checked on publish and by `keel check`)
        values = [v] if isinstance(v, str) else list(v or [ALL_REGIONS])
        bad = [r for r in values if not isinstance(r, str) or not _REGION.match(r)]
        if bad:
            raise ValueError(f"region ids {bad} must be lower-case letters, digits, '_' or '-' (or '{ALL_REGIONS}')")
        return tuple(sorted(set(values)))

    @property
    def content_hash(self) -> str:
        payload = self.model_dump(mode="json", by_alias=True)
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()

    def applies_to(self, region: str | None) -> bool:
        return region is None or ALL_REGIONS in self.regions or region in self.regions


DOC_SUFFIXES = frozenset({".md", ".markdown", ".yaml", ".yml"})


def _parse_markdown(name: str, text: str) -> list[dict[str, Any]]:
    m = FRONT_MATTER.match(text)
    if not m:
        raise InvalidInput(f"{name}: a Markdown document must start with '---' front matter")
    meta = load_yaml(m.group(1)) or {}
    if not isinstance(meta, dict):
        raise InvalidInput(f"{name}: the front matter must be a mapping")
    meta.setdefault("body", m.group(2).strip())
    return [meta]


def _parse_yaml(name: str, text: str) -> list[dict[str, Any]]:
    data = load_yaml(text)
    if isinstance(data, dict) and "documents" in data:
        data = data["documents"]
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list) or not all(isinstance(d, dict) for d in data):
        raise InvalidInput(f"{name}: expected a document mapping or a 'documents:' list")
    return data


def _files(folder: Path) -> Iterator[Path]:
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix.lower() in DOC_SUFFIXES:
            yield path


def _parse_file(name: str, data: bytes) -> list[KBDocument]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(f"{name}: not UTF-8 text") from None
    suffix = Path(name).suffix.lower()
    if suffix not in DOC_SUFFIXES:
        raise InvalidInput(f"{name}: not a knowledge-base document (use .md with front matter, or .yaml)")
    try:
        raws = _parse_markdown(name, text) if suffix in {".md", ".markdown"} else _parse_yaml(name, text)
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{name}: invalid YAML: {exc}") from None
    docs = []
    for raw in raws:
        raw.setdefault("topic", raw.get("id"))
        try:
            docs.append(KBDocument.model_validate(raw))
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            doc = f" (document {raw.get('id')!r})" if len(raws) > 1 and raw.get("id") else ""
            raise InvalidInput(f"{name}{doc}: field {where!r}: {err['msg']}") from None
    return docs


def parse_documents(files: Iterable[tuple[str, bytes]], source: str = "the upload") -> list[KBDocument]:
    """Parse named in-memory files; any bad file fails the whole set, naming the file and the field."""
    docs: list[KBDocument] = []
    seen: dict[str, str] = {}
    for name, data in files:
        for doc in _parse_file(name, data):
            if doc.doc_id in seen:
                raise InvalidInput(f"{name}: duplicate document id {doc.doc_id!r} (also in {seen[doc.doc_id]})")
            seen[doc.doc_id] = name
            docs.append(doc)
    if not docs:
        raise InvalidInput(f"{source}: no documents (.md with front matter, or .yaml)")
    return docs


def undeclared_regions(docs: Iterable[KBDocument], regions: Iterable[str]) -> list[tuple[KBDocument, str]]:
    """(document, region) for every region a document names that the business does not declare."""
    known = set(regions) | {ALL_REGIONS}
    return [(d, r) for d in docs for r in d.regions if r not in known]


def check_regions(docs: Iterable[KBDocument], regions: Iterable[str], source: str = "the documents") -> None:
    """Refuse documents scoped to a region the business does not serve (a typo would hide them)."""
    bad = undeclared_regions(docs, regions)
    if bad:
        listed = "; ".join(f"{d.doc_id}: {r!r}" for d, r in bad[:5])
        raise InvalidInput(
            f"{source}: region(s) the business does not declare ({listed}); business.yaml `regions:` has "
            f"{', '.join(sorted(set(regions)))}"
        )


def load_folder(folder: Path) -> list[KBDocument]:
    """Parse every document under *folder*; any bad file fails the whole load (nothing written)."""
    if not folder.is_dir():
        raise InvalidInput(f"not a folder: {folder}")
    return parse_documents(((str(path), path.read_bytes()) for path in _files(folder)), source=str(folder))
