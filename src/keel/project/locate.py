"""Line numbers for findings: where a key sits in a YAML or JSON file (best effort, never raises)."""

from __future__ import annotations

import re
from collections.abc import Sequence

import yaml

Path_ = Sequence[str | int]


def yaml_lines(text: str, first_line: int = 1) -> dict[tuple[str | int, ...], int]:
    """Every mapping key and sequence item of a YAML text → its 1-based line (``first_line`` for line 1)."""
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return {}
    out: dict[tuple[str | int, ...], int] = {}

    def walk(node: yaml.Node, path: tuple[str | int, ...]) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    here = (*path, key.value)
                    out[here] = key.start_mark.line + first_line
                    walk(value, here)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                here = (*path, i)
                out[here] = item.start_mark.line + first_line
                walk(item, here)

    if root is not None:
        walk(root, ())
    return out


def nearest(lines: dict[tuple[str | int, ...], int], path: Path_) -> int | None:
    """The line of *path*, or of its closest ancestor that has one."""
    key = tuple(path)
    while key:
        if key in lines:
            return lines[key]
        key = key[:-1]
    return None


def json_record_line(text_lines: Sequence[str], key: str, value: str) -> int | None:
    """The line of ``"key": "value"`` in a JSON file (a record's id)."""
    pattern = re.compile(rf'"{re.escape(key)}"\s*:\s*"{re.escape(value)}"')
    return next((i + 1 for i, line in enumerate(text_lines) if pattern.search(line)), None)


def json_key_line(text_lines: Sequence[str], start: int, path: Path_, item_keys: dict[str, str]) -> int | None:
    """The line of a field inside the record starting at line *start*: ``orders[1].status`` is found by
    stepping to the second ``"order_id"`` after *start* (*item_keys* maps a list to its items' first key),
    then to the next ``"status"``."""
    line = start - 1
    for i, part in enumerate(path):
        if isinstance(part, int):
            parent = path[i - 1] if i else ""
            first = item_keys.get(str(parent))
            if first is None:
                continue
            for _ in range(part + 1):
                found = _next(text_lines, line + 1, f'"{first}"')
                if found is None:
                    return start
                line = found
            continue
        if i + 1 < len(path) and isinstance(path[i + 1], int) and str(part) in item_keys:
            continue  # the list's own key: its items are found by their first key
        found = _next(text_lines, line, f'"{part}"')
        if found is None:
            return line + 1 if line >= start - 1 else start
        line = found
    return line + 1


def _next(text_lines: Sequence[str], begin: int, needle: str) -> int | None:
    for j in range(max(begin, 0), len(text_lines)):
        if needle in text_lines[j]:
            return j
    return None
