"""Errors, memory and interruptions, attacked: every failure in its documented class, the same
on every call; results nobody holds are not kept; Ctrl-C stops the work; plans of several
shuffles give what pyarrow gives."""

from __future__ import annotations

import gc
import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import squall
from squall.aws import role_policy

Driver = Callable[..., subprocess.CompletedProcess[str]]


def five_megabytes(x: int) -> bytes:
    return bytes([x]) * (5 << 20)


def test_results_of_dropped_futures_are_not_kept(session: squall.Session) -> None:
    results = Path(session._scratch().removeprefix("file://")) / "results"

    def held() -> int:
        stored = sum(p.stat().st_size for p in results.glob("job-*"))
        return session._native.held_bytes() + stored

    futures = session.map(five_megabytes, range(10), progress=False)
    futures.wait()
    assert held() >= 50 << 20, "finished results wait for their futures"
    assert session._native.held_bytes() < 1 << 20, "large results wait in the store"
    del futures
    gc.collect()
    deadline = time.monotonic() + 10
    while held() >= 1 << 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert held() < 1 << 20, "nobody can take them any more: they are gone"
    kept = session.map(five_megabytes, range(2), progress=False)
    assert [r[:1] for r in kept.results()] == [b"\x00", b"\x01"]
    assert session.last_job is not None and len(session.last_job.stats) == 2, "records stay"


def test_a_lithops_executor_keeps_futures_until_get_result() -> None:
    with squall.Executor(workers=1) as ex:
        ex.map(five_megabytes, range(3), progress=False)
        gc.collect()
        assert [r[:1] for r in ex.get_result()] == [b"\x00", b"\x01", b"\x02"]


def returns_an_unimportable_object(x: int) -> object:
    """An instance of a class from a module that exists in the worker only."""
    import sys
    import types

    module = types.ModuleType("squall_test_vanishing_module")
    cls = type("Gone", (), {"__module__": module.__name__})
    sys.modules[module.__name__] = module
    module.Gone = cls  # type: ignore[attr-defined]
    return cls()


def test_a_result_that_cannot_be_unpickled_is_the_same_task_error_every_time(
    session: squall.Session,
) -> None:
    future = session.submit(returns_an_unimportable_object, 1)
    first = future.exception(timeout=60)
    assert isinstance(first, squall.TaskError)
    assert "cannot be unpickled" in str(first) and "task 0" in str(first)
    assert future.exception() is first
    for _ in range(2):
        with pytest.raises(squall.TaskError, match="cannot be unpickled"):
            future.result()


def test_engine_failures_come_as_their_documented_classes(
    session: squall.Session, tmp_path: Path
) -> None:
    pq.write_table(pa.table({"v": [1, 2]}), tmp_path / "a.parquet")
    pq.write_table(pa.table({"v": [3]}), tmp_path / "b.parquet")
    ds = session.read_parquet(f"file://{tmp_path}/")
    (tmp_path / "b.parquet").unlink()  # gone between planning and running
    with pytest.raises(squall.StoreNotFoundError, match=r"b\.parquet") as info:
        ds.collect()
    assert isinstance(info.value, FileNotFoundError) and not isinstance(
        info.value, squall.TaskError
    )
    (tmp_path / "b.parquet").write_bytes(b"PAR1 garbage PAR1")
    with pytest.raises(squall.DataError, match=r"b\.parquet"):
        session.read_parquet(f"file://{tmp_path}/").collect()
    # A column that is not there is a PlanError when the plan is built (from the first file's
    # schema), whatever the input's format; a later file that lacks it is a DataError naming it.
    with pytest.raises(squall.PlanError, match="no column named"):
        session.read_parquet(f"file://{tmp_path}/a.parquet").groupby("w").count()
    with pytest.raises(squall.PlanError, match="no column named"):
        session.from_arrow(pa.table({"v": [1]}), 1).groupby("w").count()
    (tmp_path / "mixed").mkdir()
    pq.write_table(pa.table({"w": [1]}), tmp_path / "mixed" / "1.parquet")
    pq.write_table(pa.table({"v": [1]}), tmp_path / "mixed" / "2.parquet")
    with pytest.raises(squall.DataError, match=r'2\.parquet.*no column named "w"'):
        session.read_parquet(f"file://{tmp_path}/mixed/").groupby("w").count().collect()
    # The user's own exception stays a TaskError, with the original as its cause.
    with pytest.raises(squall.TaskError, match="ZeroDivisionError") as raised:
        session.read_parquet(f"file://{tmp_path}/a.parquet").map_batches(lambda b: 1 / 0).count()
    assert isinstance(raised.value.__cause__, ZeroDivisionError)


