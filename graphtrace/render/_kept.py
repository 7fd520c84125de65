"""One dot process kept running per Python process, drawing small SVGs one after another (NOTE [kept dot])."""

from __future__ import annotations

import atexit
import os
import selectors
import shutil
import subprocess
import threading

# NOTE [kept dot]: dot spends about 40M instructions (15-25 ms CPU) starting before it reads a
# graph: loading its plugins and fontconfig's configuration, then resolving each font. A
# 5-node pass costs it 6M more, a 135-node ResNet 200M. dot reads any number of graphs
# from its input and writes one SVG document per graph as soon as it has read it, so a
# process that draws several pictures keeps one ``dot -Tsvg`` and pays the start-up once.
# It is used only where it cannot differ from a fresh ``dot -Tsvg``:
# - dot is the program ``dot`` on PATH now (as graphviz.pipe runs it), POSIX only;
# - named graphs ending in "}\n", as to_dot writes them (dot numbers anonymous graphs on from
#   one to the next, and waits for a character after the closing brace before it draws);
# - sources up to MAX_SOURCE bytes (a big graph's layout dwarfs the start-up, and a fresh
#   dot gives its memory back when it exits);
# - one caller at a time (another thread, or a forked child, runs its own dot);
# - graphs without subgraphs: a dot that has drawn before may order a graph's clusters
#   differently (by where their records landed in its heap), so module-cluster pictures
#   (``clusters=True``) always get a fresh dot;
# - dot writes nothing to stderr: on any warning or error the kept process is ended and the
#   graph drawn by a fresh dot, which reports it as it always did; so is a dot that died.
# The only trace dot leaves from one graph to the next: graphs after the first get their
# group id as "page0,1_graph0" (dot 2.43 keeps the last page's index), put back to "graph0".
# Byte-identical SVGs either way (tests/render/test_kept.py). The kept dot is killed at exit.
# Only in a process graphtrace owns (``allow()``: the ``graphtrace render`` command). While it
# lives, the process has a child it did not start, and a program's own code would see it: a
# script that reaps its forked workers with ``os.wait()`` until ChildProcessError waited
# forever under ``graphtrace run`` (tests/cli/test_e2e.py). In a user's process (``run``, a
# notebook, a script calling ``to_svg``) every picture gets a one-shot dot, as before.
MAX_SOURCE = 512 * 1024  # bytes of DOT
_END = b"</svg>\n"
_LATER = (b'<g id="page0,1_graph0" class="graph"', b'<g id="graph0" class="graph"')
_CHUNK = 1 << 16
_NAMED = b'digraph "'
_SUBGRAPH = b"subgraph"


class _Dot:
    """A running ``dot -Tsvg`` (``exe``), owned by the process that started it."""

    def __init__(self, exe: str) -> None:
        self.exe, self.pid = exe, os.getpid()
        self.proc = subprocess.Popen(
            [exe, "-Kdot", "-Tsvg"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0
        )
        self.drawn = 0

    def draw(self, source: bytes) -> bytes | None:
        """The SVG of one graph, or None if dot said anything on stderr or stopped."""
        proc = self.proc
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        todo, out = memoryview(source), bytearray()
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            sel.register(proc.stderr, selectors.EVENT_READ)
            if todo:
                sel.register(proc.stdin, selectors.EVENT_WRITE)
            while not out.endswith(_END):
                for key, _ in sel.select():
                    if key.fileobj is proc.stdin:
                        todo = todo[os.write(proc.stdin.fileno(), todo[:_CHUNK]) :]
                        if not todo:
                            sel.unregister(proc.stdin)
                    elif key.fileobj is proc.stderr:
                        return None  # a warning or an error: a fresh dot reports it
                    else:
                        chunk = os.read(proc.stdout.fileno(), _CHUNK)
                        if not chunk:
                            return None  # dot stopped
                        out += chunk
        self.drawn += 1
        return bytes(out).replace(*_LATER, 1) if self.drawn > 1 else bytes(out)

    def close(self) -> None:
        """End dot (killed: it holds nothing to finish, and a forked child may hold its input open)."""
        self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


_lock = threading.Lock()
_kept: list[_Dot] = []  # at most one: this process's dot
_allowed: list[bool] = [False]  # a process graphtrace owns (NOTE [kept dot])


def allow() -> None:
    """Let this process keep a dot: only where no user code runs (the ``render`` command)."""
    _allowed[0] = True


def drop() -> None:
    """End this process's kept dot (after a failure, and at exit)."""
    while _kept:
        dot = _kept.pop()
        if dot.pid == os.getpid():
            dot.close()


atexit.register(drop)


def svg(source: bytes) -> bytes | None:
    """dot's SVG of ``source`` from the kept dot, or None where a fresh dot must draw it (NOTE [kept dot])."""
    if (
        not _allowed[0]
        or os.name != "posix"
        or len(source) > MAX_SOURCE
        or not (source.startswith(_NAMED) and source.endswith(b"}\n"))
    ):
        return None
    if _SUBGRAPH in source:  # cluster order may differ in a dot that drew before (NOTE [kept dot])
        return None
    exe = shutil.which("dot")
    if exe is None or not _lock.acquire(blocking=False):
        return None
    try:
        if _kept and (_kept[0].pid != os.getpid() or _kept[0].exe != exe):
            drop()  # another dot on PATH now; or a forked child's copy of its parent's (left to the parent)
        if not _kept:
            _kept.append(_Dot(exe))
        out = _kept[0].draw(source)
        if out is None:
            drop()
        return out
    except OSError:
        drop()
        return None
    except BaseException:  # interrupted mid-graph: dot's output is out of step with its input
        drop()
        raise
    finally:
        _lock.release()
