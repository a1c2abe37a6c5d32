"""Scan + filter + write: 1e7 rows in 16 Parquet files, keep temp > 0, write Parquet.

squall (embedded default, 2 workers) against polars (lazy scan, streaming sink) and Dask
(LocalCluster, 2 workers), side by side on the same generated data, median of ``--repeats``.
The peers run in their own virtualenv (``--peer-python``) as subprocesses of this script.

Usage: python bench/scan_filter_write.py [--rows 10000000] [--files 16] [--repeats 3]
       [--peer-python PATH]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import time
from pathlib import Path

OUT = Path(__file__).parent / "out"


def generate(root: Path, rows: int, files: int) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    marker = root / f".done-{rows}-{files}"
    if marker.exists():
        return
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    per = rows // files
    for i in range(files):
        rng = np.random.default_rng(i)
        table = pa.table(
            {
                "station": pa.array(rng.integers(0, 1000, per)).cast(pa.string()),
                "t": np.arange(i * per, (i + 1) * per, dtype=np.int64),
                "temp": rng.normal(0, 10, per),
            }
        )
        pq.write_table(table, root / f"part-{i:02}.parquet")
    marker.touch()


def run_squall(src: Path, dst: Path) -> int:
    import pyarrow.compute as pc

    import squall

    shutil.rmtree(dst, ignore_errors=True)
    ds = squall.read_parquet(f"file://{src}/").filter(lambda b: pc.greater(b["temp"], 0))
    return int(ds.write_parquet(f"file://{dst}/")["rows"])


def run_polars(src: Path, dst: Path) -> int:
    import polars as pl

    shutil.rmtree(dst, ignore_errors=True)
    dst.mkdir(parents=True)
    lazy = pl.scan_parquet(str(src / "*.parquet")).filter(pl.col("temp") > 0)
    lazy.sink_parquet(str(dst / "out.parquet"))
    return int(pl.scan_parquet(str(dst / "out.parquet")).select(pl.len()).collect().item())


def run_dask(src: Path, dst: Path, client: object) -> int:
    import dask.dataframe as dd

    shutil.rmtree(dst, ignore_errors=True)
    df = dd.read_parquet(str(src / "*.parquet"))
    df[df.temp > 0].to_parquet(str(dst), write_index=False)
    return len(dd.read_parquet(str(dst)))


def timed(fn: object, repeats: int) -> tuple[float, int]:
    times, rows = [], 0
    for _ in range(repeats):
        start = time.perf_counter()
        rows = fn()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return statistics.median(times), rows


def peer(name: str, src: Path, repeats: int) -> dict[str, float]:
    dst = OUT / f"sfw-{name}"
    if name == "polars":
        t, rows = timed(lambda: run_polars(src, dst), repeats)
    else:
        from dask.distributed import Client, LocalCluster

        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True) as cluster:
            with Client(cluster) as client:
                t, rows = timed(lambda: run_dask(src, dst, client), repeats)
    return {"seconds": t, "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--files", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--peer-python", default=None)
    parser.add_argument("--peer", choices=["polars", "dask"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    src = OUT / "sfw-input"
    if args.peer:
        print(json.dumps(peer(args.peer, src, args.repeats)))
        return

    generate(src, args.rows, args.files)
    import squall

    squall.default_session().map(abs, [1, 2], progress=False).results()  # warm workers
    t, rows = timed(lambda: run_squall(src, OUT / "sfw-squall"), args.repeats)
    results = {"squall": {"seconds": t, "rows": rows}}
    if args.peer_python:
        for name in ("polars", "dask"):
            cmd = [args.peer_python, __file__, "--peer", name, "--repeats", str(args.repeats)]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True)
            results[name] = json.loads(out.stdout.strip().splitlines()[-1])
    expected = results["squall"]["rows"]
    print(
        f"\nscan + filter(temp > 0) + write: {args.rows:.0e} rows in {args.files} Parquet files, "
        f"median of {args.repeats}"
    )
    print(f"{'system':<10}{'seconds':>10}{'÷ squall':>10}{'rows out':>12}")
    for name, r in results.items():
        assert r["rows"] == expected, f"{name} wrote {r['rows']} rows, squall {expected}"
        ratio = r["seconds"] / results["squall"]["seconds"]
        print(f"{name:<10}{r['seconds']:>10.2f}{ratio:>9.2f}x{r['rows']:>12}")
    (OUT / "scan_filter_write.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
