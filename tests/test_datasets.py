"""Datasets against pyarrow as the oracle, on memory://, file:// and s3:// (LocalStack) stores."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import squall


def awkward_table(rows: int = 1000) -> pa.Table:
    """Nulls, unicode, binary, nested lists and structs, dictionaries, dates and timestamps."""
    rng = np.random.default_rng(7)
    ints = rng.integers(-1000, 1000, rows)
    valid = rng.random(rows) > 0.2
    names = ["ä", "β", "😀 emoji", "", "plain", "日本語"]
    return pa.table(
        {
            "i": pa.array(ints, mask=~valid),
            "f": pa.array(rng.standard_normal(rows)),
            "s": pa.array([names[i % len(names)] if i % 7 else None for i in range(rows)]),
            "b": pa.array([bytes([i % 256]) * (i % 5) for i in range(rows)], pa.binary()),
            "flag": pa.array([i % 3 == 0 for i in range(rows)]),
            "day": pa.array([dt.date(2020, 1, 1) + dt.timedelta(days=i) for i in range(rows)]),
            "t": pa.array(np.arange(rows) * 1_000_000, pa.timestamp("us", tz="UTC")),
            "tags": pa.array([[j for j in range(i % 4)] if i % 11 else None for i in range(rows)]),
            "pos": pa.array([{"x": float(i), "y": None if i % 2 else str(i)} for i in range(rows)]),
            "station": pa.array([f"st-{i % 5}" for i in range(rows)]).dictionary_encode(),
        }
    )


def decoded(table: pa.Table) -> pa.Table:
    """Dictionary columns decoded, so tables that chunk their dictionaries differently compare."""
    columns = [
        c.cast(c.type.value_type) if pa.types.is_dictionary(c.type) else c for c in table.columns
    ]
    return pa.table(columns, names=table.column_names)


def write_parts(session: squall.Session, table: pa.Table, url: str, parts: int, fmt: str) -> None:
    session.from_arrow(table, parts).__getattribute__(f"write_{fmt}")(url)


@pytest.mark.parametrize("fmt", ["parquet", "ipc"])
def test_round_trip_equals_input(session: squall.Session, root: str, fmt: str) -> None:
    table = awkward_table()
    write_parts(session, table, f"{root}/data", 4, fmt)
    reader = session.read_parquet if fmt == "parquet" else session.read_ipc
    ds = reader(f"{root}/data/*.{'parquet' if fmt == 'parquet' else 'arrow'}")
    assert ds.num_partitions == 4
    assert ds.collect().equals(table)
    assert ds.count() == table.num_rows


def test_written_parquet_is_readable_by_pyarrow(session: squall.Session, tmp_path: Path) -> None:
    table = awkward_table(500)
    manifest = session.from_arrow(table, 3).write_parquet(f"file://{tmp_path}/out/")
    files = sorted((tmp_path / "out").glob("part-*.parquet"))
    tag = manifest["job"].rsplit("-", 1)[1]
    assert [f.name for f in files] == [f"part-0000{i}-{tag}.parquet" for i in range(3)]
    assert decoded(pa.concat_tables([pq.read_table(f) for f in files])).equals(decoded(table))
    on_disk = json.loads((tmp_path / "out" / "_manifest.json").read_text())
    assert on_disk == manifest and manifest["rows"] == 500 and manifest["version"] == 1
    assert [f["rows"] for f in manifest["files"]] == [167, 167, 166]
    assert [f["name"] for f in manifest["files"]] == [f.name for f in files]


@pytest.mark.parametrize("compression", ["snappy", "lz4", "none", "zstd"])
def test_written_parquet_uses_the_compression_asked_for(
    session: squall.Session, tmp_path: Path, compression: str
) -> None:
    table = awkward_table(300)
    out = tmp_path / compression
    manifest = session.from_arrow(table, 2).write_parquet(f"file://{out}/", compression=compression)
    assert manifest["compression"] == compression
    files = sorted(out.glob("part-*.parquet"))
    codecs = {
        pq.ParquetFile(f).metadata.row_group(0).column(i).compression
        for f in files
        for i in range(len(table.column_names))
    }
    expected = {"snappy": "SNAPPY", "lz4": "LZ4", "none": "UNCOMPRESSED", "zstd": "ZSTD"}
    assert codecs == {expected[compression]}
    assert decoded(pa.concat_tables([pq.read_table(f) for f in files])).equals(decoded(table))


def test_unknown_or_unsupported_compression_is_refused(
    session: squall.Session, tmp_path: Path
) -> None:
    ds = session.from_arrow(pa.table({"a": [1, 2]}), 1)
    with pytest.raises(ValueError, match=r"'brotli'.*'zstd', 'snappy', 'lz4', 'none'"):
        ds.write_parquet(f"file://{tmp_path}/p/", compression="brotli")
    with pytest.raises(ValueError, match="'snappy': ipc files take one of 'zstd', 'lz4', 'none'"):
        ds.write_ipc(f"file://{tmp_path}/i/", compression="snappy")
    assert not (tmp_path / "p").exists() and not (tmp_path / "i").exists()
    ds.write_ipc(f"file://{tmp_path}/i/", compression="lz4")
    assert session.read_ipc(f"file://{tmp_path}/i/").collect().equals(ds.collect())


def test_empty_partitions_and_zero_rows(session: squall.Session, root: str) -> None:
    small = pa.table({"a": [1, 2, 3], "s": ["x", None, "z"]})
    ds = session.from_arrow(small, 5)
    assert ds.num_partitions == 5
    assert ds.collect().equals(small)
    ds.write_parquet(f"{root}/small")
    assert session.read_parquet(f"{root}/small/").collect().equals(small)

    empty = small.slice(0, 0)
    assert session.from_arrow(empty, 2).collect().equals(empty)
    empty_out = session.from_arrow(empty, 2).map_batches(
        lambda b: b.append_column("c", pa.array([], pa.float64()))
    )
    assert empty_out.collect().schema.names == ["a", "s", "c"]


def test_udfs_match_pyarrow(session: squall.Session, root: str) -> None:
    table = awkward_table()
    write_parts(session, table, f"{root}/events", 3, "parquet")
    ds = session.read_parquet(f"{root}/events/")

    out = (
        ds.filter(lambda b: pc.greater(b["f"], 0))
        .map_batches(lambda b: b.append_column("f2", pc.multiply(b["f"], 2)))
        .select(["s", "f2", "i"])
        .collect()
    )
    mask = pc.greater(table["f"], 0)
    kept = table.filter(mask)
    expected = pa.table({"s": kept["s"], "f2": pc.multiply(kept["f"], 2), "i": kept["i"]})
    assert out.equals(expected)


def test_batch_formats(session: squall.Session) -> None:
    table = pa.table({"x": list(range(100)), "y": [float(v) for v in range(100)]})
    ds = session.from_arrow(table, 3)

    def add_pandas(df):  # type: ignore[no-untyped-def]
        return df.assign(z=df.x + df.y)

    def add_numpy(cols):  # type: ignore[no-untyped-def]
        return {"x": cols["x"], "z": cols["x"] * 10}

    pandas_out = ds.map_batches(add_pandas, batch_format="pandas").collect()
    assert pandas_out["z"].to_pylist() == [2.0 * v for v in range(100)]
    numpy_out = ds.map_batches(add_numpy, batch_format="numpy").collect()
    assert numpy_out["z"].to_pylist() == [10 * v for v in range(100)]
    odd = ds.filter(lambda df: df.x % 2 == 1, batch_format="pandas").collect()
    assert odd["x"].to_pylist() == list(range(1, 100, 2))


def test_count_head_show_schema_explain(
    session: squall.Session, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ds = session.range(1000, 4).map_batches(
        lambda b: b.append_column("sq", pc.multiply(b["id"], b["id"]))
    )
    assert ds.count() == 1000
    head = ds.head(3)
    assert head.to_pydict() == {"id": [0, 1, 2], "sq": [0, 1, 4]}
    assert ds.schema.names == ["id", "sq"]
    ds.show(2)
    assert "sq" in capsys.readouterr().out
    ds.select(["sq"]).explain()
    text = capsys.readouterr().out
    assert "stage 0: 4 tasks" in text and "map_batches(<lambda>)" in text and "select(sq)" in text
    # Where the tasks run: the driver's threads, unless a stage calls a Python function.
    pq.write_table(pa.table({"id": [1, 2]}), tmp_path / "in.parquet")
    files = session.read_parquet(f"file://{tmp_path}/")
    files.explain()
    assert "on the driver's threads" in capsys.readouterr().out
    files.map_batches(lambda b: b).explain()
    assert "on worker processes" in capsys.readouterr().out
    # Each task reads its part and writes its result, which the driver reads back.
    assert "requests: about 8 GET, 4 PUT, 1 LIST" in text


def test_select_right_after_read_reads_only_those_columns(
    session: squall.Session, tmp_path: Path
) -> None:
    table = awkward_table(200)
    pq.write_table(table, tmp_path / "one.parquet")
    ds = session.read_parquet(str(tmp_path / "one.parquet")).select(["station", "i"])
    assert ds.collect().equals(table.select(["station", "i"]))


def test_reading_a_list_of_urls(session: squall.Session, tmp_path: Path) -> None:
    a, b = pa.table({"v": [1, 2]}), pa.table({"v": [3]})
    pq.write_table(a, tmp_path / "a.parquet")
    pq.write_table(b, tmp_path / "b.parquet")
    ds = session.read_parquet([str(tmp_path / "b.parquet"), f"file://{tmp_path}/a.parquet"])
    assert ds.collect()["v"].to_pylist() == [3, 1, 2]


def test_missing_path_names_it(session: squall.Session, tmp_path: Path) -> None:
    with pytest.raises(squall.StoreNotFoundError, match="nothing-here") as info:
        session.read_parquet(f"file://{tmp_path}/nothing-here/*.parquet")
    assert isinstance(info.value, FileNotFoundError)
    with pytest.raises(squall.StoreNotFoundError):
        session.read_parquet(str(tmp_path / "missing.parquet"))


def test_corrupt_parquet_names_the_file(session: squall.Session, tmp_path: Path) -> None:
    pq.write_table(pa.table({"v": [1]}), tmp_path / "good.parquet")
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 this is not parquet PAR1")
    # The engine's failure is the engine's error class, not the user's TaskError.
    with pytest.raises(squall.DataError, match=r"partition 0: .*bad\.parquet"):
        session.read_parquet(f"file://{tmp_path}/").collect()


def test_schema_mismatch_across_files_is_named(session: squall.Session, tmp_path: Path) -> None:
    """Files of one input whose column types differ (a dataset written over the years) are
    refused by whatever reads them, naming both files, the column and the types; a sort of
    them once failed in the engine's row encoding, or lost its workers to a panic."""
    n = 1_000
    a = pa.table({"k": np.arange(n), "v": pa.array(np.arange(n), pa.int32()), "s": ["x"] * n})
    pq.write_table(a, tmp_path / "a.parquet")
    b = {"k": np.arange(n), "v": np.arange(n) * 0.5, "s": ["y"] * n, "extra": np.arange(n)}
    pq.write_table(pa.table(b), tmp_path / "b.parquet")
    ds = session.read_parquet(f"file://{tmp_path}/")
    wrong = r"b\.parquet.*column \"v\" is Float64, but Int32 in .*a\.parquet"
    for action in [
        lambda: ds.collect(),
        lambda: ds.sort("v").collect(),
        lambda: ds.groupby("v").agg(n=(None, "count")).collect(),
        lambda: ds.filter(squall.col("k") > 3).write_parquet(f"file://{tmp_path}/out"),
    ]:
        with pytest.raises(squall.DataError, match=wrong):
            action()
    # Columns that agree, read alone, are fine; strings stored as a dictionary in one file
    # (a pandas categorical) and plainly in another are read as the first file has them.
    got = ds.select(["k", "s"]).groupby("s").agg(n=("k", "count")).collect().sort_by("s")
    assert got.to_pylist() == [{"s": "x", "n": n}, {"s": "y", "n": n}]
    coded = pa.table({"k": np.arange(n), "s": pa.array(["z"] * n).dictionary_encode()})
    pq.write_table(coded, tmp_path / "c.parquet")
    pq.write_table(pa.table({"k": np.arange(n), "s": ["w"] * n}), tmp_path / "d.parquet")
    both = session.read_parquet([f"file://{tmp_path}/c.parquet", f"file://{tmp_path}/d.parquet"])
    got = both.groupby("s").agg(n=("k", "count")).collect().sort_by("s")
    assert got.to_pylist() == [{"s": "w", "n": n}, {"s": "z", "n": n}]
    whole = both.collect()
    assert pa.types.is_dictionary(whole["s"].type)
    assert whole["s"].to_pylist() == ["z"] * n + ["w"] * n
    assert both.sort("s").collect()["s"].to_pylist() == ["w"] * n + ["z"] * n
    both.write_parquet(f"file://{tmp_path}/both")
    written = session.read_parquet(f"file://{tmp_path}/both").collect()
    assert sorted(written["s"].to_pylist()) == ["w"] * n + ["z"] * n
    plain = session.read_parquet([f"file://{tmp_path}/d.parquet", f"file://{tmp_path}/c.parquet"])
    assert plain.collect()["s"].type == pa.string()


