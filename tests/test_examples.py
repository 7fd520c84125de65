"""The examples run under the installed ``graphtrace`` command: their numbers, and outputs/ kept current.

Every example is run once per session (in parallel subprocesses, from the repository root
so call sites read ``examples/x.py:9``) into a temporary folder. The committed ``outputs/``
must be byte-identical to what that produces; ``pytest --regen-golden`` rewrites them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(p.stem for p in (ROOT / "examples").glob("*.py"))
GRAPHTRACE = str(Path(sys.executable).with_name("graphtrace"))
OUTPUTS = ROOT / "outputs"

pytestmark = pytest.mark.dot


@pytest.fixture(scope="session")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[subprocess.CompletedProcess, Path]]:
    """{stem: (finished process, output folder)} for every example, run three at a time."""
    base = tmp_path_factory.mktemp("examples")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # two cores shared by three runs
    results, waiting = {}, list(EXAMPLES)
    running: dict[str, subprocess.Popen] = {}
    while waiting or running:
        while waiting and len(running) < 3:
            stem = waiting.pop(0)
            running[stem] = subprocess.Popen(
                [GRAPHTRACE, "run", "--out", str(base / stem), f"examples/{stem}.py"], cwd=ROOT, env=env,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        stem = next(iter(running))
        proc = running.pop(stem)
        out, err = proc.communicate(timeout=300)
        results[stem] = (subprocess.CompletedProcess(proc.args, proc.returncode, out, err), base / stem)
    return results


def data(folder: Path, n: int) -> dict:
    return json.loads((folder / f"pass-{n:03d}.json").read_text())


def leaf(pass_data: dict, name: str) -> dict:
    return next(n for n in pass_data["nodes"] if n["kind"] == "leaf" and name in (n["name"], n["param"]))


def grad(pass_data: dict, name: str) -> object:
    return leaf(pass_data, name)["grad_in"][0]["values"]


def test_every_example_runs_cleanly(runs: dict) -> None:
    assert set(runs) == {"mlp_training", "seed000_chain_rule", "seed001_leaves_and_relu",
                         "seed002_grad_vs_backward", "seed003_sigmoid_relu", "seed004_jacobian"}
    for stem, (proc, folder) in runs.items():
        assert proc.returncode == 0, (stem, proc.stderr)
        assert "graphtrace: error" not in proc.stderr and "warning" not in proc.stderr, proc.stderr
        assert (folder / "index.html").exists()


def test_seed000_chain_rule(runs: dict) -> None:
    proc, folder = runs["seed000_chain_rule"]
    assert "dz/dx = 21.384121" in proc.stdout and "cos(y) = 0.14547" in proc.stdout and "= 147" in proc.stdout
    p = data(folder, 1)
    assert p["graph"]["call_site"] == "examples/seed000_chain_rule.py:14"
    assert grad(p, "x") == pytest.approx(21.384121, abs=1e-5)
    y = next(n for n in p["nodes"] if n["name"] == "y" and n["retains_grad"])
    assert y["retained_grad"]["values"] == pytest.approx(0.14547, abs=1e-5)
    assert 147.0 in [e["jacobian"][0][0] for e in p["edges"] if e["jacobian"]]  # d(x**3)/dx at 7
    assert "21.384" in (folder / "pass-001.svg").read_text()


def test_seed001_leaves_partials_and_relu(runs: dict) -> None:
    proc, folder = runs["seed001_leaves_and_relu"]
    assert "df/du = 4.0, df/dv = 1.0" in proc.stdout
    assert grad(data(folder, 1), "x") == 4.0
    assert (grad(data(folder, 2), "u"), grad(data(folder, 2), "v")) == (4.0, 1.0)
    assert grad(data(folder, 3), "x") == 6.0
    x4 = leaf(data(folder, 4), "x")
    assert x4["grad_in"][0]["values"] == pytest.approx([2 * v for v in x4["value"]["values"]])
    assert grad(data(folder, 5), "x") == [0.0] * 5 + [1.0] * 5
    for n in (4, 5):  # ten points: the page charts gradient against value
        assert "Value against gradient" in (folder / f"pass-{n:03d}.html").read_text()
    assert "Value against gradient" not in (folder / "pass-001.html").read_text()


def test_seed002_grad_against_backward(runs: dict) -> None:
    proc, folder = runs["seed002_grad_vs_backward"]
    p1 = data(folder, 1)
    assert p1["graph"]["kind"] == "grad"
    assert leaf(p1, "x")["returned_grad"]["values"] == pytest.approx(-1.3254, abs=1e-4)
    after = [leaf(data(folder, n), "x")["grad_after"]["values"] for n in (3, 4, 5)]
    assert after == pytest.approx([-1.3254, -2.6509, -3.9763], abs=1e-4)
    assert grad(data(folder, 6), "x") == pytest.approx([2.0, 3.2, -2.4])
    rows = [leaf(data(folder, n), "x")["returned_grad"]["values"] for n in (7, 8, 9)]
    assert rows == [[2.0, 0.0, -0.0], [0.0, 4.0, -0.0], [0.0, 0.0, -4.0]]


def test_seed003_sigmoid_and_relu(runs: dict) -> None:
    proc, folder = runs["seed003_sigmoid_relu"]
    assert proc.stdout.count("0.1049936") == 2
    assert grad(data(folder, 2), "x") == pytest.approx(0.1049936, abs=1e-7)
    p3 = data(folder, 3)
    assert (grad(p3, "w"), grad(p3, "x"), grad(p3, "b")) == (1.0, 2.0, 1.0)
    assert grad(data(folder, 4), "x") == 7.0


def test_seed004_jacobian(runs: dict) -> None:
    proc, folder = runs["seed004_jacobian"]
    assert "diagonal: [23.0, 51.0, 91.0, 143.0, 207.0, 283.0]" in proc.stdout
    diag = []
    for n in range(1, 7):  # one grad pass per output element, via functional.jacobian
        p = data(folder, n)
        assert p["graph"]["caller"].endswith("jacobian")
        row = next(n for n in p["nodes"] if n["kind"] == "leaf")["returned_grad"]["values"]
        diag.append(sum(row, [])[n - 1])
    assert diag == [23.0, 51.0, 91.0, 143.0, 207.0, 283.0]
    assert grad(data(folder, 8), "x") == 326.0
    page = (folder / "pass-009.html").read_text()
    assert "y against x" in page and "gradient at x against x" in page


def test_mlp_training_is_bounded(runs: dict) -> None:
    proc, folder = runs["mlp_training"]
    written = sorted(int(m.group(1)) for p in folder.iterdir() if (m := re.match(r"pass-(\d+)\.json", p.name)))
    assert written == list(range(1, 22)) + [300]
    index = (folder / "index.html").read_text()
    assert "300 backward passes recorded, 22 written" in index and "Gradient flow" in index
    for name in ("0.weight", "0.bias", "2.weight", "2.bias"):
        assert f">{name}</text>" in index
    assert "step 299  loss" in proc.stdout


def _versions_of(folder: Path) -> tuple[str, str]:
    """(torch, Graphviz) versions the committed files were made with."""
    torch_version = data(folder, 1)["graph"]["torch_version"]
    svg = (folder / "pass-001.svg").read_text()
    dot_version = re.search(r"Generated by graphviz version ([\d.]+)", svg)
    return torch_version, dot_version.group(1) if dot_version else ""


@pytest.mark.parametrize("stem", EXAMPLES)
def test_committed_outputs_are_current(runs: dict, stem: str, regen_golden: bool) -> None:
    _, fresh = runs[stem]
    committed = OUTPUTS / stem
    if regen_golden:
        shutil.rmtree(committed, ignore_errors=True)
        shutil.copytree(fresh, committed)
        return
    assert committed.is_dir(), f"outputs/{stem} missing: run pytest tests/test_examples.py --regen-golden"
    if _versions_of(committed) != _versions_of(fresh):
        pytest.skip(f"outputs/{stem} was made with torch/Graphviz {_versions_of(committed)}, this is "
                    f"{_versions_of(fresh)}: regenerate with --regen-golden")
    names = sorted(p.name for p in fresh.iterdir())
    assert sorted(p.name for p in committed.iterdir()) == names
    stale = [n for n in names if (committed / n).read_bytes() != (fresh / n).read_bytes()]
    assert not stale, f"outputs/{stem} is stale ({', '.join(stale)}): rerun with --regen-golden"


def test_outputs_hold_no_absolute_paths_and_stay_small() -> None:
    total = 0
    for path in OUTPUTS.rglob("*"):
        if path.is_file():
            total += path.stat().st_size
            text = path.read_bytes()
            assert str(ROOT).encode() not in text and b"/tmp/" not in text, path
    assert 0 < total < 5_000_000


def test_readme_embeds_committed_pictures() -> None:
    readme = (ROOT / "README.md").read_text()
    pictures = re.findall(r"!\[[^\]]*\]\((outputs/[^)]+\.svg)\)", readme)
    assert len(pictures) >= 2 and all((ROOT / p).exists() for p in pictures)
