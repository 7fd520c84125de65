"""Number and value-record formatting: 5 significant digits, summaries, health."""

from __future__ import annotations

from graphtrace.render import _numbers as N

from .synthetic import big, rec


def test_five_significant_digits():
    assert [N.num(x) for x in (21.384121, 0.14547, -1.3254, 147.0, 1.0, 1e-9, 123456789.0)] == [
        "21.384", "0.14547", "-1.3254", "147", "1", "1e-09", "1.2346e+08"]
    assert [N.num(x) for x in ("nan", "-inf", "(1+2j)", 3, True)] == ["nan", "-inf", "(1+2j)", "3", "True"]


def test_inline_small_values_and_big_summaries():
    assert N.inline(rec([2.0, 3.2, -2.4])) == "[2, 3.2, -2.4]"
    assert N.inline(rec([[1.0, 2.0], [3.0, 4.0]])) == "[[1, 2], [3, 4]]"
    assert N.inline(None) == "None"
    assert N.inline(big([768, 768], norm=27.712345)) == "[768, 768] norm 27.712"
    assert N.inline(big([4, 4], nan=3)) == "[4, 4] norm 12.346 (3 nan)"


def test_stats_line():
    expected = "norm 12.346 · min -0.51235 · max 0.49877 · mean 1.2346e-05 · 1 nan · 2 inf"
    assert N.stats(big([8], nan=1, inf=2)) == expected
    assert N.stats(big([8]), brief=True) == "norm 12.346"


def test_health():
    assert N.health(rec([float("nan"), 1.0])) == "nan"
    assert N.health(rec([float("inf")])) == "inf"
    assert N.health(rec([0.0, 0.0])) == "zero"
    assert N.health(big([9], norm=0.0)) == "zero"
    assert N.health(big([9])) == "ok"
    assert N.health(None) is None
    assert N.worst(["ok", "zero", None, "nan"]) == "nan"


def test_local_factor():
    assert N.factor(rec(147.0)) == "×147"
    assert N.factor(rec([2.0, 2.0])) == "×2"
    assert N.factor(rec([1.0, 0.5])) == "×[1, 0.5]"
    assert N.factor(big([100])) == ""
    assert N.factor(None) == ""