def test_later_files_in_narrower_types_are_read_in_the_first_file_s(
    session: squall.Session, tmp_path: Path
) -> None:
    """A dataset whose later files store a column in a narrower type the first file's holds
    exactly (int32 for int64, float32 for float64: a writer that changed) is read in the first
    file's types by every action, the Parquet group-by included; the other way round (values
    that may not fit) is refused, naming both files."""
    rng = np.random.default_rng(4)
    n = 5_000
    wide = pa.table({"k": rng.integers(-50, 50, n), "v": rng.standard_normal(n)})
    narrow = pa.table(
        {
            "k": pa.array(rng.integers(-50, 50, n), pa.int32()),
            "v": pa.array(rng.standard_normal(n), pa.float32()),
        }
    )
    pq.write_table(wide, tmp_path / "a.parquet")
    pq.write_table(narrow, tmp_path / "b.parquet")
    ds = session.read_parquet(f"file://{tmp_path}/")
    oracle = pa.concat_tables([wide, narrow.cast(wide.schema)])
    by = [("k", "ascending"), ("v", "ascending")]
    got = ds.collect()
    assert got.schema.field("k").type == pa.int64() and got.schema.field("v").type == pa.float64()
    assert got.sort_by(by).equals(oracle.sort_by(by))
    assert ds.sort("k").collect().sort_by(by).equals(oracle.sort_by(by))
    sums = ds.groupby("k").agg(s=("v", "sum"), n=("v", "count")).collect().sort_by("k")
    want = oracle.group_by("k").aggregate([("v", "sum"), ("v", "count")]).sort_by("k")
    assert sums["k"].to_pylist() == want["k"].to_pylist()
    assert sums["n"].to_pylist() == want["v_count"].to_pylist()
    assert np.allclose(sums["s"].to_numpy(), want["v_sum"].to_numpy())
    backwards = session.read_parquet(
        [f"file://{tmp_path}/b.parquet", f"file://{tmp_path}/a.parquet"]
    )
    with pytest.raises(
        squall.DataError, match=r"a\.parquet.*\"k\" is Int64, but Int32 in .*b\.parquet"
    ):
        backwards.collect()


