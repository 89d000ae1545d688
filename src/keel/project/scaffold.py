"""`keel init`: write a new business's project folder, or a copy of an example business."""

from __future__ import annotations

import shutil
from enum import StrEnum
from importlib import resources
from pathlib import Path

from keel.config import EXAMPLES_DIR
from keel.domain import Frozen
from keel.errors import InvalidInput

SCAFFOLD_DIR = Path(str(resources.files("keel") / "project" / "scaffold"))
_SKIP = {".keel", "__pycache__"}


class Example(StrEnum):
    """The example businesses shipped with Keel (``keel init DIR --example NAME``)."""

    SKYLARK = "skylark"  # Skylark Notes: a SaaS subscription company (us / eu / sg)


class InitReport(Frozen):
    folder: Path
    files: tuple[str, ...]  # written, relative to the folder
    example: Example | None = None


def _copy(src: Path, dst: Path) -> list[str]:
    written = []
    for path in sorted(src.rglob("*")):
        rel = path.relative_to(src)
        if any(part in _SKIP for part in rel.parts) or path.suffix == ".pyc" or path.name == "__init__.py":
            continue
        target = dst / rel
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        written.append(str(rel))
    return written


def init_project(folder: Path, example: Example | None = None, force: bool = False) -> InitReport:
    """Write the scaffold (or *example*) into *folder*; a non-empty folder needs *force* (files are overwritten)."""
    if folder.exists() and not folder.is_dir():
        raise InvalidInput(f"{folder} exists and is not a folder")
    if folder.exists() and any(folder.iterdir()) and not force:
        raise InvalidInput(f"{folder} is not empty; choose a new folder or pass --force to overwrite files")
    src = EXAMPLES_DIR / example.value if example else SCAFFOLD_DIR
    if not (src / "keel.yaml").exists():
        raise InvalidInput(f"the {'example ' + example.value if example else 'scaffold'} is missing from this install")
    folder.mkdir(parents=True, exist_ok=True)
    return InitReport(folder=folder, files=tuple(_copy(src, folder)), example=example)
