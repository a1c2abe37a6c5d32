"""Distributed sample sort against pyarrow's sort as the oracle."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import squall


def oracle(table: pa.Table, keys: list[tuple[str, str]], nulls_last: bool = True) -> pa.Table:
    placement = "at_end" if nulls_last else "at_start"
    return table.sort_by([(name, order, placement) for name, order in keys])


def assert_sorted_like(
    out: pa.Table, table: pa.Table, keys: list[tuple[str, str]], nulls_last: bool = True
) -> None:
    """The key columns are in the oracle's order, and every row appears exactly once."""
    expected = oracle(table, keys, nulls_last)
    names = [k for k, _ in keys]
    assert out.num_rows == table.num_rows
    assert out.select(names).equals(expected.select(names))
    everything = [(c, "ascending") for c in table.column_names]
    assert oracle(out, everything).equals(oracle(table, everything))


def sample_table(rows: int, keys: np.ndarray) -> pa.Table:
    return pa.table(
        {"k": keys, "row": np.arange(rows), "payload": pa.array([f"p{i}" for i in range(rows)])}
    )


@pytest.mark.parametrize("distribution", ["uniform", "zipf", "half_one_key", "all_equal"])
def test_sort_distributions(session: squall.Session, distribution: str) -> None:
    rng = np.random.default_rng(11)
    n = 60_000
    keys = {
        "uniform": rng.integers(-(10**12), 10**12, n),
        "zipf": rng.zipf(1.3, n) % 10_000,
        "half_one_key": np.where(rng.random(n) < 0.5, 42, rng.integers(0, 10**6, n)),
        "all_equal": np.full(n, 7),
    }[distribution]
    table = sample_table(n, keys)
    ds = session.from_arrow(table, 6).sort("k", num_partitions=4)
    parts = [ds._collect(ds._plan, "collect")]  # one table, partitions in order
    assert_sorted_like(parts[0], table, [("k", "ascending")])