def test_a_column_declared_without_nulls_in_one_file_and_with_them_in_another(
    session: squall.Session, tmp_path: Path
) -> None:
    """Spark writes columns it knows hold no nulls as required, pandas as optional: a sort of
    such files put both kinds in one batch, which failed ("declared as non-nullable but
    contains null values")."""
    rng = np.random.default_rng(3)
    n = 20_000
    required = pa.schema([pa.field("k", pa.int64(), nullable=False), pa.field("v", pa.float64())])
    a = pa.table({"k": rng.integers(0, 500, n), "v": rng.standard_normal(n)}, schema=required)
    keys = rng.integers(0, 500, n).astype(float)
    keys[::7] = np.nan
    b = pa.table({"k": pa.array(keys, mask=np.isnan(keys)).cast(pa.int64()), "v": rng.random(n)})
    pq.write_table(a, tmp_path / "a.parquet")
    pq.write_table(b, tmp_path / "b.parquet")
    ds = session.read_parquet(f"file://{tmp_path}/")
    oracle = pa.concat_tables([a.cast(b.schema), b])
    by = [("k", "ascending"), ("v", "ascending")]
    want = oracle.sort_by(by)
    sorted_ = ds.sort("k").collect()
    assert sorted_["k"].null_count == b["k"].null_count
    assert sorted_.sort_by(by).equals(want)
    assert sorted_["k"].drop_null().to_pylist() == sorted(oracle["k"].drop_null().to_pylist())
    ds.sort("k").write_parquet(f"file://{tmp_path}/out")
    assert pq.read_table(tmp_path / "out").sort_by(by).equals(want)
    counts = ds.groupby("k").agg(n=("v", "count")).collect().sort_by("k")
    assert counts.equals(
        oracle.group_by("k").aggregate([("v", "count")]).rename_columns(["k", "n"]).sort_by("k")
    )


