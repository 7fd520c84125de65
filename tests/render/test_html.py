"""The step-through page and the trace block: self-contained, escaped, with the steps as JSON."""

from __future__ import annotations

import json
import re

import pytest

from graphtrace import Pass, Trace
from graphtrace.render import _html, to_html, trace_html
from graphtrace.render._html import script_json

from . import synthetic as S

pytestmark = pytest.mark.dot


def page_data(page: str) -> dict:
    text = re.search(r'<script type="application/json" id="gt-data">(.*?)</script>', page, re.S).group(1)
    return json.loads(text)


def test_page_is_self_contained():
    page = to_html(S.chain())
    assert "default-src 'none'" in page and "<svg" in page and "<?xml" not in page
    assert not re.search(r"(src|href)=\"(https?:)?//", page)
    assert "@import" not in page and "url(" not in page


def test_steps_in_order_with_gradients():
    steps = page_data(to_html(S.multipath()))["steps"]
    assert [s["step"] for s in steps] == [0, 1, 2, 3, 4, 5]
    u = steps[-1]
    assert u["node"] == "node-4" and u["sum"] == "2 + 2 = 4"
    assert [e["grad"] for e in u["in"]] == ["2", "2"] and u["in"][0]["edge"] == "edge-2-4"
    assert u["grads"] == [[".grad before", "None"], ["+ increment", "4"], ["= .grad after", "4"]]
    chain = page_data(to_html(S.chain()))["steps"]
    assert chain[3]["out"][0]["grad"] == "21.384121" and chain[3]["out"][0]["local"] == "×147"  # full precision


def test_page_escapes_hostile_text():
    page = to_html(S.hostile())
    assert "<img" not in page and "<b>" not in page
    assert page.count("</script>") == 2  # the two real script elements
    data = page_data(page)
    assert data["steps"][2]["title"] == "<img src=x onerror=alert(1)> (leaf)"
    assert "<title>graphtrace: pass 1 · Tensor.backward · /tmp/&lt;dir&gt;&amp;&quot;q&quot;/" in page


def test_script_json_cannot_close_the_script():
    text = script_json({"a": "</script><!-- & -->"})
    assert "<" not in text and ">" not in text and json.loads(text) == {"a": "</script><!-- & -->"}


def test_trace_html_shows_every_pass():
    g2 = S.accumulation()
    block = trace_html(Trace([Pass(S.chain()), Pass(g2)]))
    assert block.count("<svg") == 2 and "pass 3 · Tensor.backward" in block
    assert block == trace_html(Trace([Pass(S.chain()), Pass(g2)]))


@pytest.mark.dot
def test_trace_fragment_ids_are_unique_across_passes():
    g = S.chain()
    block = trace_html(Trace([Pass(g), Pass(g)]))
    ids = re.findall(r'\bid="([^"]+)"', block)
    # the same picture twice: the second one's ids renamed (a node's or edge's group, and the link
    # dot wraps round its tooltip)
    assert len(ids) == len(set(ids)) == 40
    assert ids[20] == ids[0] + "x2" and ids[24] == ids[0] + "x2_node&#45;1"  # dot writes "-" as &#45;
    assert f"#{ids[20]} {{ filter" in block  # its dark-mode rule follows the new id


def test_step_page_uses_a_given_svg_without_running_dot(monkeypatch):
    monkeypatch.setenv("PATH", "")  # dot cannot run: the page must use the SVG it is given
    built = []  # nor is the pass's DOT source built again (half of a small pass's page)
    monkeypatch.setattr(_html, "to_dot_source", lambda *a, **k: built.append(a) or "")
    page = to_html(S.chain(), svg='<?xml version="1.0"?>\n<svg id="given"></svg>')
    assert '<svg id="given"></svg>' in page and "<?xml" not in page
    assert built == []
