"""Dependencies point one way: fronts -> capture, model, render; capture -> model; model -> render."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import graphtrace

PACKAGE = Path(graphtrace.__file__).parent
FRONTS = {"graphtrace.cli", "graphtrace.notebook", "graphtrace.sphinxext"}
# what each layer may import from graphtrace, besides itself and the shared modules
# (_errors, _fastpath, _files, _first_use, _options, _plain, _types)
ALLOWED = {
    "model": {"graphtrace.render"},
    "render": set(),
    "capture": {"graphtrace.model"},
}


def _imports(path: Path) -> set[str]:
    """The graphtrace modules a file imports, anywhere in it (lazy imports included), as absolute names."""
    package = ".".join(("graphtrace", *path.relative_to(PACKAGE).parent.parts))
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(b for b in (base, node.module or "") if b)
            found |= {module} if node.module else {f"{module}.{a.name}" for a in node.names}
    return {m for m in found if m == "graphtrace" or m.startswith("graphtrace.")}


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_a_layer_imports_only_the_layers_below_it(layer: str) -> None:
    shared = {
        f"graphtrace.{m}" for m in ("_errors", "_fastpath", "_files", "_first_use", "_options", "_plain", "_types")
    }
    allowed = ALLOWED[layer] | shared | {f"graphtrace.{layer}"}
    for path in sorted((PACKAGE / layer).rglob("*.py")):
        bad = {m for m in _imports(path) if not any(m == a or m.startswith(a + ".") for a in allowed)}
        assert not bad, f"{path.relative_to(PACKAGE.parent)} imports {sorted(bad)}"


def test_the_import_reader_sees_relative_and_lazy_imports() -> None:
    path = PACKAGE / "model" / "trace.py"
    assert "graphtrace.render" in _imports(path) and "graphtrace._errors" in _imports(path)
    assert not FRONTS & _imports(path)
