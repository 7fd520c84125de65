"""The run folder's files are render's files: ``Pass.save`` writes the very same bytes."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

import graphtrace
from graphtrace.cli.command import cli

LINSPACE = """
import torch
x = torch.linspace(-3.0, 3.0, 16, requires_grad=True)
y = torch.sin(x) * x
y.sum().backward()
"""


@pytest.mark.dot
@pytest.mark.parametrize("depth", [None, 1])
def test_pass_save_writes_the_files_graphtrace_run_writes(tmp_path: Path, depth: int | None) -> None:
    script = tmp_path / "prog.py"
    script.write_text(LINSPACE, encoding="utf-8")
    out = tmp_path / "out"
    depth_args = [] if depth is None else ["--depth", str(depth)]
    result = CliRunner().invoke(cli, ["run", "-q", "-f", "json,dot,svg,html", *depth_args, "-o", str(out),
                                      str(script)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    (p,) = graphtrace.load(out / "pass-001.json").passes
    page = (out / "pass-001.html").read_text(encoding="utf-8")
    assert "gradient at x" in page  # the value chart (x against its gradient) is on the CLI's page
    options = {} if depth is None else {"depth": depth}
    for fmt in ("html", "svg", "dot"):
        saved = p.save(tmp_path / f"saved.{fmt}", **options)
        assert saved.read_bytes() == (out / f"pass-001.{fmt}").read_bytes(), fmt
