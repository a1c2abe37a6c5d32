"""Waiting on many futures at once, squall's and the standard library's alike:
:func:`as_completed` and :func:`wait`, shaped like :mod:`concurrent.futures`'s."""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

from . import _native
from .errors import CancelledError
from .futures import ALL_COMPLETED, FIRST_COMPLETED, FIRST_EXCEPTION, Future, _Job, _wait_for_change


class DoneAndNotDone(NamedTuple):
    """What :func:`wait` returns."""

    done: set[Any]
    not_done: set[Any]


class _Finishing:
    """Reports futures as their tasks finish, reading each job's finishing order once."""

    def __init__(self, futures: Iterable[Future]) -> None:
        self.waiting: dict[tuple[int, int], list[Future]] = {}
        self.jobs: dict[int, tuple[_Job, list[int]]] = {}
        for f in dict.fromkeys(futures):
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


def _raised(f: concurrent.futures.Future[Any]) -> bool:
    if isinstance(f, Future):
        error = f._wait(0)
        return error is not None and not isinstance(error, CancelledError)
    return not f.cancelled() and f.exception(0) is not None


def _others(fs: list[Any]) -> bool:
    """Whether ``fs`` holds futures that are not squall's (the standard library then waits)."""
    return not all(isinstance(f, Future) for f in fs)


def _cancel_on_interrupt(fs: list[Any]) -> None:
    for job in {id(f._job): f._job for f in fs if isinstance(f, Future)}.values():
        job.native.cancel()


def as_completed(
    fs: Iterable[concurrent.futures.Future[Any]], timeout: float | None = None
) -> Iterator[Any]:
    """Yields futures as they finish (finished ones first), each once, like
    :func:`concurrent.futures.as_completed`; Ctrl-C cancels the squall jobs waited on.

    Raises:
        TimeoutError: ``timeout`` seconds passed before all finished.

    Example:
        >>> for f in squall.as_completed(squall.map(simulate, seeds)):
        ...     print(f.result())
    """
    fs = list(fs)
    if _others(fs):
        try:
            yield from concurrent.futures.as_completed(fs, timeout)
        except KeyboardInterrupt:
            _cancel_on_interrupt(fs)
            raise
        return
    tracker = _Finishing(f for f in fs if isinstance(f, Future))
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
    fs: Iterable[concurrent.futures.Future[Any]],
    timeout: float | None = None,
    return_when: str = ALL_COMPLETED,
) -> DoneAndNotDone:
    """Waits for futures, like :func:`concurrent.futures.wait`; Ctrl-C cancels the squall
    jobs waited on.

    Args:
        fs: The futures (squall's, or any :class:`concurrent.futures.Future`).
        timeout: Seconds to wait; None waits as long as it takes.
        return_when: ``ALL_COMPLETED``, ``FIRST_COMPLETED`` or ``FIRST_EXCEPTION``.

    Returns:
        The done and not-done futures.

    Example:
        >>> done, pending = squall.wait(futures, timeout=60, return_when=squall.FIRST_COMPLETED)
    """
    if return_when not in (ALL_COMPLETED, FIRST_COMPLETED, FIRST_EXCEPTION):
        raise ValueError(
            f"return_when={return_when!r}: use ALL_COMPLETED, FIRST_COMPLETED or FIRST_EXCEPTION"
        )
    fs = list(fs)
    if _others(fs):
        try:
            done_, not_done = concurrent.futures.wait(fs, timeout, return_when)
        except KeyboardInterrupt:
            _cancel_on_interrupt(fs)
            raise
        return DoneAndNotDone(done_, not_done)
    tracker = _Finishing(f for f in fs if isinstance(f, Future))
    done: set[Any] = set()
    deadline = None if timeout is None else time.monotonic() + timeout
    sched = tracker.scheduler()
    while tracker.waiting:
        seq = sched.seq() if sched is not None else 0
        new = tracker.poll()
        done.update(new)
        if return_when == FIRST_COMPLETED and done:
            break
        if return_when == FIRST_EXCEPTION and any(_raised(f) for f in new):
            break
        if not tracker.waiting or sched is None:
            break
        if deadline is not None and time.monotonic() >= deadline:
            break
        _wait_for_change(sched, seq, deadline, tracker.job_list())
    return DoneAndNotDone(done, {f for f in fs if f not in done})
