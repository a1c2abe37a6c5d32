"""Futures for tasks running on a squall session, shaped like :mod:`concurrent.futures`."""

from __future__ import annotations

import pickle
import reprlib
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, NamedTuple

from . import _native
from ._progress import Progress
from .errors import (
    CancelledError,
    SquallError,
    TaskError,
    TaskTimeoutError,
    WorkerLostError,
    WorkerStartError,
)

if TYPE_CHECKING:
    from .jobs import JobRecord

FIRST_COMPLETED = "FIRST_COMPLETED"
FIRST_EXCEPTION = "FIRST_EXCEPTION"
ALL_COMPLETED = "ALL_COMPLETED"

_short = reprlib.Repr()
_short.maxstring = 80
_short.maxother = 80


class _Job:
    """A native job plus the decoded outcome of each finished task (shared by its futures)."""

    __slots__ = ("label", "native", "outcomes", "scheduler")

    def __init__(self, native: _native.Job, scheduler: _native.Scheduler, label: str) -> None:
        self.native = native
        self.scheduler = scheduler
        self.label = label
        self.outcomes: dict[int, tuple[Any, ...]] = {}

    def __del__(self) -> None:
        # The futures are gone: nobody will take the results the job record's native job holds.
        self.native.release()

    def outcome(self, task: int) -> tuple[Any, ...] | None:
        cached = self.outcomes.get(task)
        if cached is not None:
            return cached
        o = self.native.take(task)
        if o is None:
            return None
        decoded: tuple[Any, ...]
        if o.kind == "returned":
            try:
                decoded = ("returned", pickle.loads(o.body))
            except Exception as exc:  # e.g. a class this process cannot import
                decoded = ("unpicklable", exc)
        elif o.kind == "raised":
            error = {
                "error_type": o.error_type,
                "message": o.message,
                "traceback": o.traceback,
                "exception": o.body,
            }
            decoded = ("raised", error)
        else:
            decoded = (o.kind, o.message, o.attempts)
        self.outcomes[task] = decoded
        return decoded

    def wait(self, deadline: float | None, progress: Progress | None = None) -> bool:
        """Waits until every task finished or the deadline; cancels the job on Ctrl-C."""
        try:
            while True:
                remaining = 0.2 if deadline is None else deadline - time.monotonic()
                if self.native.wait(max(remaining, 0.0)):
                    return True
                if progress is not None:
                    progress.update()
                if deadline is not None and time.monotonic() >= deadline:
                    return False
        except KeyboardInterrupt:
            self.native.cancel()
            raise


