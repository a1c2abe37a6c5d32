"""Lazy datasets of Arrow record batches, read from and written to stores.

Operations build a plan (in Rust); nothing runs until :meth:`Dataset.collect`,
:meth:`Dataset.write_parquet`, :meth:`Dataset.count`, :meth:`Dataset.show` or
:meth:`Dataset.to_pandas`. Each input file is one partition; narrow operations fuse into one
stage of tasks, and each shuffle ends a stage. The engine's driver runs the stages and commits
written datasets; this module builds plans and shows the driver's progress.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import cloudpickle
import pyarrow as pa
import pyarrow.compute as pc

from . import _native
from ._arrow_expr import mask_of, translate
from ._progress import Progress
from ._udf import Filter, MapBatches, MapGroups
from .errors import user_facing
from .expr import Expr
from .jobs import JobRecord

if TYPE_CHECKING:
    import pandas as pd

    from .fleet import FleetModel
    from .model import Estimate
    from .session import Session

#: How ``write_parquet``/``write_ipc`` treat a directory that holds data.
WRITE_MODES = ("error", "overwrite", "append")


class Dataset:
    """A lazy, partitioned collection of Arrow record batches.

    Build one with :func:`squall.read_parquet`, :func:`squall.read_ipc`,
    :func:`squall.from_arrow`, :func:`squall.from_pandas`, :func:`squall.from_items` or
    :func:`squall.range`.
    """

    def __init__(
        self, session: Session, plan: _native.Plan, udfs: tuple[Callable[..., Any], ...]
    ) -> None:
        self._session = session
        self._plan = plan
        self._udfs = udfs

    def __repr__(self) -> str:
        n, shuffles = self._plan.num_partitions, self._plan.shuffles
        after = f", then {shuffles} shuffle{'s' if shuffles != 1 else ''}" if shuffles else ""
        out = self._plan.columns
        cols = ""
        if out is not None:
            shown = ", ".join(out[:8]) + (f" and {len(out) - 8} more" if len(out) > 8 else "")
            cols = f"; columns {shown}"
        return f"<squall.Dataset: {n} input partition{'s' if n != 1 else ''}{after}{cols}; lazy>"

    @property
    def num_partitions(self) -> int:
        """Number of partitions: one per input file, and a big Parquet file (over the session's
        ``target_partition_bytes``, or one of fewer files than workers) one per range of its
        row groups.

        Example:
            >>> squall.read_parquet("s3://lab/events/").num_partitions
            16
        """
        return self._plan.num_partitions

    # -- building ---------------------------------------------------------------------------

    def map_batches(self, fn: Callable[[Any], Any], *, batch_format: str = "pyarrow") -> Dataset:
        """Applies ``fn`` to every batch.

        Args:
            fn: Takes a batch and returns one: a pyarrow.RecordBatch or Table, a
                pandas.DataFrame, or a dict of columns.
            batch_format: What ``fn`` receives: ``"pyarrow"`` (a RecordBatch), ``"pandas"``
                (a DataFrame) or ``"numpy"`` (a dict of arrays).

        Example:
            >>> ds.map_batches(lambda df: df.assign(f=df.c * 1.8 + 32), batch_format="pandas")
        """
        return self._with_udf(MapBatches(fn, batch_format), "map_batches")

    def filter(
        self, fn: Callable[[Any], Any] | Expr | pc.Expression, *, batch_format: str = "pyarrow"
    ) -> Dataset:
        """Keeps the rows where ``fn`` is true.

        Args:
            fn: An expression, ``squall.col("temp") > 0``, or a pyarrow one,
                ``pc.field("temp") > 0`` (the engine evaluates them; null counts as false; after
                a read they skip row groups their statistics rule out; pyarrow evaluates what
                the engine cannot: see the README), or a function of a batch returning one
                boolean per row, ``lambda b: pc.greater(b["temp"], 0)``.
            batch_format: What a function receives, as in :meth:`map_batches`.

        Example:
            >>> ds.filter(squall.col("temp") > 30)
            >>> ds.filter(pc.field("temp") > 30)
            >>> ds.filter(lambda b: pc.greater(b["temp"], 30))
        """
        if isinstance(fn, pc.Expression):
            translated = translate(fn)
            if translated is None:
                by_pyarrow = Filter(mask_of(fn), "pyarrow")
                by_pyarrow.name = f"pyarrow: {fn}"
                return self._with_udf(by_pyarrow, "filter")
            fn = translated
        if isinstance(fn, Expr):
            if fn._aggs:
                raise TypeError(f"filter({fn!r}): aggregates belong in groupby(...).agg()")
            return Dataset(self._session, self._plan.then_filter(fn._native), self._udfs)
        return self._with_udf(Filter(fn, batch_format), "filter")

    def select(self, columns: str | Sequence[str]) -> Dataset:
        """Keeps ``columns``, in that order. Right after a read, only they are read.

        Example:
            >>> ds.select(["station", "temp"]).collect()
        """
        cols = [columns] if isinstance(columns, str) else list(columns)
        return Dataset(self._session, self._plan.then_select(cols), self._udfs)

    def sort(
        self,
        by: str | Sequence[str],
        *,
        descending: bool | Sequence[bool] = False,
        nulls_last: bool = True,
        num_partitions: int | None = None,
    ) -> Dataset:
        """Sorts the rows globally: partition ``i`` holds keys before partition ``i + 1``.

        A distributed sample sort: keys are sampled, splitters picked at the sample's
        quantiles, each input sorted and cut into key ranges (one shuffle object per input),
        and each output partition merges its range of every input.

        Args:
            by: Column name(s) to sort by, most significant first.
            descending: One flag, or one per column.
            nulls_last: Put nulls after every value (as pandas and pyarrow do); False puts
                them first.
            num_partitions: Output partitions, exactly. By default one per input file, or more
                when the data exceeds the session's ``target_partition_bytes`` per partition,
                and then adjacent small key ranges share a reducer (fewer, fuller files).

        Example:
            >>> ds.sort(["station", "t"], descending=[False, True]).write_parquet(url)
        """
        cols = [by] if isinstance(by, str) else list(by)
        desc = [descending] * len(cols) if isinstance(descending, bool) else list(descending)
        if len(desc) != len(cols):
            raise ValueError(f"descending has {len(desc)} flags for {len(cols)} sort columns")
        keys = [(c, d, not nulls_last) for c, d in zip(cols, desc, strict=True)]
        r = self._partitions(num_partitions)
        plan = self._plan.then_sort(keys, r, coalesce=num_partitions is None)
        return Dataset(self._session, plan, self._udfs)

    def top_k(
        self, k: int, by: str | Sequence[str], *, descending: bool | Sequence[bool] = True
    ) -> Dataset:
        """The ``k`` rows that come first in the order of ``by`` (largest first by default).

        Each partition keeps its own top ``k``; only those rows are shuffled to one partition,
        merged, and cut at ``k``. Nulls come last.

        Example:
            >>> ds.top_k(10, "temp").collect()
        """
        if isinstance(k, bool) or not isinstance(k, int):
            raise TypeError(f"top_k(k, by): k={k!r} is the number of rows, by the columns")
        if k < 0:
            raise ValueError(f"k={k}: use 0 or more")
        cols = [by] if isinstance(by, str) else list(by)
        desc = [descending] * len(cols) if isinstance(descending, bool) else list(descending)
        if len(desc) != len(cols):
            raise ValueError(f"descending has {len(desc)} flags for {len(cols)} sort columns")
        keys = [(c, d, False) for c, d in zip(cols, desc, strict=True)]
        plan = self._plan.then_top_k(keys, k).then_sort(keys, 1).then_limit(k)
        return Dataset(self._session, plan, self._udfs)

    def groupby(
        self, by: str | Sequence[str], *, num_partitions: int | None = None
    ) -> GroupedDataset:
        """Groups rows by the key column(s) ``by``; follow with :meth:`GroupedDataset.agg`.

        Keys may be of any type (integers, floats, strings, binary, booleans, dates,
        timestamps), several columns at once; null is a key of its own. ``num_partitions``
        fixes the number of output partitions; by default it follows the input's size, and
        small hash buckets share a reducer.

        Example:
            >>> ds.groupby("station").agg(mean=("temp", "mean"), n=("temp", "count"))
        """
        keys = [by] if isinstance(by, str) else list(by)
        return GroupedDataset(self, keys, num_partitions)

    def repartition(self, num_partitions: int, *, by: str | Sequence[str] | None = None) -> Dataset:
        """Moves rows into ``num_partitions`` partitions: by the hash of the ``by`` columns (rows
        with equal keys land together), or round robin without ``by``.

        Example:
            >>> ds.repartition(64, by="station").write_parquet("s3://lab/by-station/")
        """
        keys = [] if by is None else [by] if isinstance(by, str) else list(by)
        plan = self._plan.then_repartition(keys, self._partitions(num_partitions))
        return Dataset(self._session, plan, self._udfs)

    def distinct(self, columns: str | Sequence[str] | None = None) -> Dataset:
        """The distinct combinations of ``columns`` (default: all columns), one row each.

        Example:
            >>> ds.distinct("station").count()
        """
        keys = [columns] if isinstance(columns, str) else list(columns or [])
        if not keys:
            keys = self.schema.names
        r = self._partitions(None)
        plan = self._plan.then_groupby(keys, [], r, coalesce=True)
        return Dataset(self._session, plan, self._udfs)

    def _partitions(self, asked: int | None) -> int:
        """Output partitions of a shuffle: asked, or from the input's size, its partitions and
        the session's memory budget."""
        if asked is not None:
            if asked < 1:
                raise ValueError(f"num_partitions={asked}: use 1 or more")
            return asked
        session = self._session
        return self._plan.shuffle_partitions(session.target_partition_bytes, session.budget)

    def _with_udf(self, udf: MapBatches | Filter | MapGroups, kind: str) -> Dataset:
        plan = self._plan.then_udf(len(self._udfs), kind, udf.name)
        return Dataset(self._session, plan, (*self._udfs, udf))

    # -- running ----------------------------------------------------------------------------

    def explain(self) -> None:
        """Prints the stages, where each runs, partitions, each stage's inputs and outputs, and
        where its intermediate objects go (the session's store, or its fast store).

        Example:
            >>> ds.sort("t").explain()
        """
        s = self._session
        remote = s.backend == "lambda"
        print(
            self._plan.explain(
                "collect", None, s.in_process, remote, s.budget, s._store, s._fast, s.two_level
            )
        )

    def estimate(
        self,
        fleet: FleetModel | None = None,
        *,
        action: str = "write_parquet",
        memory_mb: int | None = None,
    ) -> Estimate:
        """What running this dataset into ``action`` (``"write_parquet"``, ``"write_ipc"``,
        ``"collect"`` or ``"count"``) would take and cost on ``fleet`` (default the session's,
        else :class:`squall.FleetModel`'s defaults; its store S3 Standard unless it names one)
        of functions of ``memory_mb``, stage by stage, from its sizes alone and before anything
        runs (see :mod:`squall.model`).

        Example:
            >>> est = ds.sort("t").estimate(squall.FleetModel(concurrency=5000), memory_mb=3008)
            >>> print(est, est.cost(architecture="arm64"), sep="\n")
        """
        from .model import estimate

        return estimate(self, fleet, action, memory_mb)

    def simulate(
        self,
        fleet: FleetModel | None = None,
        *,
        action: str = "write_parquet",
        memory_mb: int | None = None,
        progress: bool = True,
    ) -> JobRecord:
        """Runs this dataset into ``action`` by size on the simulated ``fleet`` (as
        :meth:`estimate` takes them): the real scheduler runs every task, each taking the time
        its work and requests take in the fleet's and its store's models, on a virtual clock;
        no bytes move and nothing is written. Returns the job's record (stats, timeline, cost).

        Example:
            >>> job = ds.sort("t").simulate(squall.FleetModel(concurrency=5000))
            >>> print(job.summary(), job.cost(), sep="\n")
        """
        from .model import simulate

        return simulate(self, fleet, action, memory_mb, progress)

    @user_facing
    def collect(self) -> pa.Table:
        """Runs the plan and returns the result as one pyarrow.Table, partitions in order.

        Example:
            >>> table = ds.sort("t").collect()
        """
        return self._collect(self._plan, "collect")

    @user_facing
    def to_pandas(self) -> pd.DataFrame:
        """Runs the plan and returns a pandas.DataFrame.

        Example:
            >>> df = ds.groupby("site").agg(n=("v", "count")).to_pandas()
        """
        return self.collect().to_pandas()

    @user_facing
    def count(self) -> int:
        """Runs the plan and returns the number of rows.

        Example:
            >>> ds.filter(squall.col("temp").is_null()).count()
        """
        rows: int = self._run(self._plan, "count", "count")
        return rows

    @user_facing
    def show(self, n: int = 5) -> None:
        """Prints the first ``n`` rows, running only as many partitions as needed.

        Example:
            >>> ds.sort("temp", descending=True).show(3)
        """
        print(self.head(n).to_pandas().to_string() if _has_pandas() else self.head(n))

    @user_facing
    def head(self, n: int = 5) -> pa.Table:
        """The first ``n`` rows, running only as many partitions as needed.

        Example:
            >>> ds.head(10).to_pandas()
        """
        return self._head(n, "head")

    def _head(self, n: int, verb: str) -> pa.Table:
        parts: list[pa.Table] = []
        rows = 0
        done = 0
        plan = self._plan.then_limit(n)
        if plan.shuffles:  # the first rows come from every input: run it all
            return self._collect(plan, verb, progress=False).slice(0, n)
        while rows < n and done < self._plan.num_partitions:
            take = min(max(1, done), self._plan.num_partitions - done)  # 1, 1, 2, 4, ... partitions
            part = self._collect(plan.slice_partitions(done, take), verb, progress=False)
            parts.append(part)
            rows += part.num_rows
            done += take
        if not parts:
            return pa.table({})
        return pa.concat_tables(parts).slice(0, n)

    @property
    def schema(self) -> pa.Schema:
        """The schema of the result (runs the plan on the first partition).

        Example:
            >>> ds.schema
            station: string
            temp: double
        """
        return self._head(1, "schema").schema

    @user_facing
    def write_parquet(
        self, url: str, *, compression: str = "zstd", mode: str = "error"
    ) -> dict[str, Any]:
        """Writes one Parquet file per partition under ``url``, then publishes ``_manifest.json``.

        The directory is governed by its manifest: readers read exactly the files it lists, so
        they see the old dataset or the new one, never a mix, whatever happens to this job. A
        job whose driver dies leaves only files that no manifest lists (``squall.clean`` removes
        them; the next write to the directory removes its dead attempts).

        Args:
            url: The directory (``s3://bucket/prefix/``, ``file:///path/``, ``memory://...``).
            compression: ``"zstd"`` (level 1, the default: small files), ``"snappy"`` or
                ``"lz4"`` (faster to write, larger), or ``"none"``.
            mode: What to do when the directory holds data: ``"error"`` (the default) refuses,
                ``"overwrite"`` replaces it (old files are deleted once the new manifest is
                published), ``"append"`` adds this job's files to it. Another job that
                publishes first makes this one fail with :class:`squall.CommitConflict`.

        Returns:
            The manifest: the files written (name, rows, bytes), its version and job.

        Example:
            >>> ds.sort("t").write_parquet("s3://lab/sorted/", mode="overwrite")
        """
        return self._write(url, "parquet", compression, mode)

    @user_facing
    def write_ipc(
        self, url: str, *, compression: str = "zstd", mode: str = "error"
    ) -> dict[str, Any]:
        """Writes one Arrow IPC file per partition under ``url``, then ``_manifest.json``.

        ``compression`` is ``"zstd"`` (the default), ``"lz4"`` or ``"none"``; ``mode`` is as
        in :meth:`write_parquet`.

        Example:
            >>> ds.write_ipc("file:///scratch/frames/", compression="lz4")
        """
        return self._write(url, "ipc", compression, mode)

    def _write(self, url: str, format: str, compression: str, mode: str) -> dict[str, Any]:
        codecs = ("zstd", "lz4", "none") if format == "ipc" else ("zstd", "snappy", "lz4", "none")
        if compression not in codecs:
            names = ", ".join(repr(c) for c in codecs)
            raise ValueError(f"compression={compression!r}: {format} files take one of {names}")
        if mode not in WRITE_MODES:
            names = ", ".join(repr(m) for m in WRITE_MODES)
            raise ValueError(f"mode={mode!r}: use one of {names}")
        manifest: dict[str, Any] = self._run(
            self._plan, "write", f"write_{format}", write=(format, url, compression, mode)
        )
        return manifest

    def _collect(self, plan: _native.Plan, verb: str, progress: bool = True) -> pa.Table:
        stream = self._run(plan, "collect", verb, progress)
        # Not pa.table(): it imports pandas (about 40 MB and 0.1 s) to check its input.
        return pa.RecordBatchReader.from_stream(stream).read_all()

    def _run(
        self,
        plan: _native.Plan,
        sink: str,
        verb: str,
        progress: bool = True,
        write: tuple[str, str, str, str] | None = None,
    ) -> Any:
        """Runs ``plan`` into ``sink`` on the engine's driver, drawing a progress bar per stage;
        Ctrl-C cancels it. Returns what the sink gives."""
        session = self._session
        record = session.last_job = JobRecord(
            f"squall.{verb}", session.backend, session.memory_mb, session.budget.limit
        )
        functions, digest = self._functions()

        def start() -> _native.Running:
            return session._datasets().execute(plan, sink, functions, digest, verb, write)

        return self._follow(start, record, progress)

    def _follow(
        self, start: Callable[[], _native.Running], record: JobRecord, progress: bool
    ) -> Any:
        """Starts an action, drawing a progress bar per stage and recording its stages in
        ``record``; Ctrl-C cancels it. Returns what it gives."""
        running = start()
        seen = 0
        bar: Progress | None = None
        try:
            while True:
                ended = running.wait(0.2)
                stages = running.stages()
                for label, job in stages[seen:]:
                    record._add_stage(label, job)
                    if bar is not None:
                        bar.close()
                    bar = Progress([job], label, progress)
                seen = len(stages)
                if ended:
                    break
                if bar is not None:
                    bar.update()
        except KeyboardInterrupt:
            running.cancel()
            for _ in range(25):  # let the driver stop its tasks and remove its files
                if running.wait(0.2):
                    break
            raise
        finally:
            if bar is not None:
                bar.close()
            record._close(running.driver_io() if running.wait(0) else None)
        return running.result()

    def _functions(self) -> tuple[bytes, str]:
        """The plan's Python functions pickled as one list, and its content hash."""
        if not self._udfs:
            return b"", ""
        try:
            pickled = cloudpickle.dumps(list(self._udfs))
        except Exception as exc:
            raise TypeError(f"a function of this dataset cannot be pickled: {exc}") from exc
        return pickled, hashlib.blake2b(pickled, digest_size=16).hexdigest()


