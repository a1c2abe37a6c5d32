"""Invocations per second from one driver on the lambda backend (LocalStack), against the local
backend's per-task overhead, side by side in one invocation.

LocalStack (started here unless one is up) runs each Lambda execution environment as a local
process (squall.localstack), so these figures measure squall's driver and invocation path plus
LocalStack's own gateway on this machine, not AWS; the simulated fleet with zero modelled delays
measures the scheduler's invocation path. ``--tasks`` no-op tasks, median of ``--repeats`` runs,
at each ``--concurrency`` (invocations in flight).

Usage: python bench/lambda_overhead.py [--tasks 1000] [--repeats 3] [--concurrency 8 32]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import cloudpickle

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import map_overhead  # noqa: E402
from map_overhead import noop, timed  # noqa: E402

import squall  # noqa: E402
import squall.localstack  # noqa: E402

# The deployed function cannot import the benchmark's modules: its no-op travels by value.
cloudpickle.register_pickle_by_value(map_overhead)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8, 32])
    parser.add_argument(
        "--localstack-python", type=Path, default=ROOT / ".venv-localstack" / "bin" / "python"
    )
    args = parser.parse_args()
    n = args.tasks
    endpoint = squall.localstack.endpoint_of(4566)
    for key, value in squall.localstack.environment(endpoint).items():
        os.environ.setdefault(key, value)
    wheels = sorted((ROOT / "dist").glob("squall-*.whl"))
    os.environ.setdefault("SQUALL_WHEEL", str(wheels[-1]) if wheels else "")

    def check(s: squall.Session) -> None:
        assert s.map(noop, range(n), progress=False).results() == list(range(n))

    with squall.Session(workers=2) as local:
        local.map(noop, range(2)).results()
        local_s = timed(lambda: check(local), args.repeats)
    # The simulated fleet with every modelled delay at zero: the invocation path alone.
    instant = squall.FleetModel(cold_start_s=0, latency_s=0, task_s=0, concurrency=1000)
    with squall.Session(backend="simulated", fleet=instant, workers=2) as sim:
        sim.map(noop, range(2)).results()
        sim_s = timed(lambda: check(sim), args.repeats)

    rows = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        squall.localstack.run(venv=args.localstack_python.parent.parent, workdir=tmp),
    ):
        store = f"{squall.localstack.make_bucket('squall-bench', endpoint)}/scratch"
        squall.deploy(
            function_name="squall-bench",
            role="arn:aws:iam::000000000000:role/squall-bench",
            store=store,
            memory_mb=512,
            timeout_s=60,
            verbose=False,
        )
        for c in args.concurrency:
            with squall.Session(
                backend="lambda", function="squall-bench", store=store, workers=c
            ) as s:
                s.map(noop, range(c), progress=False).results()  # start c environments
                rows.append((c, timed(lambda s=s: check(s), args.repeats)))  # type: ignore[misc]

    print(f"\n{n} no-op tasks, median of {args.repeats} runs")
    print("| backend | in flight | invocations/s | ms/task | x local |")
    print("|---|---|---|---|---|")
    print(f"| local (2 workers) | 2 | {n / local_s:,.0f} | {local_s / n * 1e3:.3f} | 1.0 |")
    print(
        f"| simulated fleet, zero delays (2 workers) | 1000 | {n / sim_s:,.0f} "
        f"| {sim_s / n * 1e3:.3f} | {sim_s / local_s:.1f} |"
    )
    for c, secs in rows:
        print(
            f"| lambda (LocalStack) | {c} | {n / secs:,.0f} | {secs / n * 1e3:.3f} "
            f"| {secs / local_s:.0f} |"
        )


if __name__ == "__main__":
    main()
