"""Type stub of the compiled module ``squall._native`` (rust/squall-python)."""

from os import PathLike
from typing import Any, TypedDict, Unpack, final

import pyarrow as pa

__all__ = [
    "IO_FIELDS",
    "MAX_SHARDS",
    "PRICES",
    "TASK_END_MARK",
    "ArrowBatch",
    "ArrowStream",
    "Budget",
    "Datasets",
    "Expr",
    "FleetModel",
    "Job",
    "Outcome",
    "Plan",
    "Running",
    "Scheduler",
    "StoreModel",
    "__version__",
    "clean",
    "delete",
    "deploy_function",
    "deployed_hash",
    "ensure_role",
    "execute_frame",
    "forget_session",
    "heartbeat",
    "io_counts",
    "lambda_functions",
    "list_prefix",
    "object_cost",
    "read_bytes",
    "read_range",
    "reap_scratch",
    "reap_store",
    "release_memory",
    "resolve",
    "scratch_name",
    "shard_names",
    "write_bytes",
    "write_table",
]

__version__: str
#: What a local worker writes to its stderr after each task (the lines before are its output).
TASK_END_MARK: bytes
#: The names of a task's store counters, in the order ``io_counts`` and ``Job.attempts`` give
#: them: S3-style requests (puts, gets, lists, deletes), bytes read and written (every store),
#: a fast store's requests and bytes.
IO_FIELDS: list[str]
#: AWS list prices in USD by name (see ``squall.jobs.PRICES``).
PRICES: list[tuple[str, float]]
#: Most functions one deploy may shard over.
MAX_SHARDS: int

@final
class Scheduler:
    """A scheduler over a pool of local worker processes, or over a deployed Lambda function."""

    def __new__(
        cls,
        python: str | PathLike[str],
        workers: int,
        env: list[tuple[str, str]],
        startup_timeout: float = 60.0,
        forward_output: bool = False,
    ) -> Scheduler: ...
    @staticmethod
    def simulated(
        python: str | PathLike[str],
        workers: int,
        env: list[tuple[str, str]],
        fleet: FleetModel,
        startup_timeout: float = 60.0,
        forward_output: bool = False,
    ) -> Scheduler:
        """A simulated fleet whose tasks run for real on ``workers`` local processes, or, when
        the fleet does not execute them, on nothing (a virtual clock)."""
    @staticmethod
    def lambda_function(
        function: str, concurrency: int, scratch: str, forward_output: bool = False
    ) -> Scheduler:
        """A scheduler invoking Lambda function ``function``, ``concurrency`` at once."""
    @staticmethod
    def in_process(threads: int, memory_of: Scheduler | None = None) -> Scheduler:
        """A scheduler running tasks on up to ``threads`` threads of this process; with
        ``memory_of``, its tasks under a memory limit share that scheduler's budget."""
    @property
    def workers(self) -> int:
        """Number of worker processes, or invocations in flight at once."""
    def submit(
        self,
        func_hash: str,
        func: bytes,
        inputs: list[bytes],
        timeout: float | None,
        retries: int,
        speculation: tuple[float, float, float] | None,
        label: str,
        results: str | None = None,
        fast_results: str | None = None,
        refs: list[list[tuple[int, int]]] | None = None,
    ) -> Job:
        """Queues one task per input, called ``label``; returns the job at once. ``refs``: the
        (job id, task) whose results each task takes (it starts once they returned); results
        too large for a reply go under the store prefix ``results``, or under
        ``fast_results`` in a fast store where they cost less."""
    def seq(self) -> int:
        """The change counter of the outcome board."""
    def wait_change(self, seq: int, timeout: float) -> int:
        """Waits (GIL released, at most 0.2 s) until the counter passes ``seq``."""
    def held_bytes(self) -> int:
        """Bytes of results and exceptions held for tasks whose outcome was not taken yet."""
    def close(self) -> None:
        """Cancels every job and stops the workers."""
    def take_output(self, timeout: float) -> list[str] | None:
        """The lines tasks printed since the last call (waiting up to ``timeout``, at most
        0.2 s, for some); None once closed and all taken, or when output is not queued."""

