"""Writing and reading files: exclusive temporary files, nothing left behind, bounded reads."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
import torch

import graphtrace
from graphtrace import GraphtraceError, TraceFormatError, _files


def _pass() -> graphtrace.Pass:
    x = torch.tensor(7.0, requires_grad=True)
    with graphtrace.trace() as t:
        torch.sin(x**3 + 4).backward()
    return t.passes[0]


def test_a_planted_symlink_is_never_written_through(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out = tmp_path / "out"
    out.mkdir()
    (out / "p.json.part").symlink_to(victim)  # the old fixed temporary name
    (out / "q.json").symlink_to(victim)  # the target itself
    p = _pass()
    p.save(out / "p.json")
    p.save(out / "q.json")
    assert victim.read_text() == "precious"
    assert not (out / "q.json").is_symlink() and graphtrace.load(out / "q.json")[0].to_json() == p.to_json()


def test_a_temporary_name_taken_by_anything_is_never_opened(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    planted = tmp_path / ".p.json.guess.part"
    planted.symlink_to(victim)
    monkeypatch.setattr(_files, "temp_name", lambda path: planted)  # the attacker guessed the name
    with pytest.raises(GraphtraceError, match=r"cannot write .*p\.json: File exists"):
        _files.write_file(tmp_path / "p.json", "data")
    assert victim.read_text() == "precious" and not (tmp_path / "p.json").exists()


def test_a_full_disk_leaves_no_temporary_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(f: object, raw: bytes) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(_files, "_write_all", full)
    with pytest.raises(GraphtraceError, match=r"cannot write .*p.json: No space left on device"):
        _pass().save(tmp_path / "p.json")
    assert list(tmp_path.iterdir()) == []


def test_written_files_get_the_usual_permissions(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        _files.write_file(tmp_path / "a.txt", "x")
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o644


def test_text_with_undecodable_names_is_written_escaped(tmp_path: Path) -> None:
    _files.write_file(tmp_path / "a.txt", "bad\udcff.py")
    assert (tmp_path / "a.txt").read_bytes() == b"bad\\udcff.py"


def test_save_draws_pictures_through_the_renderer(tmp_path: Path) -> None:
    pytest.importorskip("graphviz")
    if not __import__("shutil").which("dot"):
        pytest.skip("needs dot")
    assert _pass().save(tmp_path / "p.svg").read_text().lstrip().startswith("<?xml")


def test_load_reads_regular_files_only(tmp_path: Path) -> None:
    with pytest.raises(TraceFormatError, match="/dev/zero is not a regular file"):
        graphtrace.load("/dev/zero")
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)  # opening it would block until a writer came
    with pytest.raises(TraceFormatError, match="is not a regular file"):
        graphtrace.load(fifo)


def test_the_size_limit_is_enforced_while_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "t.json"
    path.write_bytes(b" " * 100)
    assert _files.read_bytes(path, 100) == b" " * 100
    real_stat = os.stat
    monkeypatch.setattr(os, "stat", lambda p, *a, **k: os.stat_result((*real_stat(p)[:6], 0, *real_stat(p)[7:])))
    with pytest.raises(OSError, match="over 99 bytes"):  # st_size lies (0): the read still stops
        _files.read_bytes(path, 99)
