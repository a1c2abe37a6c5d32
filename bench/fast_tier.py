"""The fast tier: a session's intermediate objects on S3 alone, on Redis alone, and hybrid (the
small ones in Redis, the large ones on S3), side by side in one run.

- small buckets: a hash shuffle of ``--maps`` x ``--reducers`` tasks with about
  ``--bucket-bytes`` per bucket (``repartition(R, by=...)``, counted), so every map object is
  small and every reducer reads one small slice of each;
- group-by: ``--groupby-rows`` rows of an int64 key with ``--groupby-keys`` distinct values,
  sum/mean/count of a float64, collected.

Every session runs its tasks on worker processes (``in_process=False``), as on Lambda; S3 is
LocalStack and Redis a Valkey server, both on this machine and started here (``make test``
installs both). Median of ``--repeats`` runs; requests and bytes per store from squall's own
counters (``job.cost()``); peak memory of the driver's process. A last table prices each
placement for shuffles of 1 TB in several shapes, by the rule squall places objects with
(list prices of S3 Standard requests and of ElastiCache Serverless for Valkey).

Usage: python bench/fast_tier.py [--maps 200] [--reducers 200] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from emulators.redis_server import redis_server  # noqa: E402

import squall  # noqa: E402
import squall.localstack  # noqa: E402
from squall import _native  # noqa: E402


def small_buckets(maps: int, reducers: int, bucket_bytes: int) -> pa.Table:
    """Rows of 16 bytes (key, value), enough for ``bucket_bytes`` per (map, reducer) pair."""
    rows = maps * reducers * max(bucket_bytes // 16, 1)
    rng = np.random.default_rng(3)
    return pa.table({"k": rng.integers(0, 1 << 40, rows), "v": rng.random(rows)})


def groupby_table(rows: int, keys: int) -> pa.Table:
    rng = np.random.default_rng(4)
    return pa.table({"k": rng.integers(0, keys, rows), "v": rng.random(rows)})


def run(session: squall.Session, case: str, table: pa.Table, args: argparse.Namespace) -> dict:
    parts = args.maps if case == "small buckets" else args.groupby_partitions
    ds = session.from_arrow(table, num_partitions=parts)
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        if case == "small buckets":
            got = ds.repartition(args.reducers, by="k").count()
            assert got == table.num_rows, got
        else:
            out = ds.groupby("k").agg(s=("v", "sum"), m=("v", "mean"), n=("v", "count"))
            got = out.collect().num_rows
            assert got == len(np.unique(table.column("k").to_numpy())), got
        times.append(time.perf_counter() - start)
    job = session.last_job
    assert job is not None
    cost = job.cost()
    io = {k: sum(r[k] for r in job._rows()) for k in _native.IO_FIELDS}
    return {
        "seconds": statistics.median(times),
        "s3_requests": cost.s3_puts + cost.s3_gets + cost.s3_lists,
        "fast_requests": cost.fast_requests,
        "s3_mb": (io["bytes_read"] + io["bytes_written"] - io["fast_bytes"]) / 1e6,
        "fast_mb": io["fast_bytes"] / 1e6,
        "usd": cost.usd.get("s3_requests", 0) + cost.usd.get("fast_store", 0),
    }


def priced_at_1_tb() -> list[tuple[str, str, float]]:
    """The store's bill for shuffling 1 TB: M map objects, each read by R reducers in a slice
    apiece, priced per object by the rule squall places them with (``_native.object_cost``:
    S3 requests, or ElastiCache Serverless ECPUs and 10 minutes of storage)."""
    rows = []
    for maps, reducers in ((1000, 1000), (10_000, 10_000), (100_000, 1000), (1_000_000, 1000)):
        obj = int(1e12 / maps)
        store, fast = _native.object_cost(obj, reducers)
        shape = f"{maps:,} x {reducers:,} ({obj / 1e6:,.0f} MB objects)"
        for name, usd in (("S3 alone", store), ("Redis alone", fast), ("hybrid", min(store, fast))):
            rows.append((shape, name, maps * usd))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--maps", type=int, default=200)
    parser.add_argument("--reducers", type=int, default=200)
    parser.add_argument("--bucket-bytes", type=int, default=1024)
    parser.add_argument("--groupby-rows", type=int, default=10_000_000)
    parser.add_argument("--groupby-keys", type=int, default=1_000_000)
    parser.add_argument("--groupby-partitions", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--localstack-python", type=Path, default=ROOT / ".venv-localstack" / "bin" / "python"
    )
    args = parser.parse_args()
    # This process and its workers talk to LocalStack, never to AWS.
    endpoint = squall.localstack.endpoint_of(4566)
    os.environ.update(squall.localstack.environment(endpoint))

    tables = {
        "small buckets": small_buckets(args.maps, args.reducers, args.bucket_bytes),
        "group-by": groupby_table(args.groupby_rows, args.groupby_keys),
    }
    results = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        squall.localstack.run(venv=args.localstack_python.parent.parent, workdir=tmp),
        redis_server(Path(tmp)) as address,
    ):
        bucket = squall.localstack.make_bucket("squall-bench-fast", endpoint)
        redis = f"redis://{address}/bench"
        placements = {
            "S3 alone": {"store": f"{bucket}/scratch"},
            "Redis alone": {"store": redis},
            "hybrid": {"store": f"{bucket}/scratch", "fast": redis},
        }
        for case, table in tables.items():
            for name, kwargs in placements.items():
                with squall.Session(workers=2, in_process=False, **kwargs) as s:
                    s.map(abs, [1, 2], progress=False).results()  # start the workers
                    results.append((case, name, run(s, case, table, args)))
                    print(case, name, results[-1][2], flush=True)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print(
        f"\nsmall buckets: {args.maps} x {args.reducers} tasks, about {args.bucket_bytes} B per "
        f"bucket ({tables['small buckets'].nbytes / 1e6:.0f} MB); group-by: "
        f"{args.groupby_rows:,} rows, {args.groupby_keys:,} keys; 2 worker processes; median "
        f"of {args.repeats}; driver peak RSS {peak_mb:.0f} MB"
    )
    print("| case | placement | seconds | x S3 alone | S3 requests | Redis requests "
          "| S3 MB | Redis MB | store $ |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for case, name, r in results:
        base = next(b for c, n, b in results if c == case and n == "S3 alone")
        print(
            f"| {case} | {name} | {r['seconds']:.2f} | {base['seconds'] / r['seconds']:.1f}x "
            f"| {r['s3_requests']:,} | {r['fast_requests']:,} | {r['s3_mb']:.0f} "
            f"| {r['fast_mb']:.0f} | {r['usd']:.6f} |"
        )
    print("\nthe store's bill for a 1 TB shuffle, per placement (list prices, objects held 10 min)")
    print("| shape | placement | store $ |")
    print("|---|---|---|")
    for shape, name, usd in priced_at_1_tb():
        print(f"| {shape} | {name} | {usd:,.2f} |")


if __name__ == "__main__":
    main()
