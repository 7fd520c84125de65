"""The drawer: a dot's own bytes and messages, a fallback when it goes, no bytes into a reused descriptor."""

from __future__ import annotations

import gc
import os
import signal
import socket
import tempfile
import threading
import time
from pathlib import Path

import pytest

from graphtrace import GraphvizNotFoundError
from graphtrace._errors import GraphtraceError
from graphtrace.render import _drawer, _kept, pipe, to_dot
from graphtrace.render._backend import image

from . import synthetic as S

pytestmark = pytest.mark.dot


class Served:
    """A drawer answering in a thread of this process, linked as a started one is."""

    def __init__(self) -> None:
        self.mine, self.theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.thread = threading.Thread(target=_drawer.serve, args=(self.theirs,), kwargs={"kept": False}, daemon=True)
        self.thread.start()
        _drawer._link.append(_drawer._Link(self.mine, drawer=0))  # the only holder of the link, as in a run

    def end(self) -> None:
        _drawer._link.clear()
        self.mine.close()
        self.thread.join(timeout=30)
        self.theirs.close()


@pytest.fixture
def served():
    _kept.drop()
    assert _drawer._link == []
    s = Served()
    yield s
    s.end()
    _kept.drop()


def test_its_bytes_are_a_dot_of_ones_own(served, monkeypatch):
    sources = [to_dot(g) for g in (S.chain(), S.multipath(), S.accumulation(), S.hostile())]
    drawn = [(image(s, "svg"), pipe(s, "svg"), pipe(s, "png")) for s in sources]
    assert _drawer.serving()  # every picture came from the drawer
    monkeypatch.setattr(_drawer, "_link", [])
    assert drawn == [(image(s, "svg"), pipe(s, "svg"), pipe(s, "png")) for s in sources]
    assert drawn[0][0].startswith(b"<?xml") and drawn[0][2].startswith(b"\x89PNG")


def test_its_failures_are_the_same_messages(served, monkeypatch):
    with pytest.raises(GraphtraceError) as remote:
        pipe("digraph { a -> }", "svg")
    assert _drawer.serving()
    monkeypatch.setattr(_drawer, "_link", [])
    with pytest.raises(GraphtraceError) as local:
        pipe("digraph { a -> }", "svg")
    assert str(remote.value) == str(local.value)
    assert str(local.value).startswith("dot -Tsvg failed (exit 1): Error: <stdin>: syntax error in line 1")


