"""Distributed group-by aggregation against pyarrow's group_by as the oracle."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import squall

FUNCS = {
    "count": "count",
    "count_distinct": "count_distinct",
    "sum": "sum",
    "mean": "mean",
    "min": "min",
    "max": "max",
    "std": "stddev",
    "var": "variance",
    "first": "first",
    "last": "last",
}


def oracle(table: pa.Table, keys: list[str], aggs: dict[str, tuple[str | None, str]]) -> pa.Table:
    specs = []
    names = []
    for name, (column, func) in aggs.items():
        if column is None:
            specs.append(([], "count_all"))
        elif func == "sum":  # polars and pandas: the sum of no values is 0
            specs.append((column, "sum", pc.ScalarAggregateOptions(min_count=0)))
        elif func in ("std", "var"):
            specs.append((column, FUNCS[func], pc.VarianceOptions(ddof=1)))
        else:
            specs.append((column, FUNCS[func]))
        names.append(name)
    out = table.group_by(keys, use_threads=False).aggregate(specs)
    got = out.select([*[c for c in out.column_names if c not in keys], *keys])
    return pa.table(
        [*[got.column(k) for k in keys], *got.columns[: len(names)]], names=[*keys, *names]
    )


def assert_same_groups(out: pa.Table, expected: pa.Table, keys: list[str]) -> None:
    order = [(k, "ascending", "at_end") for k in keys]
    out, expected = out.sort_by(order), expected.sort_by(order)
    assert out.num_rows == expected.num_rows
    assert out.column_names == expected.column_names
    for name in out.column_names:
        a, b = out[name].combine_chunks(), expected[name].combine_chunks()
        if pa.types.is_floating(b.type):
            x = a.cast(pa.float64()).to_numpy(zero_copy_only=False)
            y = b.to_numpy(zero_copy_only=False)
            np.testing.assert_allclose(x, y, rtol=1e-9, atol=1e-9, equal_nan=True, err_msg=name)
        else:
            assert a.cast(b.type).equals(b), f"{name}: {a} != {b}"


ALL_AGGS: dict[str, tuple[str | None, str]] = {
    "n": ("v", "count"),
    "rows": (None, "count"),
    "total": ("v", "sum"),
    "mean": ("v", "mean"),
    "lo": ("v", "min"),
    "hi": ("v", "max"),
    "sd": ("v", "std"),
    "var": ("v", "var"),
    "first": ("v", "first"),
    "last": ("v", "last"),
    "isum": ("i", "sum"),
    "smin": ("s", "min"),
    "smax": ("s", "max"),
    "nd": ("i", "count_distinct"),
    "snd": ("s", "count_distinct"),
}


def readings(n: int, keys: np.ndarray, seed: int = 1) -> pa.Table:
    rng = np.random.default_rng(seed)
    words = ["ä", "β", "😀", "", "plain", "zebra"]
    return pa.table(
        {
            "k": keys,
            "v": pa.array(rng.standard_normal(n), mask=rng.random(n) < 0.1),
            "i": pa.array(rng.integers(-1000, 1000, n), mask=rng.random(n) < 0.05),
            "s": pa.array([words[j] for j in rng.integers(0, len(words), n)]),
        }
    )


@pytest.mark.parametrize("distribution", ["uniform_100", "uniform_many", "zipf", "half_one_key"])
def test_groupby_distributions(session: squall.Session, distribution: str) -> None:
    rng = np.random.default_rng(4)
    n = 50_000
    keys = {
        "uniform_100": rng.integers(0, 100, n),
        "uniform_many": rng.integers(0, 40_000, n),
        "zipf": rng.zipf(1.5, n) % 5000,
        "half_one_key": np.where(rng.random(n) < 0.5, 7, rng.integers(0, 10_000, n)),
    }[distribution]
    table = readings(n, keys)
    out = session.from_arrow(table, 5).groupby("k", num_partitions=3).agg(**ALL_AGGS).collect()
    assert_same_groups(out, oracle(table, ["k"], ALL_AGGS), ["k"])


def test_key_types_and_several_key_columns(session: squall.Session, root: str) -> None:
    rng = np.random.default_rng(8)
    n = 20_000
    table = pa.table(
        {
            "station": pa.array([["Zürich", "Ωmega", None, "b"][i] for i in rng.integers(0, 4, n)]),
            "day": pa.array(
                [dt.date(2024, 1, 1) + dt.timedelta(days=int(d)) for d in rng.integers(0, 5, n)]
            ),
            "ok": pa.array(rng.random(n) < 0.5),
            "ts": pa.array(rng.integers(0, 3, n) * 10**9, pa.timestamp("ns")),
            "blob": pa.array([bytes([b]) for b in rng.integers(0, 3, n)], pa.binary()),
            "f": pa.array(rng.integers(0, 3, n).astype(np.float64)),
            "v": rng.standard_normal(n),
        }
    )
    session.from_arrow(table, 4).write_parquet(f"{root}/in")
    ds = session.read_parquet(f"{root}/in")
    aggs: dict[str, tuple[str | None, str]] = {"n": (None, "count"), "mean": ("v", "mean")}
    for keys in (["station", "day"], ["ok", "ts"], ["blob", "f"]):
        out = ds.groupby(keys).agg(**aggs).collect()
        assert_same_groups(out, oracle(table, keys, aggs), keys)
    ds.groupby("station").agg(**aggs).write_parquet(f"{root}/out")
    back = session.read_parquet(f"{root}/out").collect()
    assert_same_groups(back, oracle(table, ["station"], aggs), ["station"])


def test_parquet_files_of_many_row_groups(session: squall.Session, tmp_path: Path) -> None:
    """Map tasks aggregate a Parquet file batch by batch where keys repeat, and whole where
    they barely do: both across row groups, first/last in file order; an empty file adds
    nothing."""
    rng = np.random.default_rng(6)
    n = 150_000
    repeated = readings(n, rng.integers(0, 100, n), seed=2)
    distinct = readings(n, np.arange(n) + 10**6, seed=3)
    pq.write_table(repeated, tmp_path / "a.parquet", row_group_size=40_000)
    pq.write_table(distinct, tmp_path / "b.parquet", row_group_size=40_000)
    pq.write_table(distinct.slice(0, 0), tmp_path / "c.parquet")
    table = pa.concat_tables([repeated, distinct])
    ds = session.read_parquet(f"file://{tmp_path}/")
    unordered = {k: a for k, a in ALL_AGGS.items() if a[1] not in ("first", "last")}
    for aggs in (ALL_AGGS, unordered):
        out = ds.groupby("k").agg(**aggs).collect()
        assert_same_groups(out, oracle(table, ["k"], aggs), ["k"])


def test_string_keys_of_few_and_many_values_in_one_big_file(
    session: squall.Session, tmp_path: Path
) -> None:
    """String keys read from one Parquet file of many row groups (so split into partitions,
    and few-valued keys grouped by their dictionary codes, each row group coding them anew):
    with nulls, alone and together with many-valued and integer keys, as large strings and as
    dictionary columns."""
    rng = np.random.default_rng(11)
    n = 120_000
    few = np.array(["north", "süd", "", "ost-😀", "west"], dtype=object)[rng.integers(0, 5, n)]
    few[rng.random(n) < 0.03] = None
    many = np.array([f"id-{i}" for i in rng.integers(0, 30_000, n)], dtype=object)
    many[rng.random(n) < 0.02] = None
    table = readings(n, rng.integers(0, 7, n), seed=5).append_column("few", pa.array(few))
    table = table.append_column("many", pa.array(many))
    table = table.append_column("wide", pa.array(few, pa.large_string()))
    table = table.append_column("coded", pa.array(few).dictionary_encode())
    pq.write_table(table, tmp_path / "one.parquet", row_group_size=10_000)
    ds = session.read_parquet(f"file://{tmp_path}/one.parquet")
    assert ds.num_partitions > 1
    aggs = {k: a for k, a in ALL_AGGS.items() if a[1] not in ("first", "last")}
    plain = table.set_column(
        table.schema.get_field_index("coded"), "coded", table["coded"].cast(pa.string())
    )
    for keys in (["few"], ["few", "k"], ["many"], ["few", "many"], ["wide"], ["coded", "k"]):
        out = ds.groupby(keys).agg(**aggs).collect()
        if "coded" in keys:
            out = out.set_column(0, "coded", out["coded"].cast(pa.string()))
        assert_same_groups(out, oracle(plain, keys, aggs), keys)


def test_rows_sent_with_string_keys_read_as_dictionary_codes(
    session: squall.Session, tmp_path: Path
) -> None:
    """Keys that barely repeat (so map tasks send their rows, not groups) with string keys that
    map tasks read as dictionary codes: few-valued ones, and many-valued ones where the file
    stores them as a dictionary (a.parquet) but not where it stores them plainly (b.parquet), so
    that a reducer joins coded rows with plain ones."""
    rng = np.random.default_rng(12)
    n = 60_000

    def part(seed: int) -> pa.Table:
        table = readings(n, rng.permutation(n) + seed * n, seed=seed)
        few = np.array(["north", "süd", "", "ost-😀"], dtype=object)[rng.integers(0, 4, n)]
        few[rng.random(n) < 0.03] = None
        many = np.array([f"id-{i}" for i in rng.integers(0, 3_000, n)], dtype=object)
        many[rng.random(n) < 0.02] = None
        return table.append_column("few", pa.array(few)).append_column("many", pa.array(many))

    a, b = part(1), part(2)
    pq.write_table(a, tmp_path / "a.parquet", row_group_size=15_000)
    pq.write_table(b, tmp_path / "b.parquet", row_group_size=15_000, use_dictionary=["few"])
    table = pa.concat_tables([a, b])
    ds = session.read_parquet(f"file://{tmp_path}/")
    aggs = {k: a for k, a in ALL_AGGS.items() if a[1] not in ("first", "last")}
    for keys in (["few", "k"], ["many", "k"], ["few", "many", "k"]):
        for chosen in (aggs, ALL_AGGS):
            out = ds.groupby(keys).agg(**chosen).collect()
            assert out.num_rows > 0.9 * table.num_rows
            assert_same_groups(out, oracle(table, keys, chosen), keys)


def test_all_null_keys_empty_input_single_row(session: squall.Session) -> None:
    nulls = pa.table({"k": pa.array([None] * 50, pa.string()), "v": [float(i) for i in range(50)]})
    out = session.from_arrow(nulls, 3).groupby("k").agg(s=("v", "sum"), n=(None, "count")).collect()
    assert out.to_pylist() == [{"k": None, "s": float(sum(range(50))), "n": 50}]

    empty = nulls.slice(0, 0)
    out = session.from_arrow(empty, 2).groupby("k").agg(s=("v", "sum")).collect()
    assert out.num_rows == 0 and out.column_names == ["k", "s"]

    one = pa.table({"k": [3], "v": [2.5]})
    out = session.from_arrow(one, 2).groupby("k").agg(sd=("v", "std"), m=("v", "max")).collect()
    assert out.to_pylist() == [{"k": 3, "sd": None, "m": 2.5}]

    # pyarrow encodes a column all null as a dictionary without values (a pandas categorical
    # of NaNs, `dictionary_encode()`): its keys are one null group, as the plain column's.
    coded = nulls.set_column(0, "k", nulls["k"].dictionary_encode())
    assert len(coded["k"].chunk(0).dictionary) == 0
    out = session.from_arrow(coded, 3).groupby("k").agg(s=("v", "sum"), n=(None, "count")).collect()
    assert out.to_pylist() == [{"k": None, "s": float(sum(range(50))), "n": 50}]
    assert session.from_arrow(coded, 3).distinct(["k"]).collect()["k"].to_pylist() == [None]


def test_groupby_count_and_following_operators(
    session: squall.Session, capsys: pytest.CaptureFixture[str]
) -> None:
    table = pa.table({"k": [1, 2, 2, 3, 3, 3]})
    out = (
        session.from_arrow(table, 2)
        .groupby("k")
        .count()
        .filter(lambda b: pc.greater(b["count"], 1))
        .collect()
    )
    assert sorted(out.to_pylist(), key=lambda r: r["k"]) == [
        {"k": 2, "count": 2},
        {"k": 3, "count": 3},
    ]
    session.from_arrow(table, 2).groupby("k", num_partitions=3).count().explain()
    text = capsys.readouterr().out
    assert "2 stages (1 shuffle: groupby)" in text and "up to 6 ranged GETs" in text
    assert "stage 1: 3 reduce tasks, on the driver's threads" in text


def test_reducers_on_the_driver_take_small_shares(session: squall.Session, tmp_path: Path) -> None:
    """Reducers on the driver's threads hold their decoded share of a shuffle that is in the
    driver's memory already: a collect splits it into more, smaller reduce tasks than a write,
    whose file count the user sees. A shuffle under a megabyte takes one reducer. All give the
    oracle's groups."""
    rng = np.random.default_rng(4)
    n = 1_000_000
    table = pa.table({"k": rng.integers(0, n, n), "v": rng.random(n)})
    aggs = {"s": ("v", "sum"), "n": ("v", "count")}
    expected = oracle(table, ["k"], aggs)

    def reducers() -> int:
        stats = session.last_job.stats
        return sum(1 for s in stats["stage"].to_pylist() if s.endswith("(reduce)"))

    assert_same_groups(
        session.from_arrow(table, 8).groupby("k").agg(**aggs).collect(), expected, ["k"]
    )
    collected = reducers()
    manifest = session.from_arrow(table, 8).groupby("k").agg(**aggs).write_parquet(str(tmp_path))
    written = reducers()
    assert len(manifest["files"]) == written
    assert_same_groups(pq.read_table(tmp_path), expected, ["k"])
    assert written <= 2 * session.workers < collected, (written, collected)

    few = table.slice(0, 20_000)
    got = session.from_arrow(few, 8).groupby("k").agg(**aggs).collect()
    assert_same_groups(got, oracle(few, ["k"], aggs), ["k"])
    assert reducers() == 1


