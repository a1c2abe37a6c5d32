"""Sort and group-by: squall (embedded default) against polars, DuckDB, Dask and Ray Data.

- sort: 1e7 rows of a uint64 key and a 90-byte binary payload (about 1 GB), 16 Parquet files
  in, globally sorted Parquet out, every system writing snappy (pyarrow's default, so Dask's
  and Ray's; polars and squall default to zstd, which costs more CPU on this incompressible
  payload).
- groupby: 1e7 rows, an int64 key with 100 and with 1e6 distinct values, sum/mean/count of a
  float64, collected.

Peak memory is of each system's whole process tree (workers and clusters included, shared
pages counted once) plus what it puts in /dev/shm, in one extra run 2 s after the timed ones.

Side by side on the same generated data, median of ``--repeats`` runs (``--slow-repeats`` for
Dask and Ray). Each system runs in a fresh subprocess, the peers in their own virtualenv
(``--peer-python``).

With ``--baseline-python``, squall also runs under that interpreter (an earlier build installed
there), as the system "baseline": a before/after comparison in the same run.

Usage: python bench/sort_groupby.py [--rows 10000000] [--repeats 3] [--slow-repeats 1]
       [--peer-python PATH] [--baseline-python PATH] [--only sort|groupby]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

OUT = Path(__file__).parent / "out"
FILES = 16
PEERS = ("polars", "duckdb", "dask", "ray")
CODEC = "snappy"  # the sort's output compression, the same for every system
MEMORY_PAUSE = 2.0  # seconds between the timed runs and the memory run


def generate(rows: int) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    marker = OUT / f".sg-done-{rows}"
    if marker.exists():
        return
    per = rows // FILES
    for name in ("sg-sort", "sg-g100", "sg-g1m"):
        shutil.rmtree(OUT / name, ignore_errors=True)
        (OUT / name).mkdir(parents=True)
    for i in range(FILES):
        rng = np.random.default_rng(i)
        payload = pa.FixedSizeBinaryArray.from_buffers(
            pa.binary(90), per, [None, pa.py_buffer(rng.bytes(per * 90))]
        ).cast(pa.binary())
        key = pa.array(rng.integers(0, 2**63, per, dtype=np.uint64))
        pq.write_table(
            pa.table({"key": key, "payload": payload}), OUT / "sg-sort" / f"p{i:02}.parquet"
        )
        v = rng.standard_normal(per)
        for name, groups in (("sg-g100", 100), ("sg-g1m", 1_000_000)):
            k = rng.integers(0, groups, per, dtype=np.int64)
            pq.write_table(pa.table({"k": k, "v": v}), OUT / name / f"p{i:02}.parquet")
    marker.touch()


class Watch:
    """The largest value `_run` (on a thread of its own, until the block ends) sees: `peak`."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Watch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        raise NotImplementedError


class PeakMemory(Watch):
    """Peak memory of this process and all its descendants (worker processes, clusters),
    sampled every 5 ms (a group-by takes 50 ms: coarser samples miss its peak): their
    proportional set sizes (pages shared between processes count once), plus what they put in
    /dev/shm. The descendants are looked up every 100 ms. Reading a process's proportional size
    walks its page tables (17 ms for a worker holding gigabytes of mapped pages), so the samples
    are spaced to keep the sampler under 5% of one core: unbounded, it took a whole core of the
    two and slowed a 31 s run to 42 s."""

    def __init__(self) -> None:
        super().__init__()
        self._shm_base = _shm_used()

    def _run(self) -> None:
        family, found, spent = [os.getpid()], 0.0, 0.0
        while not self._stop.wait(max(0.005, 19 * spent)):
            start = time.monotonic()
            if start - found > 0.1:
                family, found = _family(os.getpid()), start
            pss = sum(_pss(pid) for pid in family)
            self.peak = max(self.peak, pss + max(0, _shm_used() - self._shm_base))
            spent = time.monotonic() - start


