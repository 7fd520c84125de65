"""Whether two trees draw the same views: a hash of each view and of its DOT, for the options that matter.

    python bench/views_same.py --save /tmp/passes                        # bench/scale.py's shapes, pickled once
    PYTHONPATH=TREE_A python bench/views_same.py /tmp/passes/*.pkl > a.txt
    PYTHONPATH=TREE_B python bench/views_same.py /tmp/passes/*.pkl > b.txt
    diff a.txt b.txt                                                     # no output: every view the same

``--save DIR`` captures seq, chain and fanin (bench/scale.py) at ``--sizes`` (default 1000,10000,30000)
under ``graphtrace.trace()`` and pickles each pass's graph, so both trees read the very same graph.
Then one line per (pass, option set): nodes shown, a hash of the view (its graph attributes, nodes
and edges with their attributes, in order) and a hash of its DOT (``to_dot`` of that view). Option
sets: the auto view, fold=True, depth=1, depth=2 fold=False, fold=False, budget=50, budget=2000,
expand=("0",), depth=1 with a module not in the pass, fold=True budget=10**9.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import pickle
import sys
from pathlib import Path
from typing import Any

OPTIONS: list[tuple[str, dict[str, Any]]] = [
    ("auto", {}),
    ("fold=True", {"fold": True}),
    ("depth=1", {"depth": 1}),
    ("depth=2,fold=False", {"depth": 2, "fold": False}),
    ("fold=False", {"fold": False}),
    ("budget=50", {"budget": 50}),
    ("budget=2000", {"budget": 2000}),
    ("expand=0", {"expand": ("0",)}),
    ("depth=1,expand=missing", {"depth": 1, "expand": ("nope.3",)}),
    ("fold=True,budget=1e9", {"fold": True, "budget": 10**9}),
]


def save(folder: Path, sizes: list[int]) -> None:
    """Capture bench/scale.py's shapes and pickle each pass's graph into ``folder``."""
    import torch

    import graphtrace

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import scale

    torch.set_num_threads(1)
    folder.mkdir(parents=True, exist_ok=True)
    for n in sizes:
        for shape in ("seq", "chain", "fanin"):
            loss, _ = scale.build(shape, n)
            with graphtrace.trace() as t:
                loss().backward()
            graph = t.passes[-1].graph
            (folder / f"{shape}-{n}.pkl").write_bytes(pickle.dumps(graph, protocol=pickle.HIGHEST_PROTOCOL))
            print(shape, n, graph.number_of_nodes(), flush=True)


def hashes(path: str) -> list[str]:
    """One line per option set: pass, options, nodes shown, hash of the view, hash of its DOT."""
    from graphtrace.render import to_dot, views

    with open(path, "rb") as f:
        graph = pickle.load(f)
    lines = []
    for name, opts in OPTIONS:
        view = views.apply(graph, **opts)
        h = hashlib.sha256(repr(view.graph).encode())
        for n, a in view.nodes(data=True):
            h.update(repr((n, a)).encode())
        for u, v, a in view.edges(data=True):
            h.update(repr((u, v, a)).encode())
        dot = hashlib.sha256(to_dot(graph, view=view).encode()).hexdigest()[:16]
        lines.append(f"{os.path.basename(path)} {name} {view.number_of_nodes()} {h.hexdigest()[:16]} {dot}")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("passes", nargs="*", help="pickled pass graphs (from --save)")
    ap.add_argument("--save", metavar="DIR", help="capture the shapes and pickle them into DIR")
    ap.add_argument("--sizes", default="1000,10000,30000")
    args = ap.parse_args()
    if args.save:
        save(Path(args.save), [int(s) for s in args.sizes.split(",")])
    for path in args.passes:
        print("\n".join(hashes(path)), flush=True)


if __name__ == "__main__":
    main()