def test_groupby_errors(session: squall.Session) -> None:
    ds = session.from_arrow(pa.table({"k": [1], "s": ["x"]}), 1)
    with pytest.raises(ValueError, match=r"no aggregation named .*; they are count, "):
        ds.groupby("k").agg(x=("s", "mode"))
    # The engine's errors come as the engine's classes, naming the task's input.
    with pytest.raises(squall.PlanError, match=r"groupby \(map\).*partition 0.*needs numbers"):
        ds.groupby("k").agg(x=("s", "sum")).collect()
    with pytest.raises(squall.PlanError, match="no column named"):
        ds.groupby("nope").agg(x=("s", "min"))
    with pytest.raises(TypeError, match=r"\(column, function\)"):
        ds.groupby("k").agg(x="sum")  # type: ignore[arg-type]


def test_map_groups_calls_the_function_once_per_group(session: squall.Session, root: str) -> None:
    rng = np.random.default_rng(12)
    n = 5_000
    table = pa.table(
        {
            "station": pa.array([["x", "y", None, "z"][i] for i in rng.integers(0, 4, n)]),
            "day": rng.integers(0, 3, n),
            "temp": rng.standard_normal(n),
        }
    )
    session.from_arrow(table, 3).write_parquet(f"{root}/in")

    def fit(df):  # type: ignore[no-untyped-def]
        return df.head(1)[["station", "day"]].assign(rows=len(df), slope=df.temp.mean())

    out = session.read_parquet(f"{root}/in").groupby(["station", "day"]).map_groups(fit).collect()
    expected = oracle(
        table, ["station", "day"], {"rows": (None, "count"), "slope": ("temp", "mean")}
    )
    assert_same_groups(out, expected, ["station", "day"])


