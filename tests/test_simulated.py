"""The simulated fleet at 10,000 tasks: faults, throttling and stragglers change nothing in the
results, and speculative backups keep the makespan close to the straggler-free one."""

from __future__ import annotations

import time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import squall

N = 10_000
# A job under a reserved concurrency of 250 functions: 40 waves of 1 s (simulated) tasks.
FLEET = squall.FleetModel(concurrency=250, time_scale=0.05, seed=7)
FAULTS = {"failure_rate": 0.05, "straggler_rate": 0.02, "throttle_rate": 0.02}

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def cube(x: int) -> int:
    return x**3


def run_map(
    fleet: squall.FleetModel, speculation: bool = True
) -> tuple[list[int], float, pa.Table]:
    with squall.Session(backend="simulated", fleet=fleet, workers=2, retries=4) as s:
        started = time.monotonic()
        results = s.map(cube, range(N), progress=False, speculation=speculation).results()
        makespan = (time.monotonic() - started) / fleet.time_scale
        assert s.last_job is not None
        return results, makespan, s.last_job.stats


def test_faults_change_nothing_and_every_task_commits_once() -> None:
    clean, _, clean_stats = run_map(FLEET)
    faulty, _, stats = run_map(FLEET.replace(**FAULTS))
    assert clean == faulty == [x**3 for x in range(N)]
    assert clean_stats.column("outcome").to_pylist() == ["ok"] * N
    outcomes = stats.column("outcome").to_pylist()
    tasks = stats.column("task").to_pylist()
    ok = [t for t, o in zip(tasks, outcomes, strict=True) if o == "ok"]
    assert sorted(ok) == list(range(N))  # exactly one committed attempt per task
    assert outcomes.count("lost") > 0.04 * N
    assert outcomes.count("throttled") > 0.01 * N
    assert sum(stats.column("backup").to_pylist()) > 0


def test_faults_are_seeded() -> None:
    fleet = FLEET.replace(failure_rate=0.05, task_s=0.1)

    def first_attempt_losses() -> set[int]:
        _, _, stats = run_map(fleet)
        rows = stats.to_pylist()
        return {r["task"] for r in rows if r["attempt"] == 0 and r["outcome"] == "lost"}

    assert first_attempt_losses() == first_attempt_losses()


def virtual_makespan(fleet: squall.FleetModel, speculation: bool = True) -> float:
    """Simulated seconds from the first task queued to the last one done, on the virtual clock
    (nothing executes: the scheduler alone meets the fleet)."""
    with squall.Session(backend="simulated", fleet=fleet.replace(execute=False)) as s:
        s.map(cube, range(N), progress=False, speculation=speculation).results()
        assert s.last_job is not None
        stats = s.last_job.stats
    ok = pc.equal(stats["outcome"], "ok")
    done = pc.cast(pc.filter(stats["finished"], ok), pa.int64()).to_numpy()
    return (done.max() - pc.cast(stats["queued"], pa.int64()).to_numpy().min()) / 1e6


def test_speculation_keeps_stragglers_from_stretching_the_job() -> None:
    base = virtual_makespan(FLEET)
    stragglers = FLEET.replace(straggler_rate=0.02)
    with_backups = virtual_makespan(stragglers)
    without = virtual_makespan(stragglers, speculation=False)
    print(f"makespan: {base:.1f} s clean, {with_backups:.1f} s with 2% stragglers and backups, ")
    print(f"{without:.1f} s without backups")
    assert 40 <= base  # 10,000 tasks of 1 s over 250 environments: 40 waves at least
    assert with_backups <= 1.3 * base
    assert with_backups < without


def test_a_sort_under_faults_equals_the_fault_free_sort() -> None:
    rng = np.random.default_rng(5)
    table = pa.table({"k": rng.integers(0, 10**6, 100_000), "i": np.arange(100_000)})

    def sort(fleet: squall.FleetModel) -> pa.Table:
        with squall.Session(backend="simulated", fleet=fleet, workers=2, retries=4) as s:
            return s.from_arrow(table, num_partitions=40).sort(["k", "i"]).collect()

    clean = sort(FLEET)
    faulty = sort(FLEET.replace(**{**FAULTS, "failure_rate": 0.1}))
    assert faulty.equals(clean)
    assert (
        faulty.column("i").to_pylist()
        == table.sort_by([("k", "ascending"), ("i", "ascending")]).column("i").to_pylist()
    )