CTRL_C = """
import json, os, signal, sys, threading, time
import numpy as np, pyarrow as pa, squall
rng = np.random.default_rng(0)
rows = 8_000_000
keys = pa.array(rng.integers(0, 1000, rows).astype(str))
table = pa.table({"k": rng.integers(0, 1 << 60, rows), "s": keys})
with squall.Session(workers=2) as s:
    ds = s.from_arrow(table, 4).sort(["s", "k"])
    threading.Timer(float(sys.argv[1]), lambda: os.kill(os.getpid(), signal.SIGINT)).start()
    try:
        ds.count()
        print(json.dumps({"finished": True}))
    except KeyboardInterrupt:
        time.sleep(0.2)
        cpu = time.process_time()
        time.sleep(1.0)
        print(json.dumps({"finished": False, "cpu": time.process_time() - cpu}))
"""


@pytest.mark.parametrize("after", [0.4, 0.9])
def test_ctrl_c_stops_work_on_the_drivers_threads(
    driver: Driver, after: float, ctrl_c: None
) -> None:
    done = driver(CTRL_C, str(after), timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert not result["finished"], "the sort ended before Ctrl-C: make it bigger"
    assert result["cpu"] < 0.1, f"squall's threads burned {result['cpu']:.2f} s of CPU after Ctrl-C"


def grouped_oracle(table: pa.Table) -> pa.Table:
    return table.group_by("k").aggregate([("v", "sum")]).rename_columns(["k", "s"])


@pytest.fixture
def skewed() -> pa.Table:
    rng = np.random.default_rng(5)
    n = 50_000
    keys = np.where(rng.random(n) < 0.3, 7, rng.integers(0, 2000, n))
    return pa.table({"k": keys, "v": rng.integers(-100, 100, n)})


def test_a_group_by_then_a_sort_by_its_result(session: squall.Session, skewed: pa.Table) -> None:
    got = session.from_arrow(skewed, 5).groupby("k").agg(s=("v", "sum")).sort(["s", "k"])
    expected = grouped_oracle(skewed).sort_by([("s", "ascending"), ("k", "ascending")])
    assert got.collect().equals(expected)


def test_top_k_after_a_group_by(session: squall.Session, skewed: pa.Table) -> None:
    got = session.from_arrow(skewed, 5).groupby("k").agg(s=("v", "sum")).top_k(5, by=["s", "k"])
    expected = grouped_oracle(skewed).sort_by([("s", "descending"), ("k", "descending")])
    assert got.collect().equals(expected.slice(0, 5))


def test_a_sort_after_a_repartition_and_a_group_by_after_a_sort(
    session: squall.Session, skewed: pa.Table, where: str
) -> None:
    ds = session.from_arrow(skewed, 3).repartition(4, by="k").sort("v", descending=True)
    assert ds.collect()["v"].to_pylist() == sorted(skewed["v"].to_pylist(), reverse=True)
    out = f"{where}/out"
    session.from_arrow(skewed, 3).sort("v").groupby("k").agg(s=("v", "sum")).write_parquet(out)
    back = session.read_parquet(out).collect().sort_by("k")
    assert back.equals(grouped_oracle(skewed).sort_by("k"))


def test_the_role_policy_takes_the_prefix_literally_and_scopes_logs() -> None:
    policy = role_policy("s3://lab/we*ird?/$x/", "fn")
    by_action = {a: s for s in policy["Statement"] for a in s["Action"]}  # type: ignore[attr-defined]
    assert by_action["s3:GetObject"]["Resource"] == "arn:aws:s3:::lab/we${*}ird${?}/${$}x/*"
    prefix = "we${*}ird${?}/${$}x"
    assert by_action["s3:ListBucket"]["Condition"] == {
        "StringLike": {"s3:prefix": [prefix, f"{prefix}/*"]}
    }
    group = "arn:aws:logs:*:*:log-group:/aws/lambda/fn"
    assert by_action["logs:CreateLogStream"]["Resource"] == [group, f"{group}:*"]
    whole = role_policy("s3://lab", "fn")
    listing = [s for s in whole["Statement"] if "s3:ListBucket" in s["Action"]]  # type: ignore[attr-defined]
    assert "Condition" not in listing[0], "a whole bucket needs no condition"