def test_map_groups_takes_every_nan_as_one_key(session: squall.Session) -> None:
    """As the group-by does: NaN keys (whatever their bits) are one group, not one per row,
    and -0.0 and 0.0 one; a null key is a group of its own."""
    neg_nan = np.array([0xFFF8000000000000], np.uint64).view(np.float64)[0]  # x86's 0/0
    k = [1.0, np.nan, None, 1.0, -0.0, 0.0, neg_nan, np.nan]
    table = pa.table({"k": pa.array(k, pa.float64()), "v": range(len(k))})

    def total(t: pa.Table) -> dict[str, list[object]]:  # pyarrow keeps NaN apart from null
        return {"k": t["k"][:1].to_pylist(), "n": [t.num_rows], "s": [pc.sum(t["v"]).as_py()]}

    grouped = session.from_arrow(table, 3).groupby("k", num_partitions=2)
    out = grouped.map_groups(total, batch_format="pyarrow").collect()
    got = sorted(
        ("null" if r["k"] is None else str(r["k"] + 0.0), r["n"], r["s"]) for r in out.to_pylist()
    )
    assert got == [("0.0", 2, 9), ("1.0", 2, 3), ("nan", 3, 14), ("null", 1, 2)]


@pytest.mark.parametrize("rows_per_call", [1, 700, 1 << 20])
def test_map_batches_of_whole_groups_calls_python_once_per_batch(
    session: squall.Session, rows_per_call: int
) -> None:
    """Each call gets whole groups only (with null keys), sorted by the keys; with a small
    rows_per_call, more calls of fewer groups; the answer is the same."""
    rng = np.random.default_rng(13)
    n = 6_000
    table = pa.table(
        {
            "station": pa.array([["x", "y", None, "z"][i] for i in rng.integers(0, 4, n)]),
            "day": rng.integers(0, 50, n),
            "temp": rng.standard_normal(n),
        }
    )
    groups = len(set(zip(table["station"].to_pylist(), table["day"].to_pylist(), strict=True)))

    def counts(batch: pa.RecordBatch) -> pa.Table:
        t = pa.Table.from_batches([batch])
        keys = list(zip(t["station"].to_pylist(), t["day"].to_pylist(), strict=True))
        assert keys == sorted(keys, key=lambda k: (k[0] is None, k[0] or "", k[1]))
        out = t.group_by(["station", "day"]).aggregate([([], "count_all")])
        return out.append_column("call", pa.array([uuid.uuid4().hex] * out.num_rows))

    grouped = session.from_arrow(table, 3).groupby(["station", "day"], num_partitions=2)
    out = grouped.map_batches(counts, batch_format="pyarrow", rows_per_call=rows_per_call).collect()
    assert out.num_rows == groups  # no group was cut between calls
    calls = len(set(out["call"].to_pylist()))
    if rows_per_call == 1:
        assert calls == groups
    else:  # each of the two partitions in calls of about rows_per_call rows
        assert 2 <= calls <= 2 * (1 + n // rows_per_call // 2)
    expected = table.group_by(["station", "day"]).aggregate([([], "count_all")])
    assert_same_groups(out.select(["station", "day", "count_all"]), expected, ["station", "day"])
    with pytest.raises(ValueError, match="rows_per_call=0"):
        grouped.map_batches(counts, rows_per_call=0)


def test_collect_leaves_pandas_unimported(tmp_path: Path) -> None:
    """A collected result is a pyarrow Table; building it must not import pandas (a second and
    tens of MB on the first collect)."""
    pq.write_table(pa.table({"k": [1, 2, 1], "v": [1.0, 2.0, 3.0]}), tmp_path / "a.parquet")
    script = (
        "import sys, squall\n"
        f"ds = squall.read_parquet('file://{tmp_path}/')\n"
        "out = ds.groupby('k').agg(s=('v', 'sum')).collect()\n"
        "print(sorted(out.to_pydict()['s']), 'pandas' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["[2.0,", "4.0]", "False"], done.stdout + done.stderr
