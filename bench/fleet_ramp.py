"""Burst scaling past Lambda's 1,000 new environments per function per 10 s, simulated on a
virtual clock (``FleetModel(execute=False)``): the real scheduler, its retries on 429 and the
client's in-flight window run; tasks take their simulated time and run nothing.

- ramp: ``--workers`` tasks of two minutes wanted at once on a fleet of as many environments,
  through 1, 2, 4 and 10 functions (``squall.deploy(shards=k)``): simulated seconds until the
  last environment started, the makespan, the 429s answered on the way;
- scale: ``--tasks`` tasks of one minute on that fleet, through one function and four.

Each simulation runs in a process of its own. Per row, the wall time of the simulation (median
of ``--repeats``) and the driver's memory per attempt: the process's peak resident size over
that of a one-task simulation, over the attempts recorded (429s included).

Usage: python bench/fleet_ramp.py [--workers 10000] [--tasks 100000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

import pyarrow as pa
import pyarrow.compute as pc

import squall


def simulate(workers: int, tasks: int, task_s: float, functions: int) -> dict[str, float]:
    """One simulation, in this process."""
    fleet = squall.FleetModel(
        concurrency=workers, functions=functions, task_s=task_s, execute=False
    )
    with squall.Session(backend="simulated", fleet=fleet) as s:
        started = time.monotonic()
        results = s.map(abs, range(tasks), progress=False).results()
        wall = time.monotonic() - started
        assert s.last_job is not None
        stats = s.last_job.stats
    assert results == [None] * tasks
    secs = {
        c: pc.cast(stats[c], pa.int64()).to_numpy() / 1e6 for c in ("queued", "started", "finished")
    }
    start = secs["queued"].min()
    outcome = stats["outcome"].to_numpy(zero_copy_only=False)
    ok = outcome == "ok"
    cold = ok & stats["cold_start"].to_numpy(zero_copy_only=False)
    return {
        "last environment s": secs["started"][cold].max() - start,
        "makespan s": secs["finished"][ok].max() - start,
        "429s": int((outcome == "throttled").sum()),
        "wall s": wall,
        "attempts": len(outcome),
        "peak rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }


def in_child(workers: int, tasks: int, task_s: float, functions: int) -> dict[str, float]:
    """One simulation in a process of its own."""
    args = [sys.executable, __file__, "--one", json.dumps([workers, tasks, task_s, functions])]
    return json.loads(subprocess.run(args, check=True, capture_output=True, text=True).stdout)


def row(label: str, runs: list[dict[str, float]], base: float) -> str:
    first = runs[0]
    wall = statistics.median(r["wall s"] for r in runs)
    per = statistics.median((r["peak rss"] - base) / r["attempts"] for r in runs)
    return (
        f"| {label} | {first['last environment s']:.1f} | {first['makespan s']:.1f} | "
        f"{first['429s']:,} | {wall:.1f} | {per:,.0f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=10_000)
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(simulate(*json.loads(args.one))))
        return
    base = in_child(args.workers, 1, 1, 1)["peak rss"]
    print(
        "| job (simulated, virtual clock) | last environment started, s | makespan, s | "
        "429s answered | wall time to simulate, s | driver bytes per attempt |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for functions in (1, 2, 4, 10):
        runs = [in_child(args.workers, args.workers, 120, functions) for _ in range(args.repeats)]
        label = f"{args.workers:,} tasks of 120 s, {functions} function{'s' * (functions > 1)}"
        print(row(label, runs, base), flush=True)
    for functions in (1, 4):
        runs = [in_child(args.workers, args.tasks, 60, functions) for _ in range(args.repeats)]
        label = f"{args.tasks:,} tasks of 60 s, {functions} function{'s' * (functions > 1)}"
        print(row(label, runs, base), flush=True)


if __name__ == "__main__":
    main()
