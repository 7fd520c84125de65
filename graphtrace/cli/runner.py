"""Running a user's script as ``python SCRIPT ARGS`` would, returning its exit code (no torch here)."""

from __future__ import annotations

import builtins
import importlib.machinery
import os
import sys
import traceback
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from .._errors import GraphtraceError
from .._fastpath import PACKAGE_DIR, as_without_hooks, entries, not_the_users
from .._plain import DOOR, plain_call

_PLAIN_CALL = (os.path.abspath(plain_call.__code__.co_filename), plain_call.__name__)
SIGINT_EXIT = 130  # what a shell reports for a program stopped by Ctrl-C


class Interrupted(int):
    """The exit code (130) of a script stopped by an uncaught KeyboardInterrupt; the console
    entry ends the process as Python does then (NOTE [exit by SIGINT] in command.py)."""


class Script:
    """A Python script checked and compiled before anything runs: path, argv and code object."""

    def __init__(self, path: str, args: tuple[str, ...] = ()) -> None:
        self.given = path
        self.path = Path(path).absolute()
        # as python names its script (the path joined to the working folder, not normalized):
        # ``__file__`` and the file of every frame and traceback line
        self.file = path if os.path.isabs(path) else os.path.join(os.getcwd(), path)
        self.args = tuple(args)
        self.code = self._compile()

    @property
    def stem(self) -> str:
        return self.path.stem

    def _compile(self) -> types.CodeType:
        p = self.path
        if not p.exists():
            raise GraphtraceError(f"{self.given}: no such file")
        if p.is_dir():
            raise GraphtraceError(f"{self.given} is a folder; give the Python script to run")
        try:
            source = p.read_bytes()
        except OSError as exc:
            raise GraphtraceError(f"cannot read {self.given}: {exc.strerror or exc}") from None
        if b"\0" in source:
            raise GraphtraceError(f"{self.given} is not a Python script (it is a binary file)")
        try:  # dont_inherit: our own `from __future__` imports must not leak into the user's code
            return compile(source, self.file, "exec", dont_inherit=True)
        except SyntaxError as exc:  # one line, as compilers write it: file:line:column: message
            where = f"{self.given}:{exc.lineno}" + (f":{exc.offset}" if exc.offset else "")
            raise GraphtraceError(f"{where}: {type(exc).__name__}: {exc.msg}") from None


def run(script: Script, wrap: Callable[[], Any] | None = None, stderr: TextIO | None = None) -> int:
    """Execute ``script`` in a fresh ``__main__`` module and return its exit code.

    ``wrap`` is a context-manager factory entered around the script (the tracer). The
    script's own ``sys.exit(n)`` gives ``n``; an uncaught exception prints the user's
    traceback (graphtrace and runpy frames removed) and gives 1; Ctrl-C gives 130.
    ``sys.argv``, ``sys.path[0]``, ``sys.modules['__main__']`` and the working folder are
    restored afterwards.
    """
    main = types.ModuleType("__main__")
    main.__dict__.update(
        {
            "__file__": script.file,
            "__builtins__": builtins,  # the module, as python gives __main__ (not this module's dict)
            "__cached__": None,
            "__package__": None,
            "__spec__": None,
            "__loader__": importlib.machinery.SourceFileLoader("__main__", script.file),
        }
    )
    saved_argv, saved_path0 = sys.argv, sys.path[0] if sys.path else None
    saved_cwd = os.getcwd()
    saved_main = sys.modules.get("__main__")
    sys.argv = [script.given, *script.args]
    home = os.path.dirname(os.path.realpath(script.file))  # python's sys.path[0]: links resolved
    if sys.path:
        sys.path[0] = home
    else:
        sys.path.insert(0, home)
    sys.modules["__main__"] = main
    saved_hook = sys.excepthook
    try:
        if wrap is None:
            exec(script.code, main.__dict__)
        else:
            with wrap():
                exec(script.code, main.__dict__)
        return 0
    except SystemExit as exc:
        return _exit_code(exc.code, stderr)
    except BaseException as exc:  # the user's own error: shown as python would, minus our frames
        if sys.excepthook is not saved_hook:  # the script's own hook, as Python would call it
            _call_excepthook(exc, stderr)
        else:
            _print_user_traceback(exc, stderr)
        return Interrupted(SIGINT_EXIT) if isinstance(exc, KeyboardInterrupt) else 1
    finally:
        sys.excepthook = saved_hook
        sys.argv = saved_argv
        try:
            os.chdir(saved_cwd)
        except OSError:
            pass
        if saved_path0 is not None:
            sys.path[0] = saved_path0
        if saved_main is not None:
            sys.modules["__main__"] = saved_main


