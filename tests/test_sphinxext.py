"""The ``.. graphtrace::`` directive in a real Sphinx build: the code runs, its passes are embedded as SVG."""

from __future__ import annotations

import re

import pytest

pytest.importorskip("sphinx")
pytestmark = pytest.mark.dot

CONF = 'extensions = ["graphtrace.sphinxext"]\nproject = "demo"\n'

SEED000 = """\
Chain rule
==========

.. graphtrace::
{options}
   import torch

   x = torch.tensor(7.0, requires_grad=True)
   y = x**3 + 4
   z = torch.sin(y)
   z.backward()
   print(2 * 3, "printed")
"""


def build(tmp_path, body: str) -> tuple[str, str]:
    """Build ``body`` as index.rst with Sphinx; returns the HTML of index.html and the warnings."""
    from sphinx.cmd.build import build_main

    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir(parents=True)
    (src / "conf.py").write_text(CONF, encoding="utf-8")
    (src / "index.rst").write_text(body, encoding="utf-8")
    warnings = tmp_path / "warnings.txt"
    assert build_main(["-b", "html", "-q", "-w", str(warnings), str(src), str(out)]) == 0
    return (out / "index.html").read_text(encoding="utf-8"), warnings.read_text(encoding="utf-8")


def test_directive_runs_the_code_and_embeds_the_pass_with_its_real_numbers(tmp_path):
    page, warnings = build(tmp_path, SEED000.format(options=""))
    assert warnings == ""
    assert page.count("<svg") == 1 and "21.384" in page  # dz/dx = cos(347) * 3 * 7**2
    assert "×147" in page and "×0.14547" in page  # the local derivatives on the edges
    assert "index.rst:11 · backward" in page  # the call site: the line of z.backward() in the .rst file
    assert "highlight-python" in page and "requires_grad" in page  # the source is shown ...
    assert "6 printed" not in page  # ... its output is not


def test_options_choose_values_and_passes(tmp_path):
    body = (
        SEED000.format(options="   :values: false\n   :include-source: false\n")
        + """
.. graphtrace::
   :passes: 2, last

   import torch

   x = torch.tensor(2.0, requires_grad=True)
   for _ in range(3):
       (x * x).backward()
"""
    )
    page, warnings = build(tmp_path, body)
    assert warnings == ""
    titles = re.findall(r"pass (\d) · Tensor.backward", page)
    assert page.count("<svg") == 3 and titles[0] == "1" and titles[1:] == ["2", "3"]
    assert "21.384" not in page and page.count("highlight-python") == 1  # no numbers and no source in the first one
    assert ".grad 4 + 4 = 8" in page  # pass 2 accumulates: dx of x*x at 2 is 4, twice


def test_failing_code_is_one_warning_line_and_the_build_goes_on(tmp_path):
    page, warnings = build(tmp_path, "Title\n=====\n\n.. graphtrace::\n\n   1 / 0\n")
    assert "graphtrace: the code raised ZeroDivisionError: division by zero (line 6)" in warnings
    assert "Traceback" not in warnings and "<svg" not in page
    _, warnings = build(tmp_path / "b", "T\n=\n\n.. graphtrace::\n   :passes: 4\n\n   import torch\n")
    assert "pass 4 asked, but the code ran 0 backward passes" in warnings
