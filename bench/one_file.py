"""Group-bys on one big Parquet file with string keys: squall against polars and DuckDB.

The table is the shape a scientist hands over rather than one built for the engine: a single
file of 1e7 rows in 10 row groups, three string keys (100, 100 and 100,000 distinct values,
s3 with 5% nulls), three integer keys (10, 1,000 and 10,000 values), an int64 and two float64
values (v3 with 5% nulls). Every system scans the same file and collects the answer.

Side by side, query by query: each of ``--repeats`` rounds runs each system once, in turn, in a
fresh subprocess (so that a slow spell of the machine falls on every system alike, not on all of
one system's runs); median of the rounds. The first round's processes then run the query once
more, watched for the peak memory of the whole process tree (as in sort_groupby.py). The row
count of each answer is checked against squall's.

Each process runs the query ``--warmup`` times untimed first (1 by default: a system's first
query in a fresh process pays for memory and threads it has not used yet, and for the modules
it imports on first use; 0 times the first query). `--rows 100000000` runs the 1e8-row variant
(3 GB of Parquet, written a row group at a time and deleted after the run); `make bench` runs
both sizes, the larger one in one round.

Usage: python bench/one_file.py [--rows 10000000] [--repeats 3] [--warmup 1]
       [--peer-python PATH] [--only NAME]
"""

from __future__ import annotations

import argparse
import functools
import importlib
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from sort_groupby import OUT, timed

DEFAULT_ROWS = 10_000_000

# name -> (keys, [(output, column or "x,y", function)]); the same query for every system.
QUERIES: dict[str, tuple[list[str], list[tuple[str, str, str]]]] = {
    "s1 sum": (["s1"], [("x", "v1", "sum")]),
    "s1,s2 sum": (["s1", "s2"], [("x", "v1", "sum")]),
    "s3 sum,mean": (["s3"], [("x", "v1", "sum"), ("y", "v2", "mean")]),
    "i3 3 means": (["i3"], [("x", "v1", "mean"), ("y", "v2", "mean"), ("z", "v3", "mean")]),
    "i1 min,max": (["i1"], [("x", "v2", "min"), ("y", "v2", "max")]),
    "6 keys sum,count": (
        ["s1", "s2", "s3", "i1", "i2", "i3"],
        [("x", "v1", "sum"), ("n", "v2", "count")],
    ),
    "i3 std,count": (["i3"], [("x", "v2", "std"), ("n", "v3", "count")]),
    "i3 median,std": (["i3"], [("x", "v2", "median"), ("y", "v2", "std")]),
    # polars has no approximate median per group: it runs its exact one.
    "i3 approx median,std": (["i3"], [("x", "v2", "approx_median"), ("y", "v2", "std")]),
    # Ten groups of a million values: the exact median gathers them, the approximate one not.
    "i1 median": (["i1"], [("x", "v2", "median")]),
    "i1 approx median": (["i1"], [("x", "v2", "approx_median")]),
    "s3 top-2": (["s3"], [("x", "v2", "top_k")]),
    "i3 corr": (["i3"], [("x", "v2,v3", "corr")]),
    "i3 max-min": (["i3"], [("x", "v2", "range")]),
}
TOP = 2  # top_k's k


def data_file(rows: int) -> Path:
    """The table of `rows` rows (the default size keeps its plain name)."""
    return OUT / ("one-file.parquet" if rows == DEFAULT_ROWS else f"one-file-{rows:.0e}.parquet")


