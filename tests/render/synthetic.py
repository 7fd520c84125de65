"""Hand-built pass graphs in the documented trace format, for the renderer tests."""

from __future__ import annotations

import math
import struct

import networkx as nx


def rec(values, shape=None, dtype="float32"):
    """A value record for ``values`` (a number or nested lists), with its summary."""
    flat = _flat(values)
    if shape is None:
        shape = _shape(values)
    nums = [v for v in flat if isinstance(v, (int, float))]
    finite = [float(v) for v in nums if math.isfinite(v)]
    return {
        "shape": shape,
        "dtype": dtype,
        "numel": len(flat),
        "values": _plain(values),
        "norm": math.sqrt(sum(v * v for v in finite)),
        "min": min(finite, default=None),
        "max": max(finite, default=None),
        "mean": sum(finite) / len(finite) if finite else None,
        "nan": sum(1 for v in flat if v != v or v == "nan"),
        "inf": sum(1 for v in flat if v in (math.inf, -math.inf, "inf", "-inf")),
    }


def big(shape, norm=12.345678, nan=0, inf=0):
    """A summarised record of a large tensor (values null)."""
    return {
        "shape": list(shape),
        "dtype": "float32",
        "numel": math.prod(shape),
        "values": None,
        "norm": norm,
        "min": -0.51234567,
        "max": 0.49876543,
        "mean": 1.2345678e-05,
        "nan": nan,
        "inf": inf,
    }


def _flat(v):
    return [x for item in v for x in _flat(item)] if isinstance(v, list) else [v]


def _shape(v):
    return [len(v), *_shape(v[0])] if isinstance(v, list) else []


def _plain(v):
    if isinstance(v, list):
        return [_plain(x) for x in v]
    if isinstance(v, float) and not math.isfinite(v):
        return "nan" if v != v else ("inf" if v > 0 else "-inf")
    return v


def _graph(**attrs) -> nx.DiGraph:
    """A pass's graph attributes; ``steps`` counts the nodes that ran after the root (the last step)."""
    g = nx.DiGraph()
    g.graph.update(
        index=1,
        kind="backward",
        api="Tensor.backward",
        call_site="examples/chain.py:7",
        caller="",
        roots=[0],
        inputs=[],
        retain_graph=False,
        create_graph=False,
        steps=0,
        value_limit=64,
        error="",
        signature="test",
        torch_version="2.4.0",
    )
    g.graph.update(attrs)
    return g


def _node(g, n, kind, op, *, name="", param="", value=None, step=None, grad_in=(), **extra):
    shape = value["shape"] if value else None
    attrs = dict(
        kind=kind,
        op=op,
        name=name,
        param=param,
        shape=shape,
        dtype="float32" if value else None,
        device="cpu",
        requires_grad=True,
        is_leaf=kind == "leaf",
        retains_grad=False,
        value=value,
        step=step,
        grad_in=list(grad_in),
        retained_grad=None,
        source="",
        module="",
        module_class="",
        outputs=1,
    )
    if kind == "leaf":
        attrs.update(grad_before=None, grad_after=None, returned_grad=None)
    attrs.update(extra)
    g.add_node(n, **attrs)


def _edge(g, u, v, grad, local=None, jacobian=None, **extra):
    g.add_edge(u, v, slots=[0], input_nr=0, grad=grad, local=local, jacobian=jacobian, **extra)


def f32(v: float) -> float:
    """``v`` rounded to float32, as a float32 program holds it."""
    return struct.unpack("f", struct.pack("f", v))[0]


def chain() -> nx.DiGraph:
    """Seed 000: ``y = x**3 + 4; z = sin(y); z.backward()`` at x = 7.

    dz/dx = cos(y) * 3x**2 = 0.14547 * 147 = 21.384121; z = sin(347) = 0.98936.
    """
    x = 7.0
    p = f32(x**3)  # 343
    y = f32(p + 4)  # 347
    z = f32(math.sin(y))
    dz_dy = f32(math.cos(y))  # d sin(y)/dy; dy/dp = 1
    dp_dx = f32(3 * x**2)  # 147
    dz_dx = f32(dz_dy * dp_dx)
    g = _graph(steps=4)
    _node(g, 0, "root", "output", name="z", value=rec(z), step=0, grad_in=[rec(1.0)])
    _node(g, 1, "op", "SinBackward0", name="z", value=rec(z), step=1, grad_in=[rec(1.0)])
    _node(g, 2, "op", "AddBackward0", name="y", value=rec(y), step=2, grad_in=[rec(dz_dy)])
    _node(g, 3, "op", "PowBackward0", value=rec(p), step=3, grad_in=[rec(dz_dy)])
    _node(g, 4, "leaf", "AccumulateGrad", name="x", value=rec(x), step=4, grad_in=[rec(dz_dx)], grad_after=rec(dz_dx))
    _edge(g, 0, 1, rec(1.0))
    _edge(g, 1, 2, rec(dz_dy), rec(dz_dy))
    _edge(g, 2, 3, rec(dz_dy), rec(1.0))
    _edge(g, 3, 4, rec(dz_dx), rec(dp_dx))
    return g


