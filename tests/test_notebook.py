"""Notebook display: the display objects without a kernel, the example notebook and %%graphtrace on a real one."""

from __future__ import annotations

import html
import json
import re
import sys
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
import torch
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

import graphtrace
from graphtrace.notebook import Inline
from graphtrace.render.display import iframe

pytestmark = pytest.mark.xdist_group("notebook")  # NOTE [two workers] in scripts/test.sh

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "seed_walkthrough.ipynb"
KERNEL = "graphtrace-test"


def chain_pass() -> graphtrace.Pass:
    with graphtrace.trace() as t:
        x = torch.tensor(7.0, requires_grad=True)
        y = x**3 + 4
        y.retain_grad()
        torch.sin(y).backward()
    return t.passes[0]


def words(markup: str) -> str:
    """The text of SVG or HTML markup, entities decoded ('&#45;3.9763' reads '-3.9763')."""
    return html.unescape(re.sub(r"<[^>]+>", " ", markup)).replace("\u2212", "-")


class _Frames(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.frames: list[dict] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "iframe":
            self.frames.append(dict(attrs))


def frames(markup: str) -> list[dict]:
    parser = _Frames()
    parser.feed(markup)
    return parser.frames


# -- display objects, no kernel --------------------------------------------------------------


@pytest.mark.dot
def test_pass_displays_as_svg() -> None:
    p = chain_pass()
    bundle = p._repr_mimebundle_()
    assert bundle["text/plain"] == repr(p)
    assert "<svg" in bundle["image/svg+xml"]
    assert "21.384" in words(bundle["image/svg+xml"])


@pytest.mark.dot
def test_inline_step_page_is_an_escaped_sandboxed_iframe() -> None:
    p = chain_pass()
    bundle = Inline(p, step=True, height=500)._repr_mimebundle_()
    assert set(bundle) == {"text/html", "text/plain"}
    (frame,) = frames(bundle["text/html"])
    assert frame["srcdoc"] == p.to_html()  # the attribute decodes back to the exact page
    assert frame["sandbox"] == "allow-scripts"
    assert "height: 500px" in bundle["text/html"]


def test_iframe_escapes_quotes_and_markup() -> None:
    page = '<html><body title="a &amp; b">it\'s </iframe><script>x = "<"</script></body></html>'
    markup = iframe(page, 300, title='say "hi"')
    (frame,) = frames(markup)
    assert frame["srcdoc"] == page and frame["title"] == 'say "hi"'
    assert markup.count("<iframe") == 1 and markup.count("</iframe>") == 1


def test_inline_without_dot_says_so_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    p = chain_pass()
    monkeypatch.setenv("PATH", "")
    bundle = Inline(p)._repr_mimebundle_()
    assert list(bundle) == ["text/plain"]
    assert "cannot draw this pass" in bundle["text/plain"] and "dot" in bundle["text/plain"]
    assert p._repr_mimebundle_() == bundle


def test_show_outside_ipython_and_bad_arguments() -> None:
    p = chain_pass()
    with pytest.raises(graphtrace.GraphtraceError, match="save the pass"):
        graphtrace.show(p)
    with pytest.raises(graphtrace.GraphtraceError, match="takes a Pass"):
        graphtrace.show("not a pass")
    with pytest.raises(graphtrace.GraphtraceError, match="height"):
        graphtrace.show(p, step=True, height=0)


# -- a real kernel running this interpreter ------------------------------------------------


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory):
    """A kernelspec for sys.executable (the venv, where graphtrace is installed), in a temp JUPYTER_PATH."""
    root = tmp_path_factory.mktemp("jupyter")
    spec = root / "data" / "kernels" / KERNEL
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": KERNEL, "language": "python"}))
    mp = pytest.MonkeyPatch()
    mp.setenv("JUPYTER_PATH", str(root / "data"))
    mp.setenv("JUPYTER_RUNTIME_DIR", str(root / "runtime"))
    mp.setenv("IPYTHONDIR", str(root / "ipython"))  # no user profile or startup files
    yield root
    mp.undo()


def execute(nb: nbformat.NotebookNode, cwd: Path) -> dict:
    """Run every cell (a cell that raises fails the test); the cells by id."""
    NotebookClient(nb, kernel_name=KERNEL, timeout=120, resources={"metadata": {"path": str(cwd)}}).execute()
    return {cell.id: cell for cell in nb.cells}


def svgs(cell: nbformat.NotebookNode) -> list[str]:
    return [o["data"]["image/svg+xml"] for o in cell.outputs if "image/svg+xml" in o.get("data", {})]


def htmls(cell: nbformat.NotebookNode) -> list[str]:
    return [o["data"]["text/html"] for o in cell.outputs if "text/html" in o.get("data", {})]


def stdout(cell: nbformat.NotebookNode) -> str:
    return "".join(o["text"] for o in cell.outputs if o.output_type == "stream" and o.name == "stdout")


