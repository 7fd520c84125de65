"""Module boxes of a drawing (``clusters=True``): nested as the modules are, each titled by its own class."""

from __future__ import annotations

from typing import Any

from .._types import Graph
from . import _labels
from .views_modules import module_path, prefixes

# NOTE [nested clusters]: every node with a module goes in the box of that module, and every
# box sits in the box of its parent module, so ``transformer.h.0`` is drawn inside
# ``transformer.h`` inside ``transformer``. A parameter leaf goes in the box of the module
# that owns it (a tied weight with its owner), an op in the module it ran in, a collapsed
# module (a group node) in its parent's box; roots stay outside. Nesting is also what keeps
# the backward's top-to-bottom order: dot ranks each cluster as a unit, so a flat box holding
# two far-apart ops of ``transformer`` (the first op after the head, the embeddings' sum at
# the very end) pulled the second one up and made edges climb the page; inside the nested
# box the ops between them sit in the child boxes, ranked between. A box titled by a class
# takes it from the pass's module table (``graph.graph["modules"]``), else from a node of that
# very module, never from a node of a child module. A box that would hold a single group node
# and nothing else is not drawn: the group's own title names the module.


def box_of(attrs: dict[str, Any]) -> str:
    """The module whose box a node goes in ("" for none)."""
    kind = attrs.get("kind")
    if kind == "root":
        return ""
    if kind == "group":
        return str(attrs.get("module") or "").rpartition(".")[0]
    return module_path(attrs)


class Box:
    """One module box: its node lines and child boxes, both in order of first appearance."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.lines: list[str] = []
        self.groups = 0  # how many of the lines are group nodes
        self.children: dict[str, Box] = {}

    def drawn(self) -> bool:
        return bool(self.children) or len(self.lines) != 1 or self.groups != 1


def classes_of(graph: Graph) -> dict[str, str]:
    """Module path -> class: the pass's module table, then the nodes' own modules."""
    out = {str(k): str(v) for k, v in (graph.graph.get("modules") or {}).items()}
    for _, attrs in graph.nodes(data=True):
        module, cls = attrs.get("module"), attrs.get("module_class")
        if module and cls:  # an op's own module, or a collapsed module (group node) itself
            out.setdefault(module, cls)
    return out


def nest(graph: Graph, node_lines: list[tuple[Any, str]]) -> tuple[list[str], list[str]]:
    """(lines outside every box, lines of the nested boxes) for ``(node, DOT line)`` pairs in order."""
    top = Box("")
    outside: list[str] = []
    for n, line in node_lines:
        attrs = graph.nodes[n]
        path = box_of(attrs)
        if not path:
            outside.append(line)
            continue
        box = top
        for p in prefixes(path):
            box = box.children.setdefault(p, Box(p))
        box.lines.append(line)
        box.groups += attrs.get("kind") == "group"
    classes = classes_of(graph)
    out: list[str] = []
    counter = [0]

    def emit(box: Box, indent: str) -> None:
        if not box.drawn():
            out.extend(indent + line for line in box.lines)
            return
        cls = classes.get(box.path, "")
        text = box.path + (f" ({cls})" if cls else "")
        out.append(f"{indent}subgraph cluster_{counter[0]} {{")
        counter[0] += 1
        out.append(f"{indent}  label=<{_labels.font(_labels.esc(text, 120), _labels.MUTED, 10)}>")
        out.append(f'{indent}  style="rounded,dashed" color="#9a9a9a" labeljust="l"')
        out.extend(f"{indent}  {line}" for line in box.lines)
        for child in box.children.values():
            emit(child, indent + "  ")
        out.append(f"{indent}}}")

    for child in top.children.values():
        emit(child, "  ")
    return outside, out
