"""Streaming readers: every format, column mapping, malformed lines reported with line numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from keel.audit.read import DialogReader
from keel.audit.schema import InputFormat, SkippedLine, Speaker
from keel.errors import InvalidInput


def read(path: Path, fmt: InputFormat = InputFormat.AUTO, mapping: dict[str, str] | None = None):
    skipped: list[SkippedLine] = []
    dialogs = list(DialogReader(path, fmt, mapping, on_skip=skipped.append))
    return dialogs, skipped


def lines(path: Path, *rows: object) -> Path:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in rows) + "\n",
                    encoding="utf-8")
    return path


KEEL = {"id": "d1", "region": "cn", "lang": "zh", "agent": "a1", "date": "2026-11-01",
        "turns": [{"role": "customer", "text": "退款多久到账？"}, {"role": "agent", "text": "3个工作日内。"}]}


def test_all_json_shapes_in_one_file(tmp_path: Path) -> None:
    sharegpt = {"id": "s1", "conversations": [{"from": "human", "value": "How long is the warranty?"},
                                              {"from": "gpt", "value": "One year."}]}
    openai = {"messages": [{"role": "system", "content": "be nice"}, {"role": "user", "content": "hi there"},
                           {"role": "assistant", "content": [{"type": "text", "text": "Hello!"}]}]}
    dialogs, skipped = read(lines(tmp_path / "d.jsonl", KEEL, sharegpt, openai))
    assert skipped == []
    assert [d.dialog_id for d in dialogs] == ["d1", "s1", "line-3"]
    assert dialogs[0].region == "cn" and dialogs[0].day is not None and dialogs[0].agent == "a1"
    assert dialogs[2].turns[0].role is Speaker.SYSTEM and dialogs[2].turns[2].text == "Hello!"


def test_malformed_lines_are_reported_with_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    good = json.dumps(KEEL, ensure_ascii=False)
    no_agent = json.dumps({"id": "x", "turns": [{"role": "customer", "text": "hello?"}]})
    bad_role = json.dumps({"id": "y", "turns": [{"role": "robot", "text": "beep"}]})
    path.write_bytes("\n".join([good, "{not json", "", no_agent, bad_role, "[1, 2]"]).encode() + b"\n\xff\xfe\n"
                     + good.encode() + b"\n")
    dialogs, skipped = read(path)
    assert len(dialogs) == 2
    assert [s.line_no for s in skipped] == [2, 4, 5, 6, 7]
    reasons = " | ".join(s.reason for s in skipped)
    assert "invalid JSON" in reasons and "no agent turn" in reasons and "unknown role" in reasons
    assert "UTF-8" in reasons


def test_format_is_enforced_when_given(tmp_path: Path) -> None:
    _, skipped = read(lines(tmp_path / "k.jsonl", KEEL), InputFormat.SHAREGPT)
    assert skipped and "conversations" in skipped[0].reason


def test_csv_with_column_mapping_and_turn_order(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text(
        "会话ID,序号,角色,内容,客服\n"
        "c1,2,客服,您好，3个工作日内到账。,a7\n"
        "c1,1,客户,退款多久到账？,\n"
        "c2,1,customer,\"Hello, is anyone there?\",\n"
        "c2,2,agent,\"Yes, how can I help?\",a8\n"
        "c3,1,martian,???,\n"
        "c1,3,客户,又来了,\n",
        encoding="utf-8",
    )
    mapping = {"会话ID": "dialog_id", "序号": "turn", "角色": "role", "内容": "text", "客服": "agent"}
    dialogs, skipped = read(path, InputFormat.AUTO, mapping)
    assert [d.dialog_id for d in dialogs] == ["c1", "c2"]
    assert [t.role for t in dialogs[0].turns] == [Speaker.CUSTOMER, Speaker.AGENT]
    assert dialogs[0].turns[1].agent == "a7" and dialogs[1].turns[0].text == "Hello, is anyone there?"
    assert [s.line_no for s in skipped] == [6, 7]
    assert "unknown role" in skipped[0].reason and "not contiguous" in skipped[1].reason


def test_csv_without_required_columns_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match="no column for"):
        read(path)


@pytest.mark.parametrize("content", [b"", b"\n\n  \n"])
def test_empty_file_is_one_clear_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_bytes(content)
    with pytest.raises(InvalidInput, match="empty"):
        read(path)


def test_missing_folder_and_json_array_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="no such file"):
        read(tmp_path / "nope.jsonl")
    with pytest.raises(InvalidInput, match="folder"):
        read(tmp_path)
    arr = tmp_path / "arr.json"
    arr.write_text(json.dumps([KEEL]), encoding="utf-8")
    with pytest.raises(InvalidInput, match="JSON Lines"):
        read(arr)
