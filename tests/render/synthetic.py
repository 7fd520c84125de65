"""Hand-built pass graphs in the documented trace format, for the renderer tests."""

from __future__ import annotations

import math

import networkx as nx


def rec(values, shape=None, dtype="float32"):
    """A value record for ``values`` (a number or nested lists), with its summary."""
    flat = _flat(values)
    if shape is None:
        shape = _shape(values)
    nums = [v for v in flat if isinstance(v, (int, float))]
    finite = [float(v) for v in nums if math.isfinite(v)]
    return {
        "shape": shape, "dtype": dtype, "numel": len(flat), "values": _plain(values),
        "norm": math.sqrt(sum(v * v for v in finite)), "min": min(finite, default=None),
        "max": max(finite, default=None), "mean": sum(finite) / len(finite) if finite else None,
        "nan": sum(1 for v in flat if v != v or v == "nan"),
        "inf": sum(1 for v in flat if v in (math.inf, -math.inf, "inf", "-inf")),
    }


def big(shape, norm=12.345678, nan=0, inf=0):
    """A summarised record of a large tensor (values null)."""
    return {"shape": list(shape), "dtype": "float32", "numel": math.prod(shape), "values": None,
            "norm": norm, "min": -0.51234567, "max": 0.49876543, "mean": 1.2345678e-05, "nan": nan, "inf": inf}


def _flat(v):
    return [x for item in v for x in _flat(item)] if isinstance(v, list) else [v]


def _shape(v):
    return [len(v)] + _shape(v[0]) if isinstance(v, list) else []


def _plain(v):
    if isinstance(v, list):
        return [_plain(x) for x in v]
    if isinstance(v, float) and not math.isfinite(v):
        return "nan" if v != v else ("inf" if v > 0 else "-inf")
    return v


def _graph(**attrs) -> nx.DiGraph:
    g = nx.DiGraph()
    g.graph.update(index=1, kind="backward", api="Tensor.backward", call_site="examples/chain.py:7",
                   caller="", roots=[0], inputs=[], retain_graph=False, create_graph=False, steps=0,
                   value_limit=64, error="", signature="test", torch_version="2.4.0")
    g.graph.update(attrs)
    return g


def _node(g, n, kind, op, *, name="", param="", value=None, step=None, grad_in=(), **extra):
    shape = value["shape"] if value else None
    attrs = dict(kind=kind, op=op, name=name, param=param, shape=shape, dtype="float32" if value else None,
                 device="cpu", requires_grad=True, is_leaf=kind == "leaf", retains_grad=False, value=value,
                 step=step, grad_in=list(grad_in), retained_grad=None, source="", module="", module_class="",
                 outputs=1)
    if kind == "leaf":
        attrs.update(grad_before=None, grad_after=None, returned_grad=None)
    attrs.update(extra)
    g.add_node(n, **attrs)


def _edge(g, u, v, grad, local=None, **extra):
    g.add_edge(u, v, slots=[0], input_nr=0, grad=grad, local=local, jacobian=None, **extra)


def chain() -> nx.DiGraph:
    """Seed 000: z = sin(y), y = x**3 + 1.15 at x = 7; dz/dx = cos(y) * 3x**2 = 0.14547 * 147."""
    g = _graph(steps=5)
    _node(g, 0, "root", "output", name="z", value=rec(-0.98886), step=0, grad_in=[rec(1.0)])
    _node(g, 1, "op", "SinBackward0", name="z", value=rec(-0.98886), step=1, grad_in=[rec(1.0)])
    _node(g, 2, "op", "AddBackward0", name="y", value=rec(344.15), step=2, grad_in=[rec(0.14547)])
    _node(g, 3, "op", "PowBackward0", value=rec(343.0), step=3, grad_in=[rec(0.14547)])
    _node(g, 4, "leaf", "AccumulateGrad", name="x", value=rec(7.0), step=4, grad_in=[rec(21.384121)],
          grad_after=rec(21.384121))
    _edge(g, 0, 1, rec(1.0))
    _edge(g, 1, 2, rec(0.14547), rec(0.14547))
    _edge(g, 2, 3, rec(0.14547), rec(1.0))
    _edge(g, 3, 4, rec(21.384121), rec(147.0))
    return g


def multipath() -> nx.DiGraph:
    """f = u*v + u**2 at u = 1, v = 2: u gets 2 (via the product) + 2 (via the square) = 4."""
    g = _graph(steps=6, call_site="examples/multipath.py:5")
    _node(g, 0, "root", "output", name="f", value=rec(3.0), step=0, grad_in=[rec(1.0)])
    _node(g, 1, "op", "AddBackward0", name="f", value=rec(3.0), step=1, grad_in=[rec(1.0)])
    _node(g, 2, "op", "MulBackward0", value=rec(2.0), step=2, grad_in=[rec(1.0)])
    _node(g, 3, "op", "PowBackward0", value=rec(1.0), step=3, grad_in=[rec(1.0)])
    _node(g, 4, "leaf", "AccumulateGrad", name="u", value=rec(1.0), step=5, grad_in=[rec(4.0)],
          grad_after=rec(4.0))
    _node(g, 5, "leaf", "AccumulateGrad", name="v", value=rec(2.0), step=4, grad_in=[rec(1.0)],
          grad_after=rec(1.0))
    _edge(g, 0, 1, rec(1.0))
    _edge(g, 1, 2, rec(1.0), rec(1.0))
    _edge(g, 1, 3, rec(1.0), rec(1.0))
    _edge(g, 2, 4, rec(2.0), rec(2.0))
    _edge(g, 2, 5, rec(1.0), rec(1.0))
    _edge(g, 3, 4, rec(2.0), rec(2.0))
    return g


