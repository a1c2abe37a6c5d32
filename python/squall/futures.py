"""Futures for tasks running on a squall session, shaped like :mod:`concurrent.futures`."""

from __future__ import annotations

import concurrent.futures
import os
import pickle
import reprlib
import threading
import time
from collections.abc import Callable, Generator, Iterable
from typing import TYPE_CHECKING, Any

from . import _native, _threads
from ._progress import Progress
from .errors import (
    CancelledError,
    InputError,
    RemoteTraceback,
    SquallError,
    TaskError,
    TaskTimeoutError,
    WorkerLostError,
    WorkerStartError,
    user_facing,
)

if TYPE_CHECKING:
    from .jobs import JobRecord

FIRST_COMPLETED = concurrent.futures.FIRST_COMPLETED
FIRST_EXCEPTION = concurrent.futures.FIRST_EXCEPTION
ALL_COMPLETED = concurrent.futures.ALL_COMPLETED


_short = reprlib.Repr()
_short.maxstring = 80
_short.maxother = 80


class _Job:
    """A native job plus the decoded outcome of each finished task (shared by its futures)."""

    __slots__ = (
        "completer",
        "cursor",
        "finishers",
        "label",
        "lock",
        "native",
        "outcomes",
        "pid",
        "watched",
    )

    def __init__(self, native: _native.Job, completer: _Completer, label: str) -> None:
        self.native = native
        self.completer = completer
        self.label = label
        # The process the job runs for: only it hears of its tasks' outcomes.
        self.pid = os.getpid()
        self.outcomes: dict[int, tuple[Any, ...]] = {}
        # Guards `outcomes` and `watched`; never held while a future's condition is taken.
        self.lock = threading.RLock()
        # Futures with standard-library state, by task, waiting to be completed.
        self.watched: dict[int, list[Future]] = {}
        self.cursor = 0
        # Called (on the completer's thread) once every task of the job has finished.
        self.finishers: list[Callable[[], None]] = []

    @property
    def scheduler(self) -> _native.Scheduler:
        return self.completer.scheduler

    def __del__(self) -> None:
        # The futures are gone: nobody will take the results the job record's native job holds.
        self.native.release()

    def outcome(self, task: int) -> tuple[Any, ...] | None:
        cached = self.outcomes.get(task)
        if cached is not None:
            return cached
        with self.lock:
            cached = self.outcomes.get(task)
            if cached is not None:
                return cached
            o = self.native.take(task)
            if o is None:
                return None
            decoded = _decode(o)
            self.outcomes[task] = decoded
            return decoded

    def watch(self, future: Future) -> None:
        """Gives ``future`` the standard library's state, completed now or when it finishes."""
        with self.lock:
            if "_condition" in future.__dict__:
                return
            concurrent.futures.Future.__init__(future)
            finished = self.native.is_finished(future._task)
            if not finished:
                self.watched.setdefault(future._task, []).append(future)
        if finished:
            future._complete()
        else:
            self.completer.watch(self)

    def on_finished(self, finisher: Callable[[], None]) -> None:
        """Calls ``finisher`` on the completer's thread once every task of the job has
        finished (returned, failed or cancelled), without reading any result."""
        with self.lock:
            self.finishers.append(finisher)
        self.completer.watch(self)

    def waiting(self) -> bool:
        """Whether futures or finishers still wait for this job's tasks."""
        return bool(self.watched or self.finishers)

    def drain(self) -> bool:
        """Completes the watched futures of tasks finished since the last call, and calls the
        finishers once the job is over; True when nothing is left waiting."""
        with self.lock:
            ready: list[Future] = []
            if self.watched:
                finished = self.native.finished_since(self.cursor)
                self.cursor += len(finished)
                for task in finished:
                    ready.extend(self.watched.pop(task, ()))
            over: list[Callable[[], None]] = []
            if self.finishers and self.native.wait(0.0):
                over, self.finishers = self.finishers, []
        for future in ready:
            future._complete()
        for finisher in over:
            finisher()
        return not self.waiting()

    def fail_watched(self, error: BaseException) -> None:
        """Fails every watched future with ``error`` (their task can no longer be followed)."""
        with self.lock:
            ready = [f for futures in self.watched.values() for f in futures]
            self.watched.clear()
        for future in ready:
            concurrent.futures.Future.set_exception(future, error)

    def check_process(self) -> None:
        """Raises in a process forked from the one that started the job, which would wait
        forever: the outcomes of the job's tasks reach only that process."""
        if self.pid != os.getpid():
            raise RuntimeError(
                f"squall job {self.label!r} was started by process {self.pid}, which this process "
                "was forked from: its results reach only that process. Wait for them there, or "
                "run the job again in this process."
            )

    def wait(self, deadline: float | None, progress: Progress | None = None) -> bool:
        """Waits until every task finished or the deadline; cancels the job on Ctrl-C."""
        self.check_process()
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


