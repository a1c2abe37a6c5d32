"""Datasets modelled instead of run: a plan's stages by size, priced in closed form
(:meth:`Dataset.estimate`) or run through the real scheduler on a simulated fleet and store
that move no bytes (:meth:`Dataset.simulate`), and synthetic inputs of any size
(:func:`synthetic`) to model them on. A 100 TB sort is modelled in seconds on a laptop.

Example:
    >>> store = squall.StoreModel.s3_standard()
    >>> fleet = squall.FleetModel(concurrency=10_000, functions=10, store=store)
    >>> ds = squall.synthetic({"key": 10, "value": 90}, rows=10**10, partitions=1000).sort("key")
    >>> print(ds.estimate(fleet, memory_mb=3008))
    >>> job = ds.simulate(fleet, memory_mb=3008)
    >>> print(job.cost(memory_mb=3008, architecture="arm64"))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import _native
from .fleet import FleetModel, Speculation, StoreModel
from .jobs import JobRecord
from .pricing import DEFAULT_MEMORY_MB, Cost, Usage

if TYPE_CHECKING:
    from .dataset import Dataset
    from .session import Session

#: The actions a model runs a plan into.
ACTIONS = ("write_parquet", "write_ipc", "collect", "count")

#: Memory a simulation holds per task, about (2.4 KB measured at 1.15 million tasks).
DRIVER_BYTES_PER_TASK = 3_000

#: Where a modelled write goes: nowhere.
_NOWHERE = "synthetic://output"


@dataclass(frozen=True)
class StageEstimate:
    """One stage of an :class:`Estimate`."""

    #: The stage's label, as a run names it (``squall.sort (map)``).
    label: str
    #: Its tasks.
    tasks: int
    #: Its attempts (invocations): its tasks, and crashed attempts run again.
    attempts: int
    #: Seconds from its start to its last task's end.
    seconds: float
    #: Seconds of its tasks together (what Lambda bills).
    task_seconds: float
    #: Its requests and bytes (``io_counts``' names), the driver's after it included;
    #: ``slowdowns``: requests past the store's rate, answered 503 SlowDown first.
    io: dict[str, int]
    #: The share of ``io`` on the user's data (input read, output written), not on
    #: intermediate objects.
    data_io: dict[str, int]


@dataclass(frozen=True)
class Estimate:
    """What a plan would take and cost on a fleet, stage by stage, before it runs."""

    stages: list[StageEstimate]
    #: The functions' memory it assumes.
    memory_mb: int

    @property
    def io(self) -> dict[str, int]:
        """The requests and bytes of all stages."""
        return {k: sum(s.io[k] for s in self.stages) for k in _native.IO_FIELDS}

    @property
    def data_io(self) -> dict[str, int]:
        """The requests and bytes of all stages on the user's data."""
        return {k: sum(s.data_io[k] for s in self.stages) for k in _native.IO_FIELDS}

    @property
    def seconds(self) -> float:
        """The job's makespan: its stages one after another."""
        return sum(s.seconds for s in self.stages)

    def cost(
        self,
        memory_mb: int | None = None,
        prices: dict[str, float] | None = None,
        *,
        architecture: str = "x86_64",
        store: str = "s3",
    ) -> Cost:
        """What the plan would cost, priced as :meth:`squall.JobRecord.cost` prices a job that
        ran (same arguments)."""
        # Each stage's objects but the last's are held from its middle to the job's end.
        held, at = 0.0, 0.0
        for s in self.stages[:-1]:
            held += s.io["bytes_written"] * (self.seconds - at - s.seconds / 2)
            at += s.seconds
        attempts = sum(s.attempts for s in self.stages)
        seconds = sum(s.task_seconds for s in self.stages)
        usage = Usage(attempts, seconds, self.io, self.seconds, held, self.data_io)
        return usage.price(memory_mb or self.memory_mb, prices, architecture, store)

    def __str__(self) -> str:
        lines = [f"{'stage':<34} {'tasks':>9} {'seconds':>9} {'GET':>13} {'PUT':>11} {'503s':>9}"]
        for s in self.stages:
            lines.append(
                f"{s.label:<34} {s.tasks:>9,} {s.seconds:>9,.1f} {s.io['gets']:>13,} "
                f"{s.io['puts']:>11,} {s.io['slowdowns']:>9,}"
            )
        lines.append(f"{'total':<34} {sum(s.tasks for s in self.stages):>9,} {self.seconds:>9,.1f}")
        return "\n".join(lines)


