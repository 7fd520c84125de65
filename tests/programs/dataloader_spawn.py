"""Training from a DataLoader with two spawned workers (they import this script as __mp_main__)."""

from dataloader_fork import expect as expect_passes
from dataloader_fork import main


def expect(run):
    expect_passes(run)
    assert [p.name for p in run.out.iterdir() if p.is_dir()] == []  # workers are not traced: no folders


if __name__ == "__main__":
    main("spawn")
