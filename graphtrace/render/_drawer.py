"""dot run for ``graphtrace run`` by a process of graphtrace's own, outside the script's children (NOTE [drawer])."""

from __future__ import annotations

import os
import signal
import socket
import struct
import threading
import time

import graphviz

# NOTE [drawer]: a ``dot`` started from the script's process is a child of that process, and
# a script can reap any child (``os.wait()`` until ChildProcessError collected one a drawing
# thread had started). So before the script runs, ``graphtrace run`` forks twice: the middle
# process exits at once and is reaped there and then, no user code having run yet, and the
# grandchild, the drawer, is left to init (or the nearest subreaper), in a session of its
# own, so no terminal signal and no ``os.wait()`` of the script reaches it. It holds only a
# socket to the script's process (its standard streams on /dev/null, every other descriptor
# closed) and runs dot for it: each request is one DOT source and a format, each reply
# dot's output or its failure, so ``_backend`` makes the same bytes and messages as with a
# dot of its own. No user code runs in it, so it keeps one dot (NOTE [kept dot]).
# - The drawer is used only by the process that started it (a forked child draws with its
#   own dot, as before) and only while its socket is the one it made (a script that closes
#   descriptors and opens others gets no bytes of ours).
# - Where it cannot be started, or ends up a child of the script's process (the process is
#   PID 1 or a subreaper), or dies, drawing threads wait for the script's end before they
#   start a dot of their own (``wait_for_the_end``, NOTE [dot after the script]).
# - It ends when its socket is closed: by ``stop`` at the end of the run, or by the end of
#   the script's process however it ends (``os._exit``, SIGKILL): pictures drawn by then
#   are written, as they arrive, by the drawing threads.
_REQUEST = struct.Struct("!4s?Q")  # format, kept dot allowed, bytes of DOT
_REPLY = struct.Struct("!BiQ")  # status, dot's exit code, bytes of output (or of dot's stderr)
OK, NOT_FOUND, FAILED = 0, 1, 2
_NO_SIGPIPE = getattr(socket, "MSG_NOSIGNAL", 0)  # a script may have set SIGPIPE to end the process
_WAIT_ALL = getattr(socket, "MSG_WAITALL", 0)  # NOTE [a descriptor the script reuses]
_HELLO = struct.Struct("!i")  # the drawer's parent once it is orphaned
_HELLO_WAIT = 5.0  # seconds to wait for the drawer's hello before drawing without it


class _Link:
    """The script process's end of its drawer's socket."""

    def __init__(self, sock: socket.socket, drawer: int) -> None:
        self.sock, self.drawer, self.pid = sock, drawer, os.getpid()
        st = os.fstat(sock.fileno())
        self.ident = (st.st_dev, st.st_ino)
        self.lock = threading.Lock()

    def ours(self) -> bool:
        """This process started it and its descriptor is still the socket it made."""
        if self.pid != os.getpid():
            return False
        try:
            st = os.fstat(self.sock.fileno())
        except (OSError, ValueError):
            return False
        return (st.st_dev, st.st_ino) == self.ident

    # NOTE [a descriptor the script reuses]: a script may close every descriptor it did not
    # open (``os.closerange``) and open its own in their slots, also while a drawing thread
    # waits for a reply. So each call into the socket is made only while its descriptor is
    # still the socket (``ours``), and a reply is read in two calls, its head and its body,
    # each whole (MSG_WAITALL): a reply already under way when the slot changes hands ends in
    # a call that is not made, never in one that reads or writes the script's descriptor. What
    # is left is the instant between a check and its call.
    def send(self, data: bytes) -> bool:
        """Send ``data`` whole while the socket is ours; False if it stopped being ours."""
        view = memoryview(data)
        while view:
            if not self.ours():
                return False
            view = view[self.sock.send(view, _NO_SIGPIPE) :]
        return True

    def receive(self, size: int) -> bytes | None:
        """``size`` bytes while the socket is ours; None at its end or once it is not ours."""
        buf = bytearray(size)
        view, got = memoryview(buf), 0
        while got < size:
            if not self.ours():
                return None
            n = self.sock.recv_into(view[got:], size - got, _WAIT_ALL)
            if not n:
                return None
            got += n
        return bytes(buf)


_link: list[_Link] = []  # at most one: this process's drawer
_ours = threading.local()  # a drawing thread's event: the script has ended


def start() -> bool:
    """Start this process's drawer, before the script runs; False where dot will run here (NOTE [drawer])."""
    if os.name != "posix" or not hasattr(socket, "socketpair") or _link or os.getpid() == 1:
        return False
    try:
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    except OSError:
        return False
    try:
        middle = os.fork()
    except OSError:
        mine.close()
        theirs.close()
        return False
    if middle == 0:  # the middle process: a session of its own, the drawer, then gone
        _in_the_middle(mine, theirs)
    theirs.close()
    try:
        os.waitpid(middle, 0)  # no user code has run: this reaps only the middle process
    except ChildProcessError:  # SIGCHLD ignored (inherited so): the kernel reaped it
        pass
    hello = _hello(mine)
    if hello is None:
        mine.close()
        return False
    drawer, parent = hello
    if parent == os.getpid():  # orphans come back to this process (a subreaper): not outside it
        mine.close()  # it reads the end of its input and exits
        _reap(drawer)
        return False
    _link.append(_Link(mine, drawer))
    return True


def _in_the_middle(mine: socket.socket, theirs: socket.socket) -> None:
    """The middle process: start the drawer in a new session and exit (never returns)."""
    try:
        mine.close()
        os.setsid()
        middle = os.getpid()
        if os.fork() == 0:
            _serve_forever(theirs, middle)
    finally:
        os._exit(0)


