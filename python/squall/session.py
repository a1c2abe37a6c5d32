"""Sessions: where squall runs work. The module-level functions use a default session."""

from __future__ import annotations

import atexit
import builtins
import functools
import hashlib
import os
import shutil
import sys
import tempfile
import threading
import time
import uuid
import warnings
import weakref
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from . import _native, _threads
from ._arguments import pickle_calls
from ._local_workers import default_workers, worker_env
from ._scratch import HEARTBEAT_SECONDS, SHM_DIR, reap_dead_scratch, reap_dead_sessions
from ._task import run_chunk
from .aws import DEFAULT_FUNCTION
from .fleet import FleetModel, Speculation
from .futures import Future, FutureList, _Completer, _Job
from .jobs import DEFAULT_MEMORY_MB, JobRecord

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from .dataset import Dataset
    from .executor import SessionExecutor

#: Extra attempts after an infrastructure failure (a worker died or timed out).
DEFAULT_RETRIES = 2

#: Bytes of input per output partition that a shuffle aims for.
TARGET_PARTITION_BYTES = 128 << 20


#: Lambda invocations in flight at once, by default (AWS accounts start with 1,000).
DEFAULT_CONCURRENCY = 256

_sessions: weakref.WeakSet[Session] = weakref.WeakSet()


def _label(fn: Callable[..., Any], verb: str) -> str:
    name = getattr(fn, "__name__", None) or type(fn).__name__
    return f"squall.{verb}({name})"