@final
class Job:
    """A submitted job: one task per input."""

    @property
    def id(self) -> int:
        """The job's id within its scheduler."""
    def __len__(self) -> int: ...
    def progress(self) -> tuple[int, int, int, int, int, int, int]:
        """(total, succeeded, failed, cancelled, running, retried, backups)."""
    def wait(self, timeout: float) -> bool:
        """Waits (GIL released, at most 0.2 s) for every task; True when all finished."""
    def finished_since(self, start: int) -> list[int]:
        """Indices of finished tasks in finishing order, from position ``start``."""
    def is_finished(self, task: int) -> bool:
        """Whether task ``task`` is finished."""
    def is_running(self, task: int) -> bool:
        """Whether an attempt of task ``task`` is running."""
    def take(self, task: int) -> Outcome | None:
        """Hands out the outcome of a finished task once; None while it runs."""
    def attempts(
        self,
    ) -> list[
        tuple[
            int,
            int,
            str,
            bool,
            bool,
            float,
            float,
            float,
            str,
            str,
            list[int],
            tuple[int, str],
        ]
    ]:
        """Every finished attempt: (task, attempt, worker, cold, backup, queued, started,
        finished, outcome, error, its store counters (named by ``IO_FIELDS``), (peak_rss,
        output))."""
    def cancel(self) -> None:
        """Cancels the job: queued tasks never start, running attempts are stopped; returns once
        the tasks of other jobs that take its results are cancelled too."""
    def release(self) -> None:
        """Drops the outcomes (their futures are gone) and deletes the results they stored;
        progress and attempt records stay."""
    def inputs(self) -> list[list[tuple[int, int]]]:
        """The (job id, task) whose results each task takes; empty when none takes any."""
    def cancel_task(self, task: int) -> bool:
        """Cancels one queued task, and what takes its result; False if it already runs or
        finished."""

@final
class Outcome:
    """The final outcome of one task."""

    @property
    def kind(self) -> str:
        """ "returned", "raised", "lost", "timeout", "spawn", "input" or "cancelled"."""
    @property
    def body(self) -> bytes:
        """Pickled result ("returned") or pickled exception ("raised"; may be empty)."""
    @property
    def error_type(self) -> str:
        """Qualified exception type ("raised")."""
    @property
    def message(self) -> str:
        """What went wrong."""
    @property
    def traceback(self) -> str:
        """The remote traceback ("raised")."""
    @property
    def attempts(self) -> int:
        """Attempts made."""
    @property
    def stored(self) -> str | None:
        """Where the result is when it was too large for the reply (``body`` is then empty)."""
    @property
    def started(self) -> float:
        """Start of the call on the worker, seconds since the epoch."""
    @property
    def finished(self) -> float:
        """End of the call on the worker, seconds since the epoch."""

@final
class Expr:
    """An expression over a batch's columns (squall_core::expr)."""

    @staticmethod
    def column(name: str) -> Expr:
        """The column ``name``."""
    @staticmethod
    def literal(value: bool | int | float | str | None) -> Expr:
        """A literal: a bool, int, float, str or None."""
    def binary(self, op: str, other: Expr, ieee: bool = False) -> Expr:
        """``self op other``, ``op`` one of + - * / % // == != < <= > >= & |; with ``ieee``,
        floats compare as IEEE 754 says (pyarrow's way) instead of by their total order."""
    def negate(self) -> Expr:
        """Logical negation."""
    def neg(self) -> Expr:
        """The number negated (``-self``)."""
    def abs(self) -> Expr:
        """The number without its sign (``abs(self)``)."""
    def is_in(self, values: list[bool | int | float | str]) -> Expr:
        """Whether each value is one of ``values`` (bools, ints, floats or strs; not None)."""
    def is_null(self) -> Expr:
        """Whether each value is null."""
    @property
    def column_name(self) -> str | None:
        """The column it is, if it is a bare column."""
    @property
    def columns(self) -> list[str]:
        """The columns it reads."""

class _FleetSettings(TypedDict, total=False):
    """The keywords of ``FleetModel`` and ``FleetModel.replace``."""

    concurrency: int
    ramp_per_10s: float
    functions: int
    cold_start_s: float
    latency_s: float
    task_s: float
    work_bytes_s: float
    straggler_rate: float
    straggler_factor: float
    failure_rate: float
    throttle_rate: float
    time_scale: float
    seed: int
    execute: bool
    store: StoreModel | None