def _decode(o: _native.Outcome) -> tuple[Any, ...]:
    if o.kind == "returned":
        try:
            body = o.body if o.stored is None else _native.read_bytes(o.stored)
            return ("returned", pickle.loads(body))
        except Exception as exc:  # e.g. a class this process cannot import
            return ("unpicklable", exc)
    if o.kind == "raised":
        error = {
            "error_type": o.error_type,
            "message": o.message,
            "traceback": o.traceback,
            "exception": o.body,
        }
        return ("raised", error)
    return (o.kind, o.message, o.attempts)


class _Completer:
    """Completes, on one thread per scheduler, the futures that the standard library or asyncio
    wait on (their waiters and callbacks need a ``set_result``); the thread ends when none is
    left waiting and starts again when one comes."""

    def __init__(self, scheduler: _native.Scheduler) -> None:
        self.scheduler = scheduler
        self.lock = threading.Lock()
        self.jobs: set[_Job] = set()
        self.thread: threading.Thread | None = None

    def watch(self, job: _Job) -> None:
        with self.lock:
            self.jobs.add(job)
            if self.thread is None:
                self.thread = _threads.start(self._run, name="squall-futures")

    def join(self, timeout: float) -> None:
        """Waits for the thread to end (it does once no future waits: after a session's close,
        every task has finished or been cancelled)."""
        with self.lock:
            thread = self.thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _run(self) -> None:
        while True:
            seq = self.scheduler.seq()
            with self.lock:
                jobs = list(self.jobs)
            for job in jobs:
                try:
                    job.drain()
                except Exception as exc:  # the scheduler lost the job: fail its waiters
                    job.fail_watched(exc)
            with self.lock:
                self.jobs = {job for job in self.jobs if job.waiting()}
                if not self.jobs or _threads.EXITING.is_set():
                    self.thread = None
                    return
            del jobs
            self.scheduler.wait_change(seq, 0.2)