def generate(rows: int) -> Path:
    """Writes the table of `rows` rows unless it is there, a row group (a tenth) at a time."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    path = data_file(rows)
    marker = OUT / f".one-file-{rows}"
    if marker.exists() and path.exists():
        return path
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)

    def words(n: int, prefix: str) -> pa.Array:
        return pa.array([f"{prefix}-{i:06d}-{'x' * (i % 7)}" for i in range(n)])

    vocab = {"s1": words(100, "alpha"), "s2": words(100, "beta"), "s3": words(100_000, "gamma")}

    def strings(n: int, name: str, nulls: float = 0.0) -> pa.Array:
        codes = pa.array(rng.integers(0, len(vocab[name]), n, dtype=np.int32))
        taken = vocab[name].take(codes)
        if nulls:
            mask = pa.array(rng.random(n) < nulls)
            taken = pc.if_else(mask, pa.scalar(None, pa.string()), taken)
        return taken

    def row_group(n: int) -> pa.Table:
        return pa.table(
            {
                "s1": strings(n, "s1"),
                "s2": strings(n, "s2"),
                "s3": strings(n, "s3", nulls=0.05),
                "i1": rng.integers(0, 10, n),
                "i2": rng.integers(0, 1_000, n),
                "i3": rng.integers(0, 10_000, n),
                "v1": rng.integers(-1_000, 1_000, n),
                "v2": rng.standard_normal(n),
                "v3": pa.array(rng.standard_normal(n), mask=rng.random(n) < 0.05),
            }
        )

    first = row_group(rows // 10)
    with pq.ParquetWriter(path, first.schema) as writer:
        writer.write_table(first, row_group_size=rows // 10)
        for _ in range(9):
            writer.write_table(row_group(rows // 10), row_group_size=rows // 10)
    marker.touch()
    return path


SQL = {
    "mean": "avg",
    "std": "stddev_samp",
    "top_k": "max",
    "approx_median": "approx_quantile",
}  # DuckDB's names where they differ


def cases(system: str, file: Path) -> dict[str, Callable[[], int]]:
    """Each query as a function of no arguments for `system`, returning the answer's rows."""
    if system == "squall":
        import squall

        # What squall imports on first use (pyarrow and numpy among them) is imported before
        # the clock starts, as the peers' modules are.
        importlib.import_module("squall.dataset")

        def spec(c: str, f: str) -> tuple | squall.Expr:
            if f == "range":
                return squall.col(c).max() - squall.col(c).min()
            if f == "corr":
                return (tuple(c.split(",")), f)
            return (c, f, TOP) if f == "top_k" else (c, f)

        def query(keys: list[str], aggs: list[tuple[str, str, str]]) -> int:
            ds = squall.read_parquet(f"file://{file}")
            return ds.groupby(keys).agg(**{o: spec(c, f) for o, c, f in aggs}).collect().num_rows

    elif system == "polars":
        import polars as pl

        def expr(c: str, f: str) -> pl.Expr:
            if f == "range":
                return pl.col(c).max() - pl.col(c).min()
            if f == "corr":
                return pl.corr(*c.split(","))
            if f == "approx_median":
                return pl.col(c).median()
            return pl.col(c).top_k(TOP) if f == "top_k" else getattr(pl.col(c), f)()

        def query(keys: list[str], aggs: list[tuple[str, str, str]]) -> int:
            exprs = [expr(c, f).alias(o) for o, c, f in aggs]
            return pl.scan_parquet(str(file)).group_by(keys).agg(exprs).collect().height

    else:
        import duckdb

        con = duckdb.connect()
        con.execute("SET threads = 2")

        def query(keys: list[str], aggs: list[tuple[str, str, str]]) -> int:
            args = {"top_k": f", {TOP}", "approx_median": ", 0.5"}

            def sql(c: str, f: str) -> str:
                if f == "range":
                    return f"max({c}) - min({c})"
                return f"{SQL.get(f, f)}({c}{args.get(f, '')})"

            cols = ", ".join(f"{sql(c, f)} AS {o}" for o, c, f in aggs)
            by = ", ".join(keys)
            q = f"SELECT {by}, {cols} FROM read_parquet('{file}') GROUP BY {by}"
            return len(con.execute(q).fetchall())

    return {name: functools.partial(query, *spec) for name, spec in QUERIES.items()}


