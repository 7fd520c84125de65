"""Rewrite the golden files the tests compare against: renderer DOT files and the committed outputs/.

    .venv/bin/python scripts/regen.py            both
    .venv/bin/python scripts/regen.py dot        tests/render/golden/*.dot from tests/render/synthetic.py
    .venv/bin/python scripts/regen.py outputs    outputs/<example>/ from running each example, and
                                                 tests/examples_kernels.txt, the float32 kernels they were made with

Only this command writes them; the tests only compare (NOTE [golden files] in tests/test_examples.py).
Check the diff (`git diff --stat`, and the pictures) before committing.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from graphtrace.render import to_dot  # noqa: E402 (after the path set-up)
from tests.render import synthetic  # noqa: E402
from tests.test_examples import EXAMPLES, KERNELS, kernels, run_examples  # noqa: E402


def regen_dot() -> None:
    golden = ROOT / "tests" / "render" / "golden"
    golden.mkdir(exist_ok=True)
    for name, build in synthetic.GOLDEN.items():
        (golden / f"{name}.dot").write_text(to_dot(build()), encoding="utf-8")
        print(f"wrote tests/render/golden/{name}.dot")


def regen_outputs() -> int:
    with tempfile.TemporaryDirectory(prefix="graphtrace-regen-") as tmp:
        runs = run_examples(Path(tmp))
        failed = [stem for stem, (proc, _) in runs.items() if proc.returncode != 0 or "warning" in proc.stderr]
        for stem in failed:
            proc = runs[stem][0]
            print(f"regen: examples/{stem}.py: exit {proc.returncode}\n{proc.stderr}", file=sys.stderr)
        if failed:
            return 1  # outputs/ untouched: a half-regenerated tree helps nobody
        for stem in EXAMPLES:
            shutil.rmtree(ROOT / "outputs" / stem, ignore_errors=True)
            shutil.copytree(runs[stem][1], ROOT / "outputs" / stem)
            print(f"wrote outputs/{stem}/")
        KERNELS.write_text(kernels() + "\n")  # NOTE [the processor's kernels]
        print(f"wrote {KERNELS.relative_to(ROOT)}")
    return 0


def main(argv: list[str]) -> int:
    what = argv or ["dot", "outputs"]
    unknown = set(what) - {"dot", "outputs"}
    if unknown:
        print(f"regen: unknown target {', '.join(sorted(unknown))} (dot, outputs)", file=sys.stderr)
        return 2
    if "dot" in what:
        regen_dot()
    return regen_outputs() if "outputs" in what else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