def synthetic(
    columns: dict[str, int],
    rows: int,
    partitions: int,
    *,
    name: str = "synthetic",
    session: Session | None = None,
) -> Dataset:
    """A dataset of sizes without bytes, to model jobs on: ``rows`` rows of ``columns`` (name:
    bytes per row) in ``partitions`` equal Parquet-like parts. Sort it, group it, then
    :meth:`Dataset.estimate` or :meth:`Dataset.simulate` it; running it is refused.

    Example:
        >>> squall.synthetic({"key": 10, "value": 90}, rows=10**12, partitions=100_000)
    """
    from ._default import default_session
    from .dataset import Dataset

    session = session or default_session()
    if rows < 0:
        raise ValueError(f"synthetic(rows={rows}): give 0 rows or more")
    plan = _native.Plan.synthetic(list(columns.items()), rows, partitions, name)
    return Dataset(session, plan, ())


def _action(action: str) -> tuple[str, tuple[str, str, str, str] | None]:
    """The sink and write settings of ``action``."""
    if action not in ACTIONS:
        raise ValueError(f"action={action!r}: use one of {', '.join(repr(a) for a in ACTIONS)}")
    if action.startswith("write_"):
        return "write", (action.removeprefix("write_"), _NOWHERE, "zstd", "overwrite")
    return action, None


def _setup(
    ds: Dataset, fleet: FleetModel | None, memory_mb: int | None
) -> tuple[FleetModel, int, _native.Budget]:
    """The fleet (the session's, else the default one; its store S3 Standard unless it names
    one), the functions' memory and its budget."""
    if ds._udfs:
        raise ValueError(
            "a plan with Python functions (map_batches, filter, map_groups) cannot be modelled by "
            "size: their work is unknown until they run"
        )
    s = ds._session
    fleet = fleet or s.fleet or FleetModel()
    if fleet.store is None:  # a job's data is in a store: S3 Standard unless the fleet says
        fleet = fleet.replace(store=StoreModel.s3_standard())
    memory = memory_mb or s.memory_mb or DEFAULT_MEMORY_MB
    return fleet, memory, _native.Budget(None, fleet.concurrency, memory)


def estimate(ds: Dataset, fleet: FleetModel | None, action: str, memory_mb: int | None) -> Estimate:
    """See :meth:`Dataset.estimate`."""
    sink, write = _action(action)
    fleet, memory, budget = _setup(ds, fleet, memory_mb)
    rows = ds._session._datasets().estimate(ds._plan, sink, action, fleet, budget, write)
    fields = _native.IO_FIELDS
    stages = [
        StageEstimate(
            label,
            n,
            a,
            t,
            b,
            dict(zip(fields, io, strict=True)),
            dict(zip(fields, data, strict=True)),
        )
        for label, n, a, t, b, io, data in rows
    ]
    return Estimate(stages, memory)


def simulate(
    ds: Dataset, fleet: FleetModel | None, action: str, memory_mb: int | None, progress: bool
) -> JobRecord:
    """See :meth:`Dataset.simulate`."""
    sink, write = _action(action)
    fleet, memory, budget = _setup(ds, fleet, memory_mb)
    s = ds._session
    estimated = estimate(ds, fleet, action, memory)
    tasks = sum(stage.tasks for stage in estimated.stages)
    if tasks * DRIVER_BYTES_PER_TASK > s.budget.limit:
        raise ValueError(
            f"simulating {tasks:,} tasks takes about {tasks * DRIVER_BYTES_PER_TASK / 1e9:.1f} GB "
            f"here, over this session's memory_limit ({s.budget.limit / 1e9:.1f} GB): estimate() "
            "it instead, or simulate it with bigger partitions"
        )
    policy = Speculation()
    speculation = (policy.after, policy.multiple, policy.min_seconds)
    record = s.last_job = JobRecord(f"squall.simulate {action}", "simulated", memory, budget.limit)

    def start() -> _native.Running:
        return s._datasets().simulate(ds._plan, sink, action, fleet, budget, speculation, write)

    ds._follow(start, record, progress)
    # Which requests touch the user's data, for pricing intermediate objects apart.
    record._data_io = estimated.data_io
    return record
