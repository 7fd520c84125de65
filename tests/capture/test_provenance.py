"""Forward provenance: module paths, classes, source lines and parameter names."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch

import graphtrace


def _make_model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU()), torch.nn.Linear(4, 1))


def _step(model, x):
    model(x).sum().backward()  # the model is not a variable of the caller's frame here


def test_parameters_are_named_from_the_modules_run_even_when_not_in_the_frame():
    step = (lambda m: lambda x: _step(m, x))(_make_model())
    with graphtrace.trace() as t:
        step(torch.ones(2, 3))
    params = sorted(a["param"] for _, a in t.passes[0].graph.nodes(data=True) if a["kind"] == "leaf")
    assert params == ["0.0.bias", "0.0.weight", "1.bias", "1.weight"]


def test_pass_lists_the_classes_of_the_modules_its_ops_ran_in():
    model = _make_model()
    with graphtrace.trace() as t:
        model(torch.ones(2, 3)).sum().backward()
    g = t.passes[0].graph
    assert g.graph["modules"] == {"": "Sequential", "0": "Sequential", "0.0": "Linear", "0.1": "ReLU", "1": "Linear"}
    addmm = [a for _, a in g.nodes(data=True) if a["op"] == "AddmmBackward0"]
    assert sorted((a["module"], a["module_class"]) for a in addmm) == [("0.0", "Linear"), ("1", "Linear")]
    # F.linear's inner TBackward0 is tagged like the AddmmBackward0 the call returned
    assert {a["module"] for _, a in g.nodes(data=True) if a["op"] == "TBackward0"} == {"0.0", "1"}
    lines = Path(__file__).read_text().splitlines()
    line = next(i for i, text in enumerate(lines, 1) if "model(torch.ones(2, 3)).sum().backward()" in text)
    sources = {a["source"] for _, a in g.nodes(data=True) if a["kind"] == "op"}
    assert len(sources) == 1 and sources.pop().endswith(f"test_provenance.py:{line}")


def test_without_provenance_nothing_is_tagged():
    model = _make_model()
    with graphtrace.trace(provenance=False) as t:
        model(torch.ones(2, 3)).sum().backward()
    g = t.passes[0].graph
    assert g.graph["modules"] == {}
    assert all(a["module"] == "" and a["source"] == "" for _, a in g.nodes(data=True))


_DEEP_CHAIN = """
import torch, graphtrace
x = torch.ones(1, requires_grad=True)
with graphtrace.trace():
    y = x
    for _ in range(150_000):
        y = y * 1.0
    del y
print("freed")
"""


def test_a_deep_graph_built_in_the_block_is_freed_without_crashing():
    # NOTE [provenance table]: a Python dict on each node made freeing this chain overflow the C stack
    done = subprocess.run([sys.executable, "-c", _DEEP_CHAIN], capture_output=True, text=True, timeout=300)
    assert (done.returncode, done.stdout) == (0, "freed\n"), done.stderr[-2000:]


def test_provenance_is_kept_beside_the_graph_not_on_its_nodes():
    x = torch.ones(2, requires_grad=True)
    tracer = graphtrace.trace()
    with tracer as t:
        y = (x * 3).sin()
        assert y.grad_fn.next_functions[0][0].metadata == {}  # nothing of ours on the node
        y.sum().backward()
    ops = {a["op"]: a["source"] for _, a in t.passes[0].graph.nodes(data=True) if a["kind"] == "op"}
    assert ops["MulBackward0"].endswith(ops["SinBackward0"]) and ":" in ops["SinBackward0"]
    assert len(tracer.table) == 0  # dropped with the pass that freed the graph


def test_torch_compile_does_not_warn_of_our_global_hooks_and_the_filter_goes_with_them() -> None:
    """NOTE [our global hooks]: the warning speaks of graphtrace's hooks, which plain python does not have."""
    import warnings

    model = torch.nn.Linear(3, 1)
    compiled = torch.compile(model, backend="eager")
    before = list(warnings.filters)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with graphtrace.trace() as t:
            compiled(torch.ones(2, 3)).sum().backward()
    assert not [w for w in caught if "global hooks on modules" in str(w.message)]
    assert len(t.passes) == 1 and list(warnings.filters) == before
    # a user's own global hook: the warning is the user's, and stays
    handle = torch.nn.modules.module.register_module_forward_hook(lambda m, a, o: None)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with graphtrace.trace():
                compiled(torch.ones(2, 3)).sum().backward()
        assert [w for w in caught if "global hooks on modules" in str(w.message)]
    finally:
        handle.remove()


def test_a_derivative_graph_has_the_line_of_the_grad_call_that_built_it_not_its_consumers():
    """NOTE [ancestor walk]: autograd.grad(create_graph=True) makes g's graph (g = 3x²: a MulBackward0,
    a MulBackward1 and a PowBackward0) while it runs; the second pass shows those nodes at the
    grad call's line, not at ``h = g * 2`` that consumed g."""
    x = torch.tensor(2.0, requires_grad=True)
    with graphtrace.trace() as t:
        y = x**3
        (g,) = torch.autograd.grad(y, x, create_graph=True)  # grad line
        h = g * 2  # consumer line
        h.backward()
    assert x.grad.item() == 24.0  # d/dx (2 * 3x²) = 12x at x = 2
    here = Path(__file__).read_text().splitlines()
    grad_line = next(i for i, line in enumerate(here, 1) if line.endswith("# grad line"))
    by_op = {(a["op"], a["name"]): a["source"] for _, a in t.passes[1].graph.nodes(data=True) if a["kind"] == "op"}
    assert by_op[("MulBackward0", "h")].endswith(f":{grad_line + 1}")
    assert by_op[("MulBackward0", "g")].endswith(f":{grad_line}")
    assert by_op[("MulBackward1", "")].endswith(f":{grad_line}") and by_op[("PowBackward0", "")].endswith(
        f":{grad_line}"
    )
