"""Running Graphviz's dot on DOT source (knows nothing of pass graphs)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

from .._errors import GraphtraceError, GraphvizNotFoundError

FORMATS = ("svg", "png", "pdf", "dot", "plain")
_PDF_DATE = re.compile(rb"/(CreationDate|ModDate) \(D:(\d{14})")


def pipe(dot_source: str, fmt: str) -> bytes:
    """The output of ``dot -T<fmt>`` on ``dot_source``; GraphvizNotFoundError when dot is missing."""
    if fmt not in FORMATS:
        raise GraphtraceError(f"cannot render to {fmt!r}: use one of {', '.join(FORMATS)}")
    program = shutil.which("dot")
    if program is None:
        raise GraphvizNotFoundError("dot")
    env = {**os.environ, "SOURCE_DATE_EPOCH": "0"}  # newer cairo then writes no creation date
    proc = subprocess.run([program, f"-T{fmt}"], input=dot_source.encode("utf-8"),
                          capture_output=True, env=env, check=False)
    if proc.returncode != 0:
        message = proc.stderr.decode("utf-8", "replace").strip()
        raise GraphtraceError(f"dot -T{fmt} failed (exit {proc.returncode}): {message}")
    if fmt == "pdf":  # older cairo ignores SOURCE_DATE_EPOCH: pin the date, same length
        return _PDF_DATE.sub(lambda m: b"/" + m.group(1) + b" (D:19700101000000", proc.stdout)
    return proc.stdout