def test_example_notebook_is_committed_clean() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    nb = nbformat.reads(text, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        assert cell.get("outputs", []) == [] and cell.get("execution_count") is None, cell.id
    assert text == nbformat.writes(nb) + "\n"  # as nbformat.write writes it: sorted keys


@pytest.mark.dot
def test_example_notebook_runs_and_shows_the_numbers(kernel: Path, tmp_path: Path) -> None:
    cells = execute(nbformat.read(EXAMPLE, as_version=4), tmp_path)

    chain = cells["chain"]
    assert "dz/dx  = 21.384121" in stdout(chain) and "y.grad = 0.14547" in stdout(chain)
    (svg,) = svgs(chain)
    assert "21.38" in words(svg) and "0.14547" in words(svg)

    (frame,) = frames(htmls(cells["chain-step"])[0])
    assert "<svg" in frame["srcdoc"] and frame["sandbox"] == "allow-scripts"

    assert "SinBackward0" in words(svgs(cells["snapshot"])[0])

    assert stdout(cells["accumulate"]).split() == [
        "x.grad",
        "=",
        "-1.3254",
        "x.grad",
        "=",
        "-2.6509",
        "x.grad",
        "=",
        "-3.9763",
    ]
    assert "-3.976" in words(htmls(cells["accumulate"])[0])
    (svg,) = svgs(cells["accumulate-last"])
    assert "-3.976" in words(svg) and "-2.6509" in words(svg)

    assert "tensor([ 2.0000,  3.2000, -2.4000])" in stdout(cells["vjp"])
    assert {"3.2", "-2.4"} <= set(re.findall(r"-?\d+\.\d+", words(svgs(cells["vjp"])[0])))

    assert len(svgs(cells["jacobian-rows"])) == 3
    assert "[ 0.,  0., -4.]" in stdout(cells["jacobian-rows"])

    out = stdout(cells["functional"])
    assert "diagonal: [23.0, 51.0, 91.0, 143.0, 207.0, 283.0]" in out and "6 passes" in out
    assert "23" in words(svgs(cells["functional"])[0])

    assert "x.grad = 0.1049936" in stdout(cells["sigmoid"])
    (svg,) = svgs(cells["sigmoid"])
    assert "0.10499" in words(svg)


MAGIC_CELLS = {
    "load": "import torch\n%load_ext graphtrace",
    "chain": """%%graphtrace
x = torch.tensor(7.0, requires_grad=True)
y = x**3 + 4
y.retain_grad()
z = torch.sin(y)
z.backward()
x.grad""",
    "stored": "print(len(_graphtrace), _graphtrace.passes[0].node('x')['grad_after']['values'] == x.grad.item())",
    "nothing": "%%graphtrace --name quiet\nq = 2 + 2",
    "quiet": "print(len(quiet), q)",
    "many": """%%graphtrace --max-passes 2 --no-values --name many
w = torch.tensor(2.0, requires_grad=True)
for _ in range(3):
    (w * 3).backward()""",
    "many-kept": "print(len(many), many.count, w.grad.item())",
    "html": "%%graphtrace --html --height 400\n(torch.tensor(1.0, requires_grad=True).exp()).backward()",
    "error": """%%graphtrace --name failed
a = torch.tensor(2.0, requires_grad=True)
(a * a).backward()
raise ValueError("boom after one pass")""",
    "after-error": "print(len(failed))",
    "usage": "%%graphtrace --depth 0\n1",
}


@pytest.mark.dot
def test_cell_magic(kernel: Path, tmp_path: Path) -> None:
    nb = new_notebook(cells=[new_code_cell(src, id=cid) for cid, src in MAGIC_CELLS.items()])
    for cid in ("error", "usage"):
        nb.cells[list(MAGIC_CELLS).index(cid)].metadata["tags"] = ["raises-exception"]
    cells = execute(nb, tmp_path)

    chain = cells["chain"]
    assert [o.output_type for o in chain.outputs] == ["display_data", "execute_result"]
    assert "21.38" in words(svgs(chain)[0])
    assert chain.outputs[1]["data"]["text/plain"] == "tensor(21.3841)"
    assert stdout(cells["stored"]) == "1 True\n"

    assert stdout(cells["nothing"]) == "graphtrace: no backward pass ran in this cell (quiet is an empty trace)\n"
    assert stdout(cells["quiet"]) == "0 4\n"

    assert len(svgs(cells["many"])) == 2
    assert "3 backward passes ran; the first 2 are shown and kept in many" in stdout(cells["many"])
    assert "value" not in words(svgs(cells["many"])[0]).split()  # --no-values: no numbers drawn
    assert stdout(cells["many-kept"]) == "2 3 9.0\n"

    (frame,) = frames(htmls(cells["html"])[0])
    assert "ExpBackward0" in words(frame["srcdoc"]) and "height: 400px" in htmls(cells["html"])[0]

    error = cells["error"]
    assert [o.output_type for o in error.outputs] == ["display_data", "error"]
    assert error.outputs[1]["ename"] == "ValueError"
    assert "graphtrace/notebook.py" not in "".join(error.outputs[1]["traceback"])  # our frames are hidden
    assert stdout(cells["after-error"]) == "1\n"

    (usage,) = cells["usage"].outputs  # IPython reports a UsageError in one line, the cell not run
    assert usage["name"] == "stderr" and usage["text"] == "UsageError: --depth must be at least 1, not 0\n"


@pytest.mark.browser
@pytest.mark.dot
def test_inline_step_page_steps_in_chromium(tmp_path: Path) -> None:
    """The iframe as a notebook would show it: its script runs in the sandbox and the buttons step."""
    from selenium import webdriver
    from selenium.webdriver.common.by import By

    bundle = Inline(chain_pass(), step=True)._repr_mimebundle_()
    page = tmp_path / "cell.html"
    page.write_text(f"<!DOCTYPE html><html><body>{bundle['text/html']}</body></html>", encoding="utf-8")
    options = webdriver.ChromeOptions()
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        f"--user-data-dir={tmp_path / 'profile'}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options)
    try:
        driver.get(page.as_uri())
        driver.switch_to.frame(driver.find_element(By.TAG_NAME, "iframe"))
        position = driver.find_element(By.ID, "gt-pos")
        before = position.text
        assert before  # the page's script ran inside the sandboxed frame
        driver.find_element(By.ID, "gt-next").click()
        assert position.text != before
        assert "SinBackward0" in driver.find_element(By.ID, "gt-panel").text
    finally:
        driver.quit()