def test_files_whose_columns_lie_in_another_order_are_read_by_name(
    session: squall.Session, tmp_path: Path
) -> None:
    """Files of one input with the same columns in another order, one more column, or another
    nullability (pyarrow and Spark write non-null columns as required): every file is read as
    the first file has its columns. A sort once stacked them by position, with no error: the
    second file's `v` values under `k`."""
    n = 2_000
    rng = np.random.default_rng(7)
    k = rng.permutation(3 * n)
    v = rng.integers(0, 50, 3 * n)
    required = pa.schema([pa.field("k", pa.int64(), nullable=False), pa.field("v", pa.int64())])
    pq.write_table(pa.table({"k": k[:n], "v": v[:n]}, schema=required), tmp_path / "a.parquet")
    holes = np.arange(n) % 7 == 0
    b = {"v": pa.array(v[n : 2 * n], mask=holes), "extra": ["e"] * n, "k": k[n : 2 * n]}
    pq.write_table(pa.table(b), tmp_path / "b.parquet", row_group_size=500)
    pq.write_table(pa.table({"v": v[2 * n :], "k": k[2 * n :]}), tmp_path / "c.parquet")
    files = [pq.read_table(tmp_path / f"{f}.parquet", columns=["k", "v"]) for f in "abc"]
    expected = pa.concat_tables([f.cast(required) for f in files])
    by_k = expected.sort_by("k").to_pylist()
    ds = session.read_parquet(f"file://{tmp_path}/")
    assert ds.collect().sort_by("k").to_pylist() == by_k
    assert ds.sort("k", num_partitions=3).collect().to_pylist() == by_k
    assert ds.map_batches(lambda t: t).collect().sort_by("k").to_pylist() == by_k
    assert ds.filter(squall.col("k") >= 0).collect().sort_by("k").to_pylist() == by_k
    sums = ds.groupby("v").agg(s=("k", "sum")).collect().sort_by("v").to_pylist()
    oracle = expected.group_by("v").aggregate([("k", "sum")]).rename_columns(["v", "s"])
    assert sums == oracle.sort_by("v").to_pylist()
    ds.write_parquet(f"file://{tmp_path}/out")
    written = pq.read_table(tmp_path / "out").select(["k", "v"])
    assert written.sort_by("k").to_pylist() == by_k
    # Columns that share a name are read as they lie, not the first of them twice.
    twins = pa.Table.from_arrays([pa.array([1, 2]), pa.array([3, 4])], names=["a", "a"])
    pq.write_table(twins, tmp_path / "twins.parquet")
    for dataset in [
        session.read_parquet(f"file://{tmp_path}/twins.parquet"),
        session.from_arrow(twins),
    ]:
        assert dataset.collect().equals(twins)
    (tmp_path / "twins.parquet").unlink()
    # A file without a column that is read is named, with the column.
    pq.write_table(pa.table({"k": [1]}), tmp_path / "d.parquet")
    with pytest.raises(squall.DataError, match=r"d\.parquet.*no column named \"v\""):
        session.read_parquet(f"file://{tmp_path}/*.parquet").sort("k").collect()