@final
class FleetModel:
    """A simulated Lambda fleet for ``Session(backend="simulated", fleet=...)``.

    Around each attempt the model adds what a fleet of functions does: cold starts, latency, a
    concurrency cap, Lambda's ramp-up per function, stragglers, crashes and throttling, and
    with ``store=`` the object store's request time and rates. Faults are drawn per (task,
    attempt) from ``seed``: the same seed injects the same faults. Times are simulated seconds.

    With ``execute=True`` (the default) tasks run for real on local workers, so results are
    real, and simulated time runs ``time_scale`` times real time. With ``execute=False``
    nothing runs: each attempt takes ``task_s`` and returns None, on a virtual clock that jumps
    ahead whenever every task waits, so a job of 100,000 tasks on 10,000 functions is simulated
    in seconds (calls: ``map`` and ``submit``; datasets by size: ``Dataset.simulate``, whose
    tasks take ``work_bytes_s`` per byte)."""

    def __new__(cls, **changes: Unpack[_FleetSettings]) -> FleetModel: ...
    def replace(self, **changes: Unpack[_FleetSettings]) -> FleetModel:
        """A copy with the keywords given changed."""
    @property
    def concurrency(self) -> int:
        """Execution environments at most, over all functions (the account's concurrency
        limit; default 1,000)."""
    @property
    def ramp_per_10s(self) -> float:
        """New environments per function per 10 s (AWS: 1,000, the default); beyond that, 429
        TooManyRequests."""
    @property
    def functions(self) -> int:
        """Identical functions the invocations are spread over, each ramping up on its own, as
        ``squall.deploy(shards=...)`` makes them (default 1)."""
    @property
    def cold_start_s(self) -> float:
        """Start-up time of a new environment, varying +-50% (default 0.5)."""
    @property
    def latency_s(self) -> float:
        """Per-invocation overhead (default 0.02)."""
    @property
    def task_s(self) -> float:
        """Run time of a task, added to its real one when tasks execute (default 1.0)."""
    @property
    def work_bytes_s(self) -> float:
        """Decoded bytes a function works through per second (decoding, sorting, encoding) in
        a dataset simulated by size (default 1e8: about one vCPU, a function of 1,769 MB)."""
    @property
    def straggler_rate(self) -> float:
        """Share of attempts that straggle (default 0)."""
    @property
    def straggler_factor(self) -> float:
        """How many times slower a straggling attempt is (default 10)."""
    @property
    def failure_rate(self) -> float:
        """Share of attempts whose environment crashes after running (default 0)."""
    @property
    def throttle_rate(self) -> float:
        """Share of invocations answered 429 (default 0)."""
    @property
    def time_scale(self) -> float:
        """Real seconds per simulated second when tasks execute (default 0.01)."""
    @property
    def seed(self) -> int:
        """Seed of the fault decisions (default 0)."""
    @property
    def execute(self) -> bool:
        """Whether tasks run for real (default True; False: a virtual clock, results None)."""
    @property
    def store(self) -> StoreModel | None:
        """The store the tasks' requests go to (default None: their real store time only)."""

@final
class StoreModel:
    """The object store a simulated fleet's tasks talk to: each attempt's requests and bytes
    take simulated time, and requests past the store's rate (per prefix) are answered 503
    SlowDown and wait (``job.stats``: ``slowdowns``). ``StoreModel.s3_standard()`` and
    ``StoreModel.s3_express()`` hold AWS's published figures; keywords change S3 Standard's."""

    def __new__(
        cls,
        *,
        first_byte_s: float | None = None,
        bandwidth_bytes_s: float | None = None,
        streams: int | None = None,
        prefixes: int | None = None,
        put_per_s: float | None = None,
        get_per_s: float | None = None,
    ) -> StoreModel: ...
    @staticmethod
    def s3_standard() -> StoreModel:
        """S3 Standard: 150 ms to the first byte, 100 MB/s per function, 3,500 PUT and 5,500
        GET per second per prefix over 256 prefixes."""
    @staticmethod
    def s3_express() -> StoreModel:
        """S3 Express One Zone: 5 ms to the first byte, one directory bucket of 200,000 PUT
        and 2,000,000 GET per second."""
    @property
    def name(self) -> str:
        """The store's name."""
    @property
    def first_byte_s(self) -> float:
        """Simulated seconds to the first byte of a request."""
    @property
    def bandwidth_bytes_s(self) -> float:
        """Bytes per simulated second one function moves."""
    @property
    def streams(self) -> int:
        """Requests one function has in flight at once."""
    @property
    def prefixes(self) -> int:
        """Prefixes the requests spread over."""
    @property
    def put_per_s(self) -> float:
        """PUT requests per second per prefix."""
    @property
    def get_per_s(self) -> float:
        """GET requests per second per prefix."""

