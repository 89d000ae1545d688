"""Knowledge-base uploads from the browser: size limits, .zip archives, then the KB document parser.

Nothing is written here: the result is a list of validated documents, or an ``InvalidInput``
naming the file (and field) that failed.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from pathlib import PurePosixPath
from typing import NamedTuple

from keel.errors import InvalidInput
from keel.online.kb.documents import DOC_SUFFIXES, KBDocument, parse_documents

MAX_UPLOAD_BYTES = 5 * 1024 * 1024  # everything uploaded in one publish
MAX_UNPACKED_BYTES = 20 * 1024 * 1024  # what the archives may expand to
MAX_FILES = 2000
FORM_OVERHEAD_BYTES = 64 * 1024  # multipart boundaries, the note, the CSRF token


class UploadedFile(NamedTuple):
    name: str
    data: bytes


def human_size(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.1f} MB"
    if n >= 1024:
        return f"{n / 1024:.0f} KB"
    return f"{n} B"


def _skipped(member: str) -> bool:
    parts = PurePosixPath(member).parts
    return any(p.startswith(".") or p == "__MACOSX" for p in parts)


def _unzip(upload: UploadedFile, budget: int) -> list[UploadedFile]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(upload.data))
    except zipfile.BadZipFile:
        raise InvalidInput(f"{upload.name}: not a valid .zip archive") from None
    out: list[UploadedFile] = []
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir() and not _skipped(m.filename)]
        if len(members) > MAX_FILES:
            raise InvalidInput(f"{upload.name}: {len(members)} files; the limit is {MAX_FILES}")
        for member in members:
            if PurePosixPath(member.filename).suffix.lower() not in DOC_SUFFIXES:
                continue  # like a folder: other files (README.txt, images) are ignored
            if member.file_size > budget:
                raise InvalidInput(
                    f"{upload.name}: unpacks to more than {human_size(MAX_UNPACKED_BYTES)}; split the upload"
                )
            try:
                data = archive.read(member)
            except (zipfile.BadZipFile, RuntimeError, NotImplementedError) as exc:  # corrupt, encrypted
                raise InvalidInput(f"{upload.name}:{member.filename}: cannot be read ({exc})") from None
            budget -= len(data)
            out.append(UploadedFile(f"{upload.name}:{member.filename}", data))
    return out


def expand(files: Sequence[UploadedFile]) -> list[UploadedFile]:
    """Archives unpacked in memory (within limits); plain documents kept as they are."""
    total = sum(len(f.data) for f in files)
    if total > MAX_UPLOAD_BYTES:
        raise InvalidInput(f"the upload is {human_size(total)}; the limit is {human_size(MAX_UPLOAD_BYTES)}")
    budget = MAX_UNPACKED_BYTES
    out: list[UploadedFile] = []
    for upload in files:
        if upload.name.lower().endswith(".zip"):
            unpacked = _unzip(upload, budget)
            budget -= sum(len(f.data) for f in unpacked)
            out.extend(unpacked)
        else:
            out.append(upload)
    if len(out) > MAX_FILES:
        raise InvalidInput(f"{len(out)} files; the limit is {MAX_FILES}")
    return out


def documents_from_upload(files: Sequence[UploadedFile]) -> list[KBDocument]:
    """Validate every uploaded document; the first bad one fails the whole upload."""
    if not files:
        raise InvalidInput("no file was uploaded")
    return parse_documents(((f.name, f.data) for f in expand(files)), source=", ".join(f.name for f in files))
