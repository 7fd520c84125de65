"""Reading and writing files: writes whole or not at all, reads bounded, one-line errors."""

from __future__ import annotations

import errno
import os
import secrets
import stat
from pathlib import Path
from typing import BinaryIO

from ._errors import GraphtraceError

# NOTE [exclusive temporary files]
# A file is written to a temporary name beside it, then renamed over the target with
# os.replace (atomic within one folder), so a reader never sees half a file. The
# temporary name is random and created with O_CREAT | O_EXCL | O_NOFOLLOW: a file or a
# symlink planted under that name makes the open fail instead of being followed, so
# graphtrace never writes through a link into a file it did not make. os.replace
# replaces a symlink at the target itself, never the file it points to. On any failure
# (a full disk, a signal) the temporary file is removed. Mode 0o666 minus the umask, as
# open() gives.
_TMP_SUFFIX = ".part"
_OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
_CHUNK = 1 << 20


class WriteError(GraphtraceError):
    """A file could not be written: ``path`` and the system's ``reason`` (``No space left on device``)."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"cannot write {path}: {reason}")
        self.path, self.reason = path, reason


def temp_name(path: Path) -> Path:
    """A fresh temporary name beside ``path`` (hidden, random, ending in ``.part``)."""
    return path.with_name(f".{path.name}.{secrets.token_hex(4)}{_TMP_SUFFIX}")


def is_temp_name(name: str) -> bool:
    return name.startswith(".") and name.endswith(_TMP_SUFFIX)


def write_file(path: Path, data: str | bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all (NOTE [exclusive temporary files]).

    Text is UTF-8; characters UTF-8 cannot hold (lone surrogates from undecodable file
    names) are written as backslash escapes rather than failing.
    """
    raw = data.encode("utf-8", "backslashreplace") if isinstance(data, str) else data
    tmp = temp_name(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, _OPEN_FLAGS, 0o666)
    except OSError as exc:
        raise WriteError(path, exc.strerror or str(exc)) from None
    try:
        with os.fdopen(fd, "wb") as f:
            _write_all(f, raw)
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise WriteError(path, exc.strerror or str(exc)) from None
        raise


def _write_all(f: BinaryIO, raw: bytes) -> None:
    f.write(raw)


def read_bytes(path: Path, limit: int) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes, counted while reading.

    A device, a FIFO or a socket (``/dev/zero``, a pipe) is refused before it is opened;
    a file that grows past ``limit`` while it is read is refused at ``limit + 1`` bytes.
    Raises OSError (FileNotFoundError, IsADirectoryError, or EFBIG with a message).
    """
    st = os.stat(path)
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, "is a folder", str(path))
    if not stat.S_ISREG(st.st_mode):
        raise OSError(errno.EINVAL, "not a regular file", str(path))
    if st.st_size > limit:
        raise OSError(errno.EFBIG, f"{st.st_size} bytes", str(path))
    chunks: list[bytes] = []
    size = 0
    with open(path, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):  # swapped between stat and open
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        while size <= limit:
            chunk = f.read(min(_CHUNK, limit + 1 - size))
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
            size += len(chunk)
    raise OSError(errno.EFBIG, f"over {limit} bytes", str(path))