@final
class Budget:
    """A session's memory budget: what its tasks may hold at once."""

    def __new__(
        cls, limit: int | str | None, workers: int, function_mb: int | None = None
    ) -> Budget:
        """A budget of ``limit`` (bytes, or a size such as "8GB"; None: three quarters of the
        machine's memory, or of ``function_mb`` for Lambda functions) for ``workers`` tasks at
        once; with ``function_mb``, each task (one function) has a budget of its own."""
    @property
    def limit(self) -> int:
        """Bytes the session's tasks may hold at once (on Lambda: each task)."""
    @property
    def task_input(self) -> int:
        """Decoded input bytes a task is planned for."""

@final
class Plan:
    """A lazy dataset plan (held by ``squall.Dataset``)."""

    @staticmethod
    def scan(
        inputs: list[tuple[str, str, int, list[tuple[str, str | None]]]],
        source: str,
        target_bytes: int,
        slots: int,
        budget: Budget,
    ) -> Plan:
        """A scan of ``inputs``, given as (url, format, size, the columns of its path);
        Parquet files bigger than ``target_bytes`` (or than ``budget`` wants a task's input to
        be), or fewer than ``slots``, are read in several partitions of row groups."""
    @staticmethod
    def synthetic(columns: list[tuple[str, int]], rows: int, partitions: int, source: str) -> Plan:
        """A plan over a synthetic input of ``rows`` rows of ``columns`` ((name, bytes per row)
        each) in ``partitions`` equal parts: sizes without bytes, to estimate and simulate."""
    def shuffle_partitions(self, target_bytes: int, budget: Budget) -> int:
        """Output partitions of a shuffle nobody gave a count for: one per input partition,
        or more when the input exceeds ``target_bytes`` per partition or the budget's task
        size."""
    def then_udf(self, index: int, kind: str, name: str) -> Plan:
        """This plan followed by the ``index``-th Python function."""
    def then_select(self, columns: list[str]) -> Plan:
        """This plan followed by a column selection."""
    def then_sort(
        self, keys: list[tuple[str, bool, bool]], partitions: int, coalesce: bool = False
    ) -> Plan:
        """This plan followed by a sample sort; keys are (column, descending, nulls_first).
        With ``coalesce``, reducers may take several adjacent small buckets."""
    def then_groupby(
        self,
        keys: list[str],
        aggs: list[tuple[str, str | None, str | None, str, float | None]],
        partitions: int,
        coalesce: bool = False,
    ) -> Plan:
        """This plan followed by a group-by; aggs are (name, column or None, second column
        (corr, cov) or None, function, argument (quantile's q, top_k's k) or None). With
        ``coalesce``, reducers may take several adjacent small buckets."""
    def then_repartition(self, keys: list[str], partitions: int) -> Plan:
        """This plan followed by a repartition by the hash of ``keys`` (round robin without)."""
    @property
    def shuffles(self) -> int:
        """Number of shuffles in the plan."""
    @property
    def scan_columns(self) -> list[str] | None:
        """The columns the scan reads (None: all)."""
    @property
    def columns(self) -> list[str] | None:
        """The columns of the plan's output (None: unknown, e.g. after a Python function)."""
    def then_top_k(self, keys: list[tuple[str, bool, bool]], rows: int) -> Plan:
        """This plan followed by the first ``rows`` rows per partition in the order of keys."""
    def then_filter(self, expr: Expr) -> Plan:
        """This plan followed by a filter keeping the rows where ``expr`` is true."""
    def then_compute(self, columns: list[tuple[str, Expr]]) -> Plan:
        """This plan followed by columns computed from others: (name, expression) each."""
    def then_limit(self, rows: int) -> Plan:
        """This plan followed by a per-partition row limit."""
    def slice_partitions(self, start: int, count: int) -> Plan:
        """The same plan over only ``count`` inputs from ``start`` on."""
    @property
    def num_partitions(self) -> int:
        """Number of partitions (input objects)."""
    @property
    def udf_count(self) -> int:
        """Number of Python functions the plan calls."""
    def explain(
        self,
        sink: str,
        write: tuple[str, str, str, str] | None,
        in_process: bool,
        remote: bool,
        budget: Budget,
        store: str | None = None,
        fast: str | None = None,
        two_level: bool | None = None,
    ) -> str:
        """How the plan runs into ``sink`` (see ``Datasets.execute``), placed as a session with
        these settings would place it (intermediate objects in its ``store`` and ``fast``
        store, merge levels as ``two_level`` says), as text."""

