"""One big Parquet file is read as several partitions of row groups: every row exactly once, in
the file's order, each partition fetching only its own row groups; on every store."""

from __future__ import annotations

import io

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import squall
from squall import _native


def table(rows: int, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    keys = np.array([f"station-{i:03d}" for i in range(50)])
    v = rng.normal(size=rows)
    return pa.table(
        {
            "id": np.arange(rows),
            "k": pa.array(keys[rng.integers(0, 50, rows)]),
            "v": pa.array(v, mask=rng.random(rows) < 0.05),
        }
    )


def put_parquet(url: str, t: pa.Table, row_group_rows: int) -> None:
    sink = io.BytesIO()
    pq.write_table(t, sink, row_group_size=row_group_rows)
    _native.write_bytes(url, sink.getvalue())


@pytest.mark.parametrize(
    ("rows", "row_group_rows", "partitions"),
    # 10 row groups over a target of a tenth of the file: 10 partitions; 200 row groups in a
    # file under the target: one partition per worker; one row group: no split.
    [(100_000, 10_000, 10), (200, 1, 4), (5_000, 5_000, 1)],
    ids=["10 row groups", "200 tiny row groups", "one row group"],
)
def test_a_big_file_is_read_as_partitions_of_row_groups(
    root: str, rows: int, row_group_rows: int, partitions: int, capsys: pytest.CaptureFixture[str]
) -> None:
    expected = table(rows)
    url = f"{root}/big.parquet"
    put_parquet(url, expected, row_group_rows)
    data = _native.read_bytes(url)
    size, footer = len(data), pq.ParquetFile(io.BytesIO(data)).metadata.serialized_size
    target = size // 10 if row_group_rows == 10_000 else 10 * size
    with squall.Session(workers=4, target_partition_bytes=target) as session:
        ds = session.read_parquet(url)
        assert ds.num_partitions == partitions
        ds.explain()
        text = capsys.readouterr().out
        assert "read    1 parquet file" in text
        assert (f"as {partitions} partitions of row groups" in text) == (partitions > 1)
        got = ds.collect()
        assert got.equals(expected)  # every row once, in the file's order
        assert ds.count() == rows
        stats = session.last_job.stats.to_pandas() if session.last_job else None
        assert stats is not None and len(stats) == partitions
        # Each partition fetched its own row groups (and the footer): together the data once.
        assert stats["bytes_read"].sum() < 1.2 * size + partitions * (footer + 64 * 1024)
        by_key = ds.groupby("k").agg(s=("v", "sum"), n=("v", "count")).sort("k").collect()
        oracle = expected.group_by("k").aggregate([("v", "sum"), ("v", "count")]).sort_by("k")
        assert by_key.column("k").equals(oracle.column("k"))
        assert by_key.column("n").equals(oracle.column("v_count"))
        np.testing.assert_allclose(by_key.column("s").to_numpy(), oracle.column("v_sum").to_numpy())
        ordered = ds.sort("v", descending=True).collect()
        assert ordered.num_rows == rows
        assert (
            ordered.column("id").to_pylist()[: rows // 2]
            == (
                expected.take(pc.sort_indices(expected, [("v", "descending")])).column("id")
            ).to_pylist()[: rows // 2]
        )


def test_small_files_are_not_split_when_there_are_enough_of_them(
    tmp_path: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for i in range(4):
        put_parquet(f"file://{tmp_path}/part-{i}.parquet", table(1_000, seed=i), 100)
    with squall.Session(workers=4) as session:
        ds = session.read_parquet(f"file://{tmp_path}/")
        assert ds.num_partitions == 4
        ds.explain()
        assert "partitions of row groups" not in capsys.readouterr().out
        assert ds.count() == 4_000


def test_a_file_that_lost_row_groups_since_planning_is_a_clear_error(tmp_path: str) -> None:
    url = f"file://{tmp_path}/changing.parquet"
    put_parquet(url, table(10_000), 1_000)
    with squall.Session(workers=4) as session:
        ds = session.read_parquet(url)
        assert ds.num_partitions == 4
        put_parquet(url, table(10_000), 10_000)  # rewritten with one row group
        with pytest.raises(squall.DataError, match=r"changing\.parquet"):
            ds.collect()


def test_a_groupby_reads_only_the_columns_it_uses(
    root: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 2 MB column nobody aggregates is never fetched: the scan's bytes are its keys' and
    values', with or without a select before the group-by."""
    rows = 20_000
    rng = np.random.default_rng(3)
    t = table(rows).append_column("blob", pa.array([rng.bytes(100) for _ in range(rows)]))
    url = f"{root}/wide.parquet"
    put_parquet(url, t, rows // 4)
    size = len(_native.read_bytes(url))
    oracle = t.group_by("k").aggregate([("v", "max"), ("id", "sum")]).sort_by("k")
    with squall.Session(workers=2) as session:
        plain, selected = session.read_parquet(url), session.read_parquet(url)
        for ds, read in (
            (plain, "k, v, id"),
            (selected.select(["v", "blob", "k", "id"]), "v, k, id"),
        ):
            by_key = ds.groupby("k").agg(hi=("v", "max"), total=("id", "sum"))
            by_key.explain()
            assert f"only columns {read}\n" in capsys.readouterr().out
            got = by_key.sort("k").collect()
            assert got.column("hi").equals(oracle.column("v_max"))
            assert got.column("total").equals(oracle.column("id_sum"))
            assert session.last_job is not None
            stats = session.last_job.stats.to_pandas()
            first = stats[stats["stage"] == stats["stage"].iloc[0]]
            # The blob column is about 2 MB of the file; keys, values and footers are far less.
            assert first["bytes_read"].sum() < size / 4, (first["bytes_read"].sum(), size)


@pytest.mark.parametrize("compression", ["none", "zstd"])
def test_a_big_ipc_file_is_read_as_partitions_of_record_batches(
    root: str, compression: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """An Arrow IPC file (with a dictionary column) splits by record batches: every row once,
    in order, each partition fetching its own batches; an IPC stream stays whole."""
    import pyarrow.ipc as ipc

    expected = table(60_000).append_column(
        "d", pa.array(["a", "b", None, "c"] * 15_000).dictionary_encode()
    )
    sink = io.BytesIO()
    options = ipc.IpcWriteOptions(compression=None if compression == "none" else compression)
    with ipc.new_file(sink, expected.schema, options=options) as writer:
        for batch in expected.to_batches(max_chunksize=5_000):
            writer.write_batch(batch)
    url = f"{root}/big.arrow"
    _native.write_bytes(url, sink.getvalue())
    size = len(sink.getvalue())
    with squall.Session(workers=4, target_partition_bytes=size // 6) as session:
        ds = session.read_ipc(url)
        assert ds.num_partitions >= 6
        ds.explain()
        assert "partitions of record batches" in capsys.readouterr().out
        got = ds.collect()
        assert got.equals(expected)
        stats = session.last_job.stats.to_pandas() if session.last_job else None
        assert stats is not None
        assert stats["bytes_read"].sum() < 1.3 * size + ds.num_partitions * 64 * 1024
        assert ds.select(["id", "k"]).collect().equals(expected.select(["id", "k"]))
        stream = io.BytesIO()
        with ipc.new_stream(stream, expected.schema) as writer:
            writer.write_table(expected, max_chunksize=5_000)
        _native.write_bytes(f"{root}/stream.arrow", stream.getvalue())
        whole = session.read_ipc(f"{root}/stream.arrow")
        assert whole.num_partitions == 1 and whole.collect().equals(expected)
