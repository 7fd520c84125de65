"""The command line front: the click commands, the script runner, the run-folder writer and index."""

from .command import main

__all__ = ["main"]
