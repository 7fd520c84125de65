"""Random autograd programs for the fuzz tests: a tiny interpreter over op codes."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# CI runs the default profile; GRAPHTRACE_FUZZ=long runs 1,000+ examples on demand.
LONG = os.environ.get("GRAPHTRACE_FUZZ", "") == "long"
FUZZ = settings(
    max_examples=2000 if LONG else 100,
    deadline=None,
    derandomize=not LONG,  # CI sees the same examples every run
    database=None,  # writes nothing into the source tree
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

SHAPES = [(), (3,), (1, 3), (2, 3), (3, 1), (2, 2), (2, 1, 3)]
MAX_NUMEL = 96  # results bigger than this are cut back (keeps programs small and fast)

UNARY = [
    "sin",
    "tanh",
    "sigmoid",
    "neg",
    "square",
    "scale",
    "relu",
    "abs",
    "log1p_sq",
    "pow3",
    "exp_clamped",
    "cube_fn",
]
BINARY = ["add", "sub", "mul", "div", "maximum", "matmul", "outer", "cat", "where"]
REDUCE = ["sum", "mean", "sum_dim", "amax_dim", "prod_dim", "logsumexp_dim", "softmax_dim", "cumsum_dim"]
VIEW = ["flatten", "transpose", "unsqueeze", "expand", "slice", "select", "permute", "unbind_mix", "split_first"]
INDEX = ["index_repeat", "gather", "mask"]
INPLACE = ["iadd", "imul", "isin", "islice", "irelu", "iview"]
OTHER = ["nograd", "detach", "hook", "retain"]
OPS = UNARY + BINARY + REDUCE + VIEW + INDEX + INPLACE + OTHER
FINISHES = ["backward", "retain_twice", "grad_inputs", "backward_inputs", "create_graph", "nonscalar", "multi_root"]


@dataclass
class Program:
    seed: int
    leaves: list[tuple[tuple[int, ...], bool, bool]]  # (shape, requires_grad, float64)
    ops: list[tuple[str, int, int, int]]  # (code, a, b, k): a, b pick from the pool, k a parameter
    finish: str
    value_limit: int


programs = st.builds(
    Program,
    seed=st.integers(0, 2**31 - 1),
    leaves=st.lists(st.tuples(st.sampled_from(SHAPES), st.booleans(), st.booleans()), min_size=1, max_size=4),
    ops=st.lists(
        st.tuples(st.sampled_from(OPS), st.integers(0, 63), st.integers(0, 63), st.integers(0, 63)),
        min_size=1,
        max_size=16,
    ),
    finish=st.sampled_from(FINISHES),
    value_limit=st.sampled_from([4, 64]),
)


class Cube(torch.autograd.Function):
    """A custom Function (a Python node: graphtrace must not call it for Jacobians)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        return x * x * x

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        return g * 3 * x * x


class Mark(torch.autograd.Function):
    """Identity whose node (MarkBackward) carries the programs' tensor hooks, so checks find it."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        return x.clone()

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> torch.Tensor:
        return g


def _broadcastable(a: torch.Tensor, b: torch.Tensor) -> bool:
    try:
        torch.broadcast_shapes(a.shape, b.shape)
        return True
    except RuntimeError:
        return False


def _pair(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``b``, or its sum when it does not broadcast with ``a``."""
    return b if _broadcastable(a, b) else b.sum()


