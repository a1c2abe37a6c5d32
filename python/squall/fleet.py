"""Policies and models for large fleets: speculative backups, and the simulated Lambda fleet."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from ._native import StoreModel as StoreModel


@dataclass(frozen=True)
class Speculation:
    """When a running task gets a backup attempt on another worker (first to finish wins).

    Args:
        after: Share of the job's tasks that must have finished first.
        multiple: The task has run longer than this multiple of the finished ones' median...
        min_seconds: ...and longer than this.
    """

    after: float = 0.75
    multiple: float = 3.0
    min_seconds: float = 2.0


@dataclass(frozen=True)
class FleetModel:
    """A simulated Lambda fleet for ``Session(backend="simulated", fleet=...)``.

    Tasks run for real on local workers (results are real); around each attempt the model adds
    what a fleet of functions does: cold starts, latency, a concurrency cap, a ramp-up rate,
    stragglers, crashes and throttling. Simulated time runs ``time_scale`` times real time, so a
    10,000-task job with Lambda-like timings takes seconds. Faults are drawn per (task, attempt)
    from ``seed``: the same seed injects the same faults.

    Times are simulated seconds.
    """

    #: Execution environments at most, over all functions (the account's concurrency limit).
    concurrency: int = 1000
    #: New environments per function per 10 s (AWS: 1,000); beyond that, 429 TooManyRequests.
    ramp_per_10s: float = 1000.0
    #: Identical functions the invocations are spread over, each ramping up on its own, as
    #: ``squall.deploy(shards=...)`` makes them: k functions reach k times the concurrency in
    #: the same time.
    functions: int = 1
    #: Start-up time of a new environment (varies +-50%).
    cold_start_s: float = 0.5
    #: Per-invocation overhead.
    latency_s: float = 0.02
    #: Run time of a task, added to its real one.
    task_s: float = 1.0
    #: Share of attempts that straggle...
    straggler_rate: float = 0.0
    #: ...and how many times slower they are.
    straggler_factor: float = 10.0
    #: Share of attempts whose environment crashes after running (the answer is lost).
    failure_rate: float = 0.0
    #: Share of invocations answered 429.
    throttle_rate: float = 0.0
    #: Real seconds per simulated second.
    time_scale: float = 0.01
    #: Seed of the fault decisions.
    seed: int = 0
    #: The store the tasks' requests go to (:class:`squall.StoreModel`): their requests and
    #: bytes take its time, and those past its rate are answered 503 SlowDown and wait. None:
    #: the tasks' real store time only.
    store: StoreModel | None = field(default=None, compare=False)

    def as_dict(self) -> dict[str, float]:
        """The settings but the store, for the engine."""
        return {f.name: float(getattr(self, f.name)) for f in fields(self) if f.name != "store"}
