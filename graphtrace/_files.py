"""Writing output files: whole or not at all, with a one-line error when it cannot be done."""

from __future__ import annotations

import os
from pathlib import Path

from ._errors import GraphtraceError


def write_file(path: Path, data: str | bytes) -> None:
    """Write through a temporary file, so an interrupted write never leaves half a file."""
    tmp = path.with_name(path.name + ".part")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
        os.replace(tmp, path)
    except OSError as exc:
        raise GraphtraceError(f"cannot write {path}: {exc.strerror or exc}") from None