class Session:
    """A place to run work: local worker processes (the embedded default), or AWS Lambda.

    Local workers start on first use and stay warm, like Lambda containers, until
    :meth:`close`. The ``lambda`` backend invokes the function :func:`squall.deploy` made, and
    keeps intermediate data in ``store``.

    Args:
        backend: ``"local"`` (worker processes on this machine), ``"lambda"``, or
            ``"simulated"`` (a modelled Lambda fleet around local workers); default
            ``$SQUALL_BACKEND`` or ``"local"``.
        workers: Local worker processes, and threads for ``in_process`` stages (default: the
            usable CPUs plus one); for ``lambda``, invocations in flight at once (default 256).
        python: Interpreter for local workers; defaults to the caller's.
        startup_timeout: Seconds a local worker may take to start.
        target_partition_bytes: Input bytes per output partition that sorts aim for.
        function: The Lambda function (default ``$SQUALL_FUNCTION`` or ``"squall"``).
        store: Where jobs keep their intermediate objects (shuffles, samples, large
            results), under a prefix of the session's own that :meth:`close` deletes: an
            ``s3://bucket/prefix`` the functions can write, required for ``lambda`` (default
            ``$SQUALL_STORE``); on the other backends optional (default: this machine's memory
            or a temporary directory), and ``redis://host:port/prefix`` works there too.
        fast: A fast, ephemeral store beside ``store`` (``redis://host:port/prefix``, a Redis
            or Valkey server): each intermediate object goes where it costs less at list
            prices (``squall._native.object_cost``), so small ones and the map outputs of a
            shuffle with many reducers (read in many small slices) go there, large ones read
            whole to ``store``; an object the fast store refuses (full, or down) goes to
            ``store`` instead. Every key squall writes there expires after a day
            (``$SQUALL_REDIS_TTL`` seconds).
        memory_mb: The Lambda function's memory, for cost estimates and the memory budget
            (default 2048).
        memory_limit: What squall's tasks may hold in memory, as bytes or a size such as
            ``"8GB"`` or ``"512MiB"``: on this machine all of them at once (default: three
            quarters of the machine's memory, or of its container's limit), on Lambda each
            function's task (default: three quarters of ``memory_mb``). Tasks are made small
            enough, and run few enough at once, to stay within it; a shuffle that would not fit
            in memory goes to disk; a plan that cannot fit is refused before it runs
            (``explain()`` shows each stage's estimate).
        retries: Extra attempts of a task after an infrastructure failure (a lost worker, a
            timeout, a crashed function), for every job of the session; throttling (429) is
            retried apart, with backoff, while the service takes anything (ten minutes of
            nothing but 429s fail the throttled tasks).
        fleet: The model of the ``simulated`` backend (:class:`squall.FleetModel`); its tasks
            run for real on ``workers`` local processes (or, with ``execute=False``, not at
            all, on a virtual clock).
        in_process: On the ``local`` backend, dataset stages with no Python function of yours
            (reads, sorts, group-bys, shuffles, writes) run on ``workers`` threads of this
            process, with their shuffle in memory when there is room; ``False`` sends them to
            the worker processes too.
        forward_output: What tasks print (stdout and stderr) is written to this process's
            ``sys.stderr`` as it comes, after ``[task N]`` when the job has several tasks: in
            Jupyter, under the cell that is running (on Lambda, each attempt's output when it
            ends). ``False`` leaves it on the process's standard error (a notebook server's
            log; on Lambda, in CloudWatch only). Each attempt's last lines are in ``job.stats``
            either way.
        two_level: Whether a shuffle gets a merge level between its map tasks and its
            reducers: groups of map objects are merged, a range of buckets at a time, so each
            reducer reads one slice per group instead of one per map task (M x R ranged reads
            become about M x Q + M / 32 x R). ``None`` (the default) adds it where the
            one-level shuffle would make over a million reads and the merge level fewer;
            ``explain()`` shows it.

    Example:
        >>> with squall.Session(workers=2) as s:
        ...     s.map(abs, [-1, -2]).results()
        [1, 2]
        >>> s = squall.Session(backend="lambda", store="s3://lab-scratch/squall/")
    """

    def __init__(
        self,
        backend: str | None = None,
        *,
        workers: int | None = None,
        python: str | None = None,
        startup_timeout: float = 60.0,
        target_partition_bytes: int = TARGET_PARTITION_BYTES,
        function: str | None = None,
        store: str | None = None,
        fast: str | None = None,
        memory_mb: int | None = None,
        memory_limit: int | str | None = None,
        fleet: FleetModel | None = None,
        retries: int = DEFAULT_RETRIES,
        in_process: bool = True,
        forward_output: bool = True,
        two_level: bool | None = None,
    ) -> None:
        backend = backend or os.environ.get("SQUALL_BACKEND") or "local"
        if workers is not None and workers < 1:
            raise ValueError(f"workers={workers}: a session needs at least one worker")
        if retries < 0:
            raise ValueError(f"retries={retries}: use 0 or more")
        remote = backend == "lambda"
        if fast is not None and not fast.startswith("redis://"):
            raise ValueError(
                f"fast={fast!r}: the fast store is a Redis or Valkey server, as in "
                f"fast='redis://127.0.0.1:6379/squall'"
            )
        if fast is not None and store is None and not remote:
            raise ValueError(
                "fast= keeps small objects beside the session's store: give store= too "
                "(without one, jobs keep their objects in this machine's memory or disk, "
                "faster than any network store)"
            )
        #: What the session's tasks may hold in memory (``memory_limit``).
        self.budget = _native.Budget(
            memory_limit,
            workers or (DEFAULT_CONCURRENCY if remote else default_workers()),
            (memory_mb or DEFAULT_MEMORY_MB) if remote else None,
        )
        #: Extra attempts after an infrastructure failure, unless a call says otherwise.
        self.retries = retries
        # The session's scratch in its store, <store root>/<session id> (None without a store),
        # and in its fast store (None without one).
        self._store: str | None = None
        self._fast: str | None = None
        self._store_root: str | None = None
        self._session_id = ""
        self._heartbeat_at = 0.0
        #: The simulated fleet (backend "simulated" only).
        self.fleet: FleetModel | None = None
        if backend == "local":
            count = workers or default_workers()
            env = worker_env()
            self._native = _native.Scheduler(
                python or sys.executable, count, env, startup_timeout, forward_output
            )
        elif backend == "simulated":
            self.fleet = fleet or FleetModel()
            count = workers or default_workers()
            env = worker_env()
            self._native = _native.Scheduler.simulated(
                python or sys.executable, count, env, self.fleet, startup_timeout, forward_output
            )
        elif backend == "lambda":
            store = store or os.environ.get("SQUALL_STORE")
            if not store or not store.startswith("s3://"):
                raise ValueError(
                    f"backend='lambda' needs store='s3://bucket/prefix' (or SQUALL_STORE) for "
                    f"intermediate data that the functions can reach; got store={store!r}"
                )
            name = function or os.environ.get("SQUALL_FUNCTION") or DEFAULT_FUNCTION
            scratch = self._use_store(store)
            concurrency = workers or DEFAULT_CONCURRENCY
            self._native = _native.Scheduler.lambda_function(
                name, concurrency, scratch, forward_output
            )
        else:
            raise ValueError(
                f"backend={backend!r} is not available: use 'local', 'lambda' or 'simulated'"
            )
        if backend != "lambda" and store is not None:
            self._use_store(store)
        if fast is not None:
            self._fast = f"{fast.rstrip('/')}/{self._session_id}"
        self.backend = backend
        self._completer = _Completer(self._native)
        self._printer: threading.Thread | None = None
        if forward_output:
            self._printer = _threads.start(
                _print_output, (self._native, weakref.ref(self)), "squall-output"
            )
        #: The function's memory, for cost estimates (``last_job.cost()``).
        self.memory_mb = memory_mb
        #: The record of the latest map, submit or dataset action.
        self.last_job: JobRecord | None = None
        # Futures not yet collected by get_result(), held weakly (a dropped future's result is
        # not kept) unless the session keeps them.
        self._unclaimed: list[Callable[[], Future | None]] = []
        self._closed = False
        # The process whose workers and threads these are (see `_check_open`).
        self._pid = os.getpid()
        name = _native.scratch_name()
        self._scratch_dir = os.path.join(tempfile.gettempdir(), name)
        self._shm_dir = os.path.join(SHM_DIR, name) if os.path.isdir(SHM_DIR) else None
        self._memory_scratch = f"memory://{name}"
        #: Whether dataset stages with no Python function run on this process's threads.
        self.in_process = in_process and backend == "local"
        self._threads: _native.Scheduler | None = None
        self.target_partition_bytes = target_partition_bytes
        #: Whether shuffles get a merge level (``two_level``).
        self.two_level = two_level
        _sessions.add(self)
        if backend != "lambda":
            reap_dead_scratch()

    @property
    def workers(self) -> int:
        """Number of local worker processes, or Lambda invocations in flight at once.

        Example:
            >>> squall.Session(workers=4).workers
            4
        """
        return self._native.workers

    def map(
        self,
        fn: Callable[[Any], Any],
        iterable: Iterable[Any],
        *,
        chunksize: int = 1,
        timeout: float | None = None,
        retries: int | None = None,
        progress: bool = True,
        speculation: bool | Speculation = True,
    ) -> FutureList:
        """Calls ``fn(item)`` for every item, in parallel; returns their futures at once.

        Args:
            fn: A function of one argument; closures, lambdas and notebook functions work.
            iterable: The inputs.
            chunksize: Items per task; raise it when each call is tiny.
            timeout: Seconds one task may run before its worker is killed.
            retries: Extra attempts when a worker dies or times out (never for exceptions);
                default the session's ``retries``.
            progress: Draw a progress bar while waiting on the results.
            speculation: Once 75% of the tasks finished, give a task running over 3x their
                median (and 2 s) a backup attempt on another worker; the first to finish wins.
                A :class:`squall.Speculation` sets other thresholds; False turns it off.

        Returns:
            One future per item, in input order; ``.results()`` waits for all of them. Its
            ``.job`` (also ``session.last_job``) records every attempt.

        Example:
            >>> session.map(lambda x: x * x, range(4), chunksize=2).results()
            [0, 1, 4, 9]
        """
        if chunksize < 1:
            raise ValueError(f"chunksize={chunksize}: use 1 or more items per task")
        items = list(iterable)
        label = _label(fn, "map")
        if chunksize == 1:
            futures = self._run_tasks(
                fn, items, items, label, progress, timeout, retries, speculation
            )
        else:
            chunks = [items[i : i + chunksize] for i in builtins.range(0, len(items), chunksize)]
            runner = functools.partial(run_chunk, fn)
            calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = [((c,), {}) for c in chunks]
            job = self._submit(runner, calls, label, timeout, retries, speculation)
            slots = [Future(job, i // chunksize, i % chunksize, x) for i, x in enumerate(items)]
            futures = FutureList(slots, [job], progress)
        futures.job = self.last_job = self._record(label, futures._jobs)
        self._hold(futures)
        return futures

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        """Calls ``fn(*args, **kwargs)`` on a worker; returns its future at once.

        Uses the default retries and no timeout; use :meth:`map` to set them.

        Example:
            >>> session.submit(sorted, [3, 1, 2], reverse=True).result()
            [3, 2, 1]
        """
        label = _label(fn, "submit")
        job = self._submit(fn, [(args, kwargs)], label, None, self.retries)
        self.last_job = self._record(label, [job])
        future = Future(job, 0, None, (args, kwargs) if kwargs else args)
        self._hold([future])
        return future

    async def map_async(
        self, fn: Callable[[Any], Any], iterable: Iterable[Any], **options: Any
    ) -> list[Any]:
        """Awaits ``fn(item)`` for every item without blocking the event loop; the results in
        input order. Takes :meth:`map`'s options. A raising call raises its own exception here
        (remote traceback as ``__cause__``) and cancels the others, as cancelling the awaiting
        task does.

        Example:
            >>> results = await session.map_async(simulate, seeds)
        """
        from .executor import map_async

        return await map_async(self, fn, iterable, **options)

    def executor(self) -> SessionExecutor:
        """A :class:`concurrent.futures.Executor` on this session, for code that takes one (its
        ``map`` yields results, as the standard library's does). ``loop.run_in_executor``
        takes the session itself.

        Example:
            >>> list(session.executor().map(pow, [2, 3], [5, 2]))
            [32, 9]
        """
        from .executor import SessionExecutor

        return SessionExecutor(self)

    def call_async(self, fn: Callable[..., Any], data: Any = (), **kwargs: Any) -> Future:
        """Lithops/PyWren-style single call: ``data`` is one argument, a tuple of arguments,
        or a dict of keyword arguments.

        Example:
            >>> ex = squall.Executor()
            >>> ex.get_result(ex.call_async(pow, (2, 5)))
            32
        """
        if isinstance(data, dict):
            return self.submit(fn, **data, **kwargs)
        if isinstance(data, tuple):
            return self.submit(fn, *data, **kwargs)
        return self.submit(fn, data, **kwargs)

    def get_result(
        self,
        fs: Future | Iterable[Future] | None = None,
        *,
        timeout: float | None = None,
        progress: bool = True,
    ) -> Any:
        """Lithops/PyWren-style: results of ``fs`` (default: every future not yet collected).

        A single future gives its result; several give a list in order.

        Example:
            >>> ex = squall.Executor()
            >>> ex.map(abs, [-1, -2])
            >>> ex.get_result()
            [1, 2]
        """
        if isinstance(fs, Future):
            return fs.result(timeout)
        futures = list(fs) if fs is not None else [f for r in self._unclaimed if (f := r())]
        jobs = list({id(f._job): f._job for f in futures}.values())
        results = FutureList(futures, jobs, progress).results(timeout)
        if fs is None:
            self._unclaimed = []
        return results

    #: Whether get_result() keeps every future until it collects it (Lithops' executors do), or
    #: only those the caller still holds.
    _keeps_futures = False

    def _hold(self, futures: Iterable[Future]) -> None:
        """Remembers futures for get_result(): weakly, unless this session keeps them."""
        if len(self._unclaimed) > 1024:
            self._unclaimed = [r for r in self._unclaimed if r() is not None]
        for f in futures:
            self._unclaimed.append(_Kept(f) if self._keeps_futures else weakref.ref(f))

    def close(self) -> None:
        """Cancels running work, stops the workers and deletes the session's scratch data.

        Example:
            >>> session = squall.Session()
            >>> session.map(abs, [-1]).results()
            [1]
            >>> session.close()
        """
        if not self._closed:
            self._closed = True
            if self._pid != os.getpid():
                # A forked child's copy: the workers, threads and scratch data are its parent's.
                return
            self._native.close()
            # Their waits release the GIL in native code: they must end before the interpreter
            # does (a thread that comes back into a finalizing interpreter is killed mid-frame).
            self._completer.join(timeout=2.0)
            if self._printer is not None:
                self._printer.join(timeout=2.0)
            if self._threads is not None:
                self._threads.close()
            _native.delete([f"{self._memory_scratch}/"], prefix=True)
            for local in (self._scratch_dir, self._shm_dir):
                if local is not None:
                    shutil.rmtree(local, ignore_errors=True)
            if self._store_root is not None:
                try:
                    _native.forget_session(self._store_root, self._session_id)
                    if self._fast is not None:
                        _native.delete([f"{self._fast}/"], prefix=True)
                except Exception as exc:  # the results are safe; only scratch objects remain
                    where = " and ".join(f"{p}/" for p in (self._store, self._fast) if p)
                    warnings.warn(
                        f"squall could not delete the session's scratch data under {where}: {exc}",
                        stacklevel=2,
                    )

    def _check_open(self) -> None:
        """Raises unless this session may run work in this process."""
        if self._pid != os.getpid():
            raise RuntimeError(
                f"this squall.Session was created in process {self._pid}, which this process "
                "was forked from: its workers and threads belong to that process. Create a new "
                "squall.Session() in this process (squall.map, squall.read_parquet and the other "
                "module-level functions make their own)."
            )
        if self._closed:
            raise ValueError("this session is closed: create a new squall.Session")

    def _use_store(self, store: str) -> str:
        """Keeps jobs' intermediate objects under ``<store>/<session id>/`` (returned);
        records the session there, and removes what dead sessions left, in the background."""
        if not store.startswith(("s3://", "redis://", "file://")):
            raise ValueError(
                f"store={store!r}: use an s3://bucket/prefix, a redis://host:port/prefix or a "
                f"file:///shared/directory that every worker reaches"
            )
        self._store_root = store.rstrip("/")
        self._session_id = f"session-{uuid.uuid4().hex[:12]}"
        self._store = f"{self._store_root}/{self._session_id}"
        self._heartbeat_at = time.monotonic()
        housekeeping = (self._store_root, self._session_id)
        _threads.start(reap_dead_sessions, housekeeping, "squall-reaper")
        return self._store

    # -- datasets ---------------------------------------------------------------------------

    def read_parquet(self, urls: str | Sequence[str]) -> Dataset:
        """A dataset of Parquet files: a file, a prefix (directory), a glob, or a list of them.

        Example:
            >>> ds = session.read_parquet("file:///data/events/*.parquet")
        """
        from ._sources import read_parquet_in

        return read_parquet_in(self, urls)

    def read_ipc(self, urls: str | Sequence[str]) -> Dataset:
        """A dataset of Arrow IPC files (file or stream format, any compression).

        Example:
            >>> session.read_ipc("s3://lab/frames/*.arrow").count()
        """
        from ._sources import read_ipc_in

        return read_ipc_in(self, urls)

    def from_arrow(self, table: pa.Table, num_partitions: int | None = None) -> Dataset:
        """A dataset of an in-memory pyarrow.Table, cut into ``num_partitions`` partitions.

        Example:
            >>> session.from_arrow(table, num_partitions=8).sort("t").collect()
        """
        from ._sources import from_arrow_in

        return from_arrow_in(self, table, num_partitions)

    def from_pandas(self, df: pd.DataFrame, num_partitions: int | None = None) -> Dataset:
        """A dataset of a pandas.DataFrame (its index is dropped).

        Example:
            >>> session.from_pandas(df).groupby("site").agg(n=("v", "count")).to_pandas()
        """
        import pyarrow as pa

        return self.from_arrow(pa.Table.from_pandas(df, preserve_index=False), num_partitions)

    def from_items(
        self, items: Iterable[dict[str, Any]], num_partitions: int | None = None
    ) -> Dataset:
        """A dataset of rows given as dicts.

        Example:
            >>> session.from_items([{"site": "a", "v": 1.0}]).collect()
        """
        from ._sources import from_items_in

        return from_items_in(self, items, num_partitions)

    def range(self, n: int, num_partitions: int | None = None) -> Dataset:
        """A dataset with one int64 column ``id`` holding 0 .. n-1.

        Example:
            >>> session.range(1_000_000, num_partitions=8).count()
            1000000
        """
        from ._sources import range_in

        return range_in(self, n, num_partitions)

    def _time_scale(self) -> float:
        """Real seconds per second of the scheduler's clock: a simulated fleet that executes
        runs at its ``time_scale``; a virtual clock, like real time, at 1."""
        fleet = self.fleet
        return fleet.time_scale if fleet is not None and fleet.execute else 1.0

    def _scratch(self) -> str:
        """URL of the session's scratch space for data it keeps between jobs (``from_arrow``'s
        tables): a temporary directory on the local backend, a prefix of the store on Lambda."""
        return self._store if self._store is not None else f"file://{self._scratch_dir}"

    def _datasets(self) -> _native.Datasets:
        """The engine's runner of dataset actions, with this session's settings."""
        self._check_open()
        root = self._store_root
        if root is not None and time.monotonic() - self._heartbeat_at > HEARTBEAT_SECONDS:
            self._heartbeat_at = time.monotonic()
            _native.heartbeat(root, self._session_id)
        if self._threads is None:
            # One budget: its tasks under a memory limit share those of the workers.
            self._threads = _native.Scheduler.in_process(self.workers, memory_of=self._native)
        policy = Speculation()
        scale = self._time_scale()
        shm = f"file://{self._shm_dir}" if self._shm_dir is not None else None
        return _native.Datasets(
            self._threads,
            self._native,
            in_process=self.in_process,
            remote=self.backend == "lambda",
            slots=self.workers,
            target_partition_bytes=self.target_partition_bytes,
            retries=self.retries,
            speculation=(policy.after, policy.multiple, policy.min_seconds * scale),
            scratch=(
                self._memory_scratch,
                shm,
                f"file://{self._scratch_dir}",
                self._store,
                self._fast,
            ),
            budget=self.budget,
            two_level=self.two_level,
        )

    def _run_tasks(
        self,
        fn: Callable[[Any], Any],
        items: list[Any],
        descriptions: list[Any],
        label: str,
        progress: bool,
        timeout: float | None = None,
        retries: int | None = None,
        speculation: bool | Speculation = True,
    ) -> FutureList:
        """One task per item, calling ``fn(item)``; errors show each item's description."""
        calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = [((item,), {}) for item in items]
        job = self._submit(fn, calls, label, timeout, retries, speculation)
        futures = [Future(job, i, None, d) for i, d in enumerate(descriptions)]
        return FutureList(futures, [job], progress)

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _submit(
        self,
        fn: Callable[..., Any],
        calls: list[tuple[tuple[Any, ...], dict[str, Any]]],
        label: str,
        timeout: float | None,
        retries: int | None,
        speculation: bool | Speculation = True,
    ) -> _Job:
        self._check_open()
        if timeout is not None and timeout <= 0:
            raise ValueError(f"timeout={timeout}: use a positive number of seconds, or None")
        retries = self.retries if retries is None else retries
        if retries < 0:
            raise ValueError(f"retries={retries}: use 0 or more")
        func, inputs, refs = pickle_calls(self._native, fn, calls, label)
        digest = hashlib.blake2b(func, digest_size=16).hexdigest()
        policy = Speculation() if speculation is True else speculation or None
        spec = None
        if policy is not None:
            scale = self._time_scale()
            spec = (policy.after, policy.multiple, policy.min_seconds * scale)
        results = f"{self._scratch()}/results"
        fast = f"{self._fast}/results" if self._fast is not None else None
        graph = refs if any(refs) else None
        native = self._native.submit(
            digest, func, inputs, timeout, retries, spec, label, results, fast, graph
        )
        return _Job(native, self._completer, label)

    def _record(self, label: str, jobs: list[_Job]) -> JobRecord:
        """The record of a one-stage job made of ``jobs``."""
        record = JobRecord(label, self.backend, self.memory_mb)
        for job in jobs:
            record._add_stage(label, job.native)
        return record


def _print_output(scheduler: _native.Scheduler, session: weakref.ref[Session]) -> None:
    """Writes what tasks print to ``sys.stderr`` (looked up on each write: Jupyter replaces it
    per cell) until the scheduler closes or the session is gone."""
    while (lines := scheduler.take_output(0.2)) is not None and session() is not None:
        if _threads.EXITING.is_set():
            return
        if lines:
            try:
                sys.stderr.write("".join(line + "\n" for line in lines))
                sys.stderr.flush()
            except Exception:  # a closed or replaced stream: the lines are in job.stats
                pass


class _Kept:
    """A strong reference with the call interface of a weak one."""

    __slots__ = ("future",)

    def __init__(self, future: Future) -> None:
        self.future = future

    def __call__(self) -> Future:
        return self.future


class Executor(Session):
    """A session for Lithops/PyWren users: ``call_async``, ``map`` and ``get_result()``, which
    returns the result of every future not yet collected, so the executor keeps each future
    until then (a :class:`Session` keeps only those its caller still holds)."""

    _keeps_futures = True


@atexit.register
def _close_all() -> None:
    for session in list(_sessions):
        session.close()
    # Also the threads of sessions dropped without close(), and of jobs still running.
    _threads.stop_all(timeout=5.0)
