"""Task graphs and the linear algebra on them, side by side in one run.

- DAG overhead: a chain of 1,000 dependent no-op tasks and a 1,000-way fan-in (1,000 tasks, then
  one taking all their futures), squall against Dask (distributed LocalCluster, 2 worker
  processes of 1 thread) and Ray (``ray.remote``, 2 CPUs), each warm (cluster started, one run
  discarded).
- ``matmul`` and ``cholesky`` of n x n float64 (default 16,384: 2 GB a matrix) and ``tsqr`` of
  m x 100 (default 4,000,000), against numpy in one process (the floor: the same BLAS on both
  cores) and dask.array (its threaded scheduler). Inputs are ``.npy`` files on disk, made
  before the clock starts: squall's workers read their tiles from them (``from_store``),
  numpy loads them whole, dask.array maps them.

Every run happens in a fresh process; its time excludes starting Python and importing. "driver
MB" is the peak resident size of the process that asked (VmHWM), "all MB" the peak of its
whole process tree (workers, clusters). Results are checked against numpy (tiles of the product,
``L L^T`` on the last block row, ``Q^T Q`` and ``R^T R`` against ``A^T A``).

Usage: python bench/dag.py --peer-python PATH [--n 16384] [--m 4000000] [--block 4096]
       [--repeats 3] [--only dag|matmul|cholesky|tsqr]
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
from pathlib import Path
from typing import Any

from sort_groupby import PeakMemory

OUT = Path(__file__).parent / "out" / "dag"
TASKS = 1000
WIDTH = 100  # tsqr's columns


def inc(x: int) -> int:
    return x + 1


def total(*xs: int) -> int:
    return sum(xs)


# -- one measurement, in its own process ---------------------------------------------------------


def dag_squall(case: str) -> tuple[float, Any]:
    import squall

    with squall.Session(workers=2) as s:

        def run() -> Any:
            if case == "chain":
                f = s.submit(inc, 0)
                for _ in range(TASKS - 1):
                    f = s.submit(inc, f)
                return f.result()
            parts = s.map(inc, range(TASKS), progress=False)
            return s.submit(total, *parts).result()

        run()
        start = time.perf_counter()
        got = run()
        return time.perf_counter() - start, got


def dag_dask(case: str) -> tuple[float, Any]:
    import tempfile

    import dask
    from dask.distributed import Client, LocalCluster

    scratch = tempfile.TemporaryDirectory()  # the cluster's scratch space, removed at the end
    dask.config.set({"temporary-directory": scratch.name})
    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster:
        with Client(cluster) as c:

            def run() -> Any:
                if case == "chain":
                    f = c.submit(inc, 0, pure=False)
                    for _ in range(TASKS - 1):
                        f = c.submit(inc, f, pure=False)
                    return f.result()
                parts = [c.submit(inc, i, pure=False) for i in range(TASKS)]
                return c.submit(total, *parts, pure=False).result()

            run()
            start = time.perf_counter()
            got = run()
            return time.perf_counter() - start, got


def dag_ray(case: str) -> tuple[float, Any]:
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    rinc, rtotal = ray.remote(inc), ray.remote(total)

    def run() -> Any:
        if case == "chain":
            f = rinc.remote(0)
            for _ in range(TASKS - 1):
                f = rinc.remote(f)
            return ray.get(f)
        parts = [rinc.remote(i) for i in range(TASKS)]
        return ray.get(rtotal.remote(*parts))

    run()
    start = time.perf_counter()
    got = run()
    ray.shutdown()
    return time.perf_counter() - start, got


Fetch = Callable[[], dict[str, Any]]


def linalg_squall(case: str, block: int) -> tuple[float, Fetch]:
    """The answer stays in the store as tiles; the check fetches a few of them afterwards."""
    import squall
    from squall.linalg import BlockMatrix

    s = squall.Session(workers=2)
    start = time.perf_counter()
    a = BlockMatrix.from_store(str(OUT / f"{case}-a.npy"), block, s)
    if case == "matmul":
        c = a @ BlockMatrix.from_store(str(OUT / "matmul-b.npy"), block, s)
        squall.wait([f for row in c._tiles for f in row if f is not None])
        tile = lambda i, j: c._tiles[i][j].result()  # noqa: E731
        return time.perf_counter() - start, lambda: {
            "tiles": {(i, j): tile(i, j) for i, j in _probe(c.grid)}
        }
    if case == "cholesky":
        low = a.cholesky()
        squall.wait([f for row in low._tiles for f in row if f is not None])
        g = low.grid[0]
        return time.perf_counter() - start, lambda: {
            "last_row": [low._tiles[g - 1][j].result() for j in range(g)]
        }
    q, r = a.tsqr()
    squall.wait([row[0] for row in q._tiles])
    elapsed = time.perf_counter() - start
    return elapsed, lambda: {"q0": q._tiles[0][0].result(), "r": r, "qtq": (q.T @ q).to_numpy()}


def linalg_numpy(case: str, block: int) -> tuple[float, Fetch]:
    import numpy as np

    start = time.perf_counter()
    a = np.load(OUT / f"{case}-a.npy")
    if case == "matmul":
        c = a @ np.load(OUT / "matmul-b.npy")
        return time.perf_counter() - start, lambda: {"tiles": _cut(c, block)}
    if case == "cholesky":
        low = np.linalg.cholesky(a)
        return time.perf_counter() - start, lambda: {"last_row": _last_row(low, block)}
    q, r = np.linalg.qr(a)
    return time.perf_counter() - start, lambda: {"q0": q[:block], "r": r, "qtq": q.T @ q}


def linalg_dask(case: str, block: int) -> tuple[float, Fetch]:
    import dask.array as da
    import numpy as np

    start = time.perf_counter()
    chunks = (block, WIDTH) if case == "tsqr" else block
    a = da.from_array(np.load(OUT / f"{case}-a.npy", mmap_mode="r"), chunks=chunks)
    if case == "matmul":
        b = da.from_array(np.load(OUT / "matmul-b.npy", mmap_mode="r"), chunks=block)
        c = (a @ b).compute()
        return time.perf_counter() - start, lambda: {"tiles": _cut(c, block)}
    if case == "cholesky":
        low = da.linalg.cholesky(a, lower=True).compute()
        return time.perf_counter() - start, lambda: {"last_row": _last_row(low, block)}
    q, r = da.compute(*da.linalg.tsqr(a))
    return time.perf_counter() - start, lambda: {"q0": q[:block], "r": r, "qtq": q.T @ q}


def _probe(grid: tuple[int, int]) -> list[tuple[int, int]]:
    return [(0, 0), (grid[0] - 1, grid[1] - 1)]


def _cut(c: Any, block: int) -> dict[tuple[int, int], Any]:
    g = -(-c.shape[0] // block)
    cut = lambda i, j: c[i * block : (i + 1) * block, j * block : (j + 1) * block]  # noqa: E731
    return {(i, j): cut(i, j) for i, j in _probe((g, g))}


def _last_row(low: Any, block: int) -> list[Any]:
    g = -(-low.shape[0] // block)
    rows = low[(g - 1) * block :]
    return [rows[:, j * block : (j + 1) * block] for j in range(g)]


def _own_peak_mb() -> float:
    """This process's peak resident size (VmHWM: its own, where ru_maxrss would also count the
    parent's size when it forked this process)."""
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def measure(kind: str, case: str, system: str, block: int) -> None:
    """Runs one case in this process; prints seconds, peaks (until the answer is there) and a
    check of the answer."""
    with PeakMemory() as peak:
        if kind == "dag":
            seconds, got = globals()[f"dag_{system}"](case)
        else:
            seconds, fetch = globals()[f"linalg_{system.replace('dask.array', 'dask')}"](
                case, block
            )
    driver = _own_peak_mb()
    if kind == "dag":
        ok = got == (TASKS if case == "chain" else sum(range(1, TASKS + 1)))
    else:
        ok = check(case, fetch(), block)
    print(
        json.dumps({"seconds": seconds, "driver_mb": driver, "all_mb": peak.peak / 2**20, "ok": ok})
    )


