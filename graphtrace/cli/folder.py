"""The output folder of ``run`` and ``render``: marked as graphtrace's, locked, and its ``run.json``.

NOTE [marked folders]
graphtrace deletes or replaces files only in a folder it marked as its own: a folder it
created, or an empty one, gets a marker file ``.graphtrace`` the moment it is opened. A
non-empty folder without the marker (the user's own files) is refused before the script
runs, unless ``--force`` says to mark it anyway (``render`` does not count its own input
files). In a marked folder the files graphtrace writes (``pass-NNN.*``, ``index.html``,
``ranks.html``, ``run.json``) are its own; other files are left alone. The marker is locked with
``fcntl.flock`` while a command writes there, so a second ``run`` or ``render`` into the same
folder is refused in one line instead of mixing its passes into the first one's.
``run.json`` keeps what the index shows (every pass's entry, the groups of repeated passes,
the gradient statistics) so that ``render`` into a run folder rewrites a whole index; its
format is in docs/trace-format.md.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Any

from .._errors import GraphtraceError
from .._files import is_temp_name, read_bytes, write_file

MARKER = ".graphtrace"
RUN_FILE = "run.json"
RUN_FORMAT = "graphtrace-run"
RUN_VERSION = 1
_MARKER_TEXT = (
    b"graphtrace writes into this folder: it replaces pass-NNN.*, index.html, ranks.html and run.json here\n"
    b"and leaves other files alone. Delete this file to make graphtrace ask before writing here.\n"
)
_OURS = re.compile(r"^(pass-\d{3,}\.(svg|png|pdf|dot|json|html)|index\.html|ranks\.html|run\.json)$")
_MAX_RUN_BYTES = 64 * 1024 * 1024
_SHOWN_OTHERS = 3


def _ident(fd: int) -> tuple[int, int] | None:
    """(device, inode) of what ``fd`` holds, or None."""
    if fd < 0:
        return None
    try:
        st = os.fstat(fd)
    except OSError:
        return None
    return st.st_dev, st.st_ino


class Folder:
    """An output folder held for one command: marked, locked until ``close``."""

    def __init__(self, path: Path, created: Path | None, fd: int) -> None:
        self.path, self.created, self._fd = path, created, fd
        self._ident = _ident(fd)

    def close(self) -> None:
        """Release the lock: close its descriptor, unless the script closed it and another now
        has its number (NOTE [a descriptor the script reuses] in render/_drawer.py)."""
        if self._fd >= 0:
            if _ident(self._fd) == self._ident:
                os.close(self._fd)  # releases the flock
            self._fd = -1

    def clean(self) -> None:
        """Remove the files an earlier command wrote here (raises OSError)."""
        for p in self.path.iterdir():
            if _OURS.match(p.name) or is_temp_name(p.name):
                p.unlink()

    def remove_if_empty(self) -> None:
        """Remove the marker and the folders ``open_folder`` created, up to ``created``, while empty."""
        self.close()
        if self.created is None:
            return
        try:
            if [p.name for p in self.path.iterdir()] != [MARKER]:
                return
            (self.path / MARKER).unlink()
        except OSError:
            return
        for folder in (self.path, *self.path.parents):
            try:
                folder.rmdir()
            except OSError:
                return
            if folder == self.created:
                return


def open_folder(out: Path, *, force: bool = False, clean: bool = False, inputs: tuple[Path, ...] = ()) -> Folder:
    """Create or take ``out`` (NOTE [marked folders]), lock it, and with ``clean`` remove the
    files an earlier command wrote there. Raises GraphtraceError (one line) when it may not."""
    created = None
    for folder in (out, *out.parents):
        if folder.exists() or folder.is_symlink():
            break
        created = folder
    try:
        if out.exists() and not out.is_dir():
            raise GraphtraceError(f"--out {out} is a file, not a folder")
        out.mkdir(parents=True, exist_ok=True)
        marker = out / MARKER
        if not marker.exists() and not force:
            _refuse_unmarked(out, inputs)
        fd = os.open(marker, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0), 0o666)
    except OSError as exc:
        raise GraphtraceError(f"cannot write to {out}: {exc.strerror or exc}") from None
    try:
        _lock(fd, out)
        if os.fstat(fd).st_size == 0:
            os.write(fd, _MARKER_TEXT)
        held = Folder(out, created, fd)
        if clean:
            held.clean()
    except OSError as exc:
        os.close(fd)
        raise GraphtraceError(f"cannot write to {out}: {exc.strerror or exc}") from None
    except BaseException:
        os.close(fd)
        raise
    return held


def _refuse_unmarked(out: Path, inputs: tuple[Path, ...]) -> None:
    mine = {os.path.realpath(p) for p in inputs}
    others = sorted(p.name for p in out.iterdir() if os.path.realpath(p) not in mine)
    if others:
        shown = ", ".join(others[:_SHOWN_OTHERS]) + (", ..." if len(others) > _SHOWN_OTHERS else "")
        raise GraphtraceError(
            f"{out} is not empty and was not made by graphtrace ({shown}); choose another "
            "--out, or add --force to write there (files of other names are left alone)"
        )


def _lock(fd: int, out: Path) -> None:
    try:
        import fcntl
    except ImportError:  # Windows: no flock; the marker still guards against overwriting
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise GraphtraceError(
            f"another graphtrace command is writing to {out}; wait for it to finish or choose another --out"
        ) from None


# -- run.json ------------------------------------------------------------------------------------

_NUMBER = {"anyOf": [{"type": "number"}, {"enum": ["nan", "inf", "-inf"]}]}
_ENTRY = {
    "type": "object",
    "required": [
        "number",
        "index",
        "kind",
        "api",
        "call_site",
        "caller",
        "nodes",
        "root_shape",
        "steps",
        "error",
        "signature",
        "files",
    ],
    "properties": {
        **{k: {"type": "integer", "minimum": 0} for k in ("number", "index", "nodes", "steps")},
        **{k: {"type": "string"} for k in ("kind", "api", "call_site", "caller", "root_shape", "error", "signature")},
        "files": {"type": "object", "additionalProperties": {"type": "string", "pattern": r"^pass-\d{3,}\.[a-z]+$"}},
    },
}
_GROUP = {
    "type": "object",
    "required": ["signature", "call_site", "first", "last", "count", "drawn"],
    "properties": {
        "signature": {"type": "string"},
        "call_site": {"type": "string"},
        **{k: {"type": "integer", "minimum": 0} for k in ("first", "last", "count", "counted")},
        "drawn": {"type": "array", "items": {"type": "integer"}},
    },
}
RUN_SCHEMA = {
    "type": "object",
    "required": [
        "format",
        "version",
        "title",
        "command",
        "total",
        "counted_only",
        "always",
        "notes",
        "grad_stats",
        "passes",
        "groups",
    ],
    "properties": {
        "format": {"const": RUN_FORMAT},
        "version": {"const": RUN_VERSION},
        "title": {"type": "string"},
        "command": {"type": "string"},
        **{k: {"type": "integer", "minimum": 0} for k in ("total", "counted_only", "always")},
        "notes": {"type": "array", "items": {"type": "string"}},
        "grad_stats": {
            "anyOf": [
                {"type": "null"},
                {
                    "type": "array",
                    "items": {
                        "type": "array",
                        "prefixItems": [{"type": "string"}, _NUMBER, _NUMBER, {"type": "integer"}],
                        "minItems": 4,
                        "maxItems": 4,
                    },
                },
            ]
        },
        "passes": {"type": "array", "items": _ENTRY},
        "groups": {"type": "array", "items": _GROUP},
        "grad_series": {
            "anyOf": [
                {"type": "null"},
                {  # NOTE [gradient heat map] in render/heatmap.py
                    "type": "object",
                    "required": ["passes", "rows"],
                    "properties": {
                        "passes": {"type": "array", "items": {"type": "integer"}},
                        "rows": {
                            "type": "array",
                            "items": {
                                "type": "array",
                                "prefixItems": [
                                    {"type": "string"},
                                    {"type": "array", "items": {"anyOf": [{"type": "null"}, _NUMBER]}},
                                    {"type": "integer", "minimum": 1},
                                ],
                                "minItems": 2,
                                "maxItems": 3,
                            },
                        },
                    },
                },
            ]
        },
    },
}


def write_run(out: Path, run: dict[str, Any]) -> None:
    """Write ``run.json`` (non-finite statistics as the strings "nan", "inf", "-inf")."""
    data = dict(run)
    if data.get("grad_stats") is not None:
        data["grad_stats"] = [[name, _num(a), _num(b), n] for name, a, b, n in data["grad_stats"]]
    if data.get("grad_series") is not None:
        series = data["grad_series"]
        data["grad_series"] = {
            "passes": series["passes"],
            "rows": [
                [name, [None if v is None else _num(v) for v in vals], *rest] for name, vals, *rest in series["rows"]
            ],
        }
    write_file(
        out / RUN_FILE,
        json.dumps({"format": RUN_FORMAT, "version": RUN_VERSION, **data}, sort_keys=True, indent=1, allow_nan=False)
        + "\n",
    )


def read_run(out: Path) -> dict[str, Any] | None:
    """The ``run.json`` in ``out``, validated; None when there is none. GraphtraceError if damaged."""
    path = out / RUN_FILE
    if not path.exists():
        return None
    import jsonschema  # NOTE [lazy package] in graphtrace/__init__.py: only render reads a run.json

    try:
        data = json.loads(read_bytes(path, _MAX_RUN_BYTES).decode("utf-8"), parse_constant=_no_constant)
        jsonschema.validate(data, RUN_SCHEMA)
    except (OSError, ValueError, RecursionError, jsonschema.ValidationError) as exc:
        why = exc.message if isinstance(exc, jsonschema.ValidationError) else type(exc).__name__
        raise GraphtraceError(f"{path} is damaged ({why:.80}); delete it or choose another --out") from None
    if data["grad_stats"] is not None:
        data["grad_stats"] = [(name, float(a), float(b), n) for name, a, b, n in data["grad_stats"]]
    if data.get("grad_series") is not None:
        for row in data["grad_series"]["rows"]:
            row[1] = [None if v is None else float(v) for v in row[1]]
    data.pop("format"), data.pop("version")
    run: dict[str, Any] = data
    return run


def _num(v: float) -> float | str:
    return v if math.isfinite(v) else str(v)


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")
