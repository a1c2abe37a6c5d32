"""Mistakes in column names fail when the plan is built (the schema is known from the first
file's footer), before any task runs; errors come with short tracebacks."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest

import squall


@pytest.fixture
def data(tmp_path: Path) -> str:
    for i in range(3):
        table = pa.table({"key": [i, i + 1], "value": [1.0, 2.0], "name": ["a", "b"]})
        pq.write_table(table, tmp_path / f"part-{i}.parquet")
    return f"file://{tmp_path}/"


MISTAKES: list[tuple[str, Callable[[squall.Dataset], Any], str]] = [
    ("groupby key", lambda ds: ds.groupby("kee").agg(n=("value", "count")), 'did you mean "key"'),
    ("aggregated column", lambda ds: ds.groupby("key").agg(s=("vlaue", "sum")), "agg()"),
    ("sort key", lambda ds: ds.sort("Value"), 'did you mean "value"'),
    ("selection", lambda ds: ds.select(["key", "temperature"]), "select()"),
    ("filter", lambda ds: ds.filter(squall.col("nmae") == "a"), 'did you mean "name"'),
    ("top_k", lambda ds: ds.top_k(2, "vaule"), "top_k()"),
    (
        "after a group-by",
        lambda ds: ds.groupby("key").agg(s=("value", "sum")).select(["key", "value"]),
        'the columns are ["key", "s"]',
    ),
]


@pytest.mark.parametrize("what,build,hint", MISTAKES, ids=[m[0] for m in MISTAKES])
def test_a_missing_column_fails_when_the_plan_is_built(
    session: squall.Session, data: str, what: str, build: Callable[[Any], Any], hint: str
) -> None:
    ds = session.read_parquet(data)
    before = session.last_job
    with pytest.raises(squall.PlanError, match="no column named") as info:
        build(ds)
    assert hint in str(info.value), str(info.value)
    assert session.last_job is before, "no job ran"


def test_top_k_arguments_in_the_wrong_order_are_named(session: squall.Session, data: str) -> None:
    with pytest.raises(TypeError, match=r"top_k\(k, by\)"):
        session.read_parquet(data).top_k("value", 2)  # type: ignore[arg-type]


def test_after_a_python_function_the_task_reports_it(session: squall.Session, data: str) -> None:
    ds = session.read_parquet(data).map_batches(lambda b: b.drop_columns(["value"]))
    grouped = ds.groupby("key").agg(s=("value", "sum"))  # unknown columns: not checked here
    with pytest.raises(squall.DataError, match='no column named "value"'):
        grouped.collect()


def test_ipc_files_and_tables_are_checked_too(session: squall.Session, tmp_path: Path) -> None:
    table = pa.table({"x": [3, 1, 2]})
    feather.write_feather(table, tmp_path / "t.arrow")
    for ds in (session.read_ipc(f"file://{tmp_path}/t.arrow"), session.from_arrow(table)):
        with pytest.raises(squall.PlanError, match='"y"'):
            ds.sort("y")
        assert ds.sort("x").collect().column("x").to_pylist() == [1, 2, 3]


def squall_frames(error: BaseException) -> list[str]:
    frames = traceback.extract_tb(error.__traceback__)
    return [f"{f.filename}:{f.name}" for f in frames if "/squall/" in f.filename]


def test_tracebacks_end_at_the_users_call(
    session: squall.Session, data: str, tmp_path: Path
) -> None:
    ds = session.read_parquet(data)
    (tmp_path / "part-2.parquet").unlink()  # gone between planning and running
    with pytest.raises(squall.StoreNotFoundError) as info:
        ds.collect()
    assert len(squall_frames(info.value)) <= 1, squall_frames(info.value)

    def boom(x: int) -> int:
        raise ValueError(f"bad {x}")

    futures = session.map(boom, [1])
    for _ in range(3):  # raised afresh each time: the traceback does not grow
        with pytest.raises(squall.TaskError) as raised:
            futures.results()
        assert len(squall_frames(raised.value)) <= 1, squall_frames(raised.value)
        with pytest.raises(squall.TaskError) as raised:
            futures[0].result()
        assert len(squall_frames(raised.value)) <= 1, squall_frames(raised.value)