def multipath() -> nx.DiGraph:
    """``f = u*v + u**2; f.backward()`` at u = 1, v = 2: u gets v (via the product) + 2u (via the square) = 4."""
    u, v = 1.0, 2.0
    g = _graph(steps=5, call_site="examples/multipath.py:5")
    _node(g, 0, "root", "output", name="f", value=rec(u * v + u**2), step=0, grad_in=[rec(1.0)])
    _node(g, 1, "op", "AddBackward0", name="f", value=rec(u * v + u**2), step=1, grad_in=[rec(1.0)])
    _node(g, 2, "op", "MulBackward0", value=rec(u * v), step=2, grad_in=[rec(1.0)])
    _node(g, 3, "op", "PowBackward0", value=rec(u**2), step=3, grad_in=[rec(1.0)])
    _node(
        g,
        4,
        "leaf",
        "AccumulateGrad",
        name="u",
        value=rec(u),
        step=5,
        grad_in=[rec(v + 2 * u)],
        grad_after=rec(v + 2 * u),
    )
    _node(g, 5, "leaf", "AccumulateGrad", name="v", value=rec(v), step=4, grad_in=[rec(u)], grad_after=rec(u))
    _edge(g, 0, 1, rec(1.0))
    _edge(g, 1, 2, rec(1.0), rec(1.0))
    _edge(g, 1, 3, rec(1.0), rec(1.0))
    _edge(g, 2, 4, rec(v), rec(v))
    _edge(g, 2, 5, rec(u), rec(u))
    _edge(g, 3, 4, rec(2 * u), rec(2 * u))
    return g


ACCUMULATION_M = [[1.0, 2.0], [3.0, -4.5]]
ACCUMULATION_SEED = [[0.5, -0.25], [0.0, 1.0]]


def accumulation() -> nx.DiGraph:
    """Pass 3 of ``for _ in range(3): h = layer.scale * M; h.retain_grad(); h.backward(G)`` with scale 1.

    Each pass adds sum(G * M) = -4.5 to the scale's .grad: -9 + -4.5 = -13.5; h's retained grad is G.
    """
    s, m, seed = 1.0, ACCUMULATION_M, ACCUMULATION_SEED
    h = [[s * x for x in row] for row in m]
    inc = sum(gv * mv for grow, mrow in zip(seed, m) for gv, mv in zip(grow, mrow))
    g = _graph(index=3, steps=2, call_site="examples/accumulate.py:12")
    _node(g, 0, "root", "output", name="h", value=rec(h), step=0, grad_in=[rec(seed)])
    _node(
        g,
        1,
        "op",
        "MulBackward0",
        name="h",
        value=rec(h),
        step=1,
        grad_in=[rec(seed)],
        retains_grad=True,
        retained_grad=rec(seed),
    )
    _node(
        g,
        2,
        "leaf",
        "AccumulateGrad",
        param="layer.scale",
        value=rec(s),
        step=2,
        grad_in=[rec(inc)],
        grad_before=rec(2 * inc),
        grad_after=rec(3 * inc),
    )
    _edge(g, 0, 1, rec(seed))
    _edge(g, 1, 2, rec(inc), jacobian=[[x] for row in m for x in row])  # dh/ds = M; no elementwise local
    return g


def unhealthy() -> nx.DiGraph:
    """``loss = a.sqrt() + b.relu(); loss.backward(G)``, a = [0, 4], b = [-1, -2], G = [0, 1].

    sqrt's gradient at 0 is G / (2 sqrt(a)) = 0 / 0, NaN; the ReLU is dead, its gradient all zero.
    """
    a, b, seed = [0.0, 4.0], [-1.0, -2.0], [0.0, 1.0]
    s = [math.sqrt(v) for v in a]
    r = [max(v, 0.0) for v in b]
    loss = [x + y for x, y in zip(s, r)]
    ds_da = [1 / (2 * v) if v else math.inf for v in s]  # the local derivative: inf at 0
    grad_a = [gv / (2 * v) if v else (math.nan if gv == 0 else math.inf) for gv, v in zip(seed, s)]
    dr_db = [1.0 if v > 0 else 0.0 for v in b]
    grad_b = [gv * d for gv, d in zip(seed, dr_db)]
    g = _graph(steps=5, call_site="examples/nan.py:9")
    _node(g, 0, "root", "output", name="loss", value=rec(loss), step=0, grad_in=[rec(seed)])
    _node(g, 1, "op", "AddBackward0", name="loss", value=rec(loss), step=1, grad_in=[rec(seed)])
    _node(g, 2, "op", "SqrtBackward0", name="s", value=rec(s), step=2, grad_in=[rec(seed)])
    _node(g, 3, "op", "ReluBackward0", name="r", value=rec(r), step=3, grad_in=[rec(seed)])
    _node(g, 4, "leaf", "AccumulateGrad", name="a", value=rec(a), step=4, grad_in=[rec(grad_a)], grad_after=rec(grad_a))
    _node(g, 5, "leaf", "AccumulateGrad", name="b", value=rec(b), step=5, grad_in=[rec(grad_b)], grad_after=rec(grad_b))
    _edge(g, 0, 1, rec(seed))
    _edge(g, 1, 2, rec(seed), rec([1.0, 1.0]))
    _edge(g, 1, 3, rec(seed), rec([1.0, 1.0]))
    _edge(g, 2, 4, rec(grad_a), rec(ds_da))
    _edge(g, 3, 5, rec(grad_b), rec(dr_db))
    return g


