"""The aggregations beyond the sums and means: median, quantile (exact and approximate), top_k,
bottom_k, corr, cov, any, all and n_unique, against numpy and plain Python per group, with
nulls, NaN, one-row groups, all-null groups, through every path a group-by takes (states merged
on the map side, rows sent when keys barely repeat, many reducers)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import squall


def data(n: int, groups: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    k = rng.integers(0, groups, n)
    v = rng.standard_normal(n).round(3)  # ties, so that order among equal values is tested
    w = v * 0.5 + rng.standard_normal(n)
    ok = rng.random(n) < 0.3
    t = pa.table(
        {
            "k": pa.array(k),
            "v": pa.array(v, mask=rng.random(n) < 0.1),
            "w": pa.array(w, mask=rng.random(n) < 0.1),
            "i": pa.array(rng.integers(-50, 50, n), mask=rng.random(n) < 0.1),
            "s": pa.array([f"w{x}" for x in rng.integers(0, 30, n)]),
            "ok": pa.array(ok, mask=rng.random(n) < 0.1),
        }
    )
    # A group whose values are all null, and a group of one row.
    extra = pa.table(
        {
            "k": pa.array([-1, -1, -2]),
            "v": pa.array([None, None, 4.5], pa.float64()),
            "w": pa.array([None, 1.0, 2.0], pa.float64()),
            "i": pa.array([None, None, 7], pa.int64()),
            "s": pa.array(["a", "b", "c"]),
            "ok": pa.array([None, None, True], pa.bool_()),
        }
    )
    return pa.concat_tables([t, extra])


def per_group(t: pa.Table, column: str) -> dict[int, list]:
    out: dict[int, list] = {}
    for k, v in zip(t["k"].to_pylist(), t[column].to_pylist(), strict=True):
        out.setdefault(k, [])
        if v is not None:
            out[k].append(v)
    return out


def pairs(t: pa.Table, x: str, y: str) -> dict[int, list[tuple[float, float]]]:
    out: dict[int, list[tuple[float, float]]] = {}
    for k, a, b in zip(t["k"].to_pylist(), t[x].to_pylist(), t[y].to_pylist(), strict=True):
        out.setdefault(k, [])
        if a is not None and b is not None:
            out[k].append((a, b))
    return out


def close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9) or (math.isnan(a) and math.isnan(b))


AGGS = {
    "med": ("v", "median"),
    "p90": ("v", "quantile", 0.9),
    "p0": ("i", "quantile", 0),
    "top": ("v", "top_k", 2),
    "low": ("i", "bottom_k", 3),
    "stop": ("s", "top_k", 2),
    "r": (("v", "w"), "corr"),
    "c": (("v", "i"), "cov"),
    "some": ("ok", "any"),
    "every": ("ok", "all"),
    "nu": ("s", "n_unique"),
}


@pytest.mark.parametrize(
    ("groups", "partitions"),
    [(40, 1), (40, 4), (5_000, 3)],
    ids=["few groups, one reducer", "few groups, four reducers", "keys barely repeat"],
)
def test_aggregations_match_numpy_per_group(
    session: squall.Session, groups: int, partitions: int
) -> None:
    t = data(12_000, groups, seed=groups + partitions)
    got = session.from_arrow(t, 4).groupby("k", num_partitions=partitions).agg(**AGGS).collect()
    assert got.num_rows == len(set(t["k"].to_pylist()))
    rows = {r["k"]: r for r in got.to_pylist()}
    v, i, s, ok = (per_group(t, c) for c in ("v", "i", "s", "ok"))
    vw, vi = pairs(t, "v", "w"), pairs(t, "v", "i")
    for k, r in rows.items():
        xs = v[k]
        assert close(r["med"], float(np.median(xs)) if xs else None), (k, r["med"])
        assert close(r["p90"], float(np.quantile(xs, 0.9)) if xs else None)
        assert close(r["p0"], float(min(i[k])) if i[k] else None)
        assert r["top"] == sorted(xs, reverse=True)[:2]
        assert r["low"] == sorted(i[k])[:3]
        assert r["stop"] == sorted(s[k], reverse=True)[:2]
        assert r["some"] is any(ok[k]) and r["every"] is all(ok[k])
        assert r["nu"] == len(set(s[k]))
        for name, got_pairs, corr in (("r", vw[k], True), ("c", vi[k], False)):
            if len(got_pairs) < 2:
                assert r[name] is None, (k, name, got_pairs)
                continue
            x, y = np.array(got_pairs, dtype=float).T
            want = np.corrcoef(x, y)[0, 1] if corr else np.cov(x, y, ddof=1)[0, 1]
            assert close(r[name], float(want)), (k, name, r[name], want)


def test_exact_quantiles_of_a_file_read_a_row_group_at_a_time(
    session: squall.Session, tmp_path: Path
) -> None:
    # Twelve row groups over a few map tasks: each sends its row groups' lists unmerged (a merge
    # would copy every value and shrink nothing), beside sums merged; the reducers join them.
    t = data(24_000, 7, seed=11)
    pq.write_table(t, tmp_path / "t.parquet", row_group_size=2_000)
    ds = session.read_parquet(f"file://{tmp_path}/t.parquet")  # one file: cut by row groups
    aggs = {"med": ("v", "median"), "p25": ("i", "quantile", 0.25), "n": ("v", "count")}
    got = {r["k"]: r for r in ds.groupby("k", num_partitions=2).agg(**aggs).collect().to_pylist()}
    v, i = per_group(t, "v"), per_group(t, "i")
    assert set(got) == set(v)
    for k, r in got.items():
        assert close(r["med"], float(np.median(v[k])) if v[k] else None), (k, r["med"])
        assert close(r["p25"], float(np.quantile(i[k], 0.25)) if i[k] else None), (k, r["p25"])
        assert r["n"] == len(v[k])


def test_nan_sorts_above_every_number_and_empty_input_gives_no_groups(
    session: squall.Session,
) -> None:
    t = pa.table({"k": [1, 1, 1, 2, 2], "v": [1.0, float("nan"), 3.0, float("nan"), None]})
    aggs = {"med": ("v", "median"), "top": ("v", "top_k", 1), "low": ("v", "bottom_k", 5)}
    got = {
        r["k"]: r for r in session.from_arrow(t, 2).groupby("k").agg(**aggs).collect().to_pylist()
    }
    assert got[1]["med"] == 3.0 and math.isnan(got[1]["top"][0]) and got[1]["low"][:2] == [1.0, 3.0]
    assert math.isnan(got[2]["med"]) and len(got[2]["low"]) == 1
    empty = session.from_arrow(t.slice(0, 0), 1).groupby("k").agg(**aggs).collect()
    assert empty.num_rows == 0 and empty.column_names == ["k", "med", "top", "low"]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (("v", "quantile"), "quantile needs a fraction from 0 to 1"),
        (("v", "quantile", 1.5), "quantile needs a fraction from 0 to 1"),
        (("v", "approx_quantile"), "approx_quantile needs a fraction from 0 to 1"),
        (("v", "approx_median", 0.5), "approx_median takes no argument"),
        (("v", "top_k", 0), "top_k needs a whole count"),
        (("v", "top_k", 2.5), "top_k needs a whole count"),
        (("v", "corr"), "corr needs two columns"),
        ((("v", "w"), "sum"), "sum takes one column"),
        (("v", "median", 3), "median takes no argument"),
        (("v", "mode"), 'no aggregation named "mode"; they are count, count_distinct, n_unique'),
    ],
)
def test_a_wrong_aggregate_is_refused_before_anything_runs(
    session: squall.Session, spec: tuple, message: str
) -> None:
    ds = session.from_arrow(pa.table({"k": [1], "v": [1.0], "w": [2.0]}), 1)
    with pytest.raises(squall.PlanError, match=message):
        ds.groupby("k").agg(x=spec)


def test_a_type_that_does_not_fit_is_a_clear_error(session: squall.Session) -> None:
    ds = session.from_arrow(pa.table({"k": [1], "s": ["a"], "v": [1.0]}), 1)
    with pytest.raises(squall.PlanError, match=r"median of .*s.* needs numbers"):
        ds.groupby("k").agg(x=("s", "median")).collect()
    with pytest.raises(squall.PlanError, match=r"any of .*v.* needs booleans"):
        ds.groupby("k").agg(x=("v", "any")).collect()


def test_min_and_max_order_nan_infinities_signed_zeros_and_skip_nulls(
    session: squall.Session,
) -> None:
    rng = np.random.default_rng(8)
    n = 20_000
    specials = [float("nan"), float("inf"), float("-inf"), 0.0, -0.0, None]
    v = [specials[i % 6] if i % 7 == 0 else float(x) for i, x in enumerate(rng.normal(size=n))]
    w = [None if i % 5 == 0 else int(x) for i, x in enumerate(rng.integers(-(2**62), 2**62, n))]
    k = rng.integers(0, 300, n).tolist()
    k[:3] = [10_000, 10_000, 10_001]  # a group whose values are all null, one with a NaN only
    v[:3], w[:3] = [None, None, float("nan")], [None, None, 5]
    t = pa.table({"k": k, "v": v, "w": w, "dense": rng.normal(size=n)})
    aggs = {
        "vmax": ("v", "max"),
        "vmin": ("v", "min"),
        "wmax": ("w", "max"),
        "wmin": ("w", "min"),
        "dmax": ("dense", "max"),
        "dmin": ("dense", "min"),
    }
    got = {
        r["k"]: r for r in session.from_arrow(t, 3).groupby("k").agg(**aggs).collect().to_pylist()
    }

    # Oracle: plain Python, NaN above every number (as the README says), nulls skipped.
    def order(x: float) -> tuple[int, float]:
        return (1, 0.0) if math.isnan(x) else (0, x)

    groups: dict[int, dict[str, list]] = {}
    for row in t.to_pylist():
        g = groups.setdefault(row["k"], {"v": [], "w": [], "dense": []})
        for c in ("v", "w", "dense"):
            if row[c] is not None:
                g[c].append(row[c])
    assert got.keys() == groups.keys()
    for key, g in groups.items():
        r = got[key]
        for c, hi, lo in (("v", "vmax", "vmin"), ("w", "wmax", "wmin"), ("dense", "dmax", "dmin")):
            if not g[c]:
                assert r[hi] is None and r[lo] is None, (key, c)
                continue
            want_hi = max(g[c], key=order if c != "w" else None)
            want_lo = min(g[c], key=order if c != "w" else None)
            for name, want in ((hi, want_hi), (lo, want_lo)):
                same = math.isnan(want) and math.isnan(r[name]) if c != "w" else False
                assert same or r[name] == want, (key, name, r[name], want)
    assert math.isnan(got[10_001]["vmax"]) and got[10_000]["vmax"] is None


@pytest.mark.parametrize(
    ("groups", "partitions"),
    [(3, 4), (3_000, 3)],
    ids=["large groups, four reducers", "keys barely repeat"],
)
def test_approximate_quantiles_fall_within_a_percent_of_their_rank(
    session: squall.Session, groups: int, partitions: int
) -> None:
    rng = np.random.default_rng(groups)
    n = 150_000 if groups == 3 else 12_000
    t = pa.table(
        {
            "k": rng.integers(0, groups, n),
            "v": pa.array(rng.lognormal(0, 2, n), mask=rng.random(n) < 0.05),  # skewed, nulls
        }
    )
    qs = {"med": 0.5, "p01": 0.01, "p90": 0.9, "p999": 0.999}
    aggs = {name: ("v", "approx_quantile", q) for name, q in qs.items()}
    aggs |= {"med2": ("v", "approx_median"), "first": ("v", "first")}  # first: rows lifted
    ds = session.from_arrow(t, 6).groupby("k", num_partitions=partitions).agg(**aggs)
    got = ds.collect().to_pylist()
    assert len(got) == len(set(t["k"].to_pylist()))
    values = per_group(t, "v")
    for row in got:
        xs = np.sort(values[row["k"]])
        if not len(xs):  # every value null: no quantile, as the exact ones
            assert all(row[name] is None for name in [*qs, "med2"]), row
            continue
        slack = max(0.01, 1 / len(xs))
        for name, q in [*qs.items(), ("med2", 0.5)]:
            below = np.searchsorted(xs, row[name], "left") / len(xs)
            above = np.searchsorted(xs, row[name], "right") / len(xs)
            assert below - slack <= q <= above + slack, (row["k"], name, row[name], below, above)


def test_approximate_quantiles_of_groups_of_few_values_are_exact(session: squall.Session) -> None:
    """Groups of at most 2,048 values keep them (gathered across map tasks), and their
    approximate quantiles are the exact ones."""
    rng = np.random.default_rng(9)
    n = 40_000
    t = pa.table(
        {
            "k": rng.integers(0, 40, n),  # about a thousand values a group
            "v": pa.array(rng.standard_normal(n), mask=rng.random(n) < 0.05),
        }
    )
    qs = (0.1, 0.5, 0.97)
    aggs = {f"{kind}{q}": ("v", kind, q) for kind in ("quantile", "approx_quantile") for q in qs}
    got = session.from_arrow(t, 6).groupby("k", num_partitions=3).agg(**aggs).collect().to_pylist()
    values = per_group(t, "v")
    assert len(got) == 40
    for row in got:
        for q in qs:
            assert row[f"approx_quantile{q}"] == row[f"quantile{q}"], (row["k"], q)
            want = np.quantile(values[row["k"]], q)
            assert math.isclose(row[f"quantile{q}"], want, rel_tol=1e-12)


def test_approximate_quantiles_order_infinities_and_nan_as_the_exact_ones(
    session: squall.Session,
) -> None:
    inf, nan = float("inf"), float("nan")
    t = pa.table({"k": [1] * 6 + [2, 3], "v": [-inf, 1.0, 2.0, 3.0, inf, nan, None, nan]})
    aggs = {
        f"{kind}{q}": ("v", kind, q)
        for kind in ("quantile", "approx_quantile")
        for q in (0, 0.5, 1)
    }
    got = {
        r["k"]: r for r in session.from_arrow(t, 2).groupby("k").agg(**aggs).collect().to_pylist()
    }
    assert [got[1][f"approx_quantile{q}"] for q in (0, 0.5)] == [-inf, 2.5]
    for k, q in [(1, 0), (1, 0.5), (1, 1), (3, 0.5)]:
        exact, approx = got[k][f"quantile{q}"], got[k][f"approx_quantile{q}"]
        assert exact == approx or (math.isnan(exact) and math.isnan(approx)), (k, q)
    assert got[2]["approx_quantile0.5"] is None  # no values, as the exact one


def test_a_computed_nan_and_a_negative_zero_are_the_nan_and_the_zero(
    session: squall.Session,
) -> None:
    """x86 computes 0/0 (and inf*0, sqrt(-1)) as a NaN with its sign bit set, which IEEE's
    total order puts below every number; -0.0 equals 0.0 with other bits (np.round(-0.3)). They
    once made groups of their own and sorted a NaN first. Now every NaN is one value, above
    every number, and the two zeros one key, as polars and DuckDB have them."""
    bits = np.array([0xFFF8000000000000, 0x7FF8000000000000, 0x7FF0000000000001], np.uint64)
    neg_nan, nan, odd_nan = bits.view(np.float64)
    specials = [neg_nan, nan, odd_nan, 0.0, -0.0, 1.0, -1.0, None]
    rng = np.random.default_rng(4)
    n = 3_000
    k = [specials[i] for i in rng.integers(0, len(specials), n)]
    v = [specials[i] if i < len(specials) else float(i) for i in rng.integers(0, 16, n)]
    t = pa.table({"k": pa.array(k, pa.float64()), "v": pa.array(v, pa.float64()), "id": range(n)})

    def key(x: float | None) -> object:  # the oracle's key: one NaN, one zero
        return None if x is None else "nan" if math.isnan(x) else x + 0.0

    def order(x: float) -> tuple[int, float]:  # NaN above every number
        return (1, 0.0) if math.isnan(x) else (0, x)

    def same(a: float, b: float) -> bool:
        return (math.isnan(a) and math.isnan(b)) or a == b

    groups: dict[object, list[float]] = {}
    for kk, vv in zip(k, v, strict=True):
        values = groups.setdefault(key(kk), [])
        if vv is not None:
            values.append(vv)
    for parts, partitions in [(1, 1), (4, 3)]:
        ds = session.from_arrow(t, parts)
        aggs = {
            "n": ("v", "count"),
            "lo": ("v", "min"),
            "hi": ("v", "max"),
            "med": ("v", "median"),
            "top": ("v", "top_k", 1),
            "u": ("v", "n_unique"),
        }
        got = ds.groupby("k", num_partitions=partitions).agg(**aggs).collect().to_pylist()
        assert sorted(map(str, (key(r["k"]) for r in got))) == sorted(map(str, groups)), got
        for r in got:
            values = sorted(groups[key(r["k"])], key=order)
            assert r["n"] == len(values)
            assert same(r["lo"], values[0]) and same(r["hi"], values[-1]), r
            mid = (values[(len(values) - 1) // 2] + values[len(values) // 2]) / 2
            assert same(r["med"], mid) and same(r["top"][0], values[-1]), r
            assert r["u"] == len({key(x) for x in values}), r
        # Sorted: numbers in order, then every NaN, then nulls; each row once.
        out = ds.sort("k").collect()
        got_k = out["k"].to_pylist()
        nulls = sum(x is None for x in k)
        assert got_k[len(got_k) - nulls :] == [None] * nulls
        ordered = got_k[: len(got_k) - nulls]
        assert [order(x) for x in ordered] == sorted(order(x) for x in ordered)
        assert sorted(out["id"].to_pylist()) == list(range(n))
        assert len(ds.distinct(["k"]).collect()) == len(groups)
    # Keys that barely repeat (map tasks send rows, hashed to reducers as they are): a computed
    # NaN and a NaN, a -0.0 and a 0.0, still meet.
    f = [specials[i // 10 % 5] if i % 10 == 0 else i * 1.5 for i in range(n)]
    rows = session.from_arrow(pa.table({"f": pa.array(f, pa.float64())}), 4)
    got = rows.groupby("f", num_partitions=3).agg(n=(None, "count")).collect().to_pylist()
    want: dict[object, int] = {}
    for x in f:
        want[key(x)] = want.get(key(x), 0) + 1
    assert sorted((str(key(r["f"])), r["n"]) for r in got) == sorted(
        (str(x), c) for x, c in want.items()
    )
