"""The one JSONL reader and the one atomic writer."""

from __future__ import annotations

import os

import pytest

from lightning_mllm.files import JsonlError, atomic_folder, atomic_write, atomic_write_json, iter_jsonl, read_jsonl


def test_read_jsonl_skips_blank_lines_and_keeps_non_ascii(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text('{"city": "Iruñea"}\n\n   \n{"n": 2}\n', encoding="utf-8")
    assert read_jsonl(path) == [{"city": "Iruñea"}, {"n": 2}]
    assert [number for number, _ in iter_jsonl(path)] == [1, 4]


@pytest.mark.parametrize("content, line, reason", [
    (b'{"a": 1}\n{"a": \n', 2, "not valid JSON"),
    (b'{"a": 1}\n[1, 2]\n', 2, "expected a JSON object, got list"),
    (b'{"city": "Iru\xf1ea"}\n', 1, "not UTF-8"),  # Latin-1 bytes, never read with replacement characters
])
def test_every_bad_line_is_named_by_file_and_line(tmp_path, content, line, reason):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(content)
    with pytest.raises(JsonlError, match=f"bad.jsonl:{line}: {reason}") as error:
        read_jsonl(path)
    assert error.value.line == line


def test_yield_mode_reports_bad_lines_and_goes_on(tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b'{"a": 1}\nnot json\n{"a": 3}\n')
    seen = list(iter_jsonl(path, errors="yield"))
    assert [n for n, r in seen if isinstance(r, dict)] == [1, 3]
    assert [(n, r.reason.split(" (")[0]) for n, r in seen if isinstance(r, JsonlError)] == [(2, "not valid JSON")]


def test_atomic_write_replaces_whole_and_keeps_the_old_file_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "sub" / "out.json"
    atomic_write_json(path, {"v": 1})
    assert path.read_text() == '{\n  "v": 1\n}\n'
    assert oct(path.stat().st_mode & 0o777) == oct(0o644)

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, "new")
    monkeypatch.undo()
    assert path.read_text() == '{\n  "v": 1\n}\n'
    assert [p.name for p in path.parent.iterdir()] == ["out.json"]  # no temporary left behind
    atomic_write(path, b"secret", mode=0o600)
    assert path.read_bytes() == b"secret" and path.stat().st_mode & 0o777 == 0o600


def test_atomic_folder_appears_only_when_complete(tmp_path):
    target = tmp_path / "model"
    with pytest.raises(RuntimeError):
        with atomic_folder(target) as staging:
            (staging / "a.txt").write_text("half")
            raise RuntimeError("killed")
    assert not target.exists() and list(tmp_path.iterdir()) == []
    with atomic_folder(target) as staging:
        (staging / "a.txt").write_text("v1")
    assert (target / "a.txt").read_text() == "v1"
    with pytest.raises(FileExistsError):
        with atomic_folder(target) as staging:
            pass
    with atomic_folder(target, replace=True) as staging:
        (staging / "b.txt").write_text("v2")
    assert sorted(p.name for p in target.iterdir()) == ["b.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_a_byte_order_mark_before_the_first_line_is_not_an_error(tmp_path):
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"a": 1}\n{"a": 2}\n')
    assert read_jsonl(path) == [{"a": 1}, {"a": 2}]


def test_an_atomic_folder_is_published_with_the_umask_mode_not_owner_only(tmp_path):
    previous = os.umask(0o022)
    try:
        with atomic_folder(tmp_path / "export") as staging:
            (staging / "weights").write_text("w")
    finally:
        os.umask(previous)
    assert (tmp_path / "export").stat().st_mode & 0o777 == 0o755
