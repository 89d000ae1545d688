"""Split a long Markdown or HTML policy into KB documents, one per heading at the chosen level.

Headings above the split level are not documents themselves: text directly under one becomes a document
titled by it. Deeper headings stay inside their section's body. A section with no text is skipped
(and said so in the report).
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import date
from enum import StrEnum
from html.parser import HTMLParser
from pathlib import Path

from pydantic import Field

from keel.domain import DocKind, Frozen, Lang
from keel.errors import InvalidInput
from keel.importers.kbfiles import (
    IdAllocator,
    KBImportReport,
    build_document,
    check_prefix,
    finish,
    one_line,
    slug,
)
from keel.importers.tables import decode_text
from keel.online.kb.documents import ALL_REGIONS, KBDocument
from keel.text import detect_lang


class PolicyFormat(StrEnum):
    MARKDOWN = "markdown"
    HTML = "html"


SUFFIXES: dict[str, PolicyFormat] = {
    ".md": PolicyFormat.MARKDOWN,
    ".markdown": PolicyFormat.MARKDOWN,
    ".txt": PolicyFormat.MARKDOWN,
    ".html": PolicyFormat.HTML,
    ".htm": PolicyFormat.HTML,
}


class PolicyOptions(Frozen):
    """How to cut a policy into documents and what to stamp on each."""

    lang: Lang | None = Field(None, description="every section's language; None detects it per section")
    level: int | None = Field(
        None, ge=1, le=6, description="heading level to split at; None: the highest level used at least twice"
    )
    prefix: str | None = Field(None, description="id prefix; None: the file name's slug; '' for none")
    regions: tuple[str, ...] = Field((ALL_REGIONS,), description="regions every document applies to")
    kind: DocKind = DocKind.POLICY
    valid_from: date | None = None
    valid_to: date | None = None
    tags: tuple[str, ...] = ()


class _Section(Frozen):
    title: str
    line: int  # 1-based line of the heading in the (converted) Markdown; 0 before any heading
    body: str
    split_level: bool  # a heading at the split level (an empty one is worth a warning)


# ---------------------------------------------------------------- Markdown headings

_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_NOT_SETEXT_TEXT = re.compile(r"^\s*(?:[-*+>|]|\d+[.)])(?:\s|$)")
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_MARKS = re.compile(r"[*_`]+")
_BLANK_RUNS = re.compile(r"\n{3,}")


def _plain(title: str) -> str:
    """A heading's text without Markdown marks: ``**Refunds** [see](x)`` → ``Refunds see``."""
    return one_line(_MARKS.sub("", _LINK.sub(r"\1", title)))


def _headings(lines: list[str]) -> dict[int, tuple[int, str, int]]:
    """line index → (level, title, lines the heading takes), outside fenced code."""
    found: dict[int, tuple[int, str, int]] = {}
    fence: str | None = None
    for i, line in enumerate(lines):
        m = _FENCE.match(line)
        if m:
            mark = m.group(1)
            if fence is None:
                fence = mark[0] * 3
            elif mark.startswith(fence):
                fence = None
            continue
        if fence is not None:
            continue
        atx = _ATX.match(line)
        if atx and atx.group(2) and _plain(atx.group(2)):
            found[i] = (len(atx.group(1)), _plain(atx.group(2)), 1)
            continue
        under = lines[i + 1] if i + 1 < len(lines) else ""
        setext = _SETEXT.match(under)
        single = i == 0 or not lines[i - 1].strip() or (i - 1) in found
        if setext and line.strip() and single and not _NOT_SETEXT_TEXT.match(line) and _plain(line):
            found[i] = (1 if setext.group(1)[0] == "=" else 2, _plain(line), 2)
    return found


def _split_level(levels: list[int]) -> int:
    counts = Counter(levels)
    repeated = sorted(level for level, n in counts.items() if n >= 2)
    return repeated[0] if repeated else min(levels)


