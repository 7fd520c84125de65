"""The run's summary on stderr: its lines per structure group."""

from __future__ import annotations

from types import SimpleNamespace

from graphtrace.cli.summary import group_lines


def test_group_lines_name_a_group_of_many_passes_and_a_group_of_one() -> None:
    many = SimpleNamespace(first=21, last=300, count=280, drawn=[21, 300], counted=278)
    one = SimpleNamespace(first=301, last=301, count=1, drawn=[301], counted=0)
    lines = group_lines(SimpleNamespace(groups={"a": many, "b": one}))  # type: ignore[arg-type]
    assert lines[1:] == [
        "    passes 21-300 (280 of one structure): written 21 and 300; 278 only counted",
        "    pass 301 (the only one of its structure): written 301",
    ]