def test_a_heavy_key_is_spread_over_reducers(session: squall.Session, tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    n = 40_000
    keys = np.where(rng.random(n) < 0.5, 42, rng.integers(0, 10**6, n))
    table = sample_table(n, keys)
    manifest = session.from_arrow(table, 4).sort("k", num_partitions=8).write_parquet(str(tmp_path))
    sizes = [f["rows"] for f in manifest["files"]]
    assert sum(sizes) == n
    assert max(sizes) < 0.3 * n, f"half the rows share one key, yet no reducer holds most: {sizes}"


def test_written_files_are_globally_ordered_in_name_order(
    session: squall.Session, root: str
) -> None:
    rng = np.random.default_rng(5)
    table = sample_table(30_000, rng.integers(0, 10**9, 30_000))
    session.from_arrow(table, 5).sort("k", num_partitions=6).write_parquet(f"{root}/sorted")
    files = [url for url, _, _ in squall._native.resolve(f"{root}/sorted/")]
    assert len(files) == 6 and files == sorted(files)
    back = session.read_parquet(files).collect()
    assert_sorted_like(back, table, [("k", "ascending")])


def test_small_buckets_share_reducers_and_stay_in_order(
    session: squall.Session, tmp_path: Path
) -> None:
    # No partition count asked for: 8 buckets of a small shuffle go to fewer reducers, each
    # taking adjacent key ranges, so the files in name order are still globally sorted.
    rng = np.random.default_rng(9)
    table = sample_table(20_000, rng.integers(-(10**6), 10**6, 20_000))
    ds = session.from_arrow(table, 8).sort("k")
    manifest = ds.write_parquet(str(tmp_path))
    assert 1 <= len(manifest["files"]) < 8, manifest["files"]
    files = sorted(str(p) for p in tmp_path.glob("part-*.parquet"))
    back = pa.concat_tables([pq.read_table(f) for f in files])
    assert_sorted_like(back, table, [("k", "ascending")])
    # Asked for: exactly that many files.
    asked = session.from_arrow(table, 8).sort("k", num_partitions=8)
    assert len(asked.write_parquet(str(tmp_path / "asked"))["files"]) == 8


def test_multi_column_mixed_directions_with_nulls_and_unicode(session: squall.Session) -> None:
    rng = np.random.default_rng(9)
    n = 20_000
    names = ["Zürich", "ábaco", "Ωmega", "😀", "", "zebra", None]
    table = pa.table(
        {
            "station": pa.array([names[i] for i in rng.integers(0, len(names), n)]),
            "t": pa.array(rng.integers(0, 50, n), mask=rng.random(n) < 0.1),
            "x": rng.standard_normal(n),
        }
    )
    keys = [("station", "ascending"), ("t", "descending")]
    for nulls_last in (True, False):
        out = (
            session.from_arrow(table, 4)
            .sort(
                ["station", "t"], descending=[False, True], nulls_last=nulls_last, num_partitions=3
            )
            .collect()
        )
        assert_sorted_like(out, table, keys, nulls_last)


def test_float_and_timestamp_keys_descending(session: squall.Session) -> None:
    rng = np.random.default_rng(2)
    n = 10_000
    table = pa.table(
        {
            "f": pa.array(rng.standard_normal(n), mask=rng.random(n) < 0.05),
            "ts": pa.array(rng.integers(0, 10**15, n), pa.timestamp("us")),
        }
    )
    out = (
        session.from_arrow(table, 3).sort(["ts", "f"], descending=True, num_partitions=4).collect()
    )
    assert_sorted_like(out, table, [("ts", "descending"), ("f", "descending")])


def test_all_null_keys_empty_input_single_row(session: squall.Session) -> None:
    nulls = pa.table({"k": pa.array([None] * 100, pa.int64()), "v": list(range(100))})
    out = session.from_arrow(nulls, 3).sort("k", num_partitions=2).collect()
    assert sorted(out["v"].to_pylist()) == list(range(100))

    empty = pa.table({"k": pa.array([], pa.int64()), "v": pa.array([], pa.string())})
    assert session.from_arrow(empty, 2).sort("k").collect().num_rows == 0

    one = pa.table({"k": [5], "v": ["only"]})
    assert session.from_arrow(one, 3).sort("k", num_partitions=4).collect().equals(one)


def test_sort_after_udfs_and_before_select(session: squall.Session, tmp_path: Path) -> None:
    table = pa.table({"a": list(range(1000)), "b": [float(-i) for i in range(1000)]})
    pq.write_table(table.slice(0, 500), tmp_path / "x.parquet")
    pq.write_table(table.slice(500), tmp_path / "y.parquet")
    ds = (
        session.read_parquet(str(tmp_path))
        .filter(lambda b: pa.compute.greater(b["a"], 99))
        .sort("b")
        .select(["a"])
    )
    assert ds.collect()["a"].to_pylist() == list(range(999, 99, -1))
    assert ds.count() == 900
    assert ds.head(3)["a"].to_pylist() == [999, 998, 997]


def test_sort_errors(session: squall.Session) -> None:
    ds = session.range(10, 2)
    # Known from the input's schema: refused when the plan is built.
    with pytest.raises(squall.PlanError, match=r'sort\(\): no column named "nope"'):
        ds.sort("nope")
    with pytest.raises(squall.SquallError, match='cannot sort by "nope"') as info:
        ds.map_batches(lambda b: b).sort("nope").collect()
    assert not isinstance(info.value, squall.TaskError), "the engine's failure, not the function's"
    with pytest.raises(ValueError, match="2 flags for 1"):
        ds.sort("id", descending=[True, False])


def test_top_k_matches_a_full_sort(session: squall.Session, root: str) -> None:
    rng = np.random.default_rng(21)
    n = 30_000
    table = pa.table(
        {"temp": pa.array(rng.standard_normal(n), mask=rng.random(n) < 0.1), "row": np.arange(n)}
    )
    session.from_arrow(table, 5).write_parquet(f"{root}/in")
    ds = session.read_parquet(f"{root}/in")
    top = ds.top_k(10, by="temp").collect()
    expected = table.sort_by([("temp", "descending", "at_end")]).slice(0, 10)
    assert top.equals(expected)
    low = ds.top_k(3, by=["temp"], descending=False).collect()
    assert low.equals(table.sort_by([("temp", "ascending", "at_end")]).slice(0, 3))
    assert ds.top_k(0, by="temp").collect().num_rows == 0
