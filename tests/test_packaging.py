"""What a user installs: complete runtime dependencies, and the README's ways in."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parent.parent
OPTIONAL = {"IPython", "sphinx", "docutils"}  # fronts imported only inside a notebook or a Sphinx build


def _declared() -> set[str]:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return {re.split(r"[<>=!~\[; ]", d, maxsplit=1)[0].lower() for d in deps}


def _imported() -> set[str]:
    names = set()
    for path in (ROOT / "graphtrace").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n != "graphtrace"} - OPTIONAL


def test_every_runtime_import_is_a_declared_dependency() -> None:
    dists = importlib.metadata.packages_distributions()  # import name -> distributions (yaml -> PyYAML)
    needed = {name: {d.lower() for d in dists.get(name, [name])} for name in _imported()}
    assert not [name for name, ds in needed.items() if not ds & _declared()], needed


def test_numpy_is_declared_so_torch_finds_it() -> None:
    # without numpy, torch prints "Failed to initialize NumPy" on every run
    assert "numpy" in _declared()


def test_the_readme_says_how_to_install_into_an_existing_environment() -> None:
    readme = (ROOT / "README.md").read_text()
    first = readme.split("```sh\n", 1)[1].split("```", 1)[0]  # the fresh-machine commands stay first
    assert first.startswith("bash scripts/setup.sh && .venv/bin/graphtrace run examples/seed000_chain_rule.py\n")
    section = readme.split("## Installing into an existing environment", 1)[1].split("\n## ", 1)[0]
    assert "pip install" in section and "graphviz" in section.lower()
