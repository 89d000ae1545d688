"""What may import what (docs/architecture.md): online never imports offline, shared formats import neither."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "keel"
OFFLINE = ("audit", "prefs", "train", "eval")
EDGES = ("cli", "api", "console", "project", "importers", "setup_demo")
SHARED = ("domain", "manifest", "config", "business", "sharegpt", "errors", "text")
#: the known exceptions, by (importing module, imported module)
ALLOWED = {
    ("keel.online.router.evaluate", "keel.eval.stats"),  # its Wilson intervals
    ("keel.config", "keel.online.router.banks"),  # the built-in banks when none is configured
}


def _imports() -> list[tuple[str, str]]:
    found = []
    for path in SRC.rglob("*.py"):
        module = ".".join(("keel", *path.relative_to(SRC).with_suffix("").parts)).removesuffix(".__init__")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            found += [(module, n) for n in names if n.startswith("keel.")]
    return found


def _top(module: str) -> str:
    return module.split(".")[1] if "." in module else module


def _violations(rule) -> list[str]:
    return sorted(f"{a} imports {b}" for a, b in _imports() if rule(a, b) and (a, b) not in ALLOWED)


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("online imports offline or an edge", lambda a, b: _top(a) == "online" and _top(b) in OFFLINE + EDGES),
        ("prefs imports train", lambda a, b: _top(a) == "prefs" and _top(b) == "train"),
        ("audit imports a later step", lambda a, b: _top(a) == "audit" and _top(b) in ("prefs", "train", "eval")),
        ("a shared format imports a flow", lambda a, b: _top(a) in SHARED and _top(b) in ("online", *OFFLINE)),
        ("the library imports an edge", lambda a, b: _top(a) in ("online", *OFFLINE) and _top(b) in EDGES),
    ],
)
def test_imports_run_downstream(name, rule):
    assert _violations(rule) == [], name