class Future:
    """The eventual result of one call on a squall session.

    Like :class:`concurrent.futures.Future`: :meth:`result`, :meth:`exception`, :meth:`done`,
    :meth:`running`, :meth:`cancel`, :meth:`cancelled`.
    """

    __slots__ = ("__weakref__", "_error", "_input", "_job", "_slot", "_task")

    def __init__(self, job: _Job, task: int, slot: int | None, input: Any) -> None:
        self._job = job
        self._task = task
        self._slot = slot
        self._input = input
        self._error: BaseException | None = None

    def __repr__(self) -> str:
        state = "finished" if self.done() else "running" if self.running() else "pending"
        return f"<squall.Future {self._job.label} task={self._task} state={state}>"

    def done(self) -> bool:
        """True when the task finished (returned, raised, failed or was cancelled)."""
        return self._task in self._job.outcomes or self._job.native.is_finished(self._task)

    def running(self) -> bool:
        """True while an attempt of the task runs on a worker."""
        return self._job.native.is_running(self._task)

    def cancelled(self) -> bool:
        """True when the task was cancelled."""
        o = self._job.outcome(self._task) if self.done() else None
        return o is not None and o[0] == "cancelled"

    def cancel(self) -> bool:
        """Cancels the task if it has not started; returns whether it is now cancelled."""
        return self._job.native.cancel_task(self._task) or self.cancelled()

    def result(self, timeout: float | None = None) -> Any:
        """Waits for the task and returns its result.

        Args:
            timeout: Seconds to wait; None waits as long as it takes.

        Raises:
            TaskError: The function raised (the original exception is ``__cause__``).
            WorkerLostError: Every attempt's worker died.
            TaskTimeoutError: Every attempt ran past the job's timeout.
            CancelledError: The task was cancelled.
            TimeoutError: ``timeout`` passed before the task finished.
        """
        error = self.exception(timeout)
        if error is not None:
            raise error
        value = self._job.outcomes[self._task][1]
        return value[self._slot][1] if self._slot is not None else value

    def exception(self, timeout: float | None = None) -> BaseException | None:
        """Waits for the task and returns the exception it ended with, or None."""
        if self._error is not None:
            return self._error
        o = self._job.outcome(self._task)
        if o is None:
            deadline = None if timeout is None else time.monotonic() + timeout
            while o is None:
                seq = self._job.scheduler.seq()
                o = self._job.outcome(self._task)
                if o is not None:
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    raise TimeoutError(f"{self!r} did not finish within {timeout} s")
                _wait_for_change(self._job.scheduler, seq, deadline, [self._job])
        self._error = self._make_error(o)
        return self._error

    def _make_error(self, o: tuple[Any, ...]) -> BaseException | None:
        kind = o[0]
        where = f"task {self._task} of {self._job.label} (input {_short.repr(self._input)})"
        if kind == "returned":
            if self._slot is None or o[1][self._slot][0]:
                return None
            return _task_error(where, self._task, self._input, o[1][self._slot][1])
        if kind == "raised":
            return _task_error(where, self._task, self._input, o[1])
        if kind == "unpicklable":
            exc = o[1]
            error = TaskError(
                f"{where} returned a result that cannot be unpickled here "
                f"({type(exc).__name__}: {exc}); return types this process can import",
                task=self._task,
                input_repr=_short.repr(self._input),
                error_type=f"{type(exc).__module__}.{type(exc).__qualname__}",
                original=exc,
            )
            return error
        if kind == "cancelled":
            return CancelledError(f"{where} was cancelled")
        message, attempts = o[1], o[2]
        tries = f"after {attempts} attempt{'s' if attempts != 1 else ''}"
        if kind == "timeout":
            return TaskTimeoutError(
                f"{where} {message} ({tries}); raise the job's timeout, or split the work"
            )
        if kind == "spawn":
            return WorkerStartError(f"{where} could not run ({tries}): {message}")
        return WorkerLostError(
            f"{where} failed {tries}: {message}. If the task needs more memory than a worker "
            "has, use fewer workers or smaller inputs; raise `retries` if failures are transient."
        )


def _task_error(where: str, task: int, input: Any, error: dict[str, Any]) -> TaskError:
    original: BaseException | None = None
    if error["exception"]:
        try:
            original = pickle.loads(error["exception"])
        except Exception:
            original = None
    name = error["error_type"].removeprefix("builtins.")
    message = (
        f"{where} raised {name}: {error['message']}\n\n"
        f"Remote traceback:\n{error['traceback'].rstrip()}"
    )
    return TaskError(
        message,
        task=task,
        input_repr=_short.repr(input),
        error_type=error["error_type"],
        remote_traceback=error["traceback"],
        original=original if isinstance(original, BaseException) else None,
    )


class FutureList(list[Future]):
    """The futures of one :func:`squall.map` call, in input order."""

    def __init__(self, futures: Iterable[Future], jobs: list[_Job], progress: bool = True) -> None:
        super().__init__(futures)
        self._jobs = jobs
        self._progress = progress
        #: The record of the job behind these futures (stats, summary, timeline, cost).
        self.job: JobRecord | None = None

    def __repr__(self) -> str:
        # One line, however many futures: a notebook showing 2,000 lines helps nobody.
        done = sum(f.done() for f in self)
        labels = sorted({j.label for j in self._jobs})
        of = f" of {', '.join(labels)}" if labels else ""
        return f"<squall.FutureList: {len(self)} futures{of}, {done} finished>"

    def wait(self, timeout: float | None = None) -> bool:
        """Waits for every task, drawing a progress bar; True when all finished in time."""
        deadline = None if timeout is None else time.monotonic() + timeout
        desc = " + ".join(dict.fromkeys(j.label for j in self._jobs)) or "squall"
        bar = Progress([j.native for j in self._jobs], desc, self._progress)
        try:
            return all(job.wait(deadline, bar) for job in self._jobs)
        finally:
            bar.close()

    def results(self, timeout: float | None = None, return_exceptions: bool = False) -> list[Any]:
        """Waits for every task and returns their results in input order.

        Args:
            timeout: Seconds to wait in all; None waits as long as it takes.
            return_exceptions: Put each failed task's exception in its place instead of
                raising the first one.

        Raises:
            TaskError: A task raised (the first in input order), unless ``return_exceptions``.
            TimeoutError: ``timeout`` passed first.
        """
        if not self.wait(timeout):
            left = sum(not f.done() for f in self)
            raise TimeoutError(f"{left} of {len(self)} tasks did not finish within {timeout} s")
        if not return_exceptions:
            return [f.result(0) for f in self]
        return [f.exception(0) or f.result(0) for f in self]

    def cancel(self) -> None:
        """Cancels every task not yet finished, including running ones."""
        for job in self._jobs:
            job.native.cancel()


