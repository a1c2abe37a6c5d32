"""Bigger than the budget: a sort and two group-bys of 1e8 rows (about 10 GB of Parquet) with
squall under `memory_limit="4GB"`, against polars (streaming engine) and DuckDB
(`memory_limit='4GB'`, spilling to its temp directory).

Rows: a uint64 sort key, a 68-byte payload, an int64 key of 100 and one of 1e6 values, and a
float64: 100 bytes a row, in 64 Parquet files (snappy, row groups of 1M rows), generated here
and deleted at the end (``--keep`` keeps them).

Each result is verified: the sort's output globally ordered with every row once (its row count,
and wrapping sums of the keys and of the payloads' first 8 bytes, equal to the input's), the
group-bys' aggregates equal to DuckDB's. Peak memory is of each system's whole process tree
(as in sort_groupby.py); "spilled" is what the system's temporary directory (its TMPDIR, where
squall keeps its scratch; DuckDB's temp_directory; polars' POLARS_TEMP_DIR) held at its
fullest.

Usage: python bench/out_of_core.py [--rows 100000000] [--repeats 3] --peer-python PATH
       [--limit 4GB] [--only sort|groupby] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sort_groupby import PeakMemory, Watch

OUT = Path(__file__).parent / "out" / "ooc"
FILES = 64
PEERS = ("polars", "duckdb")
CODEC = "snappy"


def generate(rows: int) -> Path:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    src = OUT / f"in-{rows}"
    if (src / ".done").exists():
        return src
    shutil.rmtree(src, ignore_errors=True)
    src.mkdir(parents=True)
    per = rows // FILES
    for i in range(FILES):
        rng = np.random.default_rng(i)
        payload = pa.FixedSizeBinaryArray.from_buffers(
            pa.binary(68), per, [None, pa.py_buffer(rng.bytes(per * 68))]
        )
        table = pa.table(
            {
                "key": pa.array(rng.integers(0, 2**63, per, dtype=np.uint64)),
                "payload": payload,
                "k100": rng.integers(0, 100, per, dtype=np.int64),
                "k1m": rng.integers(0, 1_000_000, per, dtype=np.int64),
                "v": rng.standard_normal(per),
            }
        )
        pq.write_table(table, src / f"p{i:03}.parquet", compression=CODEC, row_group_size=1 << 20)
    (src / ".done").touch()
    return src


class DirPeak(Watch):
    """The largest size a directory tree reaches while watched (sampled every 0.5 s)."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            total = 0
            for root, _, files in os.walk(self.path):
                for f in files:
                    try:
                        total += os.stat(os.path.join(root, f)).st_size
                    except OSError:
                        pass
            self.peak = max(self.peak, total)


def cases(system: str, src: Path, limit: str, spill: Path) -> dict[str, Callable[[Path], int]]:
    glob = str(src / "*.parquet")
    if system == "squall":
        import squall

        session = squall.Session(memory_limit=limit)  # its scratch under TMPDIR = spill

        def sort(dst: Path) -> int:
            ds = session.read_parquet(f"file://{src}/").sort("key")
            return int(ds.write_parquet(f"file://{dst}/", compression=CODEC)["rows"])

        def group(key: str) -> Callable[[Path], int]:
            def run(dst: Path) -> int:
                ds = session.read_parquet(f"file://{src}/").groupby(key)
                out = ds.agg(s=("v", "sum"), n=("v", "count"), m=("v", "max")).collect()
                import pyarrow.parquet as pq

                pq.write_table(out, dst / "result.parquet")
                return out.num_rows

            return run

    elif system == "polars":
        import polars as pl

        def sort(dst: Path) -> int:
            out = dst / "sorted.parquet"
            pl.scan_parquet(glob).sort("key").sink_parquet(str(out), compression=CODEC)
            return int(pl.scan_parquet(str(out)).select(pl.len()).collect().item())

        def group(key: str) -> Callable[[Path], int]:
            def run(dst: Path) -> int:
                aggs = [
                    pl.col("v").sum().alias("s"),
                    pl.col("v").count().alias("n"),
                    pl.col("v").max().alias("m"),
                ]
                out = pl.scan_parquet(glob).group_by(key).agg(aggs).collect(engine="streaming")
                out.write_parquet(dst / "result.parquet")
                return out.height

            return run

    else:
        import duckdb

        con = duckdb.connect()
        con.execute("SET threads = 2")
        con.execute(f"SET memory_limit = '{limit}'")
        con.execute(f"SET temp_directory = '{spill}'")
        con.execute("SET preserve_insertion_order = false")

        def sort(dst: Path) -> int:
            con.execute(
                f"COPY (SELECT * FROM read_parquet('{glob}') ORDER BY key) "
                f"TO '{dst}/sorted.parquet' (FORMAT parquet, COMPRESSION {CODEC})"
            )
            return int(con.execute(f"SELECT count(*) FROM '{dst}/sorted.parquet'").fetchone()[0])

        def group(key: str) -> Callable[[Path], int]:
            def run(dst: Path) -> int:
                q = (
                    f"SELECT {key}, sum(v) AS s, count(v) AS n, max(v) AS m "
                    f"FROM read_parquet('{glob}') GROUP BY {key}"
                )
                con.execute(f"COPY ({q}) TO '{dst}/result.parquet' (FORMAT parquet)")
                return int(
                    con.execute(f"SELECT count(*) FROM '{dst}/result.parquet'").fetchone()[0]
                )

            return run

    return {"sort": sort, "groupby 100 keys": group("k100"), "groupby 1e6 keys": group("k1m")}


