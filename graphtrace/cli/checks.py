"""What ``graphtrace run --check`` says after its summary: how many nodes failed the gradient check, and where."""

from __future__ import annotations

from collections.abc import Callable

from ..model import Pass

SHOWN = 10  # mismatches listed one per line; the rest are counted


class CheckReport:
    """Counts the gradient checks of the passes it sees and keeps where each mismatch is."""

    def __init__(self) -> None:
        self.counts = {"ok": 0, "mismatch": 0, "skipped": 0}
        self.mismatches: list[str] = []

    def tee(self, on_pass: Callable[[Pass], None]) -> Callable[[Pass], None]:
        """``on_pass`` that also counts the pass's checks (first, so a writer fault loses none)."""

        def both(p: Pass) -> None:
            self.add(p)
            on_pass(p)

        return both

    def add(self, p: Pass) -> None:
        for _, a in p.graph.nodes(data=True):
            check = a.get("check")
            if not isinstance(check, dict) or check.get("status") not in self.counts:
                continue
            self.counts[check["status"]] += 1
            if check["status"] == "mismatch":
                where = [
                    f"forward {a['source']}" if a.get("source") else "",
                    f"backward {a['backward_source']}" if a.get("backward_source") else "",
                ]
                self.mismatches.append(
                    f"{a.get('op')} in pass {p.index}: "
                    + ", ".join(w for w in where if w)
                    + f" (max error {check.get('max_abs_error'):.5g})"
                )

    def lines(self) -> list[str]:
        """One line of counts, then one per mismatch (as many as SHOWN)."""
        total = sum(self.counts.values())
        if not total:
            return ["gradient check: no node was small enough to check"]
        c = self.counts
        out = [f"gradient check: {c['mismatch']} of {total} nodes failed ({c['ok']} ok, {c['skipped']} skipped)"]
        out += [f"  mismatch: {m}" for m in self.mismatches[:SHOWN]]
        if len(self.mismatches) > SHOWN:
            out.append(f"  and {len(self.mismatches) - SHOWN} more mismatches (see the passes' JSON, 'check')")
        return out