@final
class Datasets:
    """A session's runner of dataset actions: where stages run and how."""

    def __new__(
        cls,
        threads: Scheduler,
        workers: Scheduler,
        *,
        in_process: bool,
        remote: bool,
        slots: int,
        target_partition_bytes: int,
        retries: int,
        speculation: tuple[float, float, float] | None,
        scratch: tuple[str, str | None, str, str | None, str | None],
        budget: Budget,
        two_level: bool | None = None,
    ) -> Datasets:
        """Stages run on ``threads`` (this process) or ``workers``; ``scratch`` is (memory
        URL, shared memory URL or None, disk URL, the session's store prefix or None, its fast
        store prefix or None); ``two_level`` whether shuffles get a merge level (None: when
        it saves requests)."""
    def execute(
        self,
        plan: Plan,
        sink: str,
        functions: bytes,
        functions_hash: str,
        verb: str,
        write: tuple[str, str, str, str] | None = None,
    ) -> Running:
        """Starts running ``plan`` into ``sink`` ("collect", "count", or "write" with ``write``
        = (format, dir, compression, mode)); ``functions`` is the plan's Python functions
        pickled as one list. A plan that cannot run as asked fails here."""
    def simulate(
        self,
        plan: Plan,
        sink: str,
        verb: str,
        fleet: FleetModel,
        budget: Budget,
        speculation: tuple[float, float, float] | None,
        write: tuple[str, str, str, str] | None = None,
    ) -> Running:
        """Starts simulating ``plan`` into ``sink`` (as ``execute`` takes it) by size on the
        fleet ``fleet``, which is not asked to execute, on a virtual clock: each function with
        the memory ``budget`` gives it, backups as ``speculation`` says (simulated seconds)."""
    def estimate(
        self,
        plan: Plan,
        sink: str,
        verb: str,
        fleet: FleetModel,
        budget: Budget,
        write: tuple[str, str, str, str] | None = None,
    ) -> list[tuple[str, int, int, float, float, tuple[int, ...], tuple[int, ...]]]:
        """Estimates ``plan`` into ``sink`` (as ``simulate`` takes them) on ``fleet`` with
        ``budget``: per stage (label, tasks, attempts, seconds, task seconds, requests and bytes as
        ``io_counts`` gives them, and those of them that touch the user's data rather than
        intermediate objects)."""

@final
class Running:
    """A running dataset action."""

    def wait(self, timeout: float) -> bool:
        """Waits (GIL released, at most 0.2 s) for the action to end; True when it has."""
    def cancel(self) -> None:
        """Cancels the action: running tasks stop, no further stage starts."""
    def stages(self) -> list[tuple[str, Job]]:
        """The stages started so far: (label, job)."""
    def result(self) -> Any:
        """The result, once the action ended: an Arrow stream (collect), a row count (count),
        the manifest (write), as a dict, or None (a simulation). Raises the action's error."""
    def driver_io(self) -> list[int]:
        """The requests the driver made itself once the action ended (a simulation's: those it
        would have made), as ``io_counts`` gives them; its tasks count their own."""

@final
class ArrowBatch:
    """One record batch, exported once through ``__arrow_c_array__``."""

    def __arrow_c_array__(self, requested_schema: Any = None) -> tuple[Any, Any]: ...

@final
class ArrowStream:
    """Record batches exported once through ``__arrow_c_stream__``."""

    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any: ...