def _wait_for_change(
    sched: _native.Scheduler, seq: int, deadline: float | None, jobs: Iterable[_Job]
) -> None:
    """Waits up to 0.2 s (or to the deadline) for any outcome to change; Ctrl-C cancels `jobs`."""
    remaining = 0.2 if deadline is None else deadline - time.monotonic()
    try:
        sched.wait_change(seq, max(remaining, 0.0))
    except KeyboardInterrupt:
        for job in jobs:
            job.native.cancel()
        raise


class DoneAndNotDone(NamedTuple):
    """What :func:`wait` returns."""

    done: set[Future]
    not_done: set[Future]


class _Finishing:
    """Reports futures as their tasks finish, reading each job's finishing order once."""

    def __init__(self, futures: Iterable[Future]) -> None:
        self.waiting: dict[tuple[int, int], list[Future]] = {}
        self.jobs: dict[int, tuple[_Job, list[int]]] = {}
        for f in futures:
            key = (f._job.native.id, f._task)
            self.waiting.setdefault(key, []).append(f)
            self.jobs.setdefault(key[0], (f._job, [0]))

    def scheduler(self) -> _native.Scheduler | None:
        return next((job.scheduler for job, _ in self.jobs.values()), None)

    def poll(self) -> list[Future]:
        out: list[Future] = []
        for job_id, (job, cursor) in self.jobs.items():
            finished = job.native.finished_since(cursor[0])
            cursor[0] += len(finished)
            for task in finished:
                out.extend(self.waiting.pop((job_id, task), ()))
        return out

    def job_list(self) -> list[_Job]:
        return [job for job, _ in self.jobs.values()]


def as_completed(fs: Iterable[Future], timeout: float | None = None) -> Iterator[Future]:
    """Yields futures as they finish (finished ones first).

    Raises:
        TimeoutError: ``timeout`` seconds passed before all finished.
    """
    tracker = _Finishing(fs)
    deadline = None if timeout is None else time.monotonic() + timeout
    sched = tracker.scheduler()
    while tracker.waiting:
        seq = sched.seq() if sched is not None else 0
        yield from tracker.poll()
        if not tracker.waiting or sched is None:
            return
        if deadline is not None and time.monotonic() >= deadline:
            raise TimeoutError(f"{len(tracker.waiting)} tasks did not finish within {timeout} s")
        _wait_for_change(sched, seq, deadline, tracker.job_list())


def wait(
    fs: Iterable[Future], timeout: float | None = None, return_when: str = ALL_COMPLETED
) -> DoneAndNotDone:
    """Waits for futures, like :func:`concurrent.futures.wait`.

    Args:
        fs: The futures.
        timeout: Seconds to wait; None waits as long as it takes.
        return_when: ``ALL_COMPLETED``, ``FIRST_COMPLETED`` or ``FIRST_EXCEPTION``.

    Returns:
        The done and not-done futures.
    """
    if return_when not in (ALL_COMPLETED, FIRST_COMPLETED, FIRST_EXCEPTION):
        raise ValueError(
            f"return_when={return_when!r}: use ALL_COMPLETED, FIRST_COMPLETED or FIRST_EXCEPTION"
        )
    fs = list(fs)
    tracker = _Finishing(fs)
    done: set[Future] = set()
    deadline = None if timeout is None else time.monotonic() + timeout
    sched = tracker.scheduler()
    while tracker.waiting:
        seq = sched.seq() if sched is not None else 0
        new = tracker.poll()
        done.update(new)
        if return_when == FIRST_COMPLETED and done:
            break
        if return_when == FIRST_EXCEPTION and any(f.exception(0) is not None for f in new):
            break
        if not tracker.waiting or sched is None:
            break
        if deadline is not None and time.monotonic() >= deadline:
            break
        _wait_for_change(sched, seq, deadline, tracker.job_list())
    return DoneAndNotDone(done, {f for f in fs if f not in done})


__all__ = [
    "ALL_COMPLETED",
    "FIRST_COMPLETED",
    "FIRST_EXCEPTION",
    "DoneAndNotDone",
    "Future",
    "FutureList",
    "SquallError",
    "as_completed",
    "wait",
]