def test_a_file_rewritten_after_its_dataset_was_made_is_named(
    session: squall.Session, tmp_path: Path
) -> None:
    """A notebook cell run again after the data was made anew: the dataset made before reads
    a file that is no longer the one planned. The error says so (it once said the footer was
    corrupt), and a dataset made again reads the new file."""
    path = tmp_path / "a.parquet"
    pq.write_table(pa.table({"k": np.arange(1_000)}), path, row_group_size=100)
    ds = session.read_parquet(f"file://{path}")
    pq.write_table(pa.table({"k": np.arange(5_000)}), path, row_group_size=100)
    with pytest.raises(squall.DataError, match=r"a\.parquet.*changed after its dataset was made"):
        ds.collect()
    assert session.read_parquet(f"file://{path}").count() == 5_000


def test_udf_returning_the_wrong_type(session: squall.Session) -> None:
    def wrong(batch: pa.RecordBatch) -> list[int]:
        return [1, 2, 3]

    ds = session.range(10, 2)
    with pytest.raises(squall.TaskError, match=r"map_batches\(wrong\) must return") as info:
        ds.map_batches(wrong).collect()
    assert isinstance(info.value.__cause__, TypeError)
    with pytest.raises(squall.TaskError, match=r"filter\(<lambda>\) must return a boolean"):
        ds.filter(lambda b: pc.add(b["id"], 1)).collect()
    with pytest.raises(squall.DataError, match="nope"):
        ds.map_batches(lambda b: b).select(["nope"]).collect()
    with pytest.raises(ValueError, match="batch_format"):
        ds.map_batches(wrong, batch_format="polars")
    with pytest.raises(squall.PlanError, match="twice"):
        ds.select(["id", "id"])


