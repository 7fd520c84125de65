"""What ``graphtrace run`` and ``render`` print on stderr: the summary table, what was not written, stop notes."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .printing import printable, say
from .runner import SIGINT_EXIT
from .writer import ALWAYS, Writer

SUMMARY_ROWS = 12
GROUP_ROWS = 4


def shown_path(path: Any) -> str:
    """A path relative to the working folder when it is inside it (no absolute paths in files)."""
    p: str = os.fspath(path)
    if not os.path.isabs(p):
        return p
    rel = os.path.relpath(p)
    return p if rel.startswith("..") else rel


def stop_notes(code: int, interrupted: bool, count: int) -> list[str]:
    if interrupted or code == SIGINT_EXIT:
        return [f"The script was interrupted (Ctrl-C) after {count} passes; those are written here."]
    if code != 0:
        return [f"The script stopped with exit code {code}; the {count} passes before that are written here."]
    return []


def report(writer: Writer, folder: Path, quiet: bool, not_drawn: Sequence[str] = ()) -> bool:
    """The summary (unless quiet) and the problems; True when something other than a missing dot failed."""
    if not quiet:
        summary(writer, folder, not_drawn)
    return problems(writer)


def problems(writer: Writer, warn_dot: bool = True) -> bool:
    """Print what went wrong while writing; True when something other than a missing dot did."""
    if writer.no_dot:
        kind = "warning" if warn_dot else "error"
        still = [name for f, name in (("json", "JSON"), ("dot", "DOT")) if f in writer.formats]
        what = f"{' and '.join(still)} files still written" if still else "only index.html written"
        say(f"graphtrace: {kind}: no pictures drawn ({what}): {writer.no_dot}")
    for message in writer.errors:
        say(f"graphtrace: error: {message}")
    reasons: dict[str, list[str]] = {}
    for name, reason in writer.failed:
        reasons.setdefault(reason, []).append(name)
    for reason, names in reasons.items():  # one line per cause: what was and was not written
        names.sort()
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        say(
            f"graphtrace: error: {reason}: wrote {len(writer.written)} of "
            f"{len(writer.written) + len(writer.failed)} files to {shown_path(writer.out)}/; "
            f"not written: {shown}"
        )
    return bool(writer.errors or writer.failed)


def not_drawn_lines(counts: dict[str, int]) -> list[str]:
    """``2 passes inside torch.func transforms were not drawn``, one line per reason."""
    return [
        f"{n} pass{'es' if n != 1 else ''} {why} {'were' if n != 1 else 'was'} not drawn" for why, n in counts.items()
    ]


def group_lines(writer: Writer) -> list[str]:
    """Per structure group after the first passes: the passes written, and how many only counted."""
    groups = list(writer.groups.values())
    if not groups:
        return []
    lines = [f"  after pass {ALWAYS}, per structure: its first pass and its latest recorded in full are written"]
    for g in groups[:GROUP_ROWS]:
        span = str(g.first) if g.first == g.last else f"{g.first}-{g.last}"
        written = " and ".join(map(str, g.drawn)) or "none"
        what = f"passes {span} ({g.count} of one structure)"
        if g.count == 1:
            what = f"pass {span} (the only one of its structure)"
        lines.append(f"    {what}: written {written}" + (f"; {g.counted} only counted" if g.counted else ""))
    if len(groups) > GROUP_ROWS:
        lines.append(f"    ... and {len(groups) - GROUP_ROWS} more structures (see index.html)")
    return lines


def summary(writer: Writer, folder: Path, not_drawn: Sequence[str] = ()) -> None:
    """A short table on stderr (the script's stdout stays its own): runs of alike passes."""
    total = writer.count + writer.skipped
    lines = [
        (
            f"graphtrace: {total} backward pass{'es' if total != 1 else ''}, "
            f"{writer.drawn} written to {shown_path(folder)}/"
            if total or not writer.children
            else "graphtrace: no backward pass in the script's own process; its child processes ran some"
        )
    ]
    rows = [("passes", "kind", "call site", "nodes", "root")] if total else []
    for first, last, e in writer.runs[:SUMMARY_ROWS]:
        span = str(first) if first == last else f"{first}-{last}"
        site = e.call_site + (" (error)" if e.error else "")
        rows.append((span, printable(e.kind), printable(site), str(e.nodes), printable(e.root_shape)))
    widths = [max((len(r[i]) for r in rows), default=0) for i in range(5)]
    lines += [
        "  " + "  ".join(c.ljust(w) if i != 3 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip()
        for r in rows
    ]
    if len(writer.runs) > SUMMARY_ROWS:
        lines.append(f"  ... and {len(writer.runs) - SUMMARY_ROWS} more runs of passes (see index.html)")
    lines += group_lines(writer)
    if writer.skipped:
        lines.append(f"  passes {writer.count + 1}-{total} ran after --max-passes {writer.max_passes}: only counted")
    lines += [f"  {line}" for line in not_drawn]
    lines += [
        f"  a child process ran {n} pass{'es' if n != 1 else ''}: {shown_path(folder / name)}/"
        for name, n in writer.children
    ]  # NOTE [a child's folder]
    if writer.ranks_page:
        lines.append(f"  their ranks compared: {shown_path(folder / writer.ranks_page)}")
    if writer.index_written:
        lines.append(f"  open {shown_path(folder / 'index.html')}")
    say(*lines)