def _hello(sock: socket.socket) -> tuple[int, int] | None:
    """(the drawer's pid, its parent once orphaned), or None if it did not say in time."""
    sock.settimeout(_HELLO_WAIT)
    try:
        data = _read(sock, 2 * _HELLO.size)
    except OSError:
        return None
    finally:
        sock.settimeout(None)
    if data is None:
        return None
    return _HELLO.unpack(data[: _HELLO.size])[0], _HELLO.unpack(data[_HELLO.size :])[0]


def _reap(pid: int) -> None:
    """Wait (at most the hello's time) for a drawer that is this process's child to exit."""
    deadline = time.monotonic() + _HELLO_WAIT
    while time.monotonic() < deadline:
        try:
            if os.waitpid(pid, os.WNOHANG)[0]:
                return
        except ChildProcessError:
            return
        time.sleep(0.01)


def _serve_forever(sock: socket.socket, middle: int) -> None:
    """The drawer: say hello once orphaned, then draw until the socket closes (never returns)."""
    try:
        _quiet_process(sock.fileno())
        deadline = time.monotonic() + _HELLO_WAIT
        while os.getppid() == middle and time.monotonic() < deadline:
            time.sleep(0.001)  # the middle process exits at once
        sock.sendall(_HELLO.pack(os.getpid()) + _HELLO.pack(os.getppid()))
        serve(sock, kept=True)
    finally:
        os._exit(0)


def _quiet_process(keep: int) -> None:
    """No signals from a terminal, no stream or descriptor of the script's process held open."""
    for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGTSTP, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.closerange(3, keep)
    os.closerange(keep + 1, _max_fd())
    try:
        with open("/proc/self/comm", "w") as comm:
            comm.write("graphtrace-dot")  # what ps and top show
    except OSError:
        pass


def _max_fd() -> int:
    try:
        return os.sysconf("SC_OPEN_MAX")
    except (OSError, ValueError):
        return 1024


def serve(sock: socket.socket, *, kept: bool) -> None:
    """Answer requests on ``sock`` until it closes: dot's output or failure for each DOT source."""
    from . import _kept

    if kept:
        _kept.allow()
    try:
        _answer(sock)
    finally:
        _kept.drop()


def _answer(sock: socket.socket) -> None:
    """The drawer's loop: a reply to each request until the socket closes."""
    while True:
        try:
            head = _read(sock, _REQUEST.size)
            request = None if head is None else _REQUEST.unpack(head)
            source = None if request is None else _read(sock, request[2])
        except OSError:  # the script's process went with a reply unread
            return
        if request is None or source is None:
            return
        fmt_bytes, may_keep, _ = request
        status, code, out = here(source, fmt_bytes.rstrip(b"\0").decode("ascii"), may_keep)
        try:
            sock.sendall(_REPLY.pack(status, code, len(out)) + out, _NO_SIGPIPE)
        except OSError:
            return


def here(source: bytes, fmt: str, kept: bool) -> tuple[int, int, bytes]:
    """(status, exit code, output or stderr) of a dot of this process; the kept dot if ``kept`` and allowed."""
    from . import _kept

    before_a_dot_here()
    try:
        svg = _kept.svg(source) if kept and fmt == "svg" else None
        return OK, 0, svg if svg is not None else graphviz.pipe("dot", fmt, source, quiet=True)
    except graphviz.ExecutableNotFound:
        return NOT_FOUND, 0, b""
    except graphviz.CalledProcessError as exc:
        return FAILED, exc.returncode, exc.stderr or b""


def _read(sock: socket.socket, size: int) -> bytes | None:
    """Exactly ``size`` bytes, or None at the end of the stream."""
    chunks, left = [], size
    while left:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def serving() -> bool:
    """This process has a drawer it may use now."""
    return bool(_link) and _link[0].ours()


def draw(source: bytes, fmt: str, kept: bool) -> tuple[int, int, bytes] | None:
    """(status, exit code, output or stderr) from the drawer; None if it cannot answer (then gone)."""
    if not serving():
        return None
    link = _link[0]
    with link.lock:
        try:
            if link.send(_REQUEST.pack(fmt.encode("ascii"), kept, len(source)) + source):
                head = link.receive(_REPLY.size)
                if head is not None:
                    status, code, size = _REPLY.unpack(head)
                    data = link.receive(size)
                    if data is not None:
                        return status, code, data
        except (OSError, ValueError):
            pass
    _forget(link)
    return None


def _forget(link: _Link) -> None:
    """Stop using a drawer (closing the socket ends it)."""
    if _link and _link[0] is link:
        _link.clear()
        if link.ours():
            link.sock.close()
        else:  # its descriptor may be the script's now: never closed by us, nor by the socket's finalizer
            link.sock.detach()


def stop() -> None:
    """The run is over: let the drawer go (it exits at the end of its input)."""
    if _link:
        _forget(_link[0])


def wait_for_the_end(ended: threading.Event) -> None:
    """In a drawing thread: start no dot here before ``ended`` (NOTE [dot after the script])."""
    _ours.ended = ended


def before_a_dot_here() -> None:
    """Called before a dot starts in this process: a drawing thread waits for the script's end."""
    ended = getattr(_ours, "ended", None)
    if ended is not None:
        ended.wait()


def _after_fork_in_child() -> None:
    """A forked child draws with its own dot: it lets go of its copy of the parent's socket."""
    if _link:
        _link[0].pid = os.getpid()  # this process's copy of the socket, if its descriptor still is one
        _forget(_link[0])


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