def test_a_missing_dot_is_said_as_before(served, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")  # the drawer thread sees this environment too
    with pytest.raises(GraphvizNotFoundError):
        pipe(to_dot(S.chain()), "svg")
    assert _drawer.serving()


def test_a_drawer_that_went_is_left_and_a_dot_here_draws(served):
    source = to_dot(S.chain())
    expected = pipe(source, "svg")
    served.theirs.shutdown(socket.SHUT_RDWR)  # the drawer died
    served.thread.join(timeout=30)
    served.theirs.close()
    old = signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # as a script may set it: writing to the dead must not end us
    try:
        assert pipe(source, "svg") == expected
    finally:
        signal.signal(signal.SIGPIPE, old)
    assert _drawer._link == [] and not _drawer.serving()


def test_a_descriptor_reused_by_the_script_gets_no_bytes_of_ours(served):
    fd = served.mine.fileno()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "users-file"
        os.close(fd)  # the script closes descriptors it did not open...
        new = os.open(path, os.O_RDWR | os.O_CREAT)  # ...and opens a file of its own in that slot
        try:
            assert new == fd
            assert not _drawer.serving()
            assert pipe(to_dot(S.chain()), "svg").startswith(b"<?xml")
            assert path.read_bytes() == b""
        finally:
            os.close(new)
    served.mine.detach()  # its descriptor was closed above
    _drawer._link.clear()


def _drawing(ended: threading.Event) -> tuple[threading.Thread, list[bytes]]:
    """A drawing thread of a run (no dot of its own before ``ended``), drawing one picture."""
    done: list[bytes] = []

    def draw() -> None:
        _drawer.wait_for_the_end(ended)
        done.append(pipe(to_dot(S.chain()), "svg"))

    thread = threading.Thread(target=draw)
    thread.start()
    return thread, done


def test_a_drawing_thread_starts_no_dot_here_before_the_end():
    ended = threading.Event()
    thread, done = _drawing(ended)
    thread.join(timeout=1.0)
    assert thread.is_alive() and done == []  # no drawer here: it waits for the script's end
    ended.set()
    thread.join(timeout=30)
    assert len(done) == 1 and done[0].startswith(b"<?xml")


def test_a_drawing_thread_with_a_drawer_does_not_wait(served):
    thread, done = _drawing(threading.Event())
    thread.join(timeout=30)
    assert not thread.is_alive() and len(done) == 1


def _reuse_its_descriptor(served: Served, path: Path) -> int:
    """Close the drawer's descriptor and open a file of the script's own in that slot, as a script may."""
    fd = served.mine.fileno()
    os.close(fd)
    new = os.open(path, os.O_RDWR | os.O_CREAT)
    assert new == fd
    return new


def test_a_descriptor_reused_by_the_script_stays_open_after_the_run(served, tmp_path):
    new = _reuse_its_descriptor(served, tmp_path / "users-file")
    served.mine = socket.socket(socket.AF_UNIX)  # the link is all that holds the drawer's socket, as in a run
    _drawer.stop()  # the end of the run: the socket object goes, the script's file must not
    gc.collect()
    try:
        assert os.write(new, b"still the script's") == 18
        assert (tmp_path / "users-file").read_bytes() == b"still the script's"
    finally:
        os.close(new)


def test_a_forked_child_keeps_a_descriptor_reused_by_the_script(served, tmp_path):
    new = _reuse_its_descriptor(served, tmp_path / "users-file")
    pid = os.fork()
    if pid == 0:  # the child writes to the script's file (EBADF if it was closed as our socket)
        try:
            os.write(new, b"child")
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    try:
        assert (tmp_path / "users-file").read_bytes() == b"child"
    finally:
        served.mine.detach()
        _drawer._link.clear()
        os.close(new)


def test_a_drawer_starts_where_sigchld_is_ignored():
    old = signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # as inherited from a parent that ignores it
    try:
        started = _drawer.start()  # the kernel reaps the middle process: no ChildProcessError
        assert started == _drawer.serving()
        if started:
            assert pipe(to_dot(S.chain()), "svg").startswith(b"<?xml")
    finally:
        _drawer.stop()
        signal.signal(signal.SIGCHLD, old)
    assert _drawer._link == []


def test_a_reply_under_way_when_the_slot_changes_hands_reads_nothing_of_the_scripts(served, monkeypatch):
    # NOTE [a descriptor the script reuses]: the head came on the old socket; the body was read from the new one
    source = to_dot(S.chain())
    link = _drawer._link.pop()
    expected = pipe(source, "svg")  # drawn here
    _drawer._link.append(link)
    gate, real_here = threading.Event(), _drawer.here

    def slow_here(*args):  # the drawer takes its time with this graph
        if threading.current_thread() is served.thread:
            gate.wait(30)
        return real_here(*args)

    monkeypatch.setattr(_drawer, "here", slow_here)
    done: list[bytes] = []
    drawing = threading.Thread(target=lambda: done.append(pipe(source, "svg")), daemon=True)
    drawing.start()
    time.sleep(0.5)  # the drawing thread waits for the reply's head
    fd = served.mine.fileno()
    os.close(fd)  # the script closes descriptors it did not open, and makes a socket pair of its own
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        theirs, other = (a, b) if a.fileno() == fd else (b, a)
        assert theirs.fileno() == fd
        other.sendall(b"ping")  # waiting in the script's socket, in the drawer's old slot
        gate.set()
        drawing.join(timeout=30)
        assert not drawing.is_alive() and done == [expected]  # drawn here once the drawer was left
        theirs.settimeout(5)
        assert theirs.recv(16) == b"ping"  # the script's bytes, all of them, still the script's
        assert _drawer._link == []
    finally:
        served.mine.detach()
        a.close()
        b.close()
