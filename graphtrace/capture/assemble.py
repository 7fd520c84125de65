"""A recorded pass turned into its plain-data graph: nodes, edges and the pass's attributes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from .._types import Graph, new_graph
from ..model import Pass
from .jacobian import local_from_jacobian
from .nested import join
from .owners import modules_of, qualify
from .walk import structure_hash

if TYPE_CHECKING:
    from .recorder import PassRecorder


def to_pass(rec: PassRecorder, input_ids: list[int], error: BaseException | None) -> Pass:
    """The recorded pass as a networkx graph of plain data, with the pass's own attributes."""
    prefixed = qualify(rec.nodes, rec.owners, rec.pass_info.get("prefixed") or ())
    graph = new_graph()  # NOTE [networkx on first use]
    for nid, found in rec.watch.found.items():  # only where a user's hook changed a gradient
        if nid in rec.nodes:
            rec.nodes[nid]["hooks"] = found
    graph.add_nodes_from((nid, rec.nodes[nid]) for nid in sorted(rec.nodes))  # one call: 40% less
    for (u, v), edge in rec.sk.edges.items():
        edge.setdefault("grad", None)
        edge.setdefault("local", None)
        jac = rec.jacobians.get((u, v))
        edge["jacobian"] = jac
        if jac is not None:
            try:
                local = local_from_jacobian(jac, rec.nodes[v]["shape"])
            except Exception as exc:  # see _pre_hook: the user's call already returned
                local = None
                rec.problems.append(f"local of edge {u}->{v}: {exc!r}")
            if local is not None:
                edge["local"] = local
        edge["input_nr"] = edge["input_nrs"][0]
        names = rec.slot_inputs.get(u)
        edge["inputs"] = [names[s] for s in edge["slots"]] if names else []
    graph.add_edges_from((u, v, edge) for (u, v), edge in rec.sk.edges.items())
    join(graph, rec.nested)
    pass_info = rec.pass_info
    graph.graph.update(
        index=pass_info["index"],
        kind=pass_info["kind"],
        api=pass_info["api"],
        call_site=pass_info["call_site"],
        caller=pass_info.get("caller", ""),
        roots=list(range(len(rec.sk.roots))),
        inputs=input_ids,
        retain_graph=bool(pass_info.get("retain_graph")),
        create_graph=bool(pass_info.get("create_graph")),
        steps=rec.step,
        value_limit=rec.limit,
        error=one_line(error),
        capture_error="; ".join(rec.problems[:3]),
        signature=structure_hash_of(graph) if rec.nested else plain_hash(rec.nodes, rec.sk.edges),
        torch_version=torch.__version__.split("+")[0],
        modules=modules_of(graph, pass_info.get("modules") or {}, prefixed),
    )
    if rec.ranks is not None:  # only under torch.distributed, so other passes keep their bytes
        graph.graph.update(rank=rec.ranks[0], world_size=rec.ranks[1])
    return Pass(graph)


def one_line(error: BaseException | None) -> str:
    if error is None:
        return ""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}".rstrip(": ")


def structure_hash_of(graph: Graph) -> str:
    """The graph's signature (NOTE [graph signature] in walk.py), equal for passes of the same shape."""
    shape = [[n, a["op"], a["shape"]] for n, a in graph.nodes(data=True)]
    edges = [[u, v, a["slots"]] for u, v, a in graph.edges(data=True)]
    return structure_hash(shape, edges)


def plain_hash(nodes: dict[int, dict[str, Any]], edges: dict[tuple[int, int], dict[str, Any]]) -> str:
    """``structure_hash_of`` of the graph a pass without nested passes becomes, from its plain data.

    The graph lists nodes in id order and edges by source id, each source's in insertion
    order: the order of ``edges`` (NOTE [node order] in walk.py), so the bytes hashed are the same.
    """
    shape = [[n, nodes[n]["op"], nodes[n]["shape"]] for n in sorted(nodes)]
    return structure_hash(shape, [[u, v, a["slots"]] for (u, v), a in edges.items()])
