"""``python -m graphtrace``: the same as the ``graphtrace`` command."""

from .cli import main

if __name__ == "__main__":
    main()
