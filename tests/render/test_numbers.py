"""Number and value-record formatting: 5 significant digits, summaries, health."""

from __future__ import annotations

from graphtrace.render import _numbers as N

from .synthetic import big, rec


def test_five_significant_digits():
    assert [N.num(x) for x in (21.384121, 0.14547, -1.3254, 147.0, 1.0, 1e-9, 123456789.0)] == [
        "21.384",
        "0.14547",
        "-1.3254",
        "147",
        "1",
        "1e-09",
        "1.2346e+08",
    ]
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


def test_full_precision_for_pages_and_tooltips_and_no_negative_zero():
    from .synthetic import f32

    assert N.full(f32(21.384121)) == "21.384121" and N.full(f32(0.1049936)) == "0.1049936"
    assert N.full(f32(0.1)) == "0.1" and N.full(147.0) == "147" and N.full(0.1, "float64") == "0.1"
    assert N.num(-0.0) == "0" and N.full(-0.0) == "0" and N.inline(rec([2.0, 0.0, -0.0])) == "[2, 0, 0]"
    assert N.inline(rec(f32(21.384121)), precise=True) == "21.384121" and N.inline(rec(f32(21.384121))) == "21.384"


def test_vectors_up_to_the_limit_element_by_element_cut_between_elements():
    relu = rec([0.0] * 5 + [1.0] * 5)
    assert N.elements(relu) == ["[0, 0, 0, 0, 0, 1, 1, 1, 1, 1]"]
    lines = N.elements(rec([float(i) / 3 for i in range(100)]))
    assert len(lines) == 8 and lines[-1].endswith(", … 36 more]")
    cells = [c.strip(" [],") for line in lines for c in line.replace("… 36 more", "").split(",")]
    assert [float(c) for c in cells if c] == [float(N.num(i / 3)) for i in range(64)]  # whole numbers only
    assert N.elements(big([100])) == []


def test_sums_add_up_element_by_element_and_summaries_never_pretend():
    lines, adds_up = N.sum_lines(
        [rec([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]), rec([3.0, 40.0] + [0.0] * 5)],
        rec([4.0, 42.0, 3.0, 4.0, 5.0, 6.0, 7.0]),
    )
    assert adds_up and lines == [
        "  [ 1,  2,  3,  4,  5,  6,  7]",
        "+ [ 3, 40,  0,  0,  0,  0,  0]",
        "= [ 4, 42,  3,  4,  5,  6,  7]",
    ]  # columns line up element by element
    assert N.sum_lines([rec([1.0, 2.0]), rec([3.0, 40.0])], rec([4.0, 42.0]))[0] == ["[1, 2] + [3, 40] = [4, 42]"]
    assert N.sum_lines([rec(2.0), rec(2.0)], rec(4.0)) == (["2 + 2 = 4"], True)
    lines, adds_up = N.sum_lines([big([21], 32.078), big([21], 98.848), big([21], 73.058)], big([21], 100.86))
    assert not adds_up and lines == ["3 contributions, norms 32.078, 98.848, 73.058", "sum [21] norm 100.86"]
    assert not any("+" in line or "=" in line for line in lines)


def test_a_local_derivative_from_a_jacobian_prints_at_its_tensors_precision():
    from .synthetic import f32

    local = dict(rec(f32(0.14547022)), dtype="float")  # capture/jacobian.py: plain numbers, dtype unknown
    assert N.factor(local, precise=True) == "×0.14547021687030792"
    assert N.factor(N.like(local, rec(f32(0.14547022))), precise=True) == "×0.14547022"


def test_a_shortened_list_of_numbers_is_cut_between_items_never_inside_a_number():
    from graphtrace.render._labels import esc

    text = esc("×[[4.3023], [2.5505], [0.64912], [-4.0091], [2.8459]]", 40)
    assert text == "×[[4.3023], … [2.8459]]"
    kept = [c.strip(" ×[]…") for c in text.split(",")]
    assert all(c in ("4.3023", "2.8459") for c in kept if c)
    assert esc("some/very/long/path/to/a/module/file.py:123", 30) == "some/very/long…ule/file.py:123"  # no list
