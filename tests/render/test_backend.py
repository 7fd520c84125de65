"""Running dot: SVG/PNG/PDF bytes, determinism, escaping in the SVG, and a clear error without dot."""

from __future__ import annotations

import pytest

from graphtrace import GraphvizNotFoundError
from graphtrace.render import pipe, render, to_dot, to_svg

from . import synthetic as S

pytestmark = pytest.mark.dot


def test_svg_shows_the_numbers_and_ids():
    svg = to_svg(S.chain())
    for text in ("21.384", "×147", "×0.14547", ".grad None + 21.384 = 21.384", "y = AddBackward0"):
        assert text in svg
    pid = svg.split('<svg id="', 1)[1][:12]  # ids carry the picture's id (NOTE [dark mode] in _svg.py)
    assert f'id="{pid}_node&#45;4"' in svg and f'id="{pid}_edge&#45;3&#45;4"' in svg  # dot writes '-' as &#45;


def test_svg_escapes_hostile_text():
    svg = to_svg(S.hostile())
    for raw in ("<img", "<script", "</script", "<b>", "<i>"):
        assert raw not in svg
    assert "&lt;img src=x onerror=alert(1)&gt;" in svg
    assert "&lt;/script&gt;&lt;script&gt;alert(2)&lt;/script&gt;" in svg
    assert "\\N\\x00\\x0a" in svg and "&amp;b" in svg


@pytest.mark.parametrize("fmt", ["svg", "png", "pdf"])
def test_dot_output_is_deterministic(fmt):
    data = render(S.multipath(), fmt)
    assert data == render(S.multipath(), fmt) and len(data) > 1000
    if fmt == "pdf":
        assert b"(D:19700101000000" in data


def test_big_graph_lays_out():
    svg = to_svg(S.long_chain(400), budget=10**6)
    assert svg.count('class="node') == 400


def test_missing_dot_raises_clear_error(monkeypatch):
    dot = to_dot(S.chain())
    monkeypatch.setenv("PATH", "")
    with pytest.raises(GraphvizNotFoundError, match="dot"):
        pipe(dot, "svg")
