"""``graphtrace run`` under torchrun: a folder per rank, and rank 0's index of all ranks with their differences.

NOTE [a folder per rank]
torchrun starts one ``graphtrace run`` per rank with RANK and WORLD_SIZE set. Each rank writes
into ``OUT/rank-<RANK>/``, a marked and locked run folder of its own (NOTE [marked folders]),
so ranks never share a file. ``--ranks 0,1,-1`` chooses the ranks that trace; the others run
the script untraced and write nothing. The first traced rank (rank 0 by default) also takes
``OUT`` itself (marked; its ``rank-N`` folders do not count as the user's files) and, once its
own script has finished, waits for every other traced rank to release the lock of its folder
(a rank holds it until its index is written), at most WAIT seconds, and writes
``OUT/index.html``: a link to each rank's index and, per pass and parameter, the largest
difference of ``.grad`` after the pass across ranks (zero for healthy DDP). A rank that does
not finish in time is named on the page; the job is never held up longer, and nothing of this
changes any rank's exit code.
"""

from __future__ import annotations

import math
import os
import re
import time
from html import escape
from pathlib import Path
from typing import Any

from .._errors import GraphtraceError
from .._files import write_file
from .folder import MARKER

WAIT = 60.0  # seconds rank 0 waits for the other ranks' folders
RANK_DIR = re.compile(r"^rank-\d+$")


def ranks_from_env(environ: dict[str, str] | None = None) -> tuple[int, int] | None:
    """(RANK, WORLD_SIZE) as torchrun sets them, or None when not under a launcher."""
    env = os.environ if environ is None else environ
    if "RANK" not in env or "WORLD_SIZE" not in env:
        return None
    try:
        rank, world = int(env["RANK"]), int(env["WORLD_SIZE"])
    except ValueError:
        raise GraphtraceError(
            f"RANK={env['RANK']!r} and WORLD_SIZE={env['WORLD_SIZE']!r} are not whole numbers"
        ) from None
    if not 0 <= rank < world:
        raise GraphtraceError(f"RANK={rank} is not below WORLD_SIZE={world}")
    return rank, world


def chosen_ranks(text: str | None, world: int) -> list[int]:
    """``--ranks 0,1,-1``: the ranks that trace (negative counts from the last), sorted; all by default."""
    if text is None:
        return list(range(world))
    chosen = set()
    for part in text.split(","):
        try:
            rank = int(part)
        except ValueError:
            raise GraphtraceError(f"--ranks takes whole numbers separated by commas (0,1,-1), not {text!r}") from None
        if not -world <= rank < world:
            raise GraphtraceError(f"--ranks {rank} is outside the job's {world} ranks")
        chosen.add(rank % world)
    return sorted(chosen)


def rank_folder(out: Path, rank: int) -> Path:
    return out / f"rank-{rank}"


def wait_for_ranks(out: Path, others: list[int], timeout: float = WAIT) -> list[int]:
    """Wait until the ``others`` released their folders' locks; returns the ranks still busy at the deadline."""
    import fcntl

    deadline = time.monotonic() + timeout
    pending = list(others)
    while pending:
        still = []
        for rank in pending:
            marker = rank_folder(out, rank) / MARKER
            try:
                fd = os.open(marker, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
            except OSError:
                still.append(rank)
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                still.append(rank)
            finally:
                os.close(fd)
        pending = still
        if not pending or time.monotonic() >= deadline:
            break
        time.sleep(0.2)
    return pending


def write_rank_index(
    out: Path, world: int, late: list[int], chosen: list[int] | None = None, name: str = "index.html"
) -> None:
    """``OUT/index.html`` (or ``name``): each traced rank's folder, and how their gradients differ pass by pass."""
    ranks = list(range(world)) if chosen is None else chosen
    rows = []
    per_rank: dict[int, dict[int, dict[str, Any]]] = {}
    for rank in ranks:
        folder = rank_folder(out, rank)
        passes = _grads_after(folder)
        per_rank[rank] = passes
        state = "did not finish in time" if rank in late else f"{len(passes)} pass{'es' if len(passes) != 1 else ''}"
        link = (
            f'<a href="rank-{rank}/index.html">rank-{rank}/</a>'
            if (folder / "index.html").exists()
            else f"rank-{rank}/ (no index)"
        )
        rows.append(f"<tr><td>{rank}</td><td>{link}</td><td>{escape(state)}</td></tr>")
    compare = _comparison(per_rank, ranks)
    html = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>graphtrace: '
        f"{world} ranks</title>\n<style>body{{font-family:sans-serif;margin:1.5em}}td,th{{padding:2px 10px;"
        "text-align:left}}.bad{color:#d62728;font-weight:bold}.local{color:#6b6b6b}</style></head><body>\n"
        f"<h1>{world} ranks" + (f", {len(ranks)} traced" if len(ranks) != world else "") + "</h1>\n"
        "<table><tr><th>rank</th><th>folder</th><th>passes</th></tr>\n"
        + "\n".join(rows)
        + "\n</table>\n<h2>.grad after each pass, across ranks</h2>\n"
        + compare
        + "\n</body></html>\n"
    )
    write_file(out / name, html)


