"""The shuffle: repartition and distinct (no sorting or aggregating), and sort and group-by on
the worker processes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import squall


def test_repartition_by_key_keeps_every_row_and_colocates_keys(
    session: squall.Session, root: str
) -> None:
    rng = np.random.default_rng(6)
    n = 20_000
    table = pa.table({"station": rng.integers(0, 300, n), "row": np.arange(n)})
    manifest = (
        session.from_arrow(table, 4).repartition(5, by="station").write_parquet(f"{root}/parts")
    )
    assert len(manifest["files"]) == 5
    seen: dict[int, int] = {}
    rows = []
    for i, f in enumerate(manifest["files"]):
        part = session.read_parquet(f"{root}/parts/{f['name']}").collect()
        rows.extend(part["row"].to_pylist())
        for s in set(part["station"].to_pylist()):
            assert seen.setdefault(s, i) == i, f"station {s} is in two partitions"
    assert sorted(rows) == list(range(n))


def test_round_robin_repartition_balances(session: squall.Session, tmp_path: Path) -> None:
    table = pa.table({"v": np.arange(10_000)})
    ds = session.from_arrow(table, 2).repartition(4)
    assert ds.num_partitions == 2  # inputs; the result has 4
    manifest = ds.write_ipc(f"file://{tmp_path}/rr")
    assert [f["rows"] for f in manifest["files"]] == [2500] * 4
    assert sorted(ds.collect()["v"].to_pylist()) == list(range(10_000))


def test_distinct_matches_python_sets(session: squall.Session, root: str) -> None:
    rng = np.random.default_rng(2)
    n = 30_000
    names = ["a", "b", None, "ü"]
    table = pa.table(
        {
            "k": pa.array([names[i] for i in rng.integers(0, 4, n)]),
            "d": rng.integers(0, 50, n),
        }
    )
    session.from_arrow(table, 3).write_parquet(f"{root}/in")
    ds = session.read_parquet(f"{root}/in")
    pairs = ds.distinct(["k", "d"]).collect()
    assert pairs.num_rows == len(
        set(zip(table["k"].to_pylist(), table["d"].to_pylist(), strict=True))
    )
    assert set(ds.distinct("k").collect()["k"].to_pylist()) == set(names)
    assert ds.select(["k"]).distinct().count() == 4


def test_sort_and_groupby_on_worker_processes() -> None:
    """With ``in_process=False`` the stages run on the worker processes, as they do on Lambda,
    and the shuffle goes through files instead of this process's memory."""
    rng = np.random.default_rng(8)
    n = 40_000
    table = pa.table({"k": rng.integers(0, 500, n), "v": rng.standard_normal(n)})
    with squall.Session(workers=2, in_process=False) as session:
        ds = session.from_arrow(table, 4)
        ordered = ds.sort("k", num_partitions=3).collect()
        job = session.last_job
        assert job is not None
        assert set(job.stats.column("worker").to_pylist()) <= {"local-0", "local-1"}
        sums = ds.groupby("k").agg(total=("v", "sum"), n=("v", "count")).collect()
    expected_keys = table.sort_by("k").column("k").combine_chunks()
    assert ordered.column("k").combine_chunks().equals(expected_keys)
    assert sorted(ordered.column("v").to_pylist()) == sorted(table.column("v").to_pylist())
    expected = table.group_by("k").aggregate([("v", "sum"), ("v", "count")]).sort_by("k")
    got = sums.sort_by("k")
    assert got.column("k").to_pylist() == expected.column("k").to_pylist()
    assert got.column("n").to_pylist() == expected.column("v_count").to_pylist()
    np.testing.assert_allclose(got.column("total"), expected.column("v_sum"), rtol=1e-12)


def _runs(session: squall.Session, table: pa.Table) -> list[pa.Table]:
    """A sort, a group-by, a distinct and a repartition of ``table`` over 9 map tasks,
    collected."""
    ds = session.from_arrow(table, 9)
    return [
        ds.sort(["k", "t"], num_partitions=7).collect(),
        ds.groupby("k", num_partitions=5)
        .agg(n=("v", "count"), s=("v", "sum"), hi=("v", "max"))
        .collect()
        .sort_by("k"),
        # Reducers that may take several adjacent small buckets.
        ds.distinct("k").collect().sort_by("k"),
        ds.repartition(6, by="k").collect().sort_by("t"),
    ]


@pytest.mark.parametrize("in_process", [True, False])
def test_a_merge_level_changes_no_result_and_cuts_reads(in_process: bool) -> None:
    rng = np.random.default_rng(11)
    n = 30_000
    keys = pa.array([f"k{int(k)}" if k % 17 else None for k in rng.integers(0, 400, n)])
    table = pa.table({"k": keys, "t": rng.permutation(n), "v": rng.normal(size=n)})
    with squall.Session(workers=2, in_process=in_process, two_level=False) as s:
        one = _runs(s, table)
        one_gets = s.last_job.cost().s3_gets  # type: ignore[union-attr]
        s.two_level = True
        two = _runs(s, table)
        job = s.last_job
        assert job is not None
        assert [name for name, _ in job._stages] == [
            "squall.repartition (map)",
            "squall.repartition (merge)",
            "squall.collect (reduce)",
        ]
        assert job.cost().s3_gets < one_gets, "9 x 6 reads become 9 + 1 x 6"
    assert one[0].equals(table.sort_by([("k", "ascending"), ("t", "ascending")]))
    want = table.group_by("k").aggregate([("v", "count"), ("v", "sum"), ("v", "max")])
    want = want.sort_by("k")
    assert one[1].column("n").to_pylist() == want.column("v_count").to_pylist()
    assert np.allclose(one[1].column("s").to_numpy(), want.column("v_sum").to_numpy())
    assert one[3].equals(table.sort_by("t"))
    distinct = sorted(set(keys.to_pylist()), key=lambda k: (k is None, k))
    assert one[2].column("k").to_pylist() == distinct
    for a, b in zip(one, two, strict=True):
        assert a.schema == b.schema
        assert a.num_rows == b.num_rows
    assert two[0].equals(one[0]) and two[2].equals(one[2]) and two[3].equals(one[3])
    assert two[1].column("k").equals(one[1].column("k"))
    assert two[1].column("n").equals(one[1].column("n")) and two[1].column("hi").equals(
        one[1].column("hi")
    )
    assert np.allclose(two[1].column("s").to_numpy(), one[1].column("s").to_numpy())
