"""The memory budget (``Session(memory_limit=...)``): tasks are cut small enough to fit it, no
more run at once than fit together, shuffles that would not fit in memory go to disk, and a plan
that cannot fit is refused before anything runs. Results are checked against pyarrow."""

from __future__ import annotations

import contextlib
import io
import itertools
import os
import random
import signal
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import squall


def rows(n: int, seed: int) -> pa.Table:
    """Rows of an integer key, a string key of 1,000 values, a float and a 40-byte payload:
    about 70 bytes a row decoded."""
    rng = np.random.default_rng(seed)
    payload = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(40), n, [None, pa.py_buffer(rng.bytes(40 * n))]
    )
    return pa.table(
        {
            "k": rng.integers(0, 2**62, n),
            "s": pa.array([f"site-{i}" for i in rng.integers(0, 1000, n)]),
            "v": rng.standard_normal(n),
            "id": np.arange(n),
            "p": payload,
        }
    )


def write_files(table: pa.Table, where: str, files: int, row_group: int) -> str:
    """``table`` as ``files`` Parquet files of ``row_group`` rows per row group under ``where``."""
    step = -(-table.num_rows // files)
    for i in range(files):
        part = table.slice(i * step, step)
        pq.write_table(
            part, f"{where.removeprefix('file://')}/part-{i}.parquet", row_group_size=row_group
        )
    return where


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The sessions' scratch (shuffles on disk, spills) in a directory of the test's own."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    return scratch


def spans(record: squall.JobRecord, stage: str) -> list[tuple[float, float]]:
    """(started, finished) of each attempt of ``stage``, in start order."""
    stats = record.stats.to_pylist()
    got = [(r["started"], r["finished"]) for r in stats if r["stage"] == stage]
    assert got, f"no attempt of {stage}: {sorted({r['stage'] for r in stats})}"
    return sorted((a.timestamp(), b.timestamp()) for a, b in got)


def test_a_sort_bigger_than_its_budget_runs_in_small_tasks_and_loses_nothing_to_kill_9(
    where: str, tmp_path: Path, worker_pids: Callable[[], list[int]]
) -> None:
    table = rows(400_000, 1)  # about 28 MB decoded, against a budget of 24 MB
    src = tmp_path / "in"
    src.mkdir()
    write_files(table, f"file://{src}", files=4, row_group=25_000)
    kills: list[int] = []
    with squall.Session(workers=2, in_process=False, memory_limit="24MB", retries=6) as s:
        assert s.budget.task_input == 3_000_000
        if where.startswith("s3://"):
            s.read_parquet(f"file://{src}").write_parquet(f"{where}/in")
            src_url = f"{where}/in"
        else:
            src_url = f"file://{src}"
        ds = s.read_parquet(src_url)
        stop = threading.Event()

        def chaos() -> None:
            rand = random.Random(3)
            # The first kill comes early: on a quiet machine the whole sort takes under a second.
            while not stop.wait(0.15 if not kills else 0.3) and len(kills) < 3:
                pids = worker_pids()
                if pids:
                    pid = rand.choice(pids)
                    os.kill(pid, signal.SIGKILL)
                    kills.append(pid)

        killer = threading.Thread(target=chaos, daemon=True)
        killer.start()
        try:
            ds.sort("k").write_parquet(f"{where}/out")
        finally:
            stop.set()
            killer.join()
        record = s.last_job
    with squall.Session() as reader:  # the budget's own refusal to collect 28 MB aside
        out = reader.read_parquet(f"{where}/out").collect()
    assert kills, "no worker was killed: the test proved nothing about kill -9"
    assert out.num_rows == table.num_rows
    assert out.column("k").to_pylist() == sorted(table.column("k").to_pylist())
    assert sorted(out.column("id").to_pylist()) == list(range(table.num_rows))  # each row once
    by_id = out.sort_by("id")
    assert by_id.column("p").equals(table.column("p")) and by_id.column("s").equals(
        table.column("s")
    )
    assert record is not None
    tasks: dict[str, set[int]] = {}
    for r in record.stats.to_pylist():
        tasks.setdefault(r["stage"], set()).add(r["task"])
    # Tasks planned for 3 MB of decoded rows each (24 MB for two workers, each task holding
    # about four times its input): the 4 files are cut into more map tasks, and the 28 MB go
    # to at least nine reducers.
    assert len(tasks["squall.sort (map)"]) > 4
    assert len(tasks["squall.write_parquet (reduce)"]) >= 9


def test_tasks_that_cannot_be_cut_smaller_run_fewer_at_once(tmp_path: Path) -> None:
    table = rows(480_000, 2)
    # Row groups of about 8 MB decoded, a budget of 48 MB for 3 workers (16 MB a task, planned
    # for 4 MB of input): each map task needs about 32 MB, so they run one at a time.
    write_files(table, f"file://{tmp_path}", files=1, row_group=120_000)
    with squall.Session(workers=3, in_process=False, memory_limit="48MB") as s:
        ds = s.read_parquet(f"file://{tmp_path}")
        got = ds.groupby("s").agg(n=("v", "count"), total=("v", "sum")).collect()
        record = s.last_job
    expected = table.group_by("s").aggregate([("v", "count"), ("v", "sum")])
    got_d = {r["s"]: (r["n"], r["total"]) for r in got.to_pylist()}
    exp_d = {r["s"]: (r["v_count"], r["v_sum"]) for r in expected.to_pylist()}
    assert got_d.keys() == exp_d.keys()
    for key, (n, total) in exp_d.items():
        assert got_d[key][0] == n and got_d[key][1] == pytest.approx(total, rel=1e-9, abs=1e-9)
    assert record is not None
    maps = spans(record, "squall.groupby (map)")
    assert len(maps) == 4
    overlaps = [(a, b) for a, b in itertools.pairwise(maps) if b[0] < a[1]]
    assert not overlaps, f"map tasks ran at once beyond the budget: {overlaps}"


def test_a_plan_that_cannot_fit_is_refused_before_anything_runs(tmp_path: Path) -> None:
    table = rows(300_000, 3)  # one row group of about 21 MB decoded
    write_files(table, f"file://{tmp_path}", files=1, row_group=300_000)
    with squall.Session(workers=2, memory_limit="40MB") as s:
        ds = s.read_parquet(f"file://{tmp_path}")
        with pytest.raises(squall.PlanError) as err:
            ds.sort("k").write_parquet(f"file://{tmp_path}/out")
        text = str(err.value)
        assert "part-0.parquet" in text and "memory_limit=40.0 MB" in text, text
        assert "row_group_size" in text, text
        assert s.last_job is None or not s.last_job.stats.num_rows
        assert not (tmp_path / "out").exists()
    small = tmp_path / "small"
    small.mkdir()
    write_files(table, f"file://{small}", files=6, row_group=10_000)
    with squall.Session(workers=2, memory_limit="20MB") as s:
        ds = s.read_parquet(f"file://{small}")
        with pytest.raises(
            squall.PlanError,
            match=r"sort\(num_partitions=1\) gives each reducer .* use num_partitions=5 or more",
        ):
            ds.sort("k", num_partitions=1).write_parquet(f"file://{tmp_path}/out")
        with pytest.raises(squall.PlanError, match=r"collect\(\) would bring about"):
            ds.sort("k").collect()
        # What fits runs: a group-by's result is small, and so is a sort of one column.
        assert ds.groupby("s").agg(n=("v", "count")).count() == 1000
        assert ds.select(["v"]).sort("v").count() == table.num_rows


def test_memory_limits_are_read_as_people_write_them() -> None:
    def limit(given: int | str | None) -> int:
        with squall.Session(memory_limit=given) as s:
            return int(s.budget.limit)

    assert limit("1.5GiB") == 3 << 29
    assert limit(" 512 mb") == 512_000_000
    assert limit(2_000_000_000) == 2_000_000_000
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert 0 < limit(None) <= total * 0.75 + 1
    with pytest.raises(ValueError, match=r'memory_limit="lots": write a size such as "8GB"'):
        squall.Session(memory_limit="lots")
    with pytest.raises(ValueError, match=r"below the 16.0 MB"):
        squall.Session(memory_limit="1MB")
    with pytest.raises(TypeError, match="memory_limit"):
        squall.Session(memory_limit=True)


def test_explain_shows_each_stage_s_memory_and_the_budget(tmp_path: Path) -> None:
    write_files(rows(100_000, 4), f"file://{tmp_path}", files=2, row_group=10_000)
    with squall.Session(workers=2, memory_limit="64MB") as s:
        ds = s.read_parquet(f"file://{tmp_path}").sort("k")
        text = io.StringIO()
        with contextlib.redirect_stdout(text):
            ds.explain()
    lines = text.getvalue().splitlines()
    memory = [line for line in lines if line.strip().startswith("memory  about")]
    assert len(memory) == 3, lines  # sample, map, reduce
    assert all("decoded input x 4" in line for line in memory), memory
    assert "memory: a budget of 64.0 MB for all tasks at once (memory_limit)" in lines
    assert not any(line.startswith("refused") for line in lines), lines


def test_a_group_by_reducer_too_big_for_the_budget_aggregates_part_by_part(
    where: str,
    tmp_path: Path,
    worker_pids: Callable[[], list[int]],
    scratch: Path,
) -> None:
    """...and a kill -9 of the workers while the reducer spills its parts loses nothing: its
    retry spills apart (its attempt's own objects) and the answer is still pyarrow's."""
    rng = np.random.default_rng(5)
    n = 400_000
    # Keys that barely repeat: map tasks send rows, and one reducer gets all 400,000 of them
    # (num_partitions=1), about 13 MB against a task's share of 12 MB.
    table = pa.table(
        {"k": rng.integers(0, 300_000, n), "v": rng.standard_normal(n), "w": rng.random(n)}
    )
    src = tmp_path / "in"
    src.mkdir()
    write_files(table, f"file://{src}", files=4, row_group=50_000)
    kills: list[int] = []
    with squall.Session(workers=2, in_process=False, memory_limit="24MB", retries=3) as s:
        url = f"file://{src}"
        if where.startswith("s3://"):
            s.read_parquet(url).write_parquet(f"{where}/in")
            url = f"{where}/in"
        grouped = s.read_parquet(url).groupby("k", num_partitions=1)
        aggs = {"n": ("v", "count"), "s": ("v", "sum"), "hi": ("w", "max"), "mid": ("v", "median")}
        stop = threading.Event()

        def kill_when_spilling() -> None:
            while not stop.wait(0.005):
                if any(scratch.glob("**/spill-*/*")):
                    for pid in worker_pids():
                        os.kill(pid, signal.SIGKILL)
                        kills.append(pid)
                    return

        killer = threading.Thread(target=kill_when_spilling, daemon=True)
        killer.start()
        try:
            grouped.agg(**aggs).write_parquet(f"{where}/out")
        finally:
            stop.set()
            killer.join()
        record = s.last_job
    with squall.Session() as reader:
        got = reader.read_parquet(f"{where}/out").collect().sort_by("k")
    expected = table.group_by("k").aggregate(
        [("v", "count"), ("v", "sum"), ("w", "max"), ("v", "approximate_median")]
    )
    expected = expected.sort_by("k")
    assert got.column("k").equals(expected.column("k"))
    assert got.column("n").to_pylist() == expected.column("v_count").to_pylist()
    assert got.column("hi").to_pylist() == expected.column("w_max").to_pylist()
    assert np.allclose(got.column("s").to_numpy(), expected.column("v_sum").to_numpy())
    medians = table.to_pandas().groupby("k")["v"].median().sort_index()
    assert np.array_equal(medians.index.to_numpy(), got.column("k").to_numpy())
    assert np.allclose(got.column("mid").to_numpy(), medians.to_numpy())
    assert record is not None
    reduces = [r for r in record.stats.to_pylist() if r["stage"] == "squall.write_parquet (reduce)"]
    assert len({r["task"] for r in reduces}) == 1
    assert kills, "no worker was killed while the reducer spilled"
    assert any(r["outcome"] != "ok" for r in reduces), reduces
    # The reducer spilled its slices split in parts (one object each), then wrote its file.
    assert all(r["puts"] > 1 for r in reduces if r["outcome"] == "ok"), reduces
    assert not list(scratch.glob("**/spill-*/*")), "a spill was left behind"


@contextlib.contextmanager
def files_seen(scratch: Path) -> Iterator[set[str]]:
    """The names of the Arrow files that appear under `scratch` while the block runs (looked
    for every 2 ms)."""
    seen: set[str] = set()
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(0.002):
            try:
                seen.update(p.name for p in scratch.glob("**/*.arrow"))
            except FileNotFoundError:  # a directory went while this walk was in it
                continue

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield seen
    finally:
        stop.set()
        watcher.join()


def test_beside_a_shuffle_on_disk_small_objects_stay_in_memory(
    tmp_path: Path, scratch: Path
) -> None:
    """A group-by of few keys over an input too big to shuffle in memory: its shuffle goes to
    disk, but its map tasks' partial states (a few rows each) and its reducers' results are
    held in memory, not written as a file each (creating files cost a 1e8-row group-by of 100
    keys a sixth of its time). A sort's runs, as big as its input, still go to disk past the
    eighth of the budget held in memory."""
    rng = np.random.default_rng(11)
    n = 2_000_000
    table = pa.table({"k": rng.integers(0, 100, n), "v": rng.standard_normal(n)})
    src = tmp_path / "in"
    src.mkdir()
    write_files(table, f"file://{src}", files=8, row_group=125_000)
    # 32 MB of keys and values, decoded: four times that is past the budget.
    with files_seen(scratch) as seen, squall.Session(memory_limit="64MB") as s:
        ds = s.read_parquet(f"file://{src}")
        got = ds.groupby("k").agg(n=("v", "count"), s=("v", "sum")).collect().sort_by("k")
        grouped = set(seen)
        ds.sort("v").write_parquet(f"file://{tmp_path}/sorted")
    expected = table.group_by("k").aggregate([("v", "count"), ("v", "sum")]).sort_by("k")
    assert got.column("k").equals(expected.column("k"))
    assert got.column("n").to_pylist() == expected.column("v_count").to_pylist()
    assert np.allclose(got.column("s").to_numpy(), expected.column("v_sum").to_numpy())
    assert not grouped, f"the group-by wrote {sorted(grouped)[:5]}"
    assert any(name.startswith("map-") for name in seen), f"the sort's runs: {sorted(seen)[:5]}"
    assert not list(scratch.glob("**/*.arrow")), "scratch was left behind"
    sorted_v = pq.read_table(tmp_path / "sorted").column("v").to_numpy()
    assert np.array_equal(np.sort(table.column("v").to_numpy()), np.sort(sorted_v))


def test_a_shuffle_too_big_for_memory_spills_only_what_does_not_fit(
    tmp_path: Path, scratch: Path
) -> None:
    """A group-by of distinct keys over an input too big to shuffle in memory: the map tasks'
    objects are held in memory while they fit in an eighth of the budget and the rest go to
    disk; the collected result is held in memory from the start, never written and read back.
    """
    rng = np.random.default_rng(12)
    n = 2_000_000
    table = pa.table({"k": rng.permutation(n), "v": rng.standard_normal(n)})
    src = tmp_path / "in"
    src.mkdir()
    write_files(table, f"file://{src}", files=8, row_group=125_000)
    # 32 MB of keys and values, decoded: four times that is past the budget.
    with files_seen(scratch) as seen, squall.Session(memory_limit="64MB") as s:
        got = s.read_parquet(f"file://{src}").groupby("k").agg(s=("v", "sum")).collect()
        record = s.last_job
    got = got.sort_by("k")
    assert got.column("k").to_numpy().tolist() == list(range(n))
    order = np.argsort(table.column("k").to_numpy())
    assert np.array_equal(got.column("s").to_numpy(), table.column("v").to_numpy()[order])
    assert record is not None
    maps = {r["task"] for r in record.stats.to_pylist() if r["stage"].endswith("(map)")}
    # Written through a temporary name first: map-00004.attempt-0.arrow, .squall-tmp-...
    written = {name.split("map-")[1].split(".")[0] for name in seen if "map-" in name}
    assert written, f"nothing spilled: {sorted(seen)}"
    assert len(written) < len(maps), f"every map object went to disk: {sorted(written)}"
    assert not [name for name in seen if "map-" not in name], sorted(seen)
    assert not list(scratch.glob("**/*.arrow")), "scratch was left behind"
