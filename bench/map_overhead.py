"""Per-task overhead of ``squall.map`` against ProcessPoolExecutor and Lithops' localhost executor.

1,000 no-op tasks (``--tasks``), two workers each, median of ``--repeats`` runs, side by side in one
invocation. "warm" reuses running workers; "cold" includes starting them. Lithops runs in its
own virtualenv (``--lithops-python``), as a subprocess of this script.

Usage: python bench/map_overhead.py [--tasks 1000] [--repeats 5] [--lithops-python PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

WORKERS = 2


def noop(x: int) -> int:
    return x


def timed(run: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_squall(n: int, repeats: int) -> dict[str, float]:
    import squall

    def cold() -> None:
        with squall.Session(workers=WORKERS) as s:
            assert s.map(noop, range(n), progress=False).results() == list(range(n))

    with squall.Session(workers=WORKERS) as s:
        s.map(noop, range(WORKERS)).results()  # start the workers

        def warm() -> None:
            assert s.map(noop, range(n), progress=False).results() == list(range(n))

        out = {"warm": timed(warm, repeats)}
    out["cold"] = timed(cold, repeats)
    return out


def bench_process_pool(n: int, repeats: int) -> dict[str, float]:
    def run(ex: ProcessPoolExecutor) -> None:
        futures = [ex.submit(noop, i) for i in range(n)]
        assert [f.result() for f in futures] == list(range(n))

    def cold() -> None:
        with ProcessPoolExecutor(WORKERS) as ex:
            run(ex)

    with ProcessPoolExecutor(WORKERS) as ex:
        list(ex.map(noop, range(WORKERS)))
        out = {"warm": timed(lambda: run(ex), repeats)}
    out["cold"] = timed(cold, repeats)
    return out


def bench_lithops(n: int, repeats: int) -> dict[str, float]:
    import lithops

    config = {"lithops": {"backend": "localhost", "storage": "localhost", "log_level": None}}
    config["localhost"] = {"worker_processes": WORKERS}
    ex = lithops.LocalhostExecutor(config=config)

    def run() -> None:
        ex.map(noop, range(n))
        assert ex.get_result() == list(range(n))

    return {"warm": timed(run, repeats)}


def run_lithops(python: str, n: int, repeats: int) -> dict[str, float]:
    # Lithops starts `python` from PATH for its runner: put its own virtualenv first.
    env = dict(os.environ, PATH=f"{Path(python).parent}{os.pathsep}{os.environ['PATH']}")
    args = [python, __file__, "--peer", "lithops", "--tasks", str(n), "--repeats", str(repeats)]
    out = subprocess.run(args, env=env, check=True, capture_output=True, text=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--lithops-python", default=None)
    parser.add_argument("--lithops-repeats", type=int, default=3)
    parser.add_argument("--peer", choices=["lithops"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peer == "lithops":
        print(json.dumps(bench_lithops(args.tasks, args.repeats)))
        return

    n = args.tasks
    results = {
        "squall": bench_squall(n, args.repeats),
        "ProcessPoolExecutor": bench_process_pool(n, args.repeats),
    }
    if args.lithops_python:
        results["lithops localhost"] = run_lithops(args.lithops_python, n, args.lithops_repeats)

    base = results["squall"]
    print(
        f"\n{n} no-op tasks, {WORKERS} workers, median of {args.repeats} runs (Lithops: "
        f"{args.lithops_repeats})"
    )
    print(f"{'system':<22}{'mode':<6}{'total s':>10}{'ms/task':>10}{'÷ squall':>11}")
    for name, modes in results.items():
        for mode, t in modes.items():
            ratio = t / base[mode]
            print(f"{name:<22}{mode:<6}{t:>10.3f}{t / n * 1e3:>10.3f}{ratio:>10.1f}x")
    out = Path(__file__).parent / "out"
    out.mkdir(exist_ok=True)
    (out / "map_overhead.json").write_text(json.dumps({"tasks": n, "results": results}, indent=2))
    print(f"(written to {out / 'map_overhead.json'})", file=sys.stderr)


if __name__ == "__main__":
    main()
