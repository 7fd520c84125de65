"""Trace files are data: JSON only, validated, never unpickled; hostile names stay text."""

from __future__ import annotations

import os
import pickle
import re
from pathlib import Path
from xml.etree import ElementTree

import pytest
import torch

import graphtrace
from graphtrace import TraceFormatError

PACKAGE = Path(graphtrace.__file__).parent
HOSTILE = "<img src=x onerror=alert(1)>"


class _Evil:
    """Unpickling this would create a marker file (and could do anything else)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_that_runs_code_is_refused_and_not_run(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    for name in ("trace.json", "trace.pkl", "trace.pt"):
        path = tmp_path / name
        path.write_bytes(pickle.dumps(_Evil(marker)))
        with pytest.raises(TraceFormatError):
            graphtrace.load(path)
    assert not marker.exists()


def test_no_unpickling_api_in_the_package_source() -> None:
    """No module of graphtrace can unpickle: no pickle, torch.load, marshal, shelve or dill."""
    banned = re.compile(
        r"^\s*(import|from)\s+(pickle|cPickle|_pickle|marshal|shelve|dill|joblib)\b"
        r"|\btorch\.load\b|\bpickle\.|allow_pickle",
        re.M,
    )
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 10
    hits = [
        f"{f.relative_to(PACKAGE)}: {m.group(0).strip()}"
        for f in files
        for m in banned.finditer(f.read_text(encoding="utf-8"))
    ]
    assert hits == []
    assert banned.search("import pickle\n") and banned.search("x = torch.load(p)")  # the check can fail


def test_loading_never_calls_an_unpickler(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("graphtrace.load unpickled something")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    monkeypatch.setattr(torch, "load", refuse)
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    with graphtrace.trace() as t:
        (x * x).sum().backward()
    good = t.save(tmp_path / "good.json")
    assert graphtrace.load(good).passes[0].to_json() == t.passes[0].to_json()
    (tmp_path / "bad.json").write_bytes(pickle.dumps({"format": "graphtrace-trace"}))
    with pytest.raises(TraceFormatError):
        graphtrace.load(tmp_path / "bad.json")


def _hostile_pass(hostile: bool = True) -> graphtrace.Pass:
    """A real pass whose parameter names carry markup, plus every string field made hostile
    (or, with ``hostile=False``, the same pass with harmless strings of the same length)."""

    def h(text: str) -> str:
        return text if hostile else re.sub(r"[<>&\"']", "_", text)

    key = h(HOSTILE)
    model = torch.nn.ModuleDict({key: torch.nn.Linear(2, 1)})
    x = torch.ones(1, 2)
    with graphtrace.trace() as t:
        model[key](x).sum().backward()
    p = t.passes[0]
    assert any(key in a["param"] for _, a in p.graph.nodes(data=True))
    for _n, a in p.graph.nodes(data=True):
        a["name"] = h(f"{HOSTILE}\"quoted\" & 'single'")
        a["source"] = h('/tmp/<dir>&"x"/a\'b.py:3')
        a["module"] = h("enc.<script>alert(1)</script>")
        a["module_class"] = h("</text><script>alert(2)</script>")
    p.graph.graph["call_site"] = h('<b>&amp;"site"</b>:1')
    p.graph.graph["error"] = h(f"RuntimeError: {HOSTILE}")
    return graphtrace.loads(p.to_json()).passes[0]  # as a file would bring it


RAW_MARKUP = ("<img", "<script", "</text><", "<b>", "onerror=alert(1)>")


@pytest.mark.dot
def test_hostile_names_are_escaped_in_svg() -> None:
    svg = _hostile_pass().to_svg()
    root = ElementTree.fromstring(svg.encode())  # well-formed XML
    tags = {el.tag.split("}")[-1] for el in root.iter()}
    assert not tags & {"img", "script", "b", "foreignObject"}, tags
    assert not any(attr.lower().startswith("on") for el in root.iter() for attr in el.attrib)
    for raw in RAW_MARKUP:
        assert raw not in svg, raw
    assert "&lt;img src=x onerror=alert(1)&gt;" in svg  # the name is shown, as text


@pytest.mark.dot
def test_hostile_names_are_escaped_in_html() -> None:
    html, benign = _hostile_pass().to_html(), _hostile_pass(hostile=False).to_html()
    assert html.count("<script") == benign.count("<script")  # the page's own scripts only
    for raw in RAW_MARKUP:
        assert html.count(raw) == benign.count(raw), raw
    assert re.search(r"&lt;img src=x onerror=alert\(1\)&gt;|\\u003cimg src=x onerror=alert\(1\)\\u003e", html)
    scripts = re.findall(r"<script\b[^>]*>(.*?)</script>", html, re.S)
    assert all("<img" not in s and "</script" not in s for s in scripts)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)  # nothing fetched from a network
