"""Job records (stats, summary, cost, timeline), speculative backups, and chaos during a sort."""

from __future__ import annotations

import functools
import os
import random
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import squall


def straggle_once(marker: Path) -> Callable[[int], int]:
    """Task 3's first attempt (the one that finds no `marker`) hangs for a minute; every other
    attempt takes 50 ms."""

    def run(x: int) -> int:
        if x == 3 and not marker.exists():
            marker.touch()
            time.sleep(60)
        time.sleep(0.05)
        return x * 10

    return run


def test_a_straggler_gets_a_backup_that_wins(session: squall.Session, tmp_path: Path) -> None:
    started = time.monotonic()
    futures = session.map(straggle_once(tmp_path / "hung"), range(20))
    assert futures.results() == [x * 10 for x in range(20)]
    assert time.monotonic() - started < 30  # the backup finished long before the hang would
    assert futures.job is not None and futures.job is session.last_job
    stats = futures.job.stats.to_pylist()
    task3 = sorted((r for r in stats if r["task"] == 3), key=lambda r: r["attempt"])
    assert [(r["attempt"], r["backup"], r["outcome"]) for r in task3] == [
        (0, False, "superseded"),
        (1, True, "ok"),
    ]
    assert task3[0]["duration"] >= 2.0  # it straggled past the 2 s floor before the backup
    assert sum(r["outcome"] == "ok" for r in stats) == 20  # one committed attempt per task
    assert futures[0]._job.native.progress()[6] == 1  # the progress bar counts the backup


def test_without_speculation_there_are_no_backups(session: squall.Session) -> None:
    futures = session.map(time.sleep, [0.01] * 8, speculation=False)
    futures.results()
    assert futures.job is not None
    stats = futures.job.stats
    assert stats.num_rows == 8
    assert not any(stats.column("backup").to_pylist())