def _family(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                stat = Path(f"/proc/{entry.name}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    family, todo = [], [root]
    while todo:
        pid = todo.pop()
        family.append(pid)
        todo.extend(children.get(pid, ()))
    return family


def _pss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _shm_used() -> int:
    st = os.statvfs("/dev/shm")
    return (st.f_blocks - st.f_bfree) * st.f_frsize


def timed(fn: Callable[[], int], repeats: int, before: Callable[[], None]) -> dict[str, float]:
    """Median seconds of `repeats` runs, then, after a pause in which each system may give back
    what earlier cases left it holding, one more run watched for its peak memory (the sampler
    takes CPU, so it never runs during a timed run). `before` runs untimed ahead of each run."""
    times, rows = [], 0
    for _ in range(repeats):
        before()
        start = time.perf_counter()
        rows = fn()
        times.append(time.perf_counter() - start)
    time.sleep(MEMORY_PAUSE)
    before()
    with PeakMemory() as memory:
        fn()
    return {"seconds": statistics.median(times), "rows": rows, "peak_mb": memory.peak / 2**20}


def cases(system: str) -> dict[str, Callable[[], int]]:
    src = {n: OUT / f"sg-{n}" for n in ("sort", "g100", "g1m")}
    dst = sort_output(system)  # emptied by `clear` ahead of each run

    if system == "squall":
        import squall

        def sort() -> int:
            ds = squall.read_parquet(f"file://{src['sort']}/").sort("key", num_partitions=FILES)
            return int(ds.write_parquet(f"file://{dst}/", compression=CODEC)["rows"])

        def group(name: str) -> Callable[[], int]:
            def run() -> int:
                ds = squall.read_parquet(f"file://{src[name]}/")
                aggs = {"s": ("v", "sum"), "m": ("v", "mean"), "n": ("v", "count")}
                return int(ds.groupby("k").agg(**aggs).collect().num_rows)

            return run

    elif system == "polars":
        import polars as pl

        def sort() -> int:
            out = dst / "sorted.parquet"
            lazy = pl.scan_parquet(str(src["sort"] / "*.parquet")).sort("key")
            lazy.sink_parquet(str(out), compression=CODEC)
            return int(pl.scan_parquet(str(out)).select(pl.len()).collect().item())

        def group(name: str) -> Callable[[], int]:
            def run() -> int:
                lazy = pl.scan_parquet(str(src[name] / "*.parquet")).group_by("k")
                aggs = [
                    pl.col("v").sum(),
                    pl.col("v").mean().alias("m"),
                    pl.col("v").count().alias("n"),
                ]
                return lazy.agg(aggs).collect().height

            return run

    elif system == "duckdb":
        import duckdb

        con = duckdb.connect()
        con.execute("SET threads = 2")

        def sort() -> int:
            con.execute(
                f"COPY (SELECT * FROM read_parquet('{src['sort']}/*.parquet') ORDER BY key) "
                f"TO '{dst}/sorted.parquet' (FORMAT parquet, COMPRESSION {CODEC})"
            )
            return int(con.execute(f"SELECT count(*) FROM '{dst}/sorted.parquet'").fetchone()[0])

        def group(name: str) -> Callable[[], int]:
            def run() -> int:
                files = f"read_parquet('{src[name]}/*.parquet')"
                q = f"SELECT k, sum(v), avg(v), count(v) FROM {files} GROUP BY k"
                return len(con.execute(q).fetchall())

            return run

    elif system == "dask":
        import dask.dataframe as dd
        from dask.distributed import Client, LocalCluster

        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True)
        Client(cluster)

        def sort() -> int:
            # Arrow-backed columns: dask cannot infer a Parquet schema from object columns.
            df = dd.read_parquet(str(src["sort"]), dtype_backend="pyarrow")
            df.sort_values("key").to_parquet(str(dst), write_index=False, compression=CODEC)
            return len(dd.read_parquet(str(dst)))

        def group(name: str) -> Callable[[], int]:
            def run() -> int:
                df = dd.read_parquet(str(src[name]))
                return len(df.groupby("k").v.agg(["sum", "mean", "count"]).compute())

            return run

    else:
        import ray

        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        from ray.data.aggregate import Count, Mean, Sum

        def sort() -> int:
            ray.data.read_parquet(str(src["sort"])).sort("key").write_parquet(str(dst))
            return ray.data.read_parquet(str(dst)).count()

        def group(name: str) -> Callable[[], int]:
            def run() -> int:
                ds = ray.data.read_parquet(str(src[name]))
                return ds.groupby("k").aggregate(Sum("v"), Mean("v"), Count()).count()

            return run

    return {"sort": sort, "groupby 100 keys": group("g100"), "groupby 1e6 keys": group("g1m")}


def sort_output(system: str) -> Path:
    """Where `system` writes its sorted files."""
    return OUT / f"sg-out-{system}"


def clear(system: str) -> None:
    """Deletes `system`'s last sort output (1 GB: deleting it takes 0.16 s, not to be timed), and
    waits for the disk to take what was written before: else the next run, of this system or
    the next one, pays for the writeback of the last (runs varied from 2.2 to 4.1 s)."""
    shutil.rmtree(sort_output(system), ignore_errors=True)
    sort_output(system).mkdir(parents=True)
    os.sync()


def run_system(system: str, repeats: int, only: str | None) -> dict[str, dict[str, float]]:
    out = {}
    for name, fn in cases(system).items():
        if only and not name.startswith(only):
            continue
        before = functools.partial(clear, system) if name == "sort" else lambda: None
        out[name] = timed(fn, repeats, before)
    shutil.rmtree(sort_output(system), ignore_errors=True)  # 1 GB a system: not kept
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--slow-repeats", type=int, default=1)
    parser.add_argument("--peer-python", default=None)
    parser.add_argument("--baseline-python", default=None)
    parser.add_argument("--only", choices=["sort", "groupby"], default=None)
    parser.add_argument("--peer", choices=("squall", *PEERS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peer:
        print(json.dumps(run_system(args.peer, args.repeats, args.only)))
        return
    generate(args.rows)
    results = {}
    # Each system in a fresh process of its own, squall too: none inherits what generating the
    # data (or another system) left in memory.
    peers = [(p, args.peer_python) for p in PEERS if args.peer_python]
    baseline = [("baseline", args.baseline_python)] if args.baseline_python else []
    systems = [("squall", sys.executable), *baseline, *peers]
    for system, python in systems:
        repeats = args.slow_repeats if system in ("dask", "ray") else args.repeats
        runs = "squall" if system == "baseline" else system
        cmd = [python, __file__, "--peer", runs, "--repeats", str(repeats)]
        if args.only:
            cmd += ["--only", args.only]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode:
            print(f"{system} failed:\n{done.stderr[-2000:]}")
            continue
        # The results are the last JSON line: a cluster may print more as it shuts down.
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        if not lines:
            print(f"{system} printed no results:\n{done.stdout[-2000:]}")
            continue
        results[system] = json.loads(lines[-1])
    if "squall" not in results:
        raise SystemExit("squall did not run: nothing to compare with")
    print(
        f"\n{args.rows:.0e} rows, {FILES} Parquet files, 2 cores; median of {args.repeats} runs "
        f"({args.slow_repeats} for Dask and Ray)"
    )
    print(f"{'case':<20}{'system':<10}{'seconds':>10}{'÷ squall':>10}{'peak MB':>10}{'rows':>10}")
    for case, base in results["squall"].items():
        for system, cases_ in results.items():
            r = cases_.get(case)
            if r is None:
                continue
            if r["rows"] != base["rows"]:
                print(f"  ! {system} produced {r['rows']} rows, squall {base['rows']}")
            ratio = r["seconds"] / base["seconds"]
            line = f"{case:<20}{system:<10}{r['seconds']:>10.3f}{ratio:>9.2f}x"
            print(f"{line}{r['peak_mb']:>10.0f}{r['rows']:>10}")
    (OUT / "sort_groupby.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