def check(case: str, got: dict[str, Any], block: int) -> bool:
    import numpy as np

    a = np.load(OUT / f"{case}-a.npy", mmap_mode="r")
    if case == "matmul":
        b = np.load(OUT / "matmul-b.npy", mmap_mode="r")
        for (i, j), tile in got["tiles"].items():
            want = a[i * block : (i + 1) * block] @ b[:, j * block : (j + 1) * block]
            if not np.allclose(tile, want, rtol=1e-9, atol=1e-6):
                return False
        return True
    if case == "cholesky":
        row = np.hstack(got["last_row"])
        g = len(got["last_row"])
        lo = (g - 1) * block
        return bool(np.allclose(row @ row.T, a[lo:, lo:], rtol=1e-9, atol=1e-6))
    n = got["r"].shape[1]
    gram = np.asarray(a.T @ a)
    return bool(
        np.allclose(got["qtq"], np.eye(n), atol=1e-9)
        and np.allclose(got["r"].T @ got["r"], gram, rtol=1e-8, atol=1e-6 * np.abs(gram).max())
        and np.allclose(got["q0"] @ got["r"], a[: len(got["q0"])], atol=1e-8)
    )


# -- the driver of the comparison ----------------------------------------------------------------


def make_inputs(n: int, m: int) -> None:
    import numpy as np

    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for name, shape in [("matmul-a", (n, n)), ("matmul-b", (n, n)), ("tsqr-a", (m, WIDTH))]:
        path = OUT / f"{name}.npy"
        if not path.exists() or np.load(path, mmap_mode="r").shape != shape:
            np.save(path, rng.standard_normal(shape))
    path = OUT / "cholesky-a.npy"
    if not path.exists() or np.load(path, mmap_mode="r").shape != (n, n):
        r = rng.standard_normal((n, n))
        r += r.T
        r[np.diag_indices(n)] += 2 * n  # symmetric, and its diagonal dominates: positive definite
        np.save(path, r)


