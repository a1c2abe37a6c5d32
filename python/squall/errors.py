"""The exceptions squall raises. Every one derives from :class:`SquallError`."""

from __future__ import annotations

import concurrent.futures
import functools
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

_P = ParamSpec("_P")
_R = TypeVar("_R")


class SquallError(Exception):
    """Base class of every error squall raises."""


class TaskError(SquallError):
    """A task's function raised an exception on a worker.

    The message names the task and its input and carries the remote traceback. The original
    exception is ``__cause__`` (and :attr:`original`) when it could be unpickled. Such errors are
    not retried: a function that raised once would raise again.

    Attributes:
        task: Index of the task within its job.
        input_repr: ``repr`` of the task's input, shortened.
        error_type: Qualified name of the remote exception's type.
        remote_traceback: The traceback formatted on the worker.
        original: The remote exception, or None when it could not be unpickled.
    """

    def __init__(
        self,
        message: str,
        *,
        task: int | None = None,
        input_repr: str = "",
        error_type: str = "",
        remote_traceback: str = "",
        original: BaseException | None = None,
    ) -> None:
        super().__init__(message)
        self.task = task
        self.input_repr = input_repr
        self.error_type = error_type
        self.remote_traceback = remote_traceback
        self.original = original
        if original is not None:
            self.__cause__ = original

    def __reduce__(self) -> tuple[Any, ...]:
        kwargs = {
            "task": self.task,
            "input_repr": self.input_repr,
            "error_type": self.error_type,
            "remote_traceback": self.remote_traceback,
        }
        return (_rebuild_task_error, (str(self), kwargs))


def _rebuild_task_error(message: str, kwargs: dict[str, Any]) -> TaskError:
    return TaskError(message, **kwargs)


class RemoteTraceback(Exception):
    """The traceback of an exception raised in a task, formatted on the worker: the
    ``__cause__`` of that exception when squall gives it back, so that printing it shows where
    it was raised."""

    def __init__(self, traceback: str) -> None:
        super().__init__(traceback)
        self.traceback = traceback

    def __str__(self) -> str:
        return "\n" + self.traceback.rstrip()


class WorkerLostError(SquallError):
    """A task's worker died (crash, ``os._exit``, killed, out of memory) on every attempt."""


class TaskTimeoutError(SquallError, TimeoutError):
    """A task ran past its ``timeout`` on every attempt; each attempt's worker was killed."""


class WorkerStartError(SquallError):
    """No worker process could be started (e.g. squall is not importable by its interpreter)."""


class InputError(SquallError):
    """A task did not run (or could not use an argument) because a future passed to it as an
    argument failed: the message names the task where the failure began and how it failed."""


class CancelledError(SquallError, concurrent.futures.CancelledError):
    """The task was cancelled (``cancel()``, Ctrl-C or a closed session) before it finished."""


class StoreError(SquallError):
    """Reading or writing a store (memory://, file://, s3://) failed."""


class TransientError(StoreError):
    """The store was throttled or failing (503 SlowDown, 5xx, timeouts) even after retries
    with backoff; trying again later may succeed."""


class StoreNotFoundError(StoreError, FileNotFoundError):
    """No object exists at the URL (or no object matches the prefix or glob)."""


class StorePermissionError(StoreError, PermissionError):
    """The store refused access to the URL."""


class DataError(SquallError, ValueError):
    """Data could not be read, converted or written: corrupt files, missing columns,
    mismatched schemas."""


class CommitConflict(SquallError):
    """Another job published a write of the same dataset while this one ran. This job's files
    were removed and the dataset is as the other job left it; run the write again."""


class PlanError(SquallError, ValueError):
    """A dataset operation that cannot run as asked (e.g. selecting a column twice)."""


def user_facing(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """Raises squall's errors from the public call itself, so that a traceback ends at the
    caller's line and the error, not in squall's internals (as polars and pandas show them).
    What caused the error stays in its ``__cause__``."""

    @functools.wraps(fn)
    def call(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return fn(*args, **kwargs)
        except SquallError as error:
            raise error.with_traceback(None)  # noqa: B904 (the error itself, not a new one)

    return call
