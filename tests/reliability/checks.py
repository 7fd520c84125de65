"""Consistency checks of a recorded pass against torch's numbers (used by the fuzz tests)."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import torch

from .programs import flat_values

HOOK_FACTOR = {"MarkBackward": 2.0}  # the fuzz programs' tensor hooks double the gradient


def record_matches(rec: dict | None, t: torch.Tensor | None) -> None:
    """A value record describes ``t`` exactly (values) or by its summary (norm, min, max)."""
    if t is None:
        assert rec is None, f"expected no gradient, recorded {rec}"
        return
    assert rec is not None, f"gradient {t} not recorded"
    assert rec["shape"] == list(t.shape)
    vals = flat_values(rec)
    ref = t.detach().double().reshape(-1)
    if vals is not None:
        got = torch.tensor(vals, dtype=torch.float64)
        same = (got == ref) | (got.isnan() & ref.isnan())
        assert bool(same.all()), f"recorded {vals} but torch has {ref.tolist()}"
        return
    # min and max are exact; the norm is reduced in float32 (NOTE [summary cost])
    for key, want, tol in (("norm", ref.norm(), 1e-6), ("min", ref.min(), 0), ("max", ref.max(), 0)):
        got_k, want_k = float(rec[key]), float(want)
        assert (
            got_k == want_k
            or math.isclose(got_k, want_k, rel_tol=tol, abs_tol=tol * 1e-3)
            or (math.isnan(got_k) and math.isnan(want_k))
        ), f"{key}: recorded {got_k}, torch {want_k}"


def check_leaves(g: Any, state: dict, before: list, input_params: list[int]) -> int:
    """grad_after is torch's .grad; grad_after = grad_before + grad_in; returned grads match."""
    checked = 0
    ran = set()
    kind = g.graph["kind"]
    for _nid, a in g.nodes(data=True):
        if a["kind"] != "leaf" or a["param"] == "":
            continue
        idx = int(a["param"])
        record_matches(a["grad_before"], before[idx])
        if a["step"] is None:
            continue
        ran.add(idx)
        if kind == "grad":
            assert a["grad_after"] is None  # autograd.grad leaves .grad alone
            continue
        record_matches(a["grad_after"], state["grads"][idx])
        checked += 1
        inc, after = a["grad_in"][0], flat_values(a["grad_after"]) if a["grad_after"] else None
        if inc is not None and after is not None and flat_values(inc) is not None:
            base = flat_values(a["grad_before"]) if a["grad_before"] else [0.0] * len(after)
            if base is not None:
                for b, i, f in zip(base, flat_values(inc), after):
                    assert math.isclose(b + i, f, rel_tol=1e-6, abs_tol=1e-6) or not math.isfinite(f)
    if kind == "backward":  # every .grad that changed belongs to a leaf node that ran
        for idx, (old, new) in enumerate(zip(before, state["grads"])):
            changed = (old is None) != (new is None) or (old is not None and not torch.equal(old, new))
            if changed:
                assert idx in ran, f"parameter {idx}'s .grad changed but its leaf node did not run"
    if "returned" in state:
        by_param = {int(g.nodes[n]["param"]): n for n in g.graph["inputs"] if g.nodes[n]["param"]}
        for pos, idx in enumerate(input_params):
            ret = state["returned"][pos]
            if idx in by_param:
                record_matches(g.nodes[by_param[idx]]["returned_grad"], ret)
                checked += 1
            else:
                assert ret is None, f"input {idx} got a gradient but is not among the pass's inputs"
    return checked


def _close(total: list[float], target: list[float], scale: list[float]) -> bool:
    return all(
        not (math.isfinite(s) and math.isfinite(t)) or abs(s - t) <= 1e-5 * m + 1e-6
        for s, t, m in zip(total, target, scale)
    )


def _torch_increment(state: dict | None, before: list | None, idx: int) -> list[float] | None:
    """What torch added to parameter ``idx``'s .grad in this pass, in float64."""
    if state is None or before is None or state["grads"][idx] is None:
        return None
    new = state["grads"][idx].detach().double().reshape(-1)
    old = before[idx].detach().double().reshape(-1) if before[idx] is not None else torch.zeros_like(new)
    return (new - old).tolist()


