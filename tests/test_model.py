"""Datasets modelled by size: Dataset.estimate (closed form) against Dataset.simulate (the real
scheduler on a virtual clock), synthetic inputs, and what they refuse."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest

import squall

TERASORT = {"key": 10, "value": 90}


def terasort(session: squall.Session, rows: int, partitions: int) -> squall.Dataset:
    return squall.synthetic(TERASORT, rows=rows, partitions=partitions, session=session).sort(
        "key", num_partitions=partitions
    )


def close(a: float, b: float, within: float = 0.10) -> bool:
    return abs(a - b) <= within * max(abs(a), abs(b))


def makespan(job: squall.JobRecord) -> float:
    st = job.stats
    start = min(st["started"].to_pylist())
    return (max(st["finished"].to_pylist()) - start).total_seconds()


@pytest.fixture(scope="module")
def session():
    with squall.Session(workers=2) as s:
        yield s


@pytest.mark.parametrize(
    "fleet, rows, partitions, overloaded",
    [
        # 100 GB in 1,000 partitions on 1,000 functions.
        (squall.FleetModel(store=squall.StoreModel.s3_standard()), 10**9, 1000, False),
        # 2,000 x 2,000 gets a merge level; 4 functions of 500 new environments at once each.
        (
            squall.FleetModel(
                concurrency=2000,
                functions=4,
                ramp_per_10s=500,
                store=squall.StoreModel.s3_express(),
            ),
            4 * 10**9,
            2000,
            False,
        ),
        # One prefix, far below the requests asked of it: 503 SlowDown, then served.
        (
            squall.FleetModel(
                concurrency=1000, store=squall.StoreModel(prefixes=1, get_per_s=2000)
            ),
            10**9,
            1000,
            True,
        ),
    ],
    ids=["s3", "two-level", "slowdown"],
)
def test_the_estimate_agrees_with_the_simulated_run(session, fleet, rows, partitions, overloaded):
    ds = terasort(session, rows, partitions)
    est = ds.estimate(fleet, memory_mb=3008)
    job = ds.simulate(fleet, memory_mb=3008, progress=False)
    # The same stages, tasks and requests: both come from the plan's sizes.
    tasks = job.stats.group_by("stage").aggregate([("task", "count_distinct")]).to_pylist()
    assert {s.label: s.tasks for s in est.stages} == {
        r["stage"]: r["task_count_distinct"] for r in tasks
    }
    sim, model = job.cost(architecture="arm64"), est.cost(architecture="arm64")
    assert (sim.s3_puts, sim.s3_gets, sim.s3_lists) == (
        model.s3_puts,
        model.s3_gets,
        model.s3_lists,
    )
    # Time and money within 10%.
    assert close(makespan(job), est.seconds), (makespan(job), str(est))
    assert close(sim.total_usd, model.total_usd), (str(sim), str(model))
    slowdowns = sum(job.stats["slowdowns"].to_pylist())
    estimated = sum(s.io["slowdowns"] for s in est.stages)
    if overloaded:
        assert slowdowns > 0 and estimated > 0, (
            "an overloaded prefix answers 503s, retried until served"
        )
        assert close(slowdowns, estimated, 0.25), (slowdowns, estimated)
    else:
        assert slowdowns == estimated == 0


def test_crashed_attempts_are_estimated_as_work_done_again():
    # One attempt in twenty dies after its work and requests: the simulation retries it on a
    # new environment (up to 6 times: three crashes in a row do happen among 2,000 tasks); the
    # estimate counts the attempts, their requests and cold starts.
    fleet = squall.FleetModel(failure_rate=0.05, store=squall.StoreModel.s3_standard())
    with squall.Session(workers=2, retries=6) as session:
        check_crashes(session, fleet)


def check_crashes(session: squall.Session, fleet: squall.FleetModel) -> None:
    ds = terasort(session, 10**9, 1000)
    est = ds.estimate(fleet, memory_mb=3008)
    job = ds.simulate(fleet, memory_mb=3008, progress=False)
    outcomes = job.stats["outcome"].to_pylist()
    assert outcomes.count("lost") > 0
    tasks = sum(s.tasks for s in est.stages)
    assert close(len(outcomes), tasks / 0.95, 0.02)
    sim, model = job.cost(architecture="arm64"), est.cost(architecture="arm64")
    assert close(sim.invocations, model.invocations, 0.02)
    # A crashed attempt's requests are billed but never reported (its answer is lost): the
    # simulated record counts the others', the estimate all of them.
    for kind in ("s3_puts", "s3_gets"):
        assert close(getattr(sim, kind) / 0.95, getattr(model, kind), 0.03), kind
    assert close(makespan(job), est.seconds), (makespan(job), str(est))
    assert close(sim.total_usd, model.total_usd), (str(sim), str(model))
    crash_free = ds.estimate(
        squall.FleetModel(store=squall.StoreModel.s3_standard()), memory_mb=3008
    )
    assert est.cost().total_usd > crash_free.cost().total_usd


def test_stragglers_and_their_backups_are_estimated(session):
    # One attempt in twenty runs 8 times slower; the session speculates (its default), so a
    # straggler in a long stage is overtaken by a backup once it runs 3 times the median.
    fleet = squall.FleetModel(
        straggler_rate=0.05, straggler_factor=8, store=squall.StoreModel.s3_standard()
    )
    ds = terasort(session, 10**9, 1000)
    est = ds.estimate(fleet, memory_mb=3008)
    job = ds.simulate(fleet, memory_mb=3008, progress=False)
    assert sum(job.stats["backup"].to_pylist()) > 0
    sim, model = job.cost(architecture="arm64"), est.cost(architecture="arm64")
    assert close(makespan(job), est.seconds), (makespan(job), str(est))
    assert close(sim.total_usd, model.total_usd), (str(sim), str(model))
    plain = ds.estimate(squall.FleetModel(store=squall.StoreModel.s3_standard()), memory_mb=3008)
    assert est.seconds > plain.seconds


def test_past_the_fleets_burst_the_estimate_is_a_lower_bound(session):
    # One function adding 50 environments a second: the client's window backs off from the
    # 429s, which the estimate does not model.
    fleet = squall.FleetModel(
        concurrency=2000, ramp_per_10s=500, store=squall.StoreModel.s3_standard()
    )
    ds = terasort(session, 10**9, 2000)
    est, job = (
        ds.estimate(fleet, memory_mb=3008),
        ds.simulate(fleet, memory_mb=3008, progress=False),
    )
    assert makespan(job) >= 0.95 * est.seconds
    assert "throttled" in job.stats["outcome"].to_pylist()


def test_a_sort_on_ten_thousand_functions_keeps_its_reads_bounded(session):
    # A reduced 10,000-function TeraSort: 10,000 x 10,000 partitions of 10 MB (100 GB).
    fleet = squall.FleetModel(
        concurrency=10_000, functions=10, store=squall.StoreModel.s3_standard()
    )
    ds = terasort(session, 10**9, 10_000)
    est = ds.estimate(fleet, memory_mb=1769)
    labels = [s.label for s in est.stages]
    assert labels == [
        "squall.sort (sample)",
        "squall.sort (map)",
        "squall.sort (merge)",
        "squall.write_parquet (reduce)",
    ]
    merge, reduce = est.stages[2], est.stages[3]
    assert merge.io["gets"] + reduce.io["gets"] <= 10_000 * 10_000 / 16
    job = ds.simulate(fleet, memory_mb=1769, progress=False)
    st = job.stats
    assert st.num_rows == sum(s.tasks for s in est.stages)
    assert set(st["outcome"].to_pylist()) == {"ok"}
    assert close(makespan(job), est.seconds)
    # Every environment ran, and no more: 10 functions of 1,000 each at once.
    assert len(set(st["worker"].to_pylist())) == 10_000


def test_a_modelled_job_prices_compute_requests_and_storage(session):
    fleet = squall.FleetModel(store=squall.StoreModel.s3_standard())
    est = terasort(session, 10**9, 100).estimate(fleet, memory_mb=2048)
    cost = est.cost()
    assert set(cost.usd) == {"lambda_requests", "lambda_compute", "s3_requests", "s3_storage"}
    assert all(v > 0 for v in cost.usd.values())
    assert cost.gb_seconds == pytest.approx(sum(s.task_seconds for s in est.stages) * 2)
    express = est.cost(store="s3_express")
    # Intermediate objects in S3 Express pay its fee per GB; the input and output do not.
    p, io, data = squall.jobs.PRICES, est.io, est.data_io
    written = io["bytes_written"] - data["bytes_written"]
    read = io["bytes_read"] - data["bytes_read"]
    scratch = (
        written / 2**30 * p["s3_express_upload_gb"] + read / 2**30 * p["s3_express_retrieval_gb"]
    )
    assert data["bytes_written"] >= 100e9 and data["bytes_read"] >= 100e9
    assert express.usd["s3_express_bytes"] == pytest.approx(scratch)
    # Written and read 100 GB each way at least twice (map, reduce).
    moved = sum(s.io["bytes_written"] + s.io["bytes_read"] for s in est.stages)
    assert moved >= 4 * 100e9
    assert math.isclose(
        est.cost(architecture="arm64").usd["lambda_compute"],
        cost.usd["lambda_compute"] * 0.8,
        rel_tol=0.01,
    )
    text = str(est)
    assert "squall.sort (map)" in text and "total" in text
    # A fleet that names no store models S3 Standard.
    plain = terasort(session, 10**9, 100).estimate(squall.FleetModel(), memory_mb=2048)
    assert plain.seconds == pytest.approx(est.seconds)


def test_a_synthetic_input_is_modelled_never_run(session):
    ds = squall.synthetic(TERASORT, rows=1000, partitions=2, name="tera", session=session)
    for action in (ds.collect, ds.count, lambda: ds.write_parquet("file:///nowhere")):
        with pytest.raises(
            squall.PlanError,
            match=r'"tera" \(made by squall.synthetic\).*estimate\(\) or \.simulate\(\)',
        ):
            action()
    with pytest.raises(squall.PlanError, match=r"instead of \.schema$"):
        ds.schema  # noqa: B018 (the property runs the plan)
    with pytest.raises(ValueError, match="action='show'"):
        ds.estimate(action="show")
    with pytest.raises(ValueError, match="Python functions"):
        ds.map_batches(lambda b: b).estimate()
    with pytest.raises(ValueError, match="at least one column"):
        squall.synthetic({}, rows=10, partitions=1, session=session)
    with pytest.raises(ValueError, match=r"exceed 2\*\*64 bytes"):
        squall.synthetic(TERASORT, rows=10**18, partitions=1, session=session)
    with pytest.raises(ValueError, match="at most 10000000"):
        squall.synthetic(TERASORT, rows=10, partitions=10**9, session=session)
    with squall.Session(workers=2, memory_limit="256MB") as small:
        big = squall.synthetic(TERASORT, rows=10**12, partitions=100_000, session=small).sort("key")
        with pytest.raises(
            ValueError, match=r"simulating [\d,]+ tasks takes about .* estimate\(\)"
        ):
            big.simulate()
    # A count reads and writes nothing but its input.
    est = ds.estimate(action="count")
    assert [s.label for s in est.stages] == ["squall.count"]
    assert est.stages[0].io["puts"] == 0


@pytest.mark.parametrize(
    "where, plan, action",
    [
        ("file", "sort", "write_parquet"),
        ("s3", "sort", "write_parquet"),
        ("file", "two-level sort", "write_parquet"),
        ("file", "sort", "collect"),
        ("file", "select", "count"),
    ],
)
def test_the_model_counts_a_real_runs_requests_exactly(where, plan, action, tmp_path, request):
    # 8 Parquet files (one row group, three columns each), their intermediate objects in the
    # session's store: the requests the run counted (its tasks' and its driver's) are those the
    # model predicts from the plan's sizes.
    root = request.getfixturevalue("s3_bucket") if where == "s3" else f"file://{tmp_path}"
    rng = np.random.default_rng(5)
    for i in range(8):
        t = pa.table(
            {
                "k": rng.integers(0, 10**9, 20_000),
                "g": rng.integers(0, 50, 20_000),
                "v": rng.random(20_000),
            }
        )
        squall._native.write_table(t, f"{root}/in/p{i}.parquet", "parquet")
    with squall.Session(
        workers=2, store=f"{root}/scratch", two_level=plan.startswith("two-level")
    ) as s:
        ds = s.read_parquet(f"{root}/in/")
        ds = ds.select(["v"]) if plan == "select" else ds.sort("k", num_partitions=4)
        est = ds.estimate(memory_mb=2048, action=action)
        if action == "write_parquet":
            ds.write_parquet(f"{root}/out")
            ran = s.last_job.cost()
            assert s.read_parquet(f"{root}/out").count() == 160_000
        else:
            assert (ds.count() if action == "count" else ds.collect().num_rows) == 160_000
            ran = s.last_job.cost()
    model = est.cost()
    assert (ran.s3_gets, ran.s3_puts, ran.s3_lists) == (
        model.s3_gets,
        model.s3_puts,
        model.s3_lists,
    )
    assert ("squall.sort (merge)" in [st.label for st in est.stages]) == plan.startswith(
        "two-level"
    )
