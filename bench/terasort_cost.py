"""What a TeraSort costs on Lambda, modelled: 100-byte records with 10-byte keys, read from
Parquet in S3, sorted, written back as Parquet, on 1,000 and 10,000 functions of 1,769 MB and
3,008 MB (arm64), the shuffle's intermediate objects in S3 Standard or S3 Express One Zone.

Each configuration is estimated in closed form (``Dataset.estimate``); with ``--simulate``,
the 10,000-function ones are also run by size through the real scheduler on a virtual clock
(``Dataset.simulate``), each in a process of its own, and both makespans are shown. Nothing
moves bytes: the input is ``squall.synthetic``.

Assumptions (the models' defaults unless named): a function moves 100 MB/s to and from S3
whatever its memory, and works through 100 MB/s of rows per vCPU (1,769 MB is one vCPU,
3,008 MB is 1.7; measured here: squall's map and reduce of these rows ran 72 and 163 MB/s on
one core); S3 Standard answers in 150 ms to the first byte, 5,500 GET and 3,500 PUT per second
on each of 256 prefixes; S3 Express in 5 ms, 2 million GET and 200,000 PUT per second per
bucket; each function keeps 32 requests in flight; partitions are as big as a function's memory
budget plans a task for (its memory x 0.75 / 4); ten functions' worth of shards
(``squall.deploy(shards=10)``) for 10,000 functions; list prices of us-east-1.

Usage: python bench/terasort_cost.py [--sizes 1,100] [--simulate] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import time

import squall
from squall import _native

TERASORT = {"key": 10, "value": 90}
TB = 10**12


def fleet(functions: int, memory_mb: int, store: str | squall.StoreModel) -> squall.FleetModel:
    stores = {"s3": squall.StoreModel.s3_standard, "s3_express": squall.StoreModel.s3_express}
    return squall.FleetModel(
        concurrency=functions,
        functions=max(1, functions // 1000),
        work_bytes_s=100e6 * memory_mb / 1769,
        store=stores[store]() if isinstance(store, str) else store,
    )


def dataset(tb: float, functions: int, memory_mb: int) -> squall.Dataset:
    task = _native.Budget(None, functions, memory_mb).task_input
    partitions = math.ceil(tb * TB / task)
    rows = int(tb * TB / 100)
    ds = squall.synthetic(TERASORT, rows=rows, partitions=partitions, name="terasort")
    return ds.sort("key", num_partitions=partitions)


def row(tb: float, functions: int, memory_mb: int, store: str, sim: bool) -> dict[str, float | str]:
    ds, f = dataset(tb, functions, memory_mb), fleet(functions, memory_mb, store)
    est = ds.estimate(f, memory_mb=memory_mb)
    cost = est.cost(architecture="arm64", store=store)
    prefixes = f.store.prefixes if f.store else 1
    peak = max((s.io["gets"] + s.io["puts"]) / max(s.seconds, 1e-9) / prefixes for s in est.stages)
    out: dict[str, float | str] = {
        "TB": tb,
        "functions": functions,
        "MB": memory_mb,
        "store": store,
        "partitions": est.stages[0].tasks,
        "est_min": est.seconds / 60,
        "GET_M": cost.s3_gets / 1e6,
        "PUT_M": cost.s3_puts / 1e6,
        "503s": sum(s.io["slowdowns"] for s in est.stages),
        "peak_req_s_prefix": peak,
        "compute_tb": (cost.usd["lambda_compute"] + cost.usd["lambda_requests"]) / tb,
        "requests_tb": (cost.usd["s3_requests"] + cost.usd.get("s3_express_bytes", 0)) / tb,
        "storage_tb": cost.usd["s3_storage"] / tb,
        "usd_tb": cost.total_usd / tb,
    }
    if sim:
        started = time.monotonic()
        job = ds.simulate(f, memory_mb=memory_mb, progress=False)
        st = job.stats
        span = (max(st["finished"].to_pylist()) - min(st["started"].to_pylist())).total_seconds()
        simulated = job.cost(architecture="arm64", store=store)
        out |= {
            "sim_min": span / 60,
            "sim_usd_tb": simulated.total_usd / tb,
            "sim_503s": sum(st["slowdowns"].to_pylist()),
            "sim_wall_s": time.monotonic() - started,
            "tasks": st.num_rows,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--sizes", default="1,100", help="terabytes, comma separated")
    parser.add_argument("--simulate", action="store_true", help="also simulate 10,000 functions")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--json", help="write the rows here")
    args = parser.parse_args()
    if args.one:
        tb, functions, memory, store = args.one.split(":")
        print(json.dumps(row(float(tb), int(functions), int(memory), store, True)))
        return
    rows = []
    for tb in (float(s) for s in args.sizes.split(",")):
        for functions in (1000, 10_000):
            for memory in (1769, 3008):
                for store in ("s3", "s3_express"):
                    if args.simulate and functions == 10_000:
                        one = f"{tb}:{functions}:{memory}:{store}"
                        done = subprocess.run(
                            [sys.executable, __file__, "--one", one],
                            capture_output=True,
                            text=True,
                            check=True,
                        )
                        rows.append(json.loads(done.stdout.splitlines()[-1]))
                    else:
                        rows.append(row(tb, functions, memory, store, False))
                    print(table([rows[-1]], header=len(rows) == 1), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    print(sensitivity(max(float(s) for s in args.sizes.split(","))))


def sensitivity(tb: float) -> str:
    """$/TB of the largest sort on 10,000 functions of 3,008 MB (S3) as a function's bandwidth
    to S3 grows: the assumption the figure depends on most."""
    lines = [f"\n{tb:g} TB, 10,000 functions of 3,008 MB, S3: $/TB by a function's bandwidth to S3"]
    lines += ["| MB/s | estimate, min | compute $/TB | total $/TB |", "|---:|---:|---:|---:|"]
    ds = dataset(tb, 10_000, 3008)
    for mb_s in (50, 100, 200, 400):
        s3 = squall.StoreModel(bandwidth_bytes_s=mb_s * 1e6)
        est = ds.estimate(fleet(10_000, 3008, s3), memory_mb=3008)
        cost = est.cost(architecture="arm64")
        compute = cost.usd["lambda_compute"] + cost.usd["lambda_requests"]
        lines.append(
            f"| {mb_s} | {est.seconds / 60:.1f} | {compute / tb:.2f} | {cost.total_usd / tb:.2f} |"
        )
    return "\n".join(lines)


def table(rows: list[dict[str, float | str]], header: bool) -> str:
    cols = [
        ("TB", "{:g}"),
        ("functions", "{:,}"),
        ("MB", "{}"),
        ("store", "{}"),
        ("partitions", "{:,}"),
        ("est_min", "{:.1f}"),
        ("sim_min", "{:.1f}"),
        ("GET_M", "{:,.1f}"),
        ("PUT_M", "{:,.2f}"),
        ("peak_req_s_prefix", "{:,.0f}"),
        ("503s", "{:,}"),
        ("compute_tb", "${:.2f}"),
        ("requests_tb", "${:.2f}"),
        ("storage_tb", "${:.3f}"),
        ("usd_tb", "${:.2f}"),
        ("sim_usd_tb", "${:.2f}"),
        ("sim_wall_s", "{:.0f}"),
        ("peak_rss_mb", "{:,.0f}"),
    ]
    lines = (
        ["| " + " | ".join(c for c, _ in cols) + " |", "|" + "---|" * len(cols)] if header else []
    )
    for r in rows:
        lines.append(
            "| " + " | ".join(fmt.format(r[c]) if c in r else "" for c, fmt in cols) + " |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