def test_a_store_asked_past_its_rate_answers_slowdown_and_results_stay_exact() -> None:
    rng = np.random.default_rng(9)
    table = pa.table({"k": rng.integers(0, 10**6, 20_000), "i": np.arange(20_000)})
    want = table.sort_by([("k", "ascending"), ("i", "ascending")])
    narrow = squall.StoreModel(prefixes=1, put_per_s=40.0, get_per_s=40.0, first_byte_s=0.01)
    slowdowns = []
    for store in (narrow, squall.StoreModel.s3_standard(), squall.StoreModel.s3_express()):
        fleet = FLEET.replace(store=store)
        with squall.Session(backend="simulated", fleet=fleet, workers=2) as s:
            got = s.from_arrow(table, num_partitions=12).sort(["k", "i"]).collect()
            assert s.last_job is not None
            slowdowns.append(sum(s.last_job.stats.column("slowdowns").to_pylist()))
        assert got.equals(want), store
    assert slowdowns[0] > 0, "one prefix at 40 requests a second: 503s"
    assert slowdowns[1:] == [0, 0], "256 prefixes of S3 Standard, or S3 Express, take them all"


def test_shards_ramp_up_at_once_where_one_function_is_throttled() -> None:
    # 40 workers wanted at once; each function adds 10 environments per 10 s (simulated).
    fleet = squall.FleetModel(concurrency=40, ramp_per_10s=10, task_s=20, cold_start_s=0)

    def run(functions: int) -> tuple[int, int]:
        with squall.Session(
            backend="simulated", fleet=fleet.replace(functions=functions), workers=2
        ) as s:
            assert s.map(cube, range(40), progress=False).results() == [x**3 for x in range(40)]
            assert s.last_job is not None
            rows = s.last_job.stats.to_pylist()
        throttled = sum(r["outcome"] == "throttled" for r in rows)
        return throttled, len({r["worker"] for r in rows if r["outcome"] == "ok"})

    assert run(4) == (0, 40)  # four functions of 10: every task on a new environment at once
    assert run(1)[0] >= 30  # one function: 10 at once, the other 30 answered 429 (and retried)


def ramp(functions: int, tasks: int = 10_000) -> dict[str, float]:
    """10,000 tasks of two minutes wanted at once on a fleet of 10,000 environments, not
    executing: simulated seconds until the last environment started, the makespan, and the
    429s on the way."""
    fleet = squall.FleetModel(concurrency=10_000, functions=functions, task_s=120, execute=False)
    with squall.Session(backend="simulated", fleet=fleet) as s:
        assert s.map(cube, range(tasks), progress=False).results() == [None] * tasks
        assert s.last_job is not None
        stats = s.last_job.stats
    seconds = {
        c: pc.cast(stats[c], pa.int64()).to_numpy() / 1e6 for c in ("queued", "started", "finished")
    }
    start = seconds["queued"].min()
    outcome = stats["outcome"].to_numpy(zero_copy_only=False)
    ok = outcome == "ok"
    cold = ok & stats["cold_start"].to_numpy(zero_copy_only=False)
    assert sorted(stats["task"].to_numpy()[ok]) == list(range(tasks))
    assert set(outcome) <= {"ok", "throttled"}
    return {
        "environments": len(set(stats["worker"].to_numpy(zero_copy_only=False)[ok])),
        "ramp_s": seconds["started"][cold].max() - start,
        "makespan_s": seconds["finished"][ok].max() - start,
        "throttled": int((outcome == "throttled").sum()),
    }


def test_without_executing_a_fleet_of_10000_ramps_up_on_a_virtual_clock() -> None:
    one, four = ramp(1), ramp(4)
    assert one["environments"] == four["environments"] == 10_000
    # Lambda adds 1,000 environments per function every 10 s: 90 s through one function...
    assert 85 <= one["ramp_s"] <= 95 and one["throttled"] > 0
    # ...and within 30 s through four (the goal), 15 s by the rate.
    assert four["ramp_s"] <= 30 and four["throttled"] < one["throttled"]
    # The last 120 s task starts with the last environment (simulated time, whatever this
    # machine's speed).
    assert 120 <= four["makespan_s"] < one["makespan_s"] <= one["ramp_s"] + 125


def test_a_fleet_that_does_not_execute_refuses_dataset_stages_clearly() -> None:
    fleet = squall.FleetModel(execute=False)
    with squall.Session(backend="simulated", fleet=fleet) as s:
        with pytest.raises(squall.SquallError, match="execute=True"):
            s.from_arrow(pa.table({"a": [3, 1, 2]})).sort("a").collect()


def test_a_fleet_model_names_a_bad_setting() -> None:
    with pytest.raises(TypeError, match="concurrency=-1"):
        squall.FleetModel(concurrency=-1)
    with pytest.raises(TypeError, match='no setting "bogus"'):
        squall.FleetModel(bogus=1)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="positive"):
        squall.FleetModel(functions=0)
    assert squall.FleetModel(seed=3).replace(seed=4) == squall.FleetModel(seed=4)
    assert squall.FleetModel().functions == 1 and squall.FleetModel().execute