def _sections(text: str, level: int | None, fallback_title: str, source: str) -> tuple[list[_Section], list[str]]:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    heads = _headings(lines)
    warnings: list[str] = []
    if not heads:
        body = text.strip()
        if not body:
            raise InvalidInput(f"{source}: no text to import")
        warnings.append(f"no headings found: the whole file is one document titled {fallback_title!r}")
        return [_Section(title=fallback_title, line=0, body=body, split_level=False)], warnings
    levels = [lvl for lvl, _, _ in heads.values()]
    split = level or _split_level(levels)
    if split not in levels:
        used = ", ".join(str(n) for n in sorted(set(levels)))
        raise InvalidInput(f"{source}: no level-{split} headings to split at (heading levels used: {used})")
    sections: list[_Section] = []
    body_lines: list[str] = []
    title, start, at_split = fallback_title, 0, False

    def close() -> None:
        body = _BLANK_RUNS.sub("\n\n", "\n".join(body_lines)).strip()
        if body:
            sections.append(_Section(title=title, line=start, body=body, split_level=at_split))
        elif at_split:
            warnings.append(f"line {start}: section {title!r} has no text and was skipped")

    i = 0
    while i < len(lines):
        head = heads.get(i)
        if head is not None and head[0] <= split:
            close()
            title, start, at_split, body_lines = head[1], i + 1, head[0] == split, []
            i += head[2]
            continue
        body_lines.append(lines[i])
        i += 1
    close()
    if sections and sections[0].line == 0:
        warnings.append(f"text before the first heading became the document {fallback_title!r}")
    return sections, warnings


# ---------------------------------------------------------------- HTML → Markdown

_SKIP = frozenset({"script", "style", "noscript", "template", "svg", "head", "nav", "iframe", "object"})
_BLOCK = frozenset(
    {
        "p", "div", "section", "article", "main", "header", "footer", "aside", "blockquote", "figure",
        "figcaption", "table", "thead", "tbody", "tfoot", "dl", "dt", "dd", "address", "details", "summary",
        "form", "fieldset", "body", "html",
    }
)  # fmt: skip
_HEADINGS = {f"h{n}": n for n in range(1, 7)}
_VOID = frozenset({"br", "hr", "img", "meta", "link", "input", "wbr", "source", "area", "col", "base"})


class _HtmlToMarkdown(HTMLParser):
    """Headings, paragraphs, lists, tables and links as plain Markdown; scripts, styles and nav left out."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.title = ""
        self._buf: list[str] = []
        self._skip: list[str] = []  # open tags whose content is left out
        self._lists: list[list[int]] = []  # per open list: [next number] for <ol>, [] for <ul>
        self._item = ""  # the list marker the next line starts with (spaces once it is used)
        self._heading = 0
        self._pre = 0
        self._in_title = False
        self._cells = 0
        self._href: list[str | None] = []

    def _flush(self, prefix: str | None = None) -> None:
        text = "".join(self._buf)
        self._buf = []
        text = text.strip("\n") if self._pre else one_line(text)
        if not text:
            return
        if prefix is None:
            prefix, self._item = self._item, " " * len(self._item)
        self.lines.append(prefix + text)

    def _paragraph(self) -> None:
        self._flush()
        if not self._lists and self.lines and self.lines[-1] != "":
            self.lines.append("")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:  # noqa: PLR0912
        if tag == "title":
            self._in_title = True
        elif self._skip:
            if tag not in _VOID:
                self._skip.append(tag)
        elif tag in _SKIP:
            self._skip.append(tag)
        elif tag in _HEADINGS:
            self._paragraph()
            self._heading = _HEADINGS[tag]
        elif tag in ("ul", "ol", "menu"):
            self._paragraph()
            self._lists.append([1] if tag == "ol" else [])
        elif tag == "li":
            self._flush()
            marker = "-"
            if self._lists and self._lists[-1]:
                marker = f"{self._lists[-1][0]}."
                self._lists[-1][0] += 1
            self._item = "  " * max(len(self._lists) - 1, 0) + marker + " "
        elif tag == "pre":
            self._paragraph()
            self.lines.append("```")
            self._pre += 1
        elif tag in ("br", "tr"):
            self._flush()
            self._cells = 0
        elif tag == "hr":
            self._paragraph()
        elif tag in ("td", "th"):
            if self._cells:
                self._buf.append(" | ")
            self._cells += 1
        elif tag == "a":
            self._href.append(dict(attrs).get("href"))
        elif tag in _BLOCK:
            self._paragraph()

    def handle_endtag(self, tag: str) -> None:  # noqa: PLR0912
        if tag == "title":
            self._in_title = False
        elif self._skip:
            if tag in self._skip:  # also closes tags left open inside (HTML allows <li> without </li>)
                del self._skip[len(self._skip) - 1 - self._skip[::-1].index(tag) :]
        elif tag in _HEADINGS and self._heading:
            self._flush("#" * self._heading + " ")
            self._heading = 0
            self.lines.append("")
        elif tag in ("ul", "ol", "menu"):
            self._flush()
            self._item = ""
            if self._lists:
                self._lists.pop()
            if not self._lists:
                self.lines.append("")
        elif tag == "li":
            self._flush()
            self._item = ""
        elif tag == "pre" and self._pre:
            self._flush()
            self._pre -= 1
            self.lines += ["```", ""]
        elif tag == "tr":
            self._flush()
        elif tag == "a" and self._href:
            href = self._href.pop()
            if href and href.startswith(("http://", "https://", "mailto:")):
                self._buf.append(f" ({href.removeprefix('mailto:')})")
        elif tag in _BLOCK:
            self._paragraph()

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        elif not self._skip:
            self._buf.append(data)

    def markdown(self) -> str:
        self._paragraph()
        return _BLANK_RUNS.sub("\n\n", "\n".join(self.lines)).strip()


def html_to_markdown(html: str) -> tuple[str, str]:
    """The HTML's text as Markdown (headings as ``#``), and its ``<title>``."""
    parser = _HtmlToMarkdown()
    parser.feed(html)
    parser.close()
    return parser.markdown(), one_line(parser.title)


