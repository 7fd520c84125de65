"""dot's SVG made fit for docs: text with room to spare, ids unique per picture, dark mode, a docs-column width."""

from __future__ import annotations

import hashlib
import re
from itertools import pairwise

# NOTE [text fits its box]: dot measures every label with the first font of FONT/MONO it
# finds (DejaVu Sans here, the widest of the common sans fonts: Liberation Sans, Arial and
# Helvetica are 14% narrower) and sizes the boxes to fit; a browser then draws the same
# text in the first font of the same list the reader has, so never in a wider one. Hinting
# still makes a browser's DejaVu Sans up to 5% wider than dot's measure at small sizes, so
# the SVG draws text at TEXT_SCALE of the size dot measured: every line keeps 10% of room.
# Checked in headless Chromium with DejaVu Sans and Liberation Sans forced (test_browser.py).
TEXT_SCALE = 0.9
DOCS_WIDTH = 760  # px: a docs column (Sphinx themes, GitHub READMEs)
SMALL = 1.5  # pictures up to SMALL x DOCS_WIDTH wide are scaled to fit the column

# NOTE [dark mode]: the SVG carries its own <style>: under prefers-color-scheme: dark the
# picture is inverted with the hues turned back (pale fills become dark, black text light,
# red stays red), which covers every colour any part of the drawing uses. The rule is scoped
# to the picture's own id, so an SVG inlined in a page never restyles the page.
DARK = "@media (prefers-color-scheme: dark) {{ #{id} {{ filter: invert(0.92) hue-rotate(180deg); }} }}"

_ROOT = re.compile(r'<svg width="([\d.]+)pt" height="([\d.]+)pt"')
_PICTURE = re.compile(r'<svg id="(gt[0-9a-f]+)"')
_FONT_SIZE = re.compile(r'font-size="([\d.]+)"')


def picture_id(svg: str) -> str:
    """The id of a picture, derived from its content: the same program gives the same id."""
    return "gt" + hashlib.sha256(svg.encode("utf-8")).hexdigest()[:10]


# NOTE [finishing by split]: an SVG of 135 nodes (250 KB) took 9 ms to prefix its ids with the
# regex ``\bid="`` (a pattern that starts with ``\b`` has no literal prefix, so re tries it at
# every character) and 1.6 ms to scale its font sizes (a float parse and format per text
# element). The same replacements are now made by splitting at the literal and looking at the
# character before each cut (``\b`` before ``i``: none, or one that is not a word character), and
# by formatting each distinct size once: 0.5 and 0.7 ms, the same bytes.
_SIZE_FORMAT = 'font-size="{:.2f}"'


def _is_word(c: str) -> bool:
    r"""Whether ``c`` is a character re's ``\w`` matches (str.isalnum is its Unicode test)."""
    return c.isalnum() or c == "_"


def prefix_ids(svg: str, pid: str) -> str:
    r"""Every ``id="`` that starts a word, as re's ``\bid="`` finds them, made ``id="<pid>_``."""
    parts = svg.split('id="')
    new = f'id="{pid}_'
    out = [parts[0]]
    for before, part in pairwise(parts):  # an empty ``before`` follows a cut's closing quote
        out.append('id="' if before and _is_word(before[-1]) else new)
        out.append(part)
    return "".join(out)


def scale_text(svg: str) -> str:
    """Each ``font-size="<n>"`` made TEXT_SCALE times ``n`` (NOTE [text fits its box])."""
    sizes: dict[str, str] = {}

    def scaled(m: re.Match[str]) -> str:
        size = m.group(1)
        out = sizes.get(size)
        if out is None:
            out = sizes[size] = _SIZE_FORMAT.format(float(size) * TEXT_SCALE)
        return out

    return _FONT_SIZE.sub(scaled, svg)


def finish(svg: str) -> str:
    """dot's SVG with ids prefixed by the picture's id, a <style>, scaled text and a width in px.

    Every id becomes ``<picture id>_<id>`` (so two pictures of different programs inlined in
    one page never share an id) and the root <svg> gets the picture id itself.
    """
    pid = picture_id(svg)
    svg = scale_text(prefix_ids(svg, pid))  # NOTE [finishing by split]
    m = _ROOT.search(svg)
    if m is None:  # not dot's usual SVG root: ids and text are done, leave the rest
        return svg
    w, h = float(m.group(1)) * 4 / 3, float(m.group(2)) * 4 / 3  # pt -> CSS px
    fit = ""
    if w <= DOCS_WIDTH * SMALL:
        scale = min(1.0, DOCS_WIDTH / w)
        w, h = w * scale, h * scale
        fit = ' style="max-width:100%;height:auto"'
    root = f'<svg id="{pid}" class="graphtrace" width="{w:.0f}px" height="{h:.0f}px"{fit}'
    svg = svg[: m.start()] + root + svg[m.end() :]
    end = svg.index(">", m.start()) + 1
    return svg[:end] + f"\n<style>{DARK.format(id=pid)}</style>" + svg[end:]


def picture_id_of(svg: str) -> str:
    """The picture id of a finished SVG ("" if it has none)."""
    m = _PICTURE.search(svg)
    return m.group(1) if m else ""


def reprefix(svg: str, new: str) -> str:
    """A finished SVG with its picture id (in every id and in its style) replaced by ``new``."""
    pid = picture_id_of(svg)
    return svg.replace(pid, new) if pid else svg


def unprefix(svg: str) -> str:
    """A finished SVG with its ids as dot wrote them (for a page that holds only this picture)."""
    pid = picture_id_of(svg)
    return svg.replace(f'id="{pid}_', 'id="') if pid else svg
