"""Owner prefixes on parameter names and module paths (NOTE [owners], NOTE [owners while lean])."""

from __future__ import annotations

from typing import Any

from graphtrace.capture.owners import Prefixes, qualify


def _nodes() -> dict[int, dict[str, Any]]:
    """A parameter of ``net``, an op in its module ``0`` and the op of a loss module ``crit``."""
    return {
        1: {"param": "0.weight", "module": "", "module_class": ""},
        2: {"param": "", "module": "0", "module_class": "Linear"},
        3: {"param": "", "module": "", "module_class": "MSELoss"},
    }


def test_one_owner_keeps_its_names_and_two_prefix_them_all() -> None:
    alone = _nodes()
    assert not qualify(alone, {1: "net", 2: "net"})
    assert alone == _nodes()
    both = _nodes()
    assert qualify(both, {1: "net", 2: "net", 3: "crit"})
    assert [both[n]["param"] or both[n]["module"] for n in (1, 2, 3)] == ["net.0.weight", "net.0", "crit"]


def test_an_owner_prefixed_before_is_prefixed_when_its_partners_are_not_seen() -> None:
    lean = _nodes()
    assert qualify(lean, {1: "net"}, prefixed=["net"])  # crit's op untagged: only net is seen
    assert lean[1]["param"] == "net.0.weight"
    other = _nodes()
    assert not qualify(other, {1: "net"}, prefixed=["G"])
    assert other[1]["param"] == "0.weight"


def test_prefixes_remember_the_latest_recorded_pass_of_each_owner() -> None:
    prefixes = Prefixes()
    assert prefixes.prefixed() == []
    prefixes.learn({1: "net", 3: "crit"})
    assert prefixes.prefixed() == ["crit", "net"]
    prefixes.learn({1: "net"})  # net alone later: its names were not prefixed then
    assert prefixes.prefixed() == ["crit"]
    prefixes.learn({})
    assert prefixes.prefixed() == ["crit"]