def run_system(system: str, src: Path, repeats: int, limit: str, only: str | None) -> dict:
    """Runs `system`'s cases; each run's output goes to a fresh directory, the last one kept
    for verification under OUT/result-<system>-<case>."""
    out = {}
    spill = Path(tempfile.gettempdir())  # the runner's spill directory for this system
    for name, fn in cases(system, src, limit, spill).items():
        if only and not name.startswith(only):
            continue
        kept = OUT / f"result-{system}-{name.replace(' ', '-')}"
        times, rows = [], 0
        for i in range(repeats + 1):
            shutil.rmtree(kept, ignore_errors=True)
            kept.mkdir(parents=True)
            os.sync()
            watched = i == repeats  # the last run is watched for memory, untimed
            with PeakMemory() if watched else _Nothing() as memory, DirPeak(spill) as spilled:
                start = time.perf_counter()
                rows = fn(kept)
                elapsed = time.perf_counter() - start
            if not watched:
                times.append(elapsed)
        out[name] = {
            "seconds": statistics.median(times),
            "rows": rows,
            "peak_mb": memory.peak / 2**20,
            "spilled_mb": spilled.peak / 2**20,
        }
    return out


class _Nothing:
    peak = 0

    def __enter__(self) -> _Nothing:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def verify_sort(src: Path, system: str) -> str:
    """Whether `system`'s sorted output is ordered with every row of `src` once."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    def sums(files: list[Path]) -> tuple[int, int, int, bool]:
        rows, keys, heads, ordered, last = 0, 0, 0, True, None
        for f in files:
            for batch in pq.ParquetFile(f).iter_batches(columns=["key", "payload"]):
                k = batch.column(0).to_numpy()
                first8 = pc.binary_slice(batch.column(1), 0, 8).cast(pa.binary(8))
                p = np.frombuffer(first8.buffers()[1], dtype=np.uint64)[first8.offset :][: len(k)]
                rows += len(k)
                keys = (keys + int(np.add.reduce(k, dtype=np.uint64))) % 2**64
                heads = (heads + int(np.add.reduce(p, dtype=np.uint64))) % 2**64
                if len(k):
                    ordered &= bool((k[1:] >= k[:-1]).all()) and (last is None or k[0] >= last)
                    last = k[-1]
        return rows, keys, heads, ordered

    out = OUT / f"result-{system}-sort"
    files = sorted(out.rglob("*.parquet"))
    manifest = out / "_manifest.json"
    if manifest.exists():  # squall: the files in the manifest's order
        files = [out / f["name"] for f in json.loads(manifest.read_text())["files"]]
    want = sums(sorted(src.glob("*.parquet")))
    got = sums(files)
    if not got[3]:
        return "NOT SORTED"
    return "ok" if got[:3] == want[:3] else f"rows/checksums differ: {got[:3]} vs {want[:3]}"


def verify_group(system: str, case: str) -> str:
    """Whether `system`'s aggregates equal DuckDB's."""
    import pyarrow.parquet as pq

    name = case.replace(" ", "-")
    mine = pq.read_table(OUT / f"result-{system}-{name}" / "result.parquet")
    ref_path = OUT / f"result-duckdb-{name}" / "result.parquet"
    if not ref_path.exists():
        return "no DuckDB result to compare with"
    ref = pq.read_table(ref_path)
    key = ref.column_names[0]
    mine, ref = mine.sort_by(key), ref.sort_by(key)
    if mine.num_rows != ref.num_rows or mine.column(key) != ref.column(key):
        return "keys differ"
    if mine.column("n").to_pylist() != ref.column("n").to_pylist():
        return "counts differ"
    if mine.column("m").to_pylist() != ref.column("m").to_pylist():
        return "maxima differ"
    for a, b in zip(mine.column("s").to_pylist(), ref.column("s").to_pylist(), strict=True):
        if abs(a - b) > 1e-6 * max(1.0, abs(b)):
            return f"sums differ: {a} vs {b}"
    return "ok"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--limit", default="4GB")
    parser.add_argument("--peer-python", default=None)
    parser.add_argument("--only", choices=["sort", "groupby"], default=None)
    parser.add_argument("--keep", action="store_true", help="keep the generated input")
    parser.add_argument("--peer", choices=("squall", *PEERS), help=argparse.SUPPRESS)
    parser.add_argument("--src", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peer:
        result = run_system(args.peer, Path(args.src), args.repeats, args.limit, args.only)
        print(json.dumps(result))
        return
    OUT.mkdir(parents=True, exist_ok=True)
    src = generate(args.rows)
    results = {}
    # DuckDB first: its group-by results are the reference.
    systems = [(p, args.peer_python) for p in reversed(PEERS) if args.peer_python]
    for system, python in [*systems, ("squall", sys.executable)]:
        cmd = [python, __file__, "--peer", system, "--src", str(src)]
        cmd += ["--repeats", str(args.repeats), "--limit", args.limit]
        if args.only:
            cmd += ["--only", args.only]
        spill = Path(tempfile.mkdtemp(prefix=f"spill-{system}-", dir=OUT))
        env = os.environ | {"TMPDIR": str(spill), "POLARS_TEMP_DIR": str(spill)}
        done = subprocess.run(cmd, capture_output=True, text=True, env=env)
        shutil.rmtree(spill, ignore_errors=True)
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        if done.returncode or not lines:
            print(f"{system} failed:\n{done.stderr[-3000:]}")
            continue
        results[system] = json.loads(lines[-1])
        for case in results[system]:
            check = verify_sort(src, system) if case == "sort" else verify_group(system, case)
            results[system][case]["verified"] = check
    print(
        f"\n{args.rows:.0e} rows x 100 B, {FILES} Parquet files, 2 cores, memory limit "
        f"{args.limit} (squall, DuckDB); median of {args.repeats} runs"
    )
    head = f"{'case':<18}{'system':<8}{'seconds':>9}{'÷ squall':>10}{'peak MB':>9}"
    print(f"{head}{'spilled MB':>11}  verified")
    base = results.get("squall", {})
    for case in ("sort", "groupby 100 keys", "groupby 1e6 keys"):
        for system, got in results.items():
            r = got.get(case)
            if r is None:
                continue
            ratio = r["seconds"] / base[case]["seconds"] if case in base else float("nan")
            line = f"{case:<18}{system:<8}{r['seconds']:>9.1f}{ratio:>9.2f}x{r['peak_mb']:>9.0f}"
            print(f"{line}{r['spilled_mb']:>11.0f}  {r['verified']}")
    (OUT / "out_of_core.json").write_text(json.dumps(results, indent=2))
    for path in OUT.glob("result-*"):
        shutil.rmtree(path, ignore_errors=True)
    if not args.keep:
        shutil.rmtree(src, ignore_errors=True)


if __name__ == "__main__":
    main()
