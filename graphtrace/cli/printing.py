"""Text graphtrace prints: control characters and undecodable bytes escaped, never written raw."""

from __future__ import annotations

import re

import click

# C0 and C1 controls (ESC, CR, LF, ...), DEL, line and paragraph separators, bidirectional
# overrides and isolates, and lone surrogates (bytes of a file name or argument that were not
# UTF-8, which python keeps as U+DC80..U+DCFF: surrogateescape).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: str) -> str:
    """``text`` safe to print on a terminal: a forged line or colour is shown as its escape."""
    return _UNSAFE.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    c = match.group()
    code = ord(c)
    if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte, shown as python shows bytes
        return f"\\x{code - 0xDC00:02x}"
    return _NAMED.get(c) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def say(*lines: str) -> None:
    """Lines of ours on stderr, control characters and undecodable bytes escaped (a trace file's
    text can forge no line, colour or cursor move); a stderr the script closed takes nothing (its
    exit code stays its own)."""
    try:
        click.echo("\n".join(printable(line) for line in lines), err=True)
    except (OSError, ValueError):
        pass