def run(python: str, kind: str, case: str, system: str, block: int) -> dict[str, Any] | None:
    """One measurement in a fresh process; None (and why, printed) when the process failed."""
    args = [python, __file__, "--measure", kind, case, system, "--block", str(block)]
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parent))
    out = subprocess.run(args, capture_output=True, text=True, env=env)
    if out.returncode:
        print(f"{case} on {system} failed (exit {out.returncode}): {out.stderr[-500:]}")
        return None
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer-python", required=False)
    parser.add_argument("--n", type=int, default=16384)
    parser.add_argument("--m", type=int, default=4_000_000)
    parser.add_argument("--block", type=int, default=4096)
    parser.add_argument("--tsqr-block", type=int, default=250_000, help="rows of a tsqr tile")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", choices=["dag", "matmul", "cholesky", "tsqr"])
    parser.add_argument("--measure", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        measure(*args.measure, args.block)
        return
    peer = args.peer_python or sys.executable
    plans: list[tuple[str, str, list[tuple[str, str]]]] = []
    if args.only in (None, "dag"):
        for case in ("chain", "fanin"):
            plans.append(("dag", case, [("squall", sys.executable), ("dask", peer), ("ray", peer)]))
    for case in ("matmul", "cholesky", "tsqr"):
        if args.only in (None, case):
            systems = [("squall", sys.executable), ("numpy", sys.executable), ("dask.array", peer)]
            plans.append(("linalg", case, systems))
    if any(kind == "linalg" for kind, _, _ in plans):
        make_inputs(args.n, args.m)
    table = []
    for kind, case, systems in plans:
        rows = {}
        block = args.tsqr_block if case == "tsqr" else args.block
        for system, python in systems:
            done = [run(python, kind, case, system, block) for _ in range(args.repeats)]
            runs = [r for r in done if r is not None]
            if not runs:
                continue
            rows[system] = {
                "seconds": statistics.median(r["seconds"] for r in runs),
                "driver_mb": max(r["driver_mb"] for r in runs),
                "all_mb": max(r["all_mb"] for r in runs),
                "ok": all(r["ok"] for r in runs),
            }
        if "squall" not in rows:
            raise SystemExit(f"squall did not run {case}: nothing to compare with")
        base = rows["squall"]["seconds"]
        for system, r in rows.items():
            table.append(
                (
                    case,
                    system,
                    r["seconds"],
                    r["seconds"] / base,
                    r["driver_mb"],
                    r["all_mb"],
                    r["ok"],
                )
            )
    size = f"n={args.n}, m={args.m}, block {args.block}"
    print(f"\nmedian of {args.repeats} runs each ({size}; 2 workers / 2 threads)")
    print(
        f"{'case':<10}{'system':<12}{'seconds':>10}{'x squall':>10}{'driver MB':>11}"
        f"{'all MB':>9}  verified"
    )
    for case, system, s, ratio, driver, everything, ok in table:
        print(
            f"{case:<10}{system:<12}{s:>10.3f}{ratio:>9.2f}x{driver:>11.0f}{everything:>9.0f}  {ok}"
        )
    (OUT / "dag.json").write_text(json.dumps(table, indent=1))


if __name__ == "__main__":
    main()
