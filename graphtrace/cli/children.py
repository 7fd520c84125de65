"""Child processes of the script: their own folders (rank-<R>/ or pid-<pid>/), and tracing in spawned ones."""

from __future__ import annotations

import contextlib
import functools
import io
import os
import sys
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypedDict

from .._errors import GraphtraceError
from .folder import Folder, open_folder, read_run
from .ranks import RANK_DIR, write_rank_index

# NOTE [a child's folder]: a child process of the script (forked or spawned) writes its passes
# beside the parent's, into a folder chosen at its first pass, when it is known who it is:
# ``rank-<R>/`` when R is its rank and not the parent's own, else ``pid-<pid>/``. R is RANK in
# the child's environment at that moment, else the rank of its default process group (scripts
# started by ``torch.multiprocessing.spawn`` usually pass the rank to ``init_process_group``
# and set no RANK); a RANK or process group merely inherited from the parent (a torchrun rank
# that forks) equals the parent's and does not count. A rank folder is marked and locked like a
# run folder (NOTE [marked folders]) and is taken only if no process of this run has written
# passes there yet (two jobs of the same ranks in one script: the second goes to pid-<pid>/), so
# no two processes ever share a file. A child that runs no backward makes no folder. With two
# or more rank folders the parent also writes ``ranks.html``, comparing them as rank 0's index
# does under torchrun (NOTE [a folder per rank]).

# NOTE [spawned children]: a child started with multiprocessing's ``spawn`` or ``forkserver``
# method (``torch.multiprocessing.spawn``, ``get_context("spawn").Process``, a spawn
# ProcessPoolExecutor) is a fresh interpreter holding nothing of the parent's tracer. Every such
# start pickles ``multiprocessing.spawn.get_preparation_data(...)`` to the child, which unpickles
# it first, before it imports the script as ``__mp_main__`` and unpickles the process object.
# While the script runs, graphtrace adds one key to that dict (``prepare`` ignores keys it does
# not know): an object that unpickles as a fixed bootstrap text run by ``exec``, so that no
# environment variable, sitecustomize or .pth file is involved, and a child that cannot import
# graphtrace simply runs plain. The bootstrap imports this module (graphtrace's own folder on
# sys.path for that import only) and wraps ``BaseProcess._bootstrap`` for this one start: when
# torch is imported by then (by the script's top or the target's module) and the target is not a
# DataLoader worker (workers run no backward; tracing them would only slow data loading), the
# process runs under a tracer like the parent's, into a writer of its own (a spawned process is
# often a whole training rank): its folder is claimed at the first pass (NOTE [a child's
# folder]); passes are written as in the parent (NOTE [which passes are written]), each pass's
# JSON at once, and when the process's run ends (a return, ``sys.exit`` or an exception) the
# last pass of each group, the drawings and the folder's index. ``os._exit`` in the child skips
# that end: what was written stays, the rest is lost. The child prints nothing of ours and
# never touches the parent's files; no folder is made by a child that runs no backward.

KEY = "graphtrace"  # the key added to the preparation data
RANKS_PAGE = "ranks.html"  # the parent's comparison of its children's ranks
_WORKER_LOOP = ("torch.utils.data._utils.worker", "_worker_loop")
_BOOTSTRAP = """\
import sys
sys.path.insert(0, folder)
try:
    from graphtrace.cli.children import start
except Exception:
    start = None
finally:
    if sys.path and sys.path[0] == folder:
        del sys.path[0]
if start is not None:
    start(run)
"""


class ChildRun(TypedDict):
    """What a spawned child needs to trace as ``graphtrace run`` does (plain data, pickled)."""

    base: str  # the parent's run folder
    formats: list[str]
    depth: int | None
    max_passes: int | None
    values: bool
    check: bool
    started: float  # when the parent's run began (time.time())
    parent_rank: int | None
    title: str  # of the parent's index, and of each child's
    command: str


def env_rank() -> int | None:
    """RANK in the environment as a whole number, else None."""
    try:
        return int(os.environ["RANK"])
    except (KeyError, ValueError):
        return None


def child_rank(graph_rank: Any, parent_rank: int | None) -> int | None:
    """The rank a child's folder is named by, or None (NOTE [a child's folder])."""
    for rank in (env_rank(), graph_rank):
        if isinstance(rank, int) and not isinstance(rank, bool) and rank >= 0 and rank != parent_rank:
            return rank
    return None


def claim_folder(base: Path, rank: int | None, started: float) -> tuple[Path, Folder | None]:
    """A child's folder and, for a rank folder, its held lock (NOTE [a child's folder])."""
    mine = base / f"pid-{os.getpid()}"
    if rank is None:
        return mine, None
    try:
        held = open_folder(base / f"rank-{rank}")
    except GraphtraceError:
        return mine, None
    try:
        if any(p.stat().st_mtime >= started for p in held.path.glob("pass-*")):
            held.close()  # another process of this run has written here
            return mine, None
        held.clean()
    except OSError:
        held.close()
        return mine, None
    return held.path, held


def child_folders(out: Path, started: float) -> list[tuple[str, int]]:
    """(folder name, passes) of the children's folders written since ``started``, by name."""
    found = []
    try:
        for folder in sorted(p for pattern in ("pid-*", "rank-*") for p in out.glob(pattern)):
            if folder.is_dir() and folder.stat().st_mtime >= started:
                found.append((folder.name, _passes_in(folder)))
    except OSError:
        pass
    return found