def run_system(
    system: str, file: Path, repeats: int, only: str | None, warmup: int, peak: bool
) -> dict[str, dict[str, float]]:
    results = {}
    for name, fn in cases(system, file).items():
        if not only or name == only:
            for _ in range(warmup):
                fn()
            if peak:
                results[name] = timed(fn, repeats, lambda: None)
            else:
                times = [seconds(fn) for _ in range(repeats)]
                results[name] = {
                    "seconds": statistics.median(t for t, _ in times),
                    "rows": times[-1][1],
                }
    return results


def seconds(fn: Callable[[], int]) -> tuple[float, int]:
    """One run of `fn`: its seconds and the rows it gave."""
    start = time.perf_counter()
    rows = fn()
    return time.perf_counter() - start, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs before the timed one")
    parser.add_argument("--peer-python", default=None)
    parser.add_argument("--only", choices=list(QUERIES), default=None)
    parser.add_argument("--peer", choices=("squall", "polars", "duckdb"), help=argparse.SUPPRESS)
    parser.add_argument("--no-peak", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peer:
        file = data_file(args.rows)
        runs = run_system(args.peer, file, args.repeats, args.only, args.warmup, not args.no_peak)
        print(json.dumps(runs))
        return
    file = generate(args.rows)
    systems = [("squall", sys.executable)]
    systems += [(p, args.peer_python) for p in ("polars", "duckdb") if args.peer_python]
    results: dict[str, dict] = {}
    # Query by query, round by round, each system in turn (a fresh process each): a slow spell
    # of the machine then falls on every system's runs alike.
    for query in [args.only] if args.only else list(QUERIES):
        runs: dict[str, list[dict]] = {}
        for turn in range(args.repeats):
            for system, python in systems:
                cmd = [python, __file__, "--peer", system, "--repeats", "1"]
                cmd += ["--warmup", str(args.warmup), "--rows", str(args.rows), "--only", query]
                cmd += ["--no-peak"] if turn else []
                done = subprocess.run(cmd, capture_output=True, text=True)
                lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
                if done.returncode or not lines:
                    how = "failed" if done.returncode >= 0 else f"killed by {-done.returncode}"
                    print(f"{system} {how} on {query} (exit {done.returncode}):")
                    print(done.stderr[-2000:])
                    continue
                runs.setdefault(system, []).append(json.loads(lines[-1])[query])
        for system, got in runs.items():
            first = got[0] | {"seconds": statistics.median(r["seconds"] for r in got)}
            results.setdefault(system, {})[query] = first
    if "squall" not in results:
        raise SystemExit("squall did not run: nothing to compare with")
    warm = f" after {args.warmup} untimed" if args.warmup else ""
    rounds = f"median of {args.repeats} rounds, each run in a fresh process{warm}"
    print(f"\n{args.rows:.0e} rows, one Parquet file, 2 cores; {rounds}")
    print(f"{'query':<22}{'system':<8}{'seconds':>9}{'÷ best peer':>12}{'peak MB':>9}{'rows':>10}")
    for case, base in results["squall"].items():
        peers = [r[case]["seconds"] for s, r in results.items() if s != "squall" and case in r]
        best = min(peers, default=base["seconds"])
        for system, got in results.items():
            r = got.get(case)
            if r is None:
                continue
            if r["rows"] != base["rows"]:
                print(f"  ! {system} produced {r['rows']} rows, squall {base['rows']}")
            line = f"{case:<22}{system:<8}{r['seconds']:>9.3f}{r['seconds'] / best:>11.2f}x"
            print(f"{line}{r.get('peak_mb', float('nan')):>9.0f}{r['rows']:>10}")
    (OUT / f"one_file-{args.rows:.0e}.json").write_text(json.dumps(results, indent=2))
    if args.rows != DEFAULT_ROWS:
        file.unlink()  # a larger table is made again when asked for, not kept
        (OUT / f".one-file-{args.rows}").unlink()


if __name__ == "__main__":
    main()