def test_a_failed_write_leaves_no_manifest(session: squall.Session, tmp_path: Path) -> None:
    def fail_on_partition_two(batch: pa.RecordBatch) -> pa.RecordBatch:
        if batch.num_rows and batch["id"][0].as_py() >= 20:
            raise RuntimeError("instrument offline")
        return batch

    with pytest.raises(squall.TaskError, match="instrument offline"):
        session.range(30, 3).map_batches(fail_on_partition_two).write_parquet(
            f"file://{tmp_path}/out"
        )
    assert not (tmp_path / "out" / "_manifest.json").exists()


def test_writes_commit_one_attempt_per_partition_and_hide_late_duplicates(
    session: squall.Session, root: str
) -> None:
    out = f"{root}/dir with space/ünï"
    manifest = session.range(1000, 4).write_parquet(out)
    names = [f["name"] for f in manifest["files"]]
    tag = manifest["job"].rsplit("-", 1)[1]
    assert names == [f"part-0000{i}-{tag}.parquet" for i in range(4)]
    listed = squall._native.resolve(f"{out}/")
    assert [u.rsplit("/", 1)[1] for u, _, _ in listed] == names  # no _attempts/ left behind
    # A superseded attempt that finishes after the commit writes under _attempts/ only:
    # readers never see it, and the committed files are untouched.
    late = pa.table({"id": pa.array([-1, -2], pa.int64())})
    job = manifest["job"]
    squall._native.write_table(
        late, f"{out}/_attempts/{job}/part-00000.attempt-1.parquet", "parquet"
    )
    back = session.read_parquet(out).collect()
    assert sorted(back.column("id").to_pylist()) == list(range(1000))


