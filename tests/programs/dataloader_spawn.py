"""Training from a DataLoader with two spawned workers (they import this script as __mp_main__)."""

from dataloader_fork import expect, main  # noqa: F401 - expect is read by the harness

if __name__ == "__main__":
    main("spawn")