def _grads_after(folder: Path) -> dict[int, dict[str, Any]]:
    """pass index -> {parameter name: grad_after record} from a rank's pass-NNN.json files."""
    from .. import load  # the model, no torch

    out: dict[int, dict[str, Any]] = {}
    for path in sorted(folder.glob("pass-*.json")):
        try:
            p = load(path).passes[0]
        except GraphtraceError:
            continue
        leaves = {
            str(a.get("param") or a.get("name") or f"leaf {n}"): (a.get("grad_after"), "reduced" in a, "shard" in a)
            for n, a in p.graph.nodes(data=True)
            if a.get("kind") == "leaf"
        }
        out[p.index] = leaves
    return out


def _comparison(per_rank: dict[int, dict[int, dict[str, Any]]], ranks: list[int]) -> str:
    """One row per pass and parameter: the largest |difference| of .grad after across ranks, flagged if not 0."""
    indexes = sorted({i for passes in per_rank.values() for i in passes})
    if not indexes:
        return "<p>No pass JSON files to compare (run with the json format).</p>"
    rows = []
    for i in indexes:
        names = sorted({n for passes in per_rank.values() for n in passes.get(i, {})})
        for name in names:
            found = [per_rank[r].get(i, {}).get(name) for r in ranks]
            recs = [f[0] if f is not None else None for f in found]
            reduced = any(f is not None and f[1] for f in found)
            sharded = any(f is not None and f[2] for f in found)  # NOTE [sharded parameters]
            shown = "each rank holds its own shard (FSDP2): not compared" if sharded else _difference(recs, reduced)
            rows.append(f"<tr><td>{i}</td><td>{escape(name)}</td><td>{shown}</td></tr>")
    return (
        "<table><tr><th>pass</th><th>parameter</th><th>largest difference across ranks</th></tr>\n"
        + "\n".join(rows)
        + "\n</table>"
    )


def _difference(recs: list[dict[str, Any] | None], reduced: bool) -> str:
    """``0`` when every rank has the same .grad; the largest |Δ| when all are in full; else what differs.

    A difference is flagged when the pass all-reduced the parameter somewhere; without any
    all-reduce (``no_sync()``, no DDP) ranks are expected to differ, and the row says so."""
    flag = "bad" if reduced else "local"
    why = "ranks diverge" if reduced else "not all-reduced in this pass"
    missing = [r for r, rec in enumerate(recs) if rec is None]  # positions in the traced ranks
    if missing:
        return f'<span class="bad">no .grad on rank {", ".join(map(str, missing))} (unused parameter?)</span>'
    flats = [_flat(rec.get("values")) for rec in recs if rec is not None]
    if all(f is not None for f in flats) and len({len(f) for f in flats if f is not None}) == 1:
        columns = zip(*[f for f in flats if f is not None])
        worst = max((max(col) - min(col) for col in columns), default=0.0)
        return "0" if worst == 0 else f'<span class="{flag}">{worst:.6g} ({why})</span>'
    norms = [rec.get("norm") for rec in recs if rec is not None]
    if len(set(map(str, norms))) == 1:
        return f"summaries equal (norm {norms[0]})"
    return f'<span class="{flag}">norms differ: {", ".join(str(n) for n in norms)} ({why})</span>'


def _flat(values: Any) -> list[float] | None:
    if values is None:
        return None
    if not isinstance(values, list):
        return [float(values)] if isinstance(values, (int, float)) and math.isfinite(values) else None
    out: list[float] = []
    for v in values:
        sub = _flat(v)
        if sub is None:
            return None
        out += sub
    return out