class Future(concurrent.futures.Future):  # type: ignore[type-arg]
    """The eventual result of one call on a squall session.

    A :class:`concurrent.futures.Future`: ``concurrent.futures.wait`` and ``as_completed``,
    ``add_done_callback``, ``asyncio.wrap_future`` and ``await`` accept it. :meth:`result`
    raises :class:`squall.TaskError` (the function's exception is its ``__cause__``);
    :meth:`exception`, ``await`` and asyncio give the function's own exception, with the
    remote traceback as its ``__cause__``.

    Example:
        >>> f = squall.submit(pow, 2, 10)
        >>> f.result()
        1024
        >>> await f  # in a notebook cell or a coroutine
        1024
    """

    __slots__ = ("_failure", "_input", "_job", "_slot", "_task")

    def __init__(self, job: _Job, task: int, slot: int | None, input: Any) -> None:
        # What concurrent.futures.Future keeps per future (a lock, waiters, callbacks) is made
        # only for the futures that the standard library or asyncio touch (see __getattr__): it
        # costs ~7 us and 1.6 KB a future, which a 100,000-item map would feel.
        self._job = job
        self._task = task
        self._slot = slot
        self._input = input
        self._failure: BaseException | None = None

    def __getattr__(self, name: str) -> Any:
        # Only the standard library's private state is missing until it is made: any private
        # name it reads (whatever the Python version adds) makes it, once.
        own = name in Future.__slots__  # not set yet (a half-built copy): nothing to make
        if name.startswith("_") and not name.startswith("__") and not own:
            self._job.watch(self)
            if name in self.__dict__:
                return self.__dict__[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __repr__(self) -> str:
        state = "finished" if self.done() else "running" if self.running() else "pending"
        return f"<squall.Future {self._job.label} task={self._task} state={state}>"

    def __reduce__(self) -> Any:
        # squall._arguments writes a reference to its task in its place.
        raise FutureInArguments(
            f"{self!r} cannot be pickled; pass it as an argument of submit() or map() (anywhere "
            "in the arguments) and the task receives its result"
        )

    def __await__(self) -> Generator[Any, None, Any]:
        import asyncio

        return asyncio.wrap_future(self).__await__()

    def done(self) -> bool:
        """True when the task finished (returned, raised, failed or was cancelled).

        Example:
            >>> f = squall.submit(time.sleep, 1)
            >>> f.done()
            False
        """
        return self._task in self._job.outcomes or self._job.native.is_finished(self._task)

    def running(self) -> bool:
        """True while an attempt of the task runs on a worker.

        Example:
            >>> squall.submit(time.sleep, 1).running()
        """
        return self._job.native.is_running(self._task)

    def cancelled(self) -> bool:
        """True when the task was cancelled.

        Example:
            >>> f.cancel() and f.cancelled()
            True
        """
        o = self._job.outcome(self._task) if self.done() else None
        return o is not None and o[0] == "cancelled"

    def cancel(self) -> bool:
        """Cancels the task if it has not started; returns whether it is now cancelled.

        Example:
            >>> futures = squall.map(simulate, range(100))
            >>> futures[-1].cancel()
            True
        """
        if self._job.native.cancel_task(self._task):
            self._job.drain()
            return True
        return self.cancelled()

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

        Example:
            >>> squall.submit(divmod, 7, 2).result(timeout=60)
            (3, 1)
        """
        error = self._wait(timeout)
        if error is not None:
            # Raised afresh each time, from here: its traceback is the caller's, not squall's.
            raise error.with_traceback(None)
        value = self._job.outcomes[self._task][1]
        return value[self._slot][1] if self._slot is not None else value

    def exception(self, timeout: float | None = None) -> BaseException | None:
        """Waits for the task and returns the exception it ended with, or None: the function's
        own exception when it raised one (the remote traceback is its ``__cause__``).

        Raises:
            CancelledError: The task was cancelled.
            TimeoutError: ``timeout`` passed before the task finished.

        Example:
            >>> squall.submit(int, "x").exception()
            ValueError("invalid literal for int() with base 10: 'x'")
        """
        error = self._wait(timeout)
        if isinstance(error, CancelledError):
            raise error
        return None if error is None else own_exception(error)

    def _wait(self, timeout: float | None) -> BaseException | None:
        """Waits for the task; returns the error :meth:`result` raises, or None."""
        if self._failure is not None:
            return self._failure
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
        self._failure = self._make_error(o)
        return self._failure

    def _complete(self) -> None:
        """Completes the standard library's state from the finished task's outcome."""
        error = self._wait(0)
        base = concurrent.futures.Future
        if isinstance(error, CancelledError):
            base.cancel(self)
            base.set_running_or_notify_cancel(self)
        elif error is not None:
            base.set_exception(self, error)
        else:
            base.set_result(self, self.result(0))

    def _make_error(self, o: tuple[Any, ...]) -> BaseException | None:
        kind = o[0]
        if kind == "returned" and (self._slot is None or o[1][self._slot][0]):
            return None
        where = f"task {self._task} of {self._job.label} (input {_short.repr(self._input)})"
        if kind == "returned":
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
        if kind == "input":
            return InputError(f"{where} did not run: {o[1]}")
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


class FutureInArguments(TypeError):
    """A future met where it cannot be pickled (squall's argument pickler takes futures)."""


def own_exception(error: BaseException) -> BaseException:
    """The function's own exception when ``error`` is one it raised (with its remote traceback
    as ``__cause__``); otherwise ``error`` (a result that cannot be unpickled here, a lost
    worker, ...)."""
    if isinstance(error, TaskError) and error.original is not None and error.remote_traceback:
        return error.original
    return error


def _task_error(where: str, task: int, input: Any, error: dict[str, Any]) -> TaskError:
    original: BaseException | None = None
    if error["exception"]:
        try:
            original = pickle.loads(error["exception"])
        except Exception:
            original = None
    name = error["error_type"].removeprefix("builtins.")
    message = f"{where} raised {name}: {error['message']}"
    if isinstance(original, BaseException):
        # Shown above the exception when it is printed, as ProcessPoolExecutor does.
        original.__cause__ = RemoteTraceback(error["traceback"])
    else:
        original = None
        message += f"\n\nRemote traceback:\n{error['traceback'].rstrip()}"
    return TaskError(
        message,
        task=task,
        input_repr=_short.repr(input),
        error_type=error["error_type"],
        remote_traceback=error["traceback"],
        original=original,
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
        """Waits for every task, drawing a progress bar; True when all finished in time.

        Example:
            >>> futures = squall.map(simulate, seeds)
            >>> futures.wait(timeout=600)
            True
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        desc = " + ".join(dict.fromkeys(j.label for j in self._jobs)) or "squall"
        bar = Progress([j.native for j in self._jobs], desc, self._progress)
        try:
            return all(job.wait(deadline, bar) for job in self._jobs)
        finally:
            bar.close()

    @user_facing
    def results(self, timeout: float | None = None, return_exceptions: bool = False) -> list[Any]:
        """Waits for every task and returns their results in input order.

        Args:
            timeout: Seconds to wait in all; None waits as long as it takes.
            return_exceptions: Put each failed task's exception in its place instead of
                raising the first one.

        Raises:
            TaskError: A task raised (the first in input order), unless ``return_exceptions``.
            TimeoutError: ``timeout`` passed first.

        Example:
            >>> squall.map(abs, [-1, 2, -3]).results()
            [1, 2, 3]
        """
        if not self.wait(timeout):
            left = sum(not f.done() for f in self)
            raise TimeoutError(f"{left} of {len(self)} tasks did not finish within {timeout} s")
        if not return_exceptions:
            return [f.result(0) for f in self]
        return [f._wait(0) or f.result(0) for f in self]

    def cancel(self) -> None:
        """Cancels every task not yet finished, including running ones.

        Example:
            >>> futures = squall.map(simulate, seeds)
            >>> futures.cancel()
        """
        for job in self._jobs:
            job.native.cancel()


def _wait_for_change(
    sched: _native.Scheduler, seq: int, deadline: float | None, jobs: Iterable[_Job]
) -> None:
    """Waits up to 0.2 s (or to the deadline) for any outcome to change; Ctrl-C cancels `jobs`."""
    for job in jobs:
        job.check_process()
    remaining = 0.2 if deadline is None else deadline - time.monotonic()
    try:
        sched.wait_change(seq, max(remaining, 0.0))
    except KeyboardInterrupt:
        for job in jobs:
            job.native.cancel()
        raise


__all__ = [
    "ALL_COMPLETED",
    "FIRST_COMPLETED",
    "FIRST_EXCEPTION",
    "Future",
    "FutureList",
    "SquallError",
]