def accumulation() -> nx.DiGraph:
    """Seed 002's third pass: w.grad goes -2.6509 + -1.3254 = -3.9763; h retained its grad."""
    g = _graph(index=3, steps=4, call_site="examples/accumulate.py:12", retain_graph=True)
    _node(g, 0, "root", "output", name="loss", value=rec(0.5), step=0, grad_in=[rec(1.0)])
    _node(g, 1, "op", "MulBackward0", name="h", value=rec([[1.0, 2.0], [3.0, -4.5]]), step=1,
          grad_in=[rec(1.0)], retains_grad=True, retained_grad=rec([[0.5, -0.25], [0.0, 1.0]]))
    _node(g, 2, "leaf", "AccumulateGrad", param="layer.weight", value=rec([[0.1, -0.2], [0.3, 0.4]]),
          step=3, grad_in=[rec(-1.3254)], grad_before=rec(-2.6509), grad_after=rec(-3.9763))
    _edge(g, 0, 1, rec(1.0))
    _edge(g, 1, 2, rec(-1.3254), rec(-1.3254))
    return g


def unhealthy() -> nx.DiGraph:
    """A NaN gradient through sqrt at 0 and a dead ReLU whose gradient is all zero."""
    g = _graph(steps=6, call_site="examples/nan.py:9")
    _node(g, 0, "root", "output", name="loss", value=rec(2.0), step=0, grad_in=[rec(1.0)])
    _node(g, 1, "op", "AddBackward0", name="loss", value=rec(2.0), step=1, grad_in=[rec(1.0)])
    _node(g, 2, "op", "SqrtBackward0", name="s", value=rec([0.0, 2.0]), step=2, grad_in=[rec([1.0, 1.0])])
    _node(g, 3, "op", "ReluBackward0", name="r", value=rec([0.0, 0.0]), step=3, grad_in=[rec([1.0, 1.0])])
    _node(g, 4, "leaf", "AccumulateGrad", name="a", value=rec([0.0, 4.0]), step=4,
          grad_in=[rec([math.nan, 0.25])], grad_after=rec([math.nan, 0.25]))
    _node(g, 5, "leaf", "AccumulateGrad", name="b", value=rec([-1.0, -2.0]), step=5,
          grad_in=[rec([0.0, 0.0])], grad_after=rec([0.0, 0.0]))
    _edge(g, 0, 1, rec(1.0))
    _edge(g, 1, 2, rec([1.0, 1.0]), rec([1.0, 1.0]))
    _edge(g, 1, 3, rec([1.0, 1.0]), rec([1.0, 1.0]))
    _edge(g, 2, 4, rec([math.nan, 0.25]), rec([math.nan, 0.25]))
    _edge(g, 3, 5, rec([0.0, 0.0]), rec([0.0, 0.0]))
    return g


HOSTILE = "<img src=x onerror=alert(1)>"


def hostile() -> nx.DiGraph:
    """Names, paths and errors full of markup, quotes, backslashes and control characters."""
    g = _graph(call_site='/tmp/<dir>&"q"/it\'s.py:3', api="torch.autograd.grad", kind="grad",
               error='RuntimeError: bad <b>"x"</b> & \\N', steps=2)
    _node(g, 0, "root", "output", name="</script><script>alert(2)</script>", value=rec(1.0), step=0,
          grad_in=[rec(1.0)])
    _node(g, 1, "op", "My<b>Fn</b>Backward", name='a&b "q" \\N\x00\n', value=rec(1.0), step=1,
          grad_in=[rec(1.0)], module="enc.<i>&amp;", module_class="Evil&Co")
    _node(g, 2, "leaf", "AccumulateGrad", param=HOSTILE, value=rec(2.0), step=2, grad_in=[rec(3.0)],
          returned_grad=rec(3.0), module="enc.<i>&amp;")
    _node(g, 3, "op", "NeverRanBackward", value=rec(1.0))
    _edge(g, 0, 1, rec(1.0))
    _edge(g, 1, 2, rec(3.0), rec(3.0))
    _edge(g, 1, 3, None)
    return g


def long_chain(n: int = 3330) -> nx.DiGraph:
    """A big synthetic pass: a chain of ops with a leaf hanging off every third one."""
    g = _graph(steps=n)
    _node(g, 0, "root", "output", name="loss", value=rec(1.5), step=0, grad_in=[rec(1.0)])
    prev = 0
    for i in range(1, n):
        kind = "leaf" if i % 3 == 0 else "op"
        _node(g, i, kind, "AccumulateGrad" if kind == "leaf" else "AddmmBackward0", value=big([64, 768]),
              step=i, grad_in=[big([64, 768])], param=f"h.{i}.weight" if kind == "leaf" else "",
              module=f"h.{i // 30}", grad_after=big([64, 768]) if kind == "leaf" else None)
        _edge(g, prev, i, big([64, 768]))
        if kind == "op":
            prev = i
    return g
