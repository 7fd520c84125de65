"""The output folder of ``graphtrace run``/``render``: passes written as they arrive, then the index.

NOTE [which passes are written]: the first ``ALWAYS`` passes are written one by one. After
them, passes are grouped by their graph ``signature`` (same structure, e.g. the steps of a
training loop). Of each group, only the 1st, 2nd, 4th, 8th, ... pass (powers of two) and every
``FULL_EVERY``-th are recorded in full (``index.in_full``); the others are only counted (NOTE
[counted passes] in capture/counted.py: their gradient statistics, exact, and nothing else).
Two passes of a group are written (JSON and pictures): its first, and its latest pass recorded
in full, held until the end (a pass cannot be known to be the last while it runs, and
recording every one in full, in case it is, cost 10x a training step). The index and the
summary name the passes written and count the others. A pass that cannot be counted safely
(new leaf tensors every step, a custom Function) is recorded in full anyway, and then it may be
its group's latest recorded in full. So 1,000 training steps give 22 pass
files (passes 1-20, 21 and 532), memory holds at most one pending pass per group, and a long
loop records one pass in ``FULL_EVERY`` in full.

NOTE [dot after the script]: a ``dot`` started from the script's process is a child the script
can reap: a script collecting its forked workers with ``os.wait()`` until ChildProcessError
collected a ``dot`` a drawing thread had started (test_e2e, "reaped 2"). So a run's pictures are
drawn, as its passes arrive, by its drawer: a process outside the script's children, started
before the script (NOTE [drawer] in render/_drawer.py). Where there is none (it could not start,
would have been a child of this process, or died; a spawned child's writer), the drawing threads
reduce each pass to its view while the script runs and start ``dot`` only once it has ended
(``finish``, also on SIGTERM; at the latest before the process joins its threads: NOTE [before
threads are joined] in stop.py), holding those passes until then. A forked child draws in place
with a dot of its own. JSON files are written as passes arrive either way.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import asdict
from pathlib import Path
from typing import Any, TextIO

from .._errors import GraphtraceError, GraphvizNotFoundError
from .._files import WriteError, write_file
from ..model import SAVE_FORMATS, Counted, Pass
from ..render import charts
from ..render._drawer import wait_for_the_end
from .children import child_folders, child_rank, claim_folder, compare_ranks, in_forked_children
from .folder import Folder, write_run
from .index import Entry, PassGroup, file_name, in_full, index_html
from .printing import printable
from .stop import before_threads_join, leave_signals_to_the_main_thread

FORMATS = tuple(f for f in SAVE_FORMATS if f != "graphml")  # what a run folder holds per pass
ALWAYS = 20


def parse_formats(values: tuple[str, ...] | list[str], default: tuple[str, ...]) -> tuple[str, ...]:
    """Formats from repeated and comma-separated ``--format`` values, in FORMATS order."""
    asked = [f.strip().lower() for v in values for f in v.split(",") if f.strip()]
    for f in asked:
        if f not in FORMATS:
            raise GraphtraceError(f"unknown format {f!r} (choose from {', '.join(FORMATS)})")
    return tuple(f for f in FORMATS if f in (asked or default))


class Progress:
    """A one-line progress bar on a terminal stream; silent when the stream is not a terminal."""

    def __init__(self, stream: TextIO, total: int, label: str = "rendering", delay: float = 0.5) -> None:
        self.stream, self.total, self.label = stream, total, label
        self.start, self.delay, self.shown = time.monotonic(), delay, False
        try:
            self.tty = stream.isatty()
        except (AttributeError, ValueError):
            self.tty = False

    def update(self, done: int) -> None:
        if not self.tty or self.total <= 0 or time.monotonic() - self.start < self.delay:
            return
        width = 30
        fill = width * done // self.total
        self.stream.write(f"\r{self.label} [{'#' * fill}{'.' * (width - fill)}] {done}/{self.total}")
        self.stream.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            self.stream.write("\r" + " " * (len(self.label) + 50) + "\r")
            self.stream.flush()


class Writer:
    """Receives passes (the tracer's ``on_pass``), writes them to ``out`` and the index at the end.

    ``add`` never raises into the user's script: failures are kept in ``errors`` (and files
    not written in ``failed``) and shown at the end; a missing ``dot`` stops drawing but JSON
    and DOT are still written. ``previous`` is the folder's ``run.json`` to extend (``render``
    into a run folder keeps the whole run's index).
    """

    def __init__(
        self,
        out: Path,
        formats: tuple[str, ...],
        *,
        depth: int | None = None,
        max_passes: int | None = None,
        always: int = ALWAYS,
        workers: int | None = None,
        previous: dict[str, Any] | None = None,
    ) -> None:
        self.out, self.formats, self.depth = out.absolute(), formats, depth  # the script may chdir
        self.max_passes, self.always, self.previous = max_passes, always, previous
        self.count = 0  # passes recorded (within max_passes)
        self.skipped = 0  # passes beyond max_passes: only counted
        self.written: list[str] = []  # file names written, in order
        self.failed: list[tuple[str, str]] = []  # (file name, reason) of files that could not be written
        self.index_written = False
        self.entries: list[Entry] = []
        self.groups: dict[str, PassGroup] = {}
        self.pending: dict[str, tuple[int, Pass]] = {}  # last pass of each group, written at the end
        self.stats = charts.GradStats()
        self.errors: list[str] = []
        self.no_dot: str = ""
        self.runs: list[list[Any]] = []  # consecutive passes alike: [first, last, entry]
        self._pool: ThreadPoolExecutor | None = ThreadPoolExecutor(
            max_workers=workers or min(4, os.cpu_count() or 1),
            thread_name_prefix="graphtrace-render",
            initializer=self._drawing_thread,
        )
        self._jobs: list[Future[Any]] = []
        self._ended = threading.Event()  # the script has ended: dot may run (NOTE [dot after the script])
        before_threads_join(self._ended.set)  # no drawing thread joined for ever (NOTE [before threads are joined])
        # NOTE [pass page links]: a pass's page links to the previous and next page written;
        # the next is known only when it comes, so each page waits (as graph, entry and its
        # drawing job) until then, or until finish(). A forked child's pages link nothing.
        self._page_wait: tuple[Any, Entry, Future[Any]] | None = None
        self._last_page: Entry | None = None
        self.child = False  # NOTE [forked children]: this is a forked child's copy, writing into its own folder
        self.base = self.out  # a child's folder is chosen in here (NOTE [a child's folder])
        self.parent_rank: int | None = None
        self.held: Folder | None = None  # a child's rank folder, locked while the child lives
        self.unclaimed = False  # a child's writer before its first pass: no folder yet
        self.started = time.time()
        self.children: list[tuple[str, int]] = []  # (folder, passes) of the children, after finish
        self.ranks_page: str | None = None  # their ranks compared (children.compare_ranks)
        in_forked_children(self)

    def as_child(self, parent_rank: int | None) -> None:
        """NOTE [forked children]: a process forked from the script (``os.fork``, a ``fork``
        DataLoader worker or multiprocessing start) holds a copy of this writer whose drawing
        threads do not exist in it: waiting for them would hang the child, and writing pass-NNN
        files would replace the parent's. So the child's copy starts afresh in a folder of its own
        beside the parent's passes (NOTE [a child's folder]), writes each pass whole as it comes
        (no threads, no groups: a child may end by ``os._exit`` at any moment), writes no index,
        prints nothing and touches none of the parent's files; the parent's index lists those
        folders. (A spawned child has a writer of its own: NOTE [spawned children].)"""
        self.child, self.previous, self._pool = True, None, None
        self.count = self.skipped = 0
        self.written, self.failed, self.entries, self.errors, self.runs, self._jobs = [], [], [], [], [], []
        self.groups, self.pending, self.children = {}, {}, []
        self._page_wait, self._last_page = None, None
        self.stats = charts.GradStats()
        self.claim_later(parent_rank, self.started)

    def claim_later(self, parent_rank: int | None, started: float) -> None:
        """Write into a child's folder of ``self.base``, chosen at the first pass (NOTE [a child's folder])."""
        self.out, self.parent_rank, self.started, self.held = self.base, parent_rank, started, None
        self.unclaimed = True

    # -- receiving passes -------------------------------------------------------------------
    def add(self, p: Pass, number: int | None = None) -> None:
        """Take one pass: write it now, keep it as its group's pending last, or only count it."""
        try:
            self._add(p, number)
        except GraphtraceError as exc:
            self._error(str(exc))
        except Exception as exc:  # a bug of ours must not break the user's program
            self._error(f"could not record pass {p.index}: {type(exc).__name__}: {exc}")

    def count_only(self, index: int, signature: str) -> bool:
        """The tracer's ``count_only``: True for a pass that is only counted (NOTE [which passes are written])."""
        if self.child:  # a child writes every pass (NOTE [forked children])
            return False
        if self.max_passes is not None and self.count >= self.max_passes:
            return True
        group = self.groups.get(signature)
        return self.count + 1 > self.always and group is not None and not in_full(group.count + 1)

    def add_counted(self, c: Counted) -> None:
        """Take one pass that was only counted: its statistics, its place in its group and runs."""
        try:
            if self.max_passes is not None and self.count >= self.max_passes:
                self.skipped += 1
                return
            self.count += 1
            self.stats.add_grads(c.index, c.grads)
            if not self._continues_run(self.count, c.call_site, c.signature, c.kind):  # an Entry only for a new run
                self.runs.append([self.count, self.count, Entry.counted(self.count, c)])
            group = self.groups.get(c.signature)
            if group is None:
                group = self.groups[c.signature] = PassGroup(c.signature, c.call_site, self.count, self.count, 0)
            group.count += 1
            group.counted += 1
            group.last = self.count
        except Exception as exc:  # a bug of ours must not break the user's program
            self._error(f"could not count pass {c.index}: {type(exc).__name__}: {exc}")

    def _add(self, p: Pass, number: int | None) -> None:
        if self.max_passes is not None and self.count >= self.max_passes:
            self.skipped += 1
            return
        self.count += 1
        number = number or self.count
        graph = p.graph
        self.stats.add(graph)
        entry = Entry.of(number, graph)
        if not self._continues_run(number, entry.call_site, entry.signature, entry.kind):
            self.runs.append([number, number, entry])
        if number <= self.always or self.child:
            self._emit(p, entry)
            return
        sig = entry.signature or f"#{number}"
        group = self.groups.get(sig)
        if group is None:
            self.groups[sig] = PassGroup(sig, entry.call_site, number, number, drawn=[number])
            self._emit(p, entry)
        else:
            group.count += 1
            group.last = number
            self.pending[sig] = (number, p)

    def _continues_run(self, number: int, call_site: str, signature: str, kind: str) -> bool:
        """Pass ``number`` extends the last run (consecutive passes alike): True, and it is extended."""
        last = self.runs[-1] if self.runs else None
        if (
            last is not None
            and last[1] == number - 1
            and (last[2].call_site, last[2].signature, last[2].kind) == (call_site, signature, kind)
        ):
            last[1] = number
            return True
        return False

    def _emit(self, p: Pass, entry: Entry) -> None:
        if self.unclaimed:  # a child's first pass: its folder
            rank = child_rank(p.graph.graph.get("rank"), self.parent_rank)
            self.out, self.held = claim_folder(self.base, rank, self.started)
            self.unclaimed = False
        self.entries.append(entry)
        if "json" in self.formats:
            self._save(entry, "json", p.to_json())
        if any(f != "json" for f in self.formats):
            if self._pool is None:  # a forked child: drawn here and now
                drawn: Future[Any] = Future()
                drawn.set_result(self._draw(p.graph, entry))
                if "html" in self.formats:
                    self._page(p.graph, entry, drawn, {})
            else:
                drawing = self._pool.submit(self._draw, p.graph, entry)
                self._jobs.append(drawing)
                if "html" in self.formats:
                    self._queue_page(entry)
                    self._page_wait = (p.graph, entry, drawing)

    def _queue_page(self, following: Entry | None) -> None:
        """Start the page waiting for its next neighbour (NOTE [pass page links])."""
        if self._page_wait is None or self._pool is None:
            return
        graph, entry, drawing = self._page_wait
        links = {"index": "index.html"}
        if self._last_page is not None:
            links["prev"] = file_name(self._last_page.number, "html")
        if following is not None:
            links["next"] = file_name(following.number, "html")
        self._jobs.append(self._pool.submit(self._page, graph, entry, drawing, links))
        self._page_wait, self._last_page = None, entry

    def _error(self, message: str) -> None:
        if message not in self.errors:
            self.errors.append(message)

    # -- drawing (worker threads) -----------------------------------------------------------
    def _drawing_thread(self) -> None:
        """Set up a drawing thread: signals go to the main thread; no dot here while the script runs."""
        leave_signals_to_the_main_thread()
        wait_for_the_end(self._ended)  # NOTE [dot after the script]

    def _draw(self, graph: Any, entry: Entry) -> tuple[str | None, Any] | None:
        """Draw a pass's pictures; returns its SVG and the view drawn, for its page (None if it failed)."""
        from .. import render

        opts: dict[str, Any] = {"depth": self.depth} if self.depth is not None else {}
        formats = [f for f in self.formats if f != "json" and (f == "dot" or not self.no_dot)]
        try:
            svg, view = None, render.view(graph, **opts)  # reduced once for the pictures and the page
            for fmt, data in render.draw(graph, [f for f in formats if f != "html"], view=view):  # as Pass.save
                self._save(entry, fmt, data)
                svg = data.decode("utf-8") if fmt == "svg" and isinstance(data, bytes) else svg
            return svg, view
        except GraphvizNotFoundError as exc:
            self.no_dot = str(exc)
        except GraphtraceError as exc:
            self._error(str(exc))
        except Exception as exc:  # a renderer bug: say which pass, keep going
            self._error(f"could not draw pass {entry.index}: {type(exc).__name__}: {exc}")
        return None

    def _page(self, graph: Any, entry: Entry, drawing: Future[Any], links: dict[str, str]) -> None:
        """The step-through page of a pass, with the SVG its drawing job made (started before this)."""
        from .. import render

        opts: dict[str, Any] = {"depth": self.depth} if self.depth is not None else {}
        try:
            svg, view = drawing.result() or (None, None)
            if self.no_dot:
                return
            page = render.to_html(graph, svg=svg, links=links, view=view, **opts)  # the same SVG and view
            self._save(entry, "html", page)
        except GraphvizNotFoundError as exc:
            self.no_dot = str(exc)
        except GraphtraceError as exc:
            self._error(str(exc))
        except Exception as exc:  # see _draw
            self._error(f"could not draw pass {entry.index}: {type(exc).__name__}: {exc}")

    def _save(self, entry: Entry, fmt: str, data: str | bytes) -> None:
        name = file_name(entry.number, fmt)
        if self._write(name, data):
            entry.files[fmt] = name

    def _write(self, name: str, data: str | bytes) -> bool:
        try:
            write_file(self.out / name, data)
        except WriteError as exc:
            self.failed.append((name, exc.reason))
            return False
        self.written.append(name)
        return True

    @property
    def drawn(self) -> int:
        """Passes with at least one file written."""
        return sum(1 for e in self.entries if e.files)

    # -- the end ----------------------------------------------------------------------------
    def finish(self, *, title: str, command: str, notes: list[str], progress: TextIO | None = None) -> None:
        """Write the pending last passes of groups, wait for drawings, write index.html.

        Ctrl-C while waiting cancels the drawings not yet started; the index is written anyway.
        A forked child's copy has written everything already and writes no index.
        """
        self._ended.set()  # NOTE [dot after the script]
        if self.child or self._pool is None:
            return
        if self.unclaimed:  # a spawned child that wrote no pass: no folder, nothing to write
            self._pool.shutdown(wait=True, cancel_futures=True)
            return
        self.children = child_folders(self.out, self.started)
        try:
            self.ranks_page = compare_ranks(self.out, self.children)
        except (OSError, GraphtraceError) as exc:  # the parent's own index is still written
            self._error(f"the children's ranks were not compared: {exc}")
        try:
            for sig, (number, p) in sorted(self.pending.items(), key=lambda item: item[1][0]):
                self.groups[sig].drawn.append(number)
                self._write_group_last(p, number)
            self.pending.clear()
            self._queue_page(None)
            self._wait(progress if progress is not None else sys.stderr)
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)
            if self.entries or self.previous is not None or self.children:
                self._index(title, command, notes)

    def _write_group_last(self, p: Pass, number: int) -> None:
        try:
            self._emit(p, Entry.of(number, p.graph))
        except GraphtraceError as exc:
            self._error(str(exc))
        except Exception as exc:  # a bug of ours: say which pass, keep going
            self._error(f"could not record pass {number}: {type(exc).__name__}: {exc}")

    def _wait(self, stream: TextIO) -> None:
        bar = Progress(stream, len(self._jobs))
        try:
            pending = set(self._jobs)
            while pending:
                _, pending = wait(pending, timeout=0.1)
                bar.update(len(self._jobs) - len(pending))
        finally:
            bar.close()

    def _index(self, title: str, command: str, notes: list[str]) -> None:
        notes = list(notes)
        if self.no_dot:
            notes.append("No pictures: " + self.no_dot + ".")
        if self.skipped:
            notes.append(
                f"{self.skipped} more passes ran after --max-passes {self.max_passes}; they were only counted."
            )
        notes.extend(
            f"A child process ran {n} backward pass{'es' if n != 1 else ''}: see {name}/." for name, n in self.children
        )
        if self.ranks_page:
            notes.append(f"The child processes' ranks, their .grad compared pass by pass: see {self.ranks_page}.")
        run = {
            "title": printable(title),
            "command": printable(command),
            "total": self.count + self.skipped,
            "counted_only": self.skipped,
            "always": self.always,
            "notes": notes,
            "grad_stats": self.stats.table() if self.stats.is_training_loop() else None,
            "grad_series": self.stats.series.to_data() if self.stats.is_training_loop() else None,
            "passes": [asdict(e) for e in self.entries],
            "groups": [asdict(g) for g in self.groups.values()],
        }
        if self.previous is not None:
            run = extend_run(self.previous, run)
        try:
            write_run(self.out, run)
        except WriteError as exc:
            self.failed.append(("run.json", exc.reason))
        self.index_written = self._write("index.html", index_html(run))


def extend_run(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """``old`` (a folder's run.json) with the passes of ``new`` drawn into it: its statistics,
    groups and notes kept, each pass's entry replaced (its other files kept when it is the
    same pass), passes it did not have added."""
    by_number = {e["number"]: e for e in old["passes"]}
    added = 0
    for e in new["passes"]:
        o = by_number.get(e["number"])
        if o is None:
            added += 1
        elif (o["index"], o["signature"], o["call_site"]) == (e["index"], e["signature"], e["call_site"]):
            e = {**e, "files": {**o["files"], **e["files"]}}
        by_number[e["number"]] = e
    return {**old, "passes": sorted(by_number.values(), key=lambda e: e["number"]), "total": old["total"] + added}
