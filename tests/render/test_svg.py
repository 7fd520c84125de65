"""SVG for docs: ids unique per picture, a dark-mode style, text with room, a docs-column width."""

from __future__ import annotations

import re

import pytest

from graphtrace.render import to_svg
from graphtrace.render._svg import DOCS_WIDTH, finish, prefix_ids, scale_text, unprefix

from . import synthetic as S

pytestmark = pytest.mark.dot

IDS = re.compile(r'\bid="([^"]+)"')


def test_two_programs_inlined_in_one_page_share_no_id():
    a, b = to_svg(S.chain()), to_svg(S.multipath())
    ids_a, ids_b = IDS.findall(a), IDS.findall(b)
    assert len(ids_a) == len(set(ids_a)) and not set(ids_a) & set(ids_b)
    assert "node&#45;0" in unprefix(a) and f'id="{ids_a[0]}_node&#45;0"' in a  # derived from content...
    assert to_svg(S.chain()) == a  # ... so the same program still gives the same bytes


def test_dark_mode_rule_is_scoped_to_the_picture():
    svg = to_svg(S.chain())
    pid = IDS.findall(svg)[0]
    style = re.search(r"<style>(.*?)</style>", svg, re.DOTALL).group(1)
    assert style == f"@media (prefers-color-scheme: dark) {{ #{pid} {{ filter: invert(0.92) hue-rotate(180deg); }} }}"


def test_small_graph_fits_a_docs_column_and_a_big_one_keeps_its_size():
    small = to_svg(S.chain())
    width = re.search(r'<svg id="\w+" class="graphtrace" width="(\d+)px" height="(\d+)px"', small)
    box = [float(v) for v in re.search(r'viewBox="([^"]+)"', small).group(1).split()]
    assert int(width.group(1)) <= DOCS_WIDTH and "max-width:100%" in small
    assert int(width.group(2)) == pytest.approx(int(width.group(1)) * box[3] / box[2], abs=1)  # same aspect
    big = to_svg(S.long_chain(60), budget=10**6)
    assert "max-width" not in big


def test_text_is_drawn_smaller_than_dot_measured_it():
    svg = '<svg width="100pt" height="50pt"\n viewBox="0 0 100 50"><text font-size="14.00">a</text></svg>'
    out = finish(svg)
    assert 'font-size="12.60"' in out and 'width="133px" height="67px"' in out


def test_ids_are_prefixed_exactly_where_the_regex_prefixed_them():
    # NOTE [finishing by split]: the split must cut where re's \bid=" matched, and only there
    tricky = 'id="a" <g id="b"> xid="c" _id="d" éid="e" ²id="f" -id="g"\nid="h" "id="id="i"'
    assert prefix_ids(tricky, "gt1") == re.sub(r'\bid="', 'id="gt1_', tricky)
    assert prefix_ids(tricky, "gt1").count('id="gt1_') == 6  # not after x, _, é or ²
    assert prefix_ids("", "gt1") == "" and prefix_ids("id=", "gt1") == "id="


def test_each_font_size_is_scaled_and_formatted_alike():
    svg = '<text font-size="14.00">a</text><text font-size="10.00">b</text><text font-size="14.00">c</text>'
    assert scale_text(svg) == svg.replace("14.00", "12.60").replace("10.00", "9.00")