def _apply(code: str, a: torch.Tensor, b: torch.Tensor, k: int, gen: torch.Generator) -> torch.Tensor:
    if code == "sin":
        return a.sin()
    if code == "tanh":
        return torch.tanh(a)
    if code == "sigmoid":
        return a.sigmoid()
    if code == "neg":
        return -a
    if code == "square":
        return a * a  # one tensor in two slots of the same node
    if code == "scale":
        return a * (0.5 + k / 16)
    if code == "relu":
        return torch.relu(a)
    if code == "abs":
        return a.abs()
    if code == "log1p_sq":
        return torch.log1p(a * a)
    if code == "pow3":
        return a.pow(3)
    if code == "exp_clamped":
        return a.clamp(-8, 8).exp()
    if code == "cube_fn":
        return Cube.apply(a)
    if code == "add":
        return a + _pair(a, b)
    if code == "sub":
        return a - _pair(a, b)
    if code == "mul":
        return a * _pair(a, b)
    if code == "div":
        c = _pair(a, b)
        return a / (1 + c * c)
    if code == "maximum":
        return torch.maximum(a, _pair(a, b))
    if code in ("matmul", "outer"):
        b = b.to(a.dtype)  # no type promotion in matmul: a ToCopyBackward0 node
    if code == "matmul":
        if a.dim() == 2 and b.dim() == 2 and a.shape[1] == b.shape[1]:
            return a @ b.mT
        if a.dim() >= 2:
            return a @ a.mT
        return torch.outer(a.reshape(-1), a.reshape(-1))
    if code == "outer":
        return torch.outer(a.reshape(-1)[:8], b.reshape(-1)[:8])
    if code == "cat":  # mixed dtypes promote: the engine casts gradients back
        return torch.cat([a.reshape(-1), b.reshape(-1)])
    if code == "where":
        c = _pair(a, b)
        return torch.where(a > 0, a, c * 2)
    if code == "sum":
        return a.sum()
    if code == "mean":
        return a.mean()
    if a.dim() == 0 and code in REDUCE:
        return a * 2
    d = k % max(1, a.dim())
    if code == "sum_dim":
        return a.sum(dim=d, keepdim=bool(k & 1))
    if code == "amax_dim":
        return a.amax(dim=d)
    if code == "prod_dim":
        return a.prod(dim=d)
    if code == "logsumexp_dim":
        return torch.logsumexp(a, dim=d)
    if code == "softmax_dim":
        return torch.softmax(a, dim=d)
    if code == "cumsum_dim":
        return a.cumsum(dim=d)
    if code == "flatten":
        return a.reshape(-1)
    if code == "transpose":
        return a.mT if a.dim() >= 2 else a.reshape(-1, 1)
    if code == "unsqueeze":
        return a.unsqueeze(0)
    if code == "expand":
        return a.unsqueeze(0).expand(2, *a.shape)
    if code == "permute":
        return a.permute(*reversed(range(a.dim()))) if a.dim() >= 2 else a.view(-1, 1)
    if a.dim() == 0 or a.shape[0] == 0:
        return a + 1
    if code == "slice":
        return a[..., :: 1 + k % 2]
    if code == "select":
        return a[k % a.shape[0]]
    if code == "unbind_mix":  # one multi-output node whose outputs meet again
        parts = a.unbind(0)
        return parts[0] * parts[-1] + parts[k % len(parts)]
    if code == "split_first":
        return a.split(1)[0]
    if code == "index_repeat":  # repeated indices: accumulation inside IndexBackward
        flat = a.reshape(-1)
        idx = torch.tensor([0, 0, k % flat.numel()])
        return flat[idx]
    if code == "gather":
        flat = a.reshape(-1)
        idx = torch.randint(0, flat.numel(), (4,), generator=gen)
        return flat.gather(0, idx)
    if code == "mask":
        return a[a > 0]  # data-dependent shape, may be empty
    c = a.clone(memory_format=torch.contiguous_format)  # a fresh tensor nothing else saved
    if code == "iadd":
        c.add_(b.sum())
    elif code == "imul":
        c.mul_(1.5)
    elif code == "isin":
        c.sin_()
    elif code == "islice":
        c[0] *= 3  # CopySlices
    elif code == "irelu":
        c.relu_()
    elif code == "iview":
        c.view(-1)[:1].mul_(-2)  # in-place through a view
    else:
        raise AssertionError(code)
    return c


