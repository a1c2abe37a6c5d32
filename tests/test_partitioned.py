"""A dataset partitioned into `column=value` directories (as Spark, Hive, pyarrow and polars
write one) is read with those columns, as pyarrow reads it; a filter on them skips the files
whose directories rule them out; on every store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pytest

import squall
from squall import _native


def table(rows: int) -> pa.Table:
    rng = np.random.default_rng(7)
    sites = pa.array(["Køge", "a b/c", None, "plain"])
    return pa.table(
        {
            "id": np.arange(rows),
            "g": np.arange(rows) % 5,
            "v": pa.array(rng.normal(size=rows), mask=rng.random(rows) < 0.1),
            "year": pa.array(2023 + rng.integers(0, 3, rows)),
            "site": sites.take(pa.array(rng.integers(0, 4, rows))),
        }
    )


def write_partitioned(t: pa.Table, local: Path, root: str) -> str:
    """`t` written by pyarrow partitioned by year and site under `local`, copied to `root`."""
    pads.write_dataset(
        t,
        local,
        format="parquet",
        partitioning=["year", "site"],
        partitioning_flavor="hive",
        max_rows_per_group=200,
    )
    for path in sorted(p for p in local.rglob("*") if p.is_file()):
        _native.write_bytes(f"{root}/ds/{path.relative_to(local).as_posix()}", path.read_bytes())
    return f"{root}/ds/"


def oracle(local: Path) -> pa.Table:
    t = pads.dataset(local, format="parquet", partitioning="hive").to_table()
    return t.set_column(3, "year", t["year"].cast(pa.int64())).sort_by("id")


def test_directories_of_column_values_are_columns(
    root: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    local = tmp_path / "written"
    url = write_partitioned(table(3_000), local, root)
    assert any("site=a%20b%2Fc" in p.as_posix() for p in local.rglob("*")), "values are escaped"
    assert any("__HIVE_DEFAULT_PARTITION__" in p.as_posix() for p in local.rglob("*"))
    expected = oracle(local)
    with squall.Session(workers=2) as session:
        ds = session.read_parquet(url)
        ds.explain()
        assert "with columns year, site from their directories" in capsys.readouterr().out
        assert ds.collect().sort_by("id") == expected
        assert ds.count() == expected.num_rows
        got = ds.groupby(["year", "site"]).agg(n=("id", "count"), s=("v", "sum")).collect()
        want = expected.group_by(["year", "site"]).aggregate([("id", "count"), ("v", "sum")])
        by = [("year", "ascending"), ("site", "ascending")]
        assert got.sort_by(by).to_pylist() == [
            {
                "year": r["year"],
                "site": r["site"],
                "n": r["id_count"],
                "s": pytest.approx(r["v_sum"]),
            }
            for r in want.sort_by(by).to_pylist()
        ]
        for keys in (["g", "year"], ["site"], ["g"]):
            got = ds.groupby(keys).agg(n=("id", "count"), s=("v", "sum"), m=("v", "max")).collect()
            want = expected.group_by(keys).aggregate([("id", "count"), ("v", "sum"), ("v", "max")])
            by = [(k, "ascending") for k in keys]
            assert got.sort_by(by).to_pylist() == [
                {
                    **{k: r[k] for k in keys},
                    "n": r["id_count"],
                    "s": pytest.approx(r["v_sum"]),
                    "m": r["v_max"],
                }
                for r in want.sort_by(by).to_pylist()
            ], keys
        # After a filter, the rows reach the group-by through the generic read.
        got = ds.filter(squall.col("g") > 1).groupby("year").agg(n=("id", "count")).collect()
        want = expected.filter(pc.field("g") > 1).group_by("year").aggregate([("id", "count")])
        counts = dict(zip(got["year"].to_pylist(), got["n"].to_pylist(), strict=True))
        assert counts == dict(
            zip(want["year"].to_pylist(), want["id_count"].to_pylist(), strict=True)
        )
        ordered = ds.sort(["site", "id"]).collect()
        assert ordered == expected.sort_by([("site", "ascending"), ("id", "ascending")]).select(
            ordered.column_names
        )
        only_path = ds.select(["site", "year"]).collect()
        assert only_path.column_names == ["site", "year"]
        assert only_path.num_rows == expected.num_rows
        assert sorted(only_path["site"].to_pylist(), key=str) == sorted(
            expected["site"].to_pylist(), key=str
        )


def test_a_filter_on_directory_columns_reads_only_their_files(root: str, tmp_path: Path) -> None:
    local = tmp_path / "written"
    url = write_partitioned(table(3_000), local, root)
    expected = oracle(local)
    with squall.Session(workers=2) as session:
        ds = session.read_parquet(url)
        cases = [
            (squall.col("year") == 2024, pc.field("year") == 2024, 4),
            (
                (squall.col("site") == "Køge") & (squall.col("year") > 2023),
                (pc.field("site") == "Køge") & (pc.field("year") > 2023),
                2,
            ),
            (squall.col("site").is_null(), pc.field("site").is_null(), 3),
            (
                (squall.col("year") == 2025) & (squall.col("v") > 0),
                (pc.field("year") == 2025) & (pc.field("v") > 0),
                4,
            ),
            (
                (squall.col("year") == 2025) | (squall.col("v") > 0),
                (pc.field("year") == 2025) | (pc.field("v") > 0),
                12,
            ),
        ]
        for where, want, files in cases:
            kept = ds.filter(where)
            assert kept.num_partitions == files, where
            got = kept.collect()
            assert got.sort_by("id") == expected.filter(want), where
            assert session.last_job is not None
            stats = session.last_job.stats.to_pandas()
            assert len(stats) == files
        none = ds.filter(squall.col("year") == 1999)
        assert none.count() == 0
        assert none.num_partitions == 1


def test_a_subdirectory_gives_the_columns_below_it(tmp_path: Path) -> None:
    local = tmp_path / "written"
    url = write_partitioned(table(1_000), local, f"file://{tmp_path}")
    below = pads.dataset(local / "year=2024", format="parquet", partitioning="hive").to_table()
    with squall.Session(workers=2) as session:
        got = session.read_parquet(f"{url}year=2024/").collect()
        assert got.column_names == ["id", "g", "v", "site"]
        assert got.sort_by("id") == below.sort_by("id")
        one = session.read_parquet(f"{url}year=2024/site=plain/part-0.parquet").collect()
        assert one.column_names == ["id", "g", "v"]


def test_files_in_directories_of_other_columns_are_refused(tmp_path: Path) -> None:
    t = pa.table({"x": [1, 2]})
    root = f"file://{tmp_path}"
    _native.write_table(t, f"{root}/ds/k=1/a.parquet", "parquet")
    _native.write_table(t, f"{root}/ds/b.parquet", "parquet")
    with squall.Session(workers=1) as session:
        with pytest.raises(squall.PlanError, match=r"not all in directories of the same columns"):
            session.read_parquet(f"{root}/ds/")
    _native.write_table(t, f"{root}/mixed/k=1/a.parquet", "parquet")
    _native.write_table(t, f"{root}/mixed/k=x/a.parquet", "parquet")
    with squall.Session(workers=1) as session:
        got = session.read_parquet(f"{root}/mixed/").collect()
        assert got.schema.field("k").type == pa.string(), "not every value is an integer"
        assert sorted(got["k"].to_pylist()) == ["1", "1", "x", "x"]