def grad_call() -> nx.DiGraph:
    """Seed 002's first pass: ``torch.autograd.grad(cos(x) + sin(x), x)`` at x = 2 returns
    -sin(2) + cos(2) = -1.3254 (x's gradient in, the last step) and leaves x.grad alone."""
    x = 2.0
    c, s = f32(math.cos(x)), f32(math.sin(x))
    dc, ds = f32(-math.sin(x)), f32(math.cos(x))
    g = _graph(
        kind="grad",
        api="torch.autograd.grad",
        call_site="examples/seed002_grad_vs_backward.py:13",
        inputs=[4],
        retain_graph=True,
        steps=4,
    )
    _node(g, 0, "root", "output", name="y", value=rec(f32(c + s)), step=0, grad_in=[rec(1.0)])
    _node(g, 1, "op", "AddBackward0", name="y", value=rec(f32(c + s)), step=1, grad_in=[rec(1.0)])
    _node(g, 2, "op", "CosBackward0", value=rec(c), step=3, grad_in=[rec(1.0)])
    _node(g, 3, "op", "SinBackward0", value=rec(s), step=2, grad_in=[rec(1.0)])
    _node(
        g,
        4,
        "leaf",
        "AccumulateGrad",
        name="x",
        value=rec(x),
        step=4,
        grad_in=[rec(f32(dc + ds))],
        returned_grad=rec(f32(dc + ds)),
    )
    _edge(g, 0, 1, rec(1.0))
    _edge(g, 1, 2, rec(1.0), rec(1.0))
    _edge(g, 1, 3, rec(1.0), rec(1.0))
    _edge(g, 2, 4, rec(dc), rec(dc))
    _edge(g, 3, 4, rec(ds), rec(ds))
    return g


HOSTILE = "<img src=x onerror=alert(1)>"


def hostile() -> nx.DiGraph:
    """Names, paths and errors full of markup, quotes, backslashes and control characters.

    The program: ``out = MyFn.apply(a, c)`` (forward 3a - 5 = 1 at a = 2, backward 3g for a and
    None for c, so c's NeverRanBackward does not run); ``out.backward()`` accumulates 3 into
    a.grad, then the user's post-accumulate hook on a raises.
    """
    a = 2.0
    out = 3 * a - 5
    g = _graph(call_site='/tmp/<dir>&"q"/it\'s.py:3', error='RuntimeError: bad <b>"x"</b> & \\N', steps=2)
    _node(g, 0, "root", "output", name="</script><script>alert(2)</script>", value=rec(out), step=0, grad_in=[rec(1.0)])
    _node(
        g,
        1,
        "op",
        "My<b>Fn</b>Backward",
        name='a&b "q" \\N\x00\n',
        value=rec(out),
        step=1,
        grad_in=[rec(1.0)],
        module="enc.<i>&amp;",
        module_class="Evil&Co",
    )
    _node(
        g,
        2,
        "leaf",
        "AccumulateGrad",
        param=HOSTILE,
        value=rec(a),
        step=2,
        grad_in=[rec(3.0)],
        grad_after=rec(3.0),
        module="enc.<i>&amp;",
    )
    _node(g, 3, "op", "NeverRanBackward", value=rec(1.0), grad_in=[None])
    _edge(g, 0, 1, rec(1.0))
    _edge(g, 1, 2, rec(3.0), rec(3.0))
    _edge(g, 1, 3, None)
    return g


GOLDEN = {
    "chain": chain,
    "multipath": multipath,
    "accumulation": accumulation,
    "unhealthy": unhealthy,
    "hostile": hostile,
}  # tests/render/golden/NAME.dot, rewritten by scripts/regen.py


def long_chain(n: int = 3330) -> nx.DiGraph:
    """A big synthetic pass: a chain of ops with a leaf hanging off every third one."""
    g = _graph(steps=n - 1)
    _node(g, 0, "root", "output", name="loss", value=rec(1.5), step=0, grad_in=[rec(1.0)])
    prev = 0
    for i in range(1, n):
        kind = "leaf" if i % 3 == 0 else "op"
        _node(
            g,
            i,
            kind,
            "AccumulateGrad" if kind == "leaf" else "AddmmBackward0",
            value=big([64, 768]),
            step=i,
            grad_in=[big([64, 768])],
            param=f"h.{i}.weight" if kind == "leaf" else "",
            module=f"h.{i // 30}",
            grad_after=big([64, 768]) if kind == "leaf" else None,
        )
        _edge(g, prev, i, big([64, 768]))
        if kind == "op":
            prev = i
    return g
