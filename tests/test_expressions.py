"""Expressions the engine evaluates itself: filters (`ds.filter(col("t") > 0)`) and expressions
over aggregates (`agg(spread=col("v").max() - col("v").min())`), against pyarrow.compute."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import squall
from squall import col, lit


def table(n: int = 20_000) -> pa.Table:
    rng = np.random.default_rng(21)
    return pa.table(
        {
            "k": pa.array(rng.integers(0, 50, n)),
            "t": pa.array(rng.standard_normal(n), mask=rng.random(n) < 0.05),
            "i": pa.array(rng.integers(-5, 5, n)),
            "s": pa.array(
                np.array(["north", "south", "east"], dtype=object)[rng.integers(0, 3, n)]
            ),
        }
    )


def test_filters_match_pyarrow_and_run_without_python(
    session: squall.Session, tmp_path: str, capsys: pytest.CaptureFixture[str]
) -> None:
    t = table()
    session.from_arrow(t, 4).write_parquet(f"file://{tmp_path}/in")
    ds = session.read_parquet(f"file://{tmp_path}/in")
    cases = [
        (col("t") > 0, pc.greater(t["t"], 0)),
        (
            (col("t") > 0.5) | (col("s") == "east"),
            pc.or_kleene(pc.greater(t["t"], 0.5), pc.equal(t["s"], "east")),
        ),
        (
            ~col("t").is_null() & (col("i") * 2 + 1 >= 3),
            pc.and_kleene(
                pc.is_valid(t["t"]), pc.greater_equal(pc.add(pc.multiply(t["i"], 2), 1), 3)
            ),
        ),
        (col("i") / 2 == 1.5, pc.equal(pc.divide(pc.cast(t["i"], pa.float64()), 2), 1.5)),
        (1 - col("i") < lit(0), pc.less(pc.subtract(1, t["i"]), 0)),
    ]
    for expr, mask in cases:
        want = t.filter(pc.fill_null(mask, False))
        got = ds.filter(expr).collect()
        assert got.num_rows == want.num_rows, expr
        assert got.sort_by([("k", "ascending"), ("t", "ascending"), ("i", "ascending")]).equals(
            want.sort_by([("k", "ascending"), ("t", "ascending"), ("i", "ascending")])
        ), expr
    ds.filter(col("t") > 0).groupby("k").agg(n=("t", "count")).explain()
    out = capsys.readouterr().out
    assert "filter((t > 0))" in out and "[Python]" not in out
    assert "only columns k, t" in out  # the filter's column is read, and nothing else


def test_expressions_over_aggregates_match_pyarrow(session: squall.Session) -> None:
    t = table()
    got = (
        session.from_arrow(t, 4)
        .groupby("k", num_partitions=3)
        .agg(
            n=("t", "count"),
            spread=col("t").max() - col("t").min(),
            share=col("i").sum() / col("i").count(),
            hi=col("t").max(),
            mid=(col("t").quantile(0.75) + col("t").quantile(0.25)) / 2,
        )
        .sort("k")
        .collect()
    )
    assert got.column_names == ["k", "n", "spread", "share", "hi", "mid"]
    want = (
        t.group_by("k")
        .aggregate([("t", "count"), ("t", "max"), ("t", "min"), ("i", "sum"), ("i", "count")])
        .sort_by("k")
    )
    np.testing.assert_allclose(got["spread"], pc.subtract(want["t_max"], want["t_min"]))
    np.testing.assert_allclose(
        got["share"], pc.divide(pc.cast(want["i_sum"], pa.float64()), want["i_count"])
    )
    assert got["hi"].equals(want["t_max"]) and got["n"].equals(want["t_count"])
    for key, mid in zip(got["k"].to_pylist(), got["mid"].to_pylist(), strict=True):
        values = [v for v in t.filter(pc.equal(t["k"], key))["t"].to_pylist() if v is not None]
        q1, q3 = np.quantile(values, [0.25, 0.75])
        assert mid == pytest.approx((q1 + q3) / 2)


def test_wrong_expressions_are_clear_errors(session: squall.Session) -> None:
    ds = session.from_arrow(table(100), 2)
    with pytest.raises(TypeError, match="combine conditions with & and"):
        ds.filter((col("t") > 0) and (col("i") > 0))
    with pytest.raises(TypeError, match="aggregates belong in groupby"):
        ds.filter(col("t").max() > 0)
    with pytest.raises(TypeError, match="is over aggregates"):
        ds.groupby("k").agg(x=col("t") + 1)
    with pytest.raises(TypeError, match=r"aggregates a column, as col\('v'\).max\(\)"):
        (col("t") + 1).max()
    with pytest.raises(TypeError, match="not list"):
        ds.filter(col("t") > [1])
    with pytest.raises(squall.PlanError, match=r"\(s \+ 1\).*do not mix"):
        ds.filter(col("s") + 1 > 0).collect()
    with pytest.raises(squall.PlanError, match='filter\\(\\): no column named "nope"'):
        ds.filter(col("nope") > 0)


def test_remainders_floor_division_negation_abs_and_is_in_match_numpy(
    session: squall.Session, tmp_path: str
) -> None:
    t = table()
    session.from_arrow(t, 4).write_parquet(f"file://{tmp_path}/in")
    ds = session.read_parquet(f"file://{tmp_path}/in")
    i, k, s = t["i"].to_numpy(), t["k"].to_numpy(), t["s"].to_numpy(zero_copy_only=False)
    v = t["t"].to_numpy(zero_copy_only=False)  # nulls as NaN: a comparison with one is false
    with np.errstate(invalid="ignore"):
        cases = [
            (col("i") % 3 == 1, np.mod(i, 3) == 1),
            (col("i") % -3 == -1, np.mod(i, -3) == -1),
            (7 % (col("k") + 1) == 0, np.mod(7, k + 1) == 0),
            (col("t") % 0.5 > 0.25, np.mod(v, 0.5) > 0.25),
            (col("t") % -0.5 < -0.25, np.mod(v, -0.5) < -0.25),
            (col("i") // 3 == -1, np.floor_divide(i, 3) == -1),
            (col("i") // -4 == 1, np.floor_divide(i, -4) == 1),
            (100 // (col("k") + 1) == 3, np.floor_divide(100, k + 1) == 3),
            (col("t") // 0.1 == -3, np.floor_divide(v, 0.1) == -3),
            (col("t") // -0.25 >= 2, np.floor_divide(v, -0.25) >= 2),
            (abs(col("i")) > 3, np.abs(i) > 3),
            (col("t").abs() < 0.5, np.abs(v) < 0.5),
            (-col("i") > 2, -i > 2),
            (-(col("t") * 2) >= 1, -(v * 2) >= 1),
            (col("k").is_in([1, 7, 49, 100]), np.isin(k, [1, 7, 49, 100])),
            (col("k").is_in(np.array([3, 4], dtype=np.int32)), np.isin(k, [3, 4])),
            (col("k").is_in([2.0, 2.5]), k == 2),
            (col("s").is_in({"east", "west"}), s == "east"),
            (col("s").is_in(pa.array(["north"])), s == "north"),
            (~col("t").is_in([]), ~np.isnan(v)),
            (col("k") > np.int64(45), k > 45),
        ]
    for expr, mask in cases:
        want = t.filter(pa.array(mask))
        got = ds.filter(expr).collect()
        by = [("k", "ascending"), ("t", "ascending"), ("i", "ascending")]
        assert got.sort_by(by).equals(want.sort_by(by)), expr
    got = ds.groupby("k").agg(
        neg=-col("t").max(),
        m=col("i").sum() % 7,
        d=col("i").sum() // -7,
        a=abs(col("t").min()),
    )
    got = got.collect().sort_by("k")
    frame = t.to_pandas().groupby("k")
    assert got["neg"].to_pylist() == (-frame["t"].max()).tolist()
    assert got["m"].to_pylist() == [int(x) % 7 for x in frame["i"].sum()]
    assert got["d"].to_pylist() == [int(x) // -7 for x in frame["i"].sum()]
    assert got["a"].to_pylist() == frame["t"].min().abs().tolist()
    with pytest.raises(ValueError, match=r"is_in\(\.\.\.\) was given None"):
        col("k").is_in([1, None])
    with pytest.raises(TypeError, match="collection of values"):
        col("s").is_in("east")
    with pytest.raises(squall.PlanError, match=r"s\.is_in\(\[1\]\).*do not mix"):
        ds.filter(col("s").is_in([1])).collect()
    with pytest.raises(squall.PlanError, match=r"\(i % 0\).*zero"):
        ds.filter(col("i") % 0 == 1).collect()
    with pytest.raises(squall.PlanError, match=r"\(i // 0\).*zero"):
        ds.filter(col("i") // 0 == 1).collect()


def test_a_filter_after_a_read_skips_row_groups_its_statistics_rule_out(
    session: squall.Session, root: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file of 20 row groups ordered by id: a filter on id (or on the station, a string
    whose values change with id) fetches the few row groups that may match, and gives
    pyarrow's rows; a float column is pruned only by equality, so its NaN rows (above every
    number here) still pass `> 5`."""
    import io

    n = 40_000
    rng = np.random.default_rng(5)
    f = rng.standard_normal(n)
    f[::1000] = np.nan
    t = pa.table(
        {
            "id": np.arange(n),
            "station": pa.array([f"s{i // 2000:03d}" for i in range(n)]),
            "f": f,
            "blob": pa.array([rng.bytes(50) for _ in range(n)]),
        }
    )
    sink = io.BytesIO()
    pq.write_table(t, sink, row_group_size=n // 20)
    url = f"{root}/sorted.parquet"
    squall._native.write_bytes(url, sink.getvalue())
    size = len(sink.getvalue())
    with squall.Session(workers=2, target_partition_bytes=1 << 30) as s:
        ds = s.read_parquet(url)
        for expr, mask, fraction in [
            (col("id") >= 38_500, pc.greater_equal(t["id"], 38_500), 0.1),
            (
                (col("station") == "s003") | (col("id") < 10),
                pc.or_(pc.equal(t["station"], "s003"), pc.less(t["id"], 10)),
                0.15,
            ),
            (col("f") > 5, pc.or_(pc.greater(t["f"], 5), pc.is_nan(t["f"])), 1.0),
            (
                col("station").is_in(["s001", "s019", "nowhere"]),
                pc.is_in(t["station"], pa.array(["s001", "s019"])),
                0.15,
            ),
        ]:
            got, want = ds.filter(expr).collect(), t.filter(mask)
            assert got.drop_columns("f").equals(want.drop_columns("f")), expr
            np.testing.assert_array_equal(got["f"], want["f"])  # NaN equals NaN here
            stats = s.last_job.stats.to_pandas()
            assert stats["bytes_read"].sum() <= fraction * size + 2 * 64 * 1024, (
                expr,
                stats["bytes_read"].sum(),
                size,
            )
        ds.filter(col("id") > 5).explain()
        assert "skipping row groups whose statistics rule out the filter" in capsys.readouterr().out


def test_pyarrow_expressions_keep_the_rows_pyarrow_keeps(
    session: squall.Session, tmp_path: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`ds.filter(pc.field(...) ...)`: the engine evaluates what it can as pyarrow does (floats
    by IEEE 754: NaN matches nothing, -0.0 equals 0.0; nulls three-valued, also under `~`) and
    prunes row groups by it; pyarrow evaluates the rest. The oracle is pyarrow's own filter."""
    import io

    n = 20_000
    rng = np.random.default_rng(9)
    x = rng.standard_normal(n).round(1)
    x[::97], x[::89], x[::83] = np.nan, -0.0, 0.0
    t = pa.table(
        {
            "id": np.arange(n),
            "x": pa.array(x, mask=rng.random(n) < 0.05),
            "i": pa.array(rng.integers(-5, 5, n).astype(np.int32), mask=rng.random(n) < 0.05),
            "s": pa.array(
                np.array(["north", "south", "east"], dtype=object)[rng.integers(0, 3, n)],
                mask=rng.random(n) < 0.05,
            ),
            "b": pa.array(rng.random(n) < 0.5, mask=rng.random(n) < 0.05),
        }
    )
    sink = io.BytesIO()
    pq.write_table(t, sink, row_group_size=n // 10)
    url = f"file://{tmp_path}/arrow-expr.parquet"
    squall._native.write_bytes(url, sink.getvalue())
    ds = session.read_parquet(url)
    x_, i_, s_ = pc.field("x"), pc.field("i"), pc.field("s")
    engine = [
        x_ > 0,
        x_ == 0,
        x_ != 0.5,
        ~(x_ < 1),
        x_ <= i_,
        (i_ >= 2) & ~(s_ == "east"),
        x_.is_valid() | (i_ < 0),
        i_.is_null() | pc.field("b"),
        pc.field("id") >= n - 1500,
    ]
    by_pyarrow = [s_.isin(["north", "east"]), x_.is_null(nan_is_null=True), i_ + 1 > 3]
    for expr, pushed in [(e, True) for e in engine] + [(e, False) for e in by_pyarrow]:
        got = ds.filter(expr).collect()
        want = t.filter(expr)
        assert sorted(got["id"].to_pylist()) == sorted(want["id"].to_pylist()), expr
        ds.filter(expr).explain()
        shown = capsys.readouterr().out
        assert ("[Python]" in shown) != pushed, (expr, shown)
    # Right after the read, the engine's filter fetches the row groups that may match (and
    # each task's read of the footer, 64 KB at most).
    ds.filter(pc.field("id") >= n - 1500).collect()
    stats = session.last_job.stats.to_pandas()
    assert stats["bytes_read"].sum() <= 0.1 * len(sink.getvalue()) + len(stats) * 64 * 1024


def test_unsigned_64_bit_values_filter_exactly(session: squall.Session) -> None:
    """Values above 2^63 compare exactly (they once became nulls, dropping rows silently), and
    arithmetic that overflows is an error naming the expression."""
    u, i = [2**64 - 1, 5, None, 2**63], [1, 2, 3, -4]
    ds = session.from_arrow(pa.table({"u": pa.array(u, pa.uint64()), "i": i}), 2)
    # Plain Python is the oracle: pyarrow itself refuses these comparisons (it casts to int64).
    for expr, keep in [
        (col("u") > 5, lambda u, i: u > 5),
        (col("u") >= col("i"), lambda u, i: u >= i),
        (pc.field("u") != 5, lambda u, i: u != 5),
    ]:
        got = ds.filter(expr).collect()["u"].to_pylist()
        assert sorted(got) == sorted(
            a for a, b in zip(u, i, strict=True) if a is not None and keep(a, b)
        ), expr
    with pytest.raises(squall.SquallError, match=r"\(u \+ 1\)"):
        ds.filter(col("u") + 1 > 0).collect()


def test_decimals_compare_and_sum_exactly(session: squall.Session) -> None:
    """Decimals of 38 digits (as Spark writes them) compare and sum exactly: as floats,
    1.000000000000000001 equals 1.000000000000000002 and ten times 0.10 is not 1.00. An
    integer sum past int64 is an error naming the column, never a wrapped value."""
    from decimal import Decimal

    d = pa.decimal128(38, 18)
    a = [Decimal("1.000000000000000001"), Decimal("0.1"), None, Decimal("12345678901234567890.5")]
    b = [Decimal("1.000000000000000002"), Decimal("0.1"), Decimal("3"), Decimal("0")]
    i = [1, 0, 3, 12345678901234567]
    t = pa.table({"k": [1, 2, 1, 2], "a": pa.array(a, d), "b": pa.array(b, d), "i": i})
    ds = session.from_arrow(t, 2)
    rows = list(zip(a, b, i, strict=True))
    for expr, keep in [
        (col("a") == col("b"), lambda a, b, i: a == b),
        (col("a") < col("b"), lambda a, b, i: a < b),
        (col("a") > col("i"), lambda a, b, i: a > i),
        (col("a") >= 1, lambda a, b, i: a >= 1),
    ]:
        got = ds.filter(expr).collect()["a"].to_pylist()
        want = [r[0] for r in rows if None not in r and keep(*r)]
        assert sorted(got) == sorted(want), expr
    tenths = pa.table({"k": [1] * 10, "v": pa.array([Decimal("0.10")] * 10, d)})
    tenths = session.from_arrow(tenths, 3)
    got = tenths.groupby("k").agg(s=("v", "sum")).collect()
    assert got["s"].type == d and got["s"].to_pylist() == [Decimal("1.00")]
    sums = ds.groupby("k").agg(s=("a", "sum")).collect().sort_by("k")
    assert sums["s"].to_pylist() == [a[0], a[1] + a[3]]
    big = session.from_arrow(pa.table({"k": [1, 1], "v": [2**62, 2**62]}), 2)
    with pytest.raises(squall.SquallError, match=r'sum of "v".*does not fit int64'):
        big.groupby("k").agg(s=("v", "sum")).collect()


def test_expressions_reach_worker_processes_with_any_float(tmp_path: str) -> None:
    """A plan crosses to worker processes as JSON, which has no infinity or NaN."""
    t = pa.table({"t": [1.0, float("inf"), 3.0, float("-inf")], "k": [1, 1, 2, 2]})
    with squall.Session(in_process=False, workers=2) as s:
        ds = s.from_arrow(t, 2)
        assert ds.filter(col("t") < float("inf")).collect()["t"].to_pylist() == [
            1.0,
            3.0,
            float("-inf"),
        ]
        assert ds.filter(col("t") == float("nan")).count() == 0
        spread = ds.groupby("k").agg(x=col("t").max() - 1.5).sort("k").collect()
        assert spread["x"].to_pylist() == [float("inf"), 1.5]