def run(prog: Program, before: Callable[[Callable[[Any], None]], Any] | None = None) -> dict:
    """Run the program; returns what torch computed, and with ``before`` inside its context.

    ``before`` is a context-manager factory (``graphtrace.trace``) given the ``on_pass``
    callback to use, entered around the whole program, forward and backward; the same seed
    gives the same leaves both times.
    """
    gen = torch.Generator().manual_seed(prog.seed)
    values = [
        torch.randn(shape, generator=gen, dtype=torch.float64 if wide else torch.float32)
        for shape, _, wide in prog.leaves
    ]
    wants = [g for _, g, _ in prog.leaves]
    wants[0] = wants[0] or not any(wants)  # at least one leaf requires grad
    params = torch.nn.ParameterList([torch.nn.Parameter(v) for v, g in zip(values, wants) if g])
    consts = [v for v, g in zip(values, wants) if not g]
    states: list[dict] = []  # after each backward call: every param's .grad and what was returned
    states_traced: list = []
    ctx = before(lambda p: states_traced.append(_grads(params))) if before is not None else _Null()
    with ctx as t:
        pool: list[torch.Tensor] = [*params, *consts]
        for code, ia, ib, k in prog.ops:
            a, b = pool[ia % len(pool)], pool[ib % len(pool)]
            if code == "nograd":
                with torch.no_grad():
                    out = a * 2 + 1
            elif code == "detach":
                out = a.detach()
            elif code == "hook":
                out = Mark.apply(a)
                if out.requires_grad:
                    out.register_hook(lambda g: g * 2)
            elif code == "retain":
                out = a * 1.0
                if out.requires_grad:
                    out.retain_grad()
            else:
                out = _apply(code, a, b, k, gen)
            if out.numel() > MAX_NUMEL:
                out = out.reshape(-1)[: MAX_NUMEL // 2]
            pool.append(out)
        _finish(prog, params, pool, gen, states)
    return {"states": states, "traced_states": states_traced, "trace": t}


class _Null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None


def _grads(params: torch.nn.ParameterList) -> list:
    return [None if p.grad is None else p.grad.detach().clone() for p in params]


def _finish(prog: Program, params: torch.nn.ParameterList, pool: list, gen: torch.Generator, states: list) -> None:
    """Run the program's backward calls; ``states`` gets the gradients after each."""
    live = [t for t in pool[len(params) :] if t.requires_grad] or [params[0]]
    outs = live[-3:]
    loss = sum(o.sum() for o in outs) + params[0].sum() * 0.25
    plist = list(params)
    picked = list(range(len(plist)))[:: 1 + prog.seed % 2]
    pick = [plist[i] for i in picked]
    if prog.finish == "backward":
        loss.backward()
        states.append({"grads": _grads(params)})
    elif prog.finish == "retain_twice":
        loss.backward(retain_graph=True)
        states.append({"grads": _grads(params)})
        loss.backward()
        states.append({"grads": _grads(params)})
    elif prog.finish == "grad_inputs":
        got = torch.autograd.grad(loss, inputs=pick, allow_unused=True)
        states.append({"grads": _grads(params), "returned": list(got), "inputs": picked})
    elif prog.finish == "backward_inputs":
        loss.backward(inputs=pick)
        states.append({"grads": _grads(params)})
    elif prog.finish == "create_graph":
        got = torch.autograd.grad(loss, plist, create_graph=True, allow_unused=True)
        states.append(
            {
                "grads": _grads(params),
                "returned": [g if g is None else g.detach() for g in got],
                "inputs": list(range(len(plist))),
            }
        )
        second = [(g * g).sum() for g in got if g is not None and g.requires_grad]
        if second:
            sum(second).backward()
            states.append({"grads": _grads(params)})
    elif prog.finish == "nonscalar":
        out = outs[-1]
        out.backward(gradient=torch.randn(out.shape, generator=gen))
        states.append({"grads": _grads(params)})
    elif prog.finish == "multi_root":
        torch.autograd.backward([loss, outs[0].sum()], grad_tensors=[None, torch.tensor(2.0)])
        states.append({"grads": _grads(params)})
    else:
        raise AssertionError(prog.finish)


def bit_equal(a: torch.Tensor | None, b: torch.Tensor | None) -> bool:
    """Same dtype, shape and bits (NaN payloads included)."""
    if a is None or b is None:
        return a is None and b is None
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if a.layout != torch.strided:
        a, b = a.to_dense(), b.to_dense()
    ints = {2: torch.int16, 4: torch.int32, 8: torch.int64}
    if a.is_floating_point() and a.element_size() in ints:
        return torch.equal(a.contiguous().view(ints[a.element_size()]), b.contiguous().view(ints[b.element_size()]))
    return torch.equal(a, b)


def flat_values(rec: dict) -> list[float] | None:
    """A record's values as a flat list of floats ('nan', 'inf' strings turned back), or None."""
    vals = rec.get("values")
    if vals is None:
        return None
    out: list[float] = []

    def walk(v: Any) -> None:
        if isinstance(v, list):
            for x in v:
                walk(x)
        else:
            out.append(float(v))

    walk(vals)
    return out