class GroupedDataset:
    """Rows grouped by key columns, waiting for :meth:`agg` (from :meth:`Dataset.groupby`)."""

    def __init__(self, dataset: Dataset, keys: list[str], num_partitions: int | None) -> None:
        if not keys:
            raise ValueError("groupby() needs at least one key column")
        self._dataset = dataset
        self._keys = keys
        self._num_partitions = num_partitions

    def agg(self, **aggregates: tuple[Any, ...] | Expr) -> Dataset:
        """One row per group: the keys, then each ``name=(column, function)`` (or
        ``name=(column, function, argument)``, or an expression over aggregates such as
        ``squall.col("hi").max() - squall.col("lo").min()``).

        Functions: ``count`` (non-null values; with column None, rows), ``count_distinct``
        or ``n_unique`` (exact, non-null), ``sum``, ``mean``, ``min``, ``max``, ``std``,
        ``var`` (sample, ddof=1), ``first``, ``last`` (first/last non-null value in input
        order), ``median`` and ``("v", "quantile", q)`` (exact, interpolated linearly between
        neighbours as numpy's default; NaN sorts above every number), ``approx_median`` and
        ``("v", "approx_quantile", q)`` (a t-digest per group: within about 1% of rank, a few
        kilobytes of state however large the group; exact for groups of at most 2,048
        values), ``("v", "top_k", k)`` and
        ``("v", "bottom_k", k)`` (a list of the k largest, largest first, or smallest),
        ``(("x", "y"), "corr")`` and ``(("x", "y"), "cov")`` (Pearson's correlation, sample
        covariance, over rows where both are not null), ``any`` and ``all`` (of booleans).
        Nulls are skipped, as in polars and pandas. Median, quantile and top/bottom-k hold a
        group's values (or k of them) in memory where it is reduced; for groups too large for
        that, take the approximate ones.

        Example:
            >>> ds.groupby("station").agg(
            ...     n=("temp", "count"), mid=("temp", "median"), p90=("temp", "quantile", 0.9),
            ...     hottest=("temp", "top_k", 2), r=(("temp", "wind"), "corr"),
            ...     spread=squall.col("temp").max() - squall.col("temp").min(),
            ... )
        """
        if not aggregates:
            raise ValueError("agg() needs at least one name=(column, function)")
        specs = []
        computed: list[tuple[str, _native.Expr]] = []
        hidden: dict[str, tuple[str, str, float | None]] = {}
        for name, spec in aggregates.items():
            if isinstance(spec, Expr):
                if not spec._aggs:
                    raise TypeError(
                        f"{name}={spec!r}: an expression in agg() is over aggregates, as "
                        "col('hi').max() - col('lo').min()"
                    )
                hidden |= spec._aggs
                computed.append((name, spec._native))
                continue
            if not (isinstance(spec, tuple) and len(spec) in (2, 3)):
                raise TypeError(
                    f"{name}={spec!r}: give each aggregate as (column, function) or "
                    "(column, function, argument)"
                )
            column, func, *arg = spec
            with_ = None
            if isinstance(column, tuple):
                if len(column) != 2:
                    raise TypeError(f"{name}={spec!r}: give two columns, as ((x, y), {func!r})")
                column, with_ = column
            if arg and not isinstance(arg[0], (int, float)):
                raise TypeError(f"{name}={spec!r}: the argument is a number, not {arg[0]!r}")
            column = None if column in (None, "*") else column
            specs.append((name, column, with_, func, float(arg[0]) if arg else None))
        specs += [(h, c, None, f, a) for h, (c, f, a) in hidden.items() if h not in aggregates]
        ds = self._dataset
        r = ds._partitions(self._num_partitions)
        coalesce = self._num_partitions is None
        plan = ds._plan.then_groupby(self._keys, specs, r, coalesce=coalesce)
        if computed:
            plan = plan.then_compute(computed).then_select([*self._keys, *aggregates])
        return Dataset(ds._session, plan, ds._udfs)

    def count(self) -> Dataset:
        """One row per group: the keys and ``count``, the number of rows.

        Example:
            >>> ds.groupby("station").count().collect()
        """
        return self.agg(count=(None, "count"))

    def map_groups(self, fn: Callable[[Any], Any], *, batch_format: str = "pandas") -> Dataset:
        """Calls ``fn`` once per group, on a worker, and concatenates what it returns.

        Rows are shuffled by the hash of the keys, so each group is whole in one partition.

        Args:
            fn: Takes one group (in ``batch_format``) and returns a pandas.DataFrame, a
                pyarrow.Table or RecordBatch, or a dict of columns.
            batch_format: ``"pandas"`` (default), ``"pyarrow"`` or ``"numpy"``.

        Example:
            >>> ds.groupby(["station", "day"]).map_groups(fit_model)
        """
        return self._grouped(MapGroups(fn, self._keys, batch_format))

    def map_batches(
        self,
        fn: Callable[[Any], Any],
        *,
        batch_format: str = "pandas",
        rows_per_call: int = 1 << 20,
    ) -> Dataset:
        """Calls ``fn`` on batches of whole groups, many groups per call: Python runs once
        per batch instead of once per group (map_groups costs 0.04 to 0.2 ms of a core per
        group on top of ``fn`` itself, and ``fn``'s own fixed costs, pandas' above all, add
        up over many small groups).

        Each batch holds whole groups only, its rows sorted by the keys, about
        ``rows_per_call`` rows (more when one group is bigger); ``fn`` groups them itself, e.g.
        with pandas' ``groupby``, and returns a pandas.DataFrame, a pyarrow Table or
        RecordBatch, or a dict of columns. The results are concatenated.

        Example:
            >>> def medians(df):
            ...     return df.groupby("station", as_index=False)["temp"].median()
            >>> ds.groupby("station").map_batches(medians)
        """
        if rows_per_call < 1:
            raise ValueError(f"rows_per_call={rows_per_call}: give 1 or more")
        return self._grouped(MapGroups(fn, self._keys, batch_format, rows_per_call))

    def _grouped(self, udf: MapGroups) -> Dataset:
        """``udf`` on each partition after the rows are shuffled by the hash of the keys."""
        ds = self._dataset.repartition(
            self._dataset._partitions(self._num_partitions), by=self._keys
        )
        return ds._with_udf(udf, "map_groups")


def _has_pandas() -> bool:
    try:
        import pandas  # noqa: F401
    except ImportError:
        return False
    return True