# ---------------------------------------------------------------- entry points


def split_policy(
    text: str, fmt: PolicyFormat, options: PolicyOptions, source: str = "policy"
) -> tuple[list[KBDocument], list[str], list[str]]:
    """Documents, where each came from ('line 12'), and warnings, for a policy's text; nothing is written."""
    stem = Path(source).stem or "policy"
    fallback = one_line(stem.replace("_", " ").replace("-", " ")) or "policy"
    if fmt is PolicyFormat.HTML:
        text, html_title = html_to_markdown(text)
        fallback = html_title or fallback
    sections, warnings = _sections(text, options.level, fallback, source)
    prefix = check_prefix(slug(stem) if options.prefix is None else options.prefix)
    ids = IdAllocator(prefix)
    docs, origins = [], []
    for s in sections:
        lang = options.lang or detect_lang(f"{s.title}\n{s.body}")
        topic, doc_id = ids.take(s.title, lang)
        where = f"{source}: line {s.line}" if s.line and fmt is PolicyFormat.MARKDOWN else f"{source}: {s.title!r}"
        raw = {
            "id": doc_id,
            "topic": topic,
            "lang": lang,
            "title": s.title,
            "kind": options.kind,
            "region": list(options.regions),
            "valid_from": options.valid_from,
            "valid_to": options.valid_to,
            "tags": list(options.tags),
            "body": s.body,
        }
        docs.append(build_document(raw, where))
        origins.append(f"line {s.line}" if s.line and fmt is PolicyFormat.MARKDOWN else "")
    return docs, origins, warnings


def policy_format(path: Path) -> PolicyFormat:
    fmt = SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise InvalidInput(f"{path}: unsupported policy file {path.suffix or '(none)'!r}; use .md, .markdown or .html")
    return fmt


def import_policy(
    path: Path, out: Path, options: PolicyOptions, *, dry_run: bool = False, overwrite: bool = False
) -> KBImportReport:
    """Split the policy at *path* into KB documents and write them into the folder *out* (all or none)."""
    fmt = policy_format(path)
    if not path.is_file():
        raise InvalidInput(f"file not found: {path}")
    text, encoding = decode_text(path.read_bytes(), str(path))
    docs, origins, warnings = split_policy(text, fmt, options, source=str(path))
    if encoding != "utf-8":
        warnings.insert(0, f"read as {encoding.upper()} (not UTF-8)")
    return finish(docs, origins, source=str(path), out=out, warnings=warnings, dry_run=dry_run, overwrite=overwrite)