def execute_frame(header: bytes, payload: bytes) -> tuple[bytes, bytes]:
    """Runs one task frame (a JSON spec, then the function and the arguments) in this process;
    returns the reply frame's header (the report) and body. For squall's worker processes
    only: it restarts the process's resident high-water mark, to report the attempt's peak."""

def resolve(url: str) -> list[tuple[str, int, list[tuple[str, str | None]]]]:
    """Objects that ``url`` names (a file, a prefix or a glob), as (url, size, the
    (column, value) pairs of its ``column=value`` directories below ``url``), sorted."""

def list_prefix(url: str) -> list[tuple[str, int]]:
    """Every object whose URL starts with ``url`` (a raw prefix), as (url, size), sorted."""

def write_table(table: pa.Table, url: str, format: str, compression: str | None = None) -> int:
    """Writes a table to ``url`` as parquet or ipc, compressed as ``compression`` says
    (zstd, lz4, snappy or none; by default as squall's intermediate objects are); returns the
    bytes written."""

def write_bytes(url: str, data: bytes) -> None:
    """Writes bytes to ``url`` atomically."""

def read_bytes(url: str) -> bytes:
    """Reads the object at ``url``."""

def read_range(url: str, start: int, end: int) -> bytes:
    """Reads bytes ``start..end`` of the object at ``url``."""

def delete(urls: list[str], prefix: bool = False) -> None:
    """Deletes the objects at ``urls`` (missing ones are fine); with ``prefix``, every object
    whose URL starts with one of them."""

def clean(url: str) -> list[str]:
    """Removes what crashed or cancelled jobs left in the dataset directory ``url``; returns
    the URLs removed."""

def reap_scratch(parents: list[str]) -> list[str]:
    """Removes the scratch directories under ``parents`` left by sessions whose process is
    gone; returns the paths removed."""

def reap_store(store: str, id: str) -> list[str]:
    """Records that Lambda session ``id`` uses ``<store>/<id>/``, then removes the scratch of
    the store's sessions that are gone or gave no sign of life for a day; returns the prefixes
    removed."""

def forget_session(store: str, id: str) -> None:
    """Removes Lambda session ``id``'s scratch ``<store>/<id>/`` and its record."""

def heartbeat(store: str, id: str) -> None:
    """Records that Lambda session ``id`` of this process still uses ``<store>/<id>/``."""

def scratch_name() -> str:
    """A name for a new scratch directory of this process."""

def deployed_hash(name: str) -> str | None:
    """The package hash recorded on function ``name`` ("" untagged, None when missing)."""

def deploy_function(
    name: str,
    *,
    runtime_id: str,
    architecture: str,
    handler: str,
    memory_mb: int,
    timeout_s: int,
    role: str,
    hash: str,
    environment: dict[str, str],
    reserved_concurrency: int | None,
    shards: int = 1,
    snapstart: bool = False,
    zip: bytes | None = None,
    s3: tuple[str, str] | None = None,
) -> str:
    """Creates or updates function ``name`` and its other ``shards``; returns "created" or
    "updated". With ``snapstart``, each function's new version is published behind an alias."""

def lambda_functions(function: str) -> list[str]:
    """The functions a Lambda session over ``function`` invokes (its shards, if deployed so; each
    qualified by its alias when deployed with SnapStart)."""

def shard_names(name: str, shards: int) -> list[str]:
    """The names of the ``shards`` functions a deploy called ``name`` makes."""

def object_cost(bytes: int, reads: int) -> tuple[float, float]:
    """What an intermediate object of ``bytes``, read in ``reads`` requests, costs in the store
    (S3) and in a fast store (ElastiCache Serverless for Valkey), in USD: a session with both
    puts it where it costs less."""

def io_counts() -> list[int]:
    """This process's store requests and bytes so far, outside the tasks it ran on its
    threads, or those of the task running on this thread when it runs in-process, named by
    ``IO_FIELDS``."""

def release_memory(process_heap: bool = False) -> None:
    """Returns the free memory of squall's allocator (mimalloc) to the system; with
    ``process_heap``, glibc's free heap too (``malloc_trim``), which only squall's own worker
    processes ask for: the user's process is never trimmed."""

def ensure_role(name: str, policy: str) -> tuple[str, bool]:
    """Creates IAM role ``name`` for Lambda (or reuses it) with inline policy ``policy``;
    returns (ARN, created)."""
