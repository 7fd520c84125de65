"""The kept dot process: the SVG bytes of a fresh dot, one process for many pictures, a fresh dot when in doubt."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import graphviz
import pytest

import graphtrace
from graphtrace import GraphvizNotFoundError
from graphtrace._errors import GraphtraceError
from graphtrace.render import _kept, pipe, to_dot
from graphtrace.render._backend import image

from . import synthetic as S

pytestmark = pytest.mark.dot


def _fresh(source: str) -> bytes:
    out: bytes = graphviz.pipe("dot", "svg", source.encode("utf-8", "backslashreplace"), quiet=True)
    return out


def _sources() -> list[str]:
    graphs = (S.chain(), S.multipath(), S.accumulation(), S.unhealthy(), S.grad_call(), S.hostile())
    big = to_dot(S.long_chain(420), budget=10**6)  # over LINES: straight edges, xlabels, capped network simplex
    return [to_dot(g) for g in graphs] + [big, to_dot(S.chain(), values=False)]


@pytest.fixture(autouse=True)
def _own_dot(monkeypatch):
    _kept.drop()  # each test starts without a kept dot, and leaves none
    monkeypatch.setattr(_kept, "_allowed", [True])  # as the render command allows it
    yield
    _kept.drop()


def test_a_process_graphtrace_does_not_own_keeps_no_dot(monkeypatch):
    monkeypatch.setattr(_kept, "_allowed", [False])
    source = to_dot(S.chain())
    assert _kept.svg(source.encode()) is None and _kept._kept == []
    assert image(source, "svg") == pipe(source, "svg") and _kept._kept == []


def test_pictures_in_a_row_are_byte_identical_to_a_fresh_dot_and_share_one_process():
    sources = _sources()
    for source in sources + sources[::-1]:
        assert _kept.svg(source.encode("utf-8", "backslashreplace")) == _fresh(source)
    (dot,) = _kept._kept
    assert dot.drawn == 2 * len(sources) and dot.proc.poll() is None
    assert image(sources[0], "svg") == pipe(sources[0], "svg")  # with the picture's id; pipe: a fresh dot for any DOT
    assert _kept._kept == [dot] and dot.drawn == 2 * len(sources) + 1


def test_later_pictures_keep_their_graph_id():
    source = to_dot(S.chain()).encode()
    first, second = _kept.svg(source), _kept.svg(source)
    assert first == second and first is not None and b'<g id="graph0" class="graph"' in first


def test_a_warning_or_an_error_goes_to_a_fresh_dot():
    warned = 'digraph "w" { a [shape=nosuchshape] }\n'  # dot warns and draws a box
    assert _kept.svg(warned.encode()) is None and _kept._kept == []  # the kept dot was ended
    assert image(warned, "svg") == pipe(warned, "svg") and b"<svg" in image(warned, "svg")
    broken = 'digraph "b" { a -> }\n'
    with pytest.raises(GraphtraceError, match="syntax error"):
        image(broken, "svg")
    assert _kept.svg(to_dot(S.chain()).encode()) == _fresh(to_dot(S.chain()))  # a new kept dot after them


def test_only_named_small_graphs_on_posix_are_kept():
    assert _kept.svg(b"digraph { a -> b }\n") is None  # dot names anonymous graphs by a running count
    assert _kept.svg(b'digraph "end" { a -> b }') is None  # dot would wait for one more character
    assert _kept.svg(b'digraph "big" {' + b" " * _kept.MAX_SOURCE + b"}\n") is None
    assert _kept._kept == []


def test_dot_is_looked_up_on_path_each_time(monkeypatch):
    source = to_dot(S.chain())
    assert _kept.svg(source.encode()) is not None
    monkeypatch.setenv("PATH", "")
    with pytest.raises(GraphvizNotFoundError, match="dot"):
        image(source, "svg")


def test_another_thread_draws_with_a_fresh_dot():
    source = to_dot(S.chain())
    with _kept._lock:
        got: list[bytes | None] = []
        thread = threading.Thread(target=lambda: got.append(_kept.svg(source.encode())))
        thread.start()
        thread.join()
    assert got == [None] and image(source, "svg").startswith(b"<?xml")


def test_an_interrupted_drawing_ends_the_kept_dot(monkeypatch):
    source = to_dot(S.chain()).encode()
    assert _kept.svg(source) is not None
    dot = _kept._kept[0]

    def interrupted(fd: int, n: int) -> bytes:
        raise KeyboardInterrupt

    monkeypatch.setattr(_kept.os, "read", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _kept.svg(source)
    assert _kept._kept == [] and dot.proc.poll() is not None
    monkeypatch.undo()
    monkeypatch.setattr(_kept, "_allowed", [True])
    assert _kept.svg(source) == _fresh(source.decode())


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_starts_its_own_dot():
    source = to_dot(S.chain())
    assert _kept.svg(source.encode()) is not None
    parent = _kept._kept[0]
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its own dot, the same picture
        ok = _kept.svg(source.encode()) == _fresh(source) and _kept._kept[0].proc.pid != parent.proc.pid
        os.write(write, b"1" if ok else b"0")
        os._exit(0)
    os.close(write)
    assert os.read(read, 1) == b"1"
    os.close(read)
    os.waitpid(pid, 0)
    assert _kept._kept == [parent] and parent.proc.poll() is None
    assert _kept.svg(source.encode()) == _fresh(source)


def test_module_clusters_always_get_a_fresh_dot():
    # a dot that drew before ordered mlp_training's three clusters differently one time in three
    p = graphtrace.load(Path(__file__).parents[2] / "outputs" / "mlp_training" / "pass-001.json")[0]
    source = p.to_dot(clusters=True)
    assert source.count("subgraph") >= 3
    _kept.svg(to_dot(S.chain()).encode())
    for _ in range(4):
        assert _kept.svg(source.encode()) is None
        assert image(source, "svg") == pipe(source, "svg")
    assert _kept._kept[0].drawn == 1