def check_contributions(g: Any, state: dict | None = None, before: list | None = None) -> int:
    """At every node that ran, the in-edge gradients add up to the node's grad_in; given torch's
    .grad before and after the pass (``before``, ``state``), at every parameter leaf of a backward
    pass they add up to what torch itself added to .grad (the outside reference)."""
    checked = 0
    for v, a in g.nodes(data=True):
        if a["step"] is None or a["kind"] == "root":
            continue
        ins = list(g.in_edges(v, data=True))
        if not ins or any(len(set(e.get("input_nrs", [e["input_nr"]]))) > 1 for _, _, e in ins):
            continue
        by_nr: dict[int, list] = defaultdict(list)
        for _, _, e in ins:
            if e["grad"] is not None:
                by_nr[e["input_nr"]].append(e["grad"])
        factor = HOOK_FACTOR.get(a["op"], 1.0)
        for nr, recs in by_nr.items():
            target = a["grad_in"][nr]
            assert target is not None, f"node {v} ({a['op']}) got contributions but no grad_in[{nr}]"
            for r in recs:
                assert r["shape"] == target["shape"], f"node {v}: contribution {r['shape']} into {target['shape']}"
            parts = [flat_values(r) for r in recs]
            want = flat_values(target)
            if want is not None and all(p is not None for p in parts):
                total = [factor * sum(col) for col in zip(*parts)] if parts[0] else []
                scale = [factor * sum(abs(x) for x in col) for col in zip(*parts)] if parts[0] else []
                assert len(total) == len(want)
                assert _close(total, want, scale), f"node {v} ({a['op']}): {parts} sum to {total}, grad_in {want}"
                if a["kind"] == "leaf" and a["param"] != "" and g.graph["kind"] == "backward":
                    added = _torch_increment(state, before, int(a["param"]))
                    if added is not None:
                        room = [s + abs(x) for s, x in zip(scale, flat_values(a["grad_after"]) or [0.0] * len(scale))]
                        assert _close(total, added, room), f"leaf {v}: {parts} sum to {total}, torch added {added}"
            else:  # summaries: the triangle inequality, equality for a single contribution
                norms = [float(r["norm"]) for r in recs]
                got = float(target["norm"])
                if all(math.isfinite(x) for x in [*norms, got]):
                    assert got <= factor * sum(norms) * (1 + 1e-5) + 1e-6
                    if len(recs) == 1:
                        assert math.isclose(got, factor * norms[0], rel_tol=1e-5, abs_tol=1e-6)
            checked += 1
    return checked


# elementwise ops whose local derivative a finite difference in float64 can check, from the input
# value: recorded values that do not give the recorded output (changed in place later) are skipped
_ELEMENTWISE = {
    "SinBackward0": torch.sin,
    "NegBackward0": torch.neg,
    "TanhBackward0": torch.tanh,
    "SigmoidBackward0": torch.sigmoid,
    "ReluBackward0": torch.relu,
    "AbsBackward0": torch.abs,
}


def _finite_difference(g: Any, u: Any, v: Any, rows: list[list[float]]) -> bool:
    """The recorded J of an elementwise op against (f(x + h) - f(x - h)) / 2h at the recorded input."""
    f, a, b = _ELEMENTWISE.get(g.nodes[u]["op"]), g.nodes[u], g.nodes[v]
    if f is None or a["value"] is None or b["value"] is None or b["outputs"] != 1 or a["shape"] != b["shape"]:
        return False
    x, y = flat_values(b["value"]), flat_values(a["value"])
    if x is None or y is None or not all(math.isfinite(t) for t in x):
        return False
    x64 = torch.tensor(x, dtype=torch.float64)
    if not torch.allclose(f(x64), torch.tensor(y, dtype=torch.float64), rtol=1e-5, atol=1e-6):
        return False
    h = 1e-6
    fd = ((f(x64 + h) - f(x64 - h)) / (2 * h)).tolist()
    for i, row in enumerate(rows):
        for j, got in enumerate(row):
            if i != j:
                assert got == 0, f"edge {u}->{v} ({a['op']}): J[{i}][{j}] = {got}, elementwise"
            elif abs(x[i]) > 1e-3 or a["op"] not in ("ReluBackward0", "AbsBackward0"):  # kinks at 0
                assert math.isclose(got, fd[i], rel_tol=1e-5, abs_tol=1e-6), (
                    f"edge {u}->{v} ({a['op']}): J[{i}][{i}] = {got}, finite difference {fd[i]} at {x[i]}"
                )
    return True


def check_jacobians(g: Any) -> int:
    """Edge grad = (source node's grad_in[0]) @ J, for every edge with a recorded Jacobian; J of
    elementwise ops against a finite difference in float64 (the outside reference)."""
    checked = 0
    for u, v, e in g.edges(data=True):
        jac = e.get("jacobian")
        if jac is None or e["grad"] is None or g.nodes[u]["grad_in"][0] is None:
            continue
        gu, ge = flat_values(g.nodes[u]["grad_in"][0]), flat_values(e["grad"])
        if gu is None or ge is None:
            continue
        assert len(jac) == len(gu) and all(len(row) == len(ge) for row in jac), f"edge {u}->{v}: J shape"
        rows = [[float(x) for x in row] for row in jac]
        want = [sum(gu[i] * rows[i][j] for i in range(len(gu))) for j in range(len(ge))]
        scale = [sum(abs(gu[i] * rows[i][j]) for i in range(len(gu))) for j in range(len(ge))]
        assert _close(want, ge, scale), f"edge {u}->{v} ({g.nodes[u]['op']}): grad_in @ J = {want}, grad {ge}"
        _finite_difference(g, u, v, rows)
        checked += 1
    return checked