@pytest.mark.parametrize("in_process", [True, False], ids=["threads", "workers"])
def test_stats_summary_and_cost_of_a_dataset_job(in_process: bool, tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    table = pa.table({"k": rng.integers(0, 1000, 50_000), "v": rng.normal(size=50_000)})
    with squall.Session(workers=2, in_process=in_process) as session:
        session.from_arrow(table, num_partitions=4).sort("k").write_parquet(str(tmp_path / "out"))
    job = session.last_job
    assert job is not None and job.label == "squall.write_parquet"
    stats = job.stats.to_pandas()
    assert set(stats["stage"]) == {
        "squall.sort (sample)",
        "squall.sort (map)",
        "squall.write_parquet (reduce)",
    }
    assert (stats["outcome"] == "ok").all()
    assert (stats["queued"] <= stats["started"]).all()
    assert (stats["started"] <= stats["finished"]).all()
    # Stages with no Python function run on the driver's threads unless told otherwise.
    assert stats["worker"].str.startswith("thread-" if in_process else "local-").all()
    # Map tasks write one shuffle object each, counted for that task alone even when two run
    # at once in one process; reducers read slices and write the output files.
    maps = stats[stats["stage"] == "squall.sort (map)"]
    assert (maps["puts"] == 1).all() and (maps["bytes_written"] > 0).all()
    reduces = stats[stats["stage"] == "squall.write_parquet (reduce)"]
    assert reduces["gets"].sum() >= 4 and reduces["bytes_read"].sum() > 0
    # Every attempt has its peak resident size: at least what the interpreter holds.
    assert (stats["peak_rss"] > 20 * 2**20).all()
    text = job.summary()
    assert "squall.sort (map): 4 tasks, 4 attempts (4 ok" in text
    peak = stats[stats["stage"] == "squall.sort (map)"]["peak_rss"].max()
    assert f"peak memory {peak / 1e6:,.0f} MB" in text
    assert f"memory budget {session.budget.limit / 1e6:,.0f} MB" in text.splitlines()[0]
    cost = job.cost(memory_mb=1024)
    assert cost.invocations == len(stats)
    expected_gb_s = sum(max(d, 0.001) for d in stats["duration"]) * 1024 / 1024
    assert cost.gb_seconds == pytest.approx(expected_gb_s)
    assert cost.s3_puts >= stats["puts"].sum() + 1  # the driver's manifest too
    assert cost.total_usd == pytest.approx(sum(cost.usd.values())) and cost.total_usd > 0
    doubled = job.cost(memory_mb=1024, prices={"lambda_gb_second": 2 * 0.0000166667})
    assert doubled.usd["lambda_compute"] == pytest.approx(2 * cost.usd["lambda_compute"])
    # arm64 functions: $0.0000133334 per GB-s; S3 Express One Zone: $0.00113 per 1,000 PUT
    # (LIST too), $0.00003 per 1,000 GET, $0.0032 per GB up and $0.0006 per GB down.
    arm = job.cost(memory_mb=1024, architecture="arm64", store="s3_express")
    assert arm.usd["lambda_compute"] == pytest.approx(expected_gb_s * 0.0000133334)
    assert arm.usd["s3_requests"] == pytest.approx(
        (cost.s3_puts + cost.s3_lists) * 0.00113e-3 + cost.s3_gets * 0.00003e-3
    )
    driver = dict(zip(squall._native.IO_FIELDS, job._driver_io or (), strict=False))
    moved_up = stats["bytes_written"].sum() + driver.get("bytes_written", 0)
    moved_down = stats["bytes_read"].sum() + driver.get("bytes_read", 0)
    assert arm.usd["s3_express_bytes"] == pytest.approx(
        moved_up / 2**30 * 0.0032 + moved_down / 2**30 * 0.0006
    )
    with pytest.raises(ValueError, match="arm64"):
        job.cost(architecture="aarch64")


def hold(mb: int) -> int:
    """Holds `mb` MB of touched memory for a moment (numpy's, i.e. glibc's, not squall's)."""
    block = np.ones(mb * 2**20, dtype=np.uint8)
    time.sleep(0.1)
    return int(block.sum()) // 2**20


def test_each_attempt_records_its_own_peak_memory() -> None:
    # One worker runs both tasks in turn. Once it has given its free memory back (after a
    # second without work), the small task reports a small peak: the high-water mark starts
    # afresh for each attempt.
    peaks = []
    with squall.Session(workers=1) as session:
        for mb in (300, 10):
            assert session.map(hold, [mb]).results() == [mb]
            assert session.last_job is not None
            peaks.append(int(session.last_job.stats.column("peak_rss")[0].as_py()))
            time.sleep(1.5)
    big, small = peaks
    assert big >= 300 * 2**20, big
    assert small < big - 200 * 2**20, (small, big)


def test_timeline_is_drawn_and_saved(session: squall.Session, tmp_path: Path) -> None:
    session.map(straggle_once(tmp_path / "hung"), range(12)).results()
    path = tmp_path / "timeline.png"
    record = session.last_job
    assert record is not None
    fig = record.timeline(str(path))
    assert path.stat().st_size > 10_000
    ax = fig.axes[0]
    stats = record.stats
    assert f"{stats.num_rows} attempts" in ax.get_title()
    from matplotlib.collections import PolyCollection

    bars = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert sum(len(c.get_paths()) for c in bars) == stats.num_rows  # one bar per attempt
    assert len(bars) <= 4  # in collections, not an artist each: thousands draw at once
    dotted = sum(len(c.get_paths()) for c in bars if ".." in (c.get_hatch() or ""))
    assert dotted == sum(stats.column("cold_start").to_pylist())  # cold starts dotted
    # A cold start (the worker's start-up in it) is not a straggler: no red edge.
    for c in bars:
        if ".." in (c.get_hatch() or "") and "//" not in (c.get_hatch() or ""):
            assert all(
                tuple(e[:3]) != (0.8392156862745098, 0.15294117647058825, 0.1568627450980392)
                for e in c.get_edgecolors()
            )
    # The legend is right of the axes, over no bar.
    fig.canvas.draw()
    legend = ax.get_legend()
    assert legend is not None
    assert legend.get_window_extent().x0 >= ax.get_window_extent().x1


def test_timeline_dots_cold_starts() -> None:
    from matplotlib.collections import PolyCollection

    with squall.Session(workers=1) as s:  # a new worker: its first attempt starts it
        s.map(abs, [1, 2, 3]).results()
        record = s.last_job
        assert record is not None
        fig = record.timeline()
    bars = [c for c in fig.axes[0].collections if isinstance(c, PolyCollection)]
    assert [len(c.get_paths()) for c in bars if c.get_hatch() == ".."] == [1]


def test_timeline_labels_lambda_environments_shortly() -> None:
    from squall.jobs import _lane

    assert _lane("2026/12/03/[$LATEST]456789abcdef4f9c0123") == "env 4f9c0123"
    assert _lane("2026/12/03/[1]456789abcdef4f9c0123-a1b2c3d4") == "env a1b2c3d4"
    assert _lane("local-3") == "local-3"
    assert _lane("") == "(no answer)"


def slow_identity(marks: str, batch: pa.RecordBatch) -> pa.RecordBatch:
    """``batch``, after 0.3 s, leaving a mark named after the worker that ran it."""
    Path(marks, str(os.getpid())).touch()
    time.sleep(0.3)
    return batch


@pytest.mark.slow
def test_killing_random_workers_during_a_sort_loses_nothing(
    tmp_path: Path, worker_pids: Callable[[], list[int]]
) -> None:
    rng = np.random.default_rng(11)
    n = 200_000
    table = pa.table({"k": rng.integers(0, 10**9, n), "i": np.arange(n)})
    kills: list[int] = []
    with squall.Session(workers=2) as s:
        marks = tmp_path / "marks"
        marks.mkdir()
        slow = functools.partial(slow_identity, str(marks))
        ds = s.from_arrow(table, num_partitions=12).map_batches(slow).sort("k")

        def chaos() -> None:
            # Two kills at most: even if both hit one task, its third attempt runs (retries=2).
            # Only workers that have run a task are killed (they are busy nearly all the time
            # from then on), not ones still starting on a busy machine.
            picker = random.Random(5)
            time.sleep(0.6)
            while len(kills) < 2:
                pids = [p for p in worker_pids() if (marks / str(p)).exists()]
                if pids:
                    pid = picker.choice(pids)
                    os.kill(pid, signal.SIGKILL)
                    kills.append(pid)
                time.sleep(0.7)

        killer = threading.Thread(target=chaos, daemon=True)
        killer.start()
        out = ds.collect()
        killer.join(timeout=10)
        record = s.last_job
    assert len(kills) == 2
    assert out.column("k").to_pylist() == sorted(table.column("k").to_pylist())
    assert sorted(out.column("i").to_pylist()) == list(range(n))  # every row exactly once
    assert record is not None
    lost = [r for r in record.stats.to_pylist() if r["outcome"] == "lost"]
    assert 1 <= len(lost) <= 2


def test_notebook_reprs_are_short_and_shown_once(
    session: squall.Session, capsys: pytest.CaptureFixture[str]
) -> None:
    """summary() prints nothing and its repr is its text (a notebook cell shows it once); a
    FutureList of many futures and a Dataset are one line each."""
    import pyarrow as pa

    futures = session.map(abs, list(range(-300, 0)))
    assert futures.results() == list(range(300, 0, -1))
    assert repr(futures) == "<squall.FutureList: 300 futures of squall.map(abs), 300 finished>"
    assert futures.job is not None
    capsys.readouterr()
    summary = futures.job.summary()
    assert capsys.readouterr().out == ""
    assert repr(summary) == str(summary) and "\n" in summary and "300 tasks" in summary
    assert summary._repr_html_().startswith("<pre>")
    ds = session.from_arrow(pa.table({"k": [1, 2], "v": [1.0, 2.0], "w": [0, 0]}), 2)
    grouped = ds.groupby("k").agg(s=("v", "sum"))
    shown = "<squall.Dataset: 2 input partitions, then 1 shuffle; columns k, s; lazy>"
    assert repr(grouped) == shown
    assert repr(ds) == "<squall.Dataset: 2 input partitions; columns k, v, w; lazy>"
    wide = session.from_arrow(pa.table({f"c{i}": [i] for i in range(10)}), 1)
    assert repr(wide).endswith("columns c0, c1, c2, c3, c4, c5, c6, c7 and 2 more; lazy>")
    # After a Python function the columns are unknown until it runs: the repr does not guess.
    assert "columns" not in repr(ds.map_batches(lambda b: b))