def compare_ranks(out: Path, children: list[tuple[str, int]]) -> str | None:
    """``ranks.html`` in ``out``: the children's rank folders compared as torchrun's ranks are (NOTE
    [a folder per rank]), when there are two or more; its name, else None. Raises OSError, GraphtraceError."""
    ranks = sorted(int(name.split("-")[1]) for name, _ in children if RANK_DIR.match(name))
    if len(ranks) < 2:
        return None
    write_rank_index(out, max(ranks) + 1, [], ranks, name=RANKS_PAGE)
    return RANKS_PAGE


def _passes_in(folder: Path) -> int:
    """How many passes a child ran: its run.json's total (a spawned child groups repeats), else its pass files."""
    try:
        run = read_run(folder)
    except GraphtraceError:
        run = None
    if run is not None:
        return int(run["total"])
    return len({f.name.split(".")[0] for f in folder.glob("pass-*")})


def in_forked_children(writer: Any) -> None:
    """Have a child forked later turn its copy of ``writer`` into a child's (NOTE [forked children])."""
    ref = weakref.ref(writer)

    def after_fork() -> None:
        copy = ref()
        if copy is not None:
            copy.as_child(env_rank())

    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=after_fork)


def run_tracer(on_pass: Callable[[Any], None], values: bool, max_passes: int | None, check: bool, writer: Any) -> Any:
    """The tracer of ``graphtrace run``, in the parent and in a spawned child: ``writer`` (a
    ``Writer``) says which passes are only counted and takes them (NOTE [which passes are written])."""
    import graphtrace

    from .writer import ALWAYS

    # NOTE [cheaper repeats]: local Jacobians cost more than the rest of a pass's capture
    # and only sharpen the pictures; only the first ALWAYS passes (after them most repeats
    # are never drawn) get them, and only the first --max-passes record values (later
    # passes are only counted). Measured in bench/cli_training_loop.py.
    return graphtrace.trace(
        on_pass=on_pass,
        keep=False,
        values=values,
        jacobian_passes=ALWAYS,
        value_passes=max_passes,
        check=check,
        count_only=writer.count_only,
        on_counted=writer.add_counted,
    )


class _Bootstrap:
    """In the preparation data: unpickles in the child as the bootstrap (NOTE [spawned children])."""

    def __init__(self, run: ChildRun) -> None:
        self.run = run

    def __reduce__(self) -> tuple[Any, ...]:
        folder = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        return (exec, (_BOOTSTRAP, {"folder": folder, "run": self.run}))


@contextlib.contextmanager
def spawned_children(run: ChildRun) -> Iterator[None]:
    """While the block runs, children started by spawn or forkserver trace too (NOTE [spawned children])."""
    try:
        from multiprocessing import spawn
    except ImportError:  # a Python without multiprocessing: no children to trace
        yield
        return
    original = spawn.get_preparation_data

    @functools.wraps(original)
    def get_preparation_data(name: str) -> dict[str, Any]:
        data: dict[str, Any] = original(name)
        data[KEY] = _Bootstrap({**run, "parent_rank": env_rank()})
        return data

    spawn.get_preparation_data = get_preparation_data
    try:
        yield
    finally:
        if spawn.get_preparation_data is get_preparation_data:  # the script may have replaced it too
            spawn.get_preparation_data = original


def start(run: ChildRun) -> None:
    """In a spawned child, before the script is imported: trace the process's run (NOTE [spawned children])."""
    try:
        from multiprocessing.process import BaseProcess

        original = BaseProcess._bootstrap  # type: ignore[attr-defined]

        def _bootstrap(self: Any, *args: Any, **kwargs: Any) -> Any:
            BaseProcess._bootstrap = original  # type: ignore[attr-defined]
            if "torch" not in sys.modules or _is_worker(getattr(self, "_target", None)):
                return original(self, *args, **kwargs)
            return _traced(run, lambda: original(self, *args, **kwargs))

        BaseProcess._bootstrap = _bootstrap  # type: ignore[attr-defined]
    except Exception:  # a fault of ours: the child runs plain
        pass


def _is_worker(target: Any) -> bool:
    return (getattr(target, "__module__", None), getattr(target, "__name__", None)) == _WORKER_LOOP


def _traced(run: ChildRun, bootstrap: Callable[[], Any]) -> Any:
    """The child's run (``bootstrap`` returns its exit code) under the run's tracer, into a writer
    of its own whose folder is claimed at the first pass; a fault of ours: the plain run.

    The writer finishes where ``_bootstrap`` joins the process's threads, before the drawing
    threads are joined (NOTE [before threads are joined]): after the target returned or raised
    and the process's own children were joined; silently, as a progress bar would change the
    child's stderr."""
    try:
        from .stop import before_threads_join
        from .writer import Writer

        writer = Writer(Path(run["base"]), tuple(run["formats"]), depth=run["depth"], max_passes=run["max_passes"])
        writer.claim_later(run["parent_rank"], run["started"])
        tracer = run_tracer(writer.add, run["values"], run["max_passes"], run["check"], writer)
        finished: list[bool] = []

        def finish() -> None:
            if not finished:
                finished.append(True)
                with contextlib.suppress(Exception):
                    writer.finish(title=run["title"], command=run["command"], notes=[], progress=io.StringIO())

        if not before_threads_join(finish):  # nothing would end the drawing threads: the plain run
            raise RuntimeError("threading._register_atexit is missing")
        tracer.__enter__()
    except Exception:
        return bootstrap()
    try:
        with spawned_children(run):  # its own children in turn
            return bootstrap()
    finally:
        with contextlib.suppress(Exception):
            tracer.__exit__(None, None, None)
        finish()  # if the process's end did not run it