def _exit_code(code: Any, stderr: TextIO | None) -> int:
    """The process exit status Python gives for ``sys.exit(code)``: an int is read as a C long
    (-1 when it does not fit) and the status is its low byte; anything else is printed, status 1."""
    if code is None:
        return 0
    if isinstance(code, int):
        return (code if -(2**63) <= code < 2**63 else -1) & 0xFF
    _flush_stdout()
    _write(stderr or sys.stderr, f"{code}\n")
    return 1


def _call_excepthook(exc: BaseException, stderr: TextIO | None) -> None:
    """``sys.excepthook(type, value, traceback)`` as Python calls it at exit, our frames unlinked
    from the traceback; a failing hook is reported as Python reports it."""
    _flush_stdout()
    exc.__traceback__ = _user_tb(exc.__traceback__)
    try:
        sys.excepthook(type(exc), exc, exc.__traceback__)
    except Exception as hook_error:
        stream = stderr or sys.stderr
        _write(stream, "Error in sys.excepthook:\n" + user_traceback(hook_error) + "\nOriginal exception was:\n")
        _print_user_traceback(exc, stderr)


def _user_tb(tb: types.TracebackType | None) -> types.TracebackType | None:
    """The traceback ``tb`` relinked through the frames ``_user_frames`` keeps."""
    entries = []
    while tb is not None:
        entries.append(tb)
        tb = tb.tb_next
    summaries = traceback.extract_tb(entries[0]) if entries else []
    kept_ids = {id(f) for f in _user_frames(list(summaries))}
    kept = [e for e, f in zip(entries, summaries) if id(f) in kept_ids]
    for outer, inner in zip(kept, [*kept[1:], None]):
        outer.tb_next = inner
    return kept[0] if kept else None


def _user_frames(frames: list[traceback.FrameSummary]) -> list[traceback.FrameSummary]:
    """The frames Python would show without graphtrace (``not_the_users``)."""
    drop = not_the_users([f.filename for f in frames], [f.name for f in frames])
    return [f for f, dropped in zip(frames, drop) if not dropped]


def _filter(te: traceback.TracebackException | None, exc: BaseException | None, seen: set[int]) -> None:
    """Drop graphtrace's and runpy's frames from a traceback and from the exceptions it chains
    (``exc``: the exception ``te`` describes), and show module calls as torch makes them
    without graphtrace (NOTE [module calls as without our hooks] in _fastpath.py)."""
    if te is None or id(te) in seen:
        return
    seen.add(id(te))
    frames = list(te.stack)
    if exc is not None:
        frames = as_without_hooks(frames, entries(exc.__traceback__))
    te.stack = traceback.StackSummary.from_list(_user_frames(frames))
    _filter(te.__cause__, exc.__cause__ if exc is not None else None, seen)
    _filter(te.__context__, exc.__context__ if exc is not None else None, seen)
    members = getattr(exc, "exceptions", None) or ()
    for k, group_member in enumerate(getattr(te, "exceptions", None) or ()):
        _filter(group_member, members[k] if k < len(members) else None, seen)


def user_traceback(exc: BaseException) -> str:
    """The traceback of ``exc`` as Python prints it, with only the user's (and torch's) frames.

    An exception raised inside graphtrace itself is a bug of ours, not the user's: it keeps
    every frame and says so, rather than pointing at the user's innocent line.
    """
    te = traceback.TracebackException.from_exception(exc)
    if _starts_in_graphtrace(list(te.stack)):
        return "".join(te.format()) + "graphtrace: internal error (a bug in graphtrace, not in the script)\n"
    _filter(te, exc, set())
    return "".join(te.format())


def _starts_in_graphtrace(frames: list[traceback.FrameSummary]) -> bool:
    """Whether the innermost frame outside torch is ours, other than the door to the user's calls
    (NOTE [whose error]): torch's frames between are where our own call into torch failed."""
    torch_dir = _torch_dir()
    for f in reversed(frames):
        if f.name == DOOR:  # the user's own call (NOTE [warnings point home])
            return False
        if torch_dir and f.filename.startswith(torch_dir):
            continue
        return f.filename.startswith(PACKAGE_DIR) and (os.path.abspath(f.filename), f.name) != _PLAIN_CALL
    return False


def _torch_dir() -> str:
    torch = sys.modules.get("torch")
    path = getattr(torch, "__file__", None)
    return os.path.dirname(path) + os.sep if path else ""


def _print_user_traceback(exc: BaseException, stderr: TextIO | None) -> None:
    _flush_stdout()
    _write(stderr or sys.stderr, user_traceback(exc))


def _write(stream: TextIO, text: str) -> None:
    """Write and flush; a stream the script closed or broke takes nothing, as with Python."""
    try:
        stream.write(text)
        stream.flush()
    except (OSError, ValueError):
        pass


def _flush_stdout() -> None:
    try:
        sys.stdout.flush()
    except Exception:  # a closed or broken stdout must not hide the user's error
        pass