def test_module_level_readers(tmp_path: Path) -> None:
    items = [{"k": i, "name": f"n{i}"} for i in range(10)]
    squall.from_items(items, 2).write_ipc(str(tmp_path / "ipc"))
    back = squall.read_ipc(str(tmp_path / "ipc" / "*.arrow")).collect()
    assert back.to_pylist() == items
    import pandas as pd

    df = pd.DataFrame({"a": [1.5, 2.5]})
    assert squall.from_pandas(df).to_pandas().equals(df)


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("root", ["s3"], indirect=True)  # file:// and memory://: smaller tests
def test_one_300_mb_partition(session: squall.Session, root: str) -> None:
    # Past 256 MiB: uploaded in 16 parts, read back in ranges of 8 MB.
    rows = 3_000_000
    offsets = pa.array(np.arange(rows, dtype=np.int32) * 100, pa.int32())
    noise = np.random.default_rng(3).bytes(rows * 100)
    blob = pa.FixedSizeBinaryArray.from_buffers(pa.binary(100), rows, [None, pa.py_buffer(noise)])
    table = pa.table({"offset": offsets, "blob": blob})
    assert table.nbytes >= 300_000_000
    session.from_arrow(table, 1).write_ipc(f"{root}/big")
    out = session.read_ipc(f"{root}/big/").map_batches(lambda b: b).collect()
    assert out.equals(table)


def test_reads_ipc_written_by_pyarrow_with_lz4_and_zstd(
    session: squall.Session, tmp_path: Path
) -> None:
    table = awkward_table(300)
    for codec in ("lz4", "zstd"):
        options = pa.ipc.IpcWriteOptions(compression=codec)
        with pa.ipc.new_file(tmp_path / f"{codec}.arrow", table.schema, options=options) as w:
            w.write_table(table)
        with pa.ipc.new_stream(
            tmp_path / f"{codec}-stream.arrow", table.schema, options=options
        ) as w:
            w.write_table(table)
    back = session.read_ipc(f"file://{tmp_path}/*.arrow").collect()
    assert back.equals(pa.concat_tables([table] * 4))


def test_selecting_columns_reads_only_their_bytes(session: squall.Session, root: str) -> None:
    rng = np.random.default_rng(0)
    n = 200_000
    big = pa.array([rng.bytes(50) for _ in range(n)], pa.binary())  # incompressible
    table = pa.table({"small": np.arange(n, dtype=np.int8) % 100, "big": big})
    session.from_arrow(table, 1).write_parquet(f"{root}/wide")
    size = sum(s for _, s, _ in squall._native.resolve(f"{root}/wide/"))
    ds = session.read_parquet(f"{root}/wide/").select(["small"])
    assert ds.count() == n
    assert session.last_job is not None
    read = sum(session.last_job.stats["bytes_read"].to_pylist())
    assert read < size / 4, f"read {read} of {size} bytes"
    assert ds.collect().equals(table.select(["small"]))


def test_stages_without_python_functions_run_no_python(
    session: squall.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    import squall._task

    framed: list[str] = []
    real = squall._task.load_function

    def counted(digest: str, pickled: bytes | None) -> object:
        framed.append(digest)
        return real(digest, pickled)

    monkeypatch.setattr(squall._task, "load_function", counted)
    table = pa.table({"k": [2, 1, 2, 3], "v": [1.0, 2.0, 3.0, 4.0]})
    ds = session.from_arrow(table, num_partitions=2)
    sums = ds.groupby("k").agg(s=("v", "sum")).collect().sort_by("k")
    assert sums.to_pydict() == {"k": [1, 2, 3], "s": [2.0, 4.0, 4.0]}
    assert ds.sort("v", descending=True).collect()["k"].to_pylist() == [3, 2, 1, 2]
    assert session.last_job is not None
    workers = set(session.last_job.stats["worker"].to_pylist())
    assert workers and all(w.startswith("thread-") for w in workers), workers
    assert framed == [], "the engine ran these stages' tasks on the driver's threads, no Python"
    # A function of the user's on data in this process's memory runs here, through Python.
    ds.write_ipc("memory://no-python-test/")
    kept = session.read_ipc("memory://no-python-test/")
    doubled = kept.map_batches(lambda b: b.set_column(1, "v", pc.multiply(b["v"], 2))).collect()
    assert sorted(doubled["v"].to_pylist()) == [2.0, 4.0, 6.0, 8.0]
    assert len(framed) == kept.num_partitions
    squall._native.delete(["memory://no-python-test/"], prefix=True)
