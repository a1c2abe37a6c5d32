"""Lithops-style futures (see :mod:`squall.compat.lithops`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..futures import Future, own_exception

if TYPE_CHECKING:
    from .lithops import FunctionExecutor


class ResponseFuture:
    """A Lithops-style future: ``done``, ``ready``, ``success``, ``error`` and ``running`` are
    properties; :meth:`result` raises the function's own exception (or returns None with
    ``throw_except=False``). The squall future is :attr:`future`."""

    def __init__(
        self, future: Future, executor: FunctionExecutor, job_id: str, call_id: int
    ) -> None:
        #: The squall future behind it.
        self.future = future
        self._executor = executor
        self.executor_id = executor.executor_id
        self.job_id = job_id
        self.call_id = f"{call_id:05d}"
        self._read = False
        self._produce_output = True

    def __repr__(self) -> str:
        state = "done" if self.done else "running" if self.running else "invoked"
        return f"<squall.compat.lithops.ResponseFuture {self.job_id}/{self.call_id} {state}>"

    @property
    def invoked(self) -> bool:
        return True

    @property
    def running(self) -> bool:
        return self.future.running()

    @property
    def done(self) -> bool:
        return self.future.done()

    @property
    def ready(self) -> bool:
        return self.done and not self.error

    @property
    def success(self) -> bool:
        return self.ready

    @property
    def error(self) -> bool:
        if not self.done:
            return False
        return self.future._wait(0) is not None

    @property
    def futures(self) -> None:
        return None

    def cancel(self) -> bool:
        """Cancels the call if it has not started."""
        return self.future.cancel()

    def cancelled(self) -> bool:
        return self.future.cancelled()

    def status(self, throw_except: bool = True, **_ignored: Any) -> dict[str, Any]:
        """Waits for the call and returns its status (``exception``, timestamps); raises the
        function's exception when it raised and ``throw_except``."""
        failure = self.future._wait(None)
        if failure is not None and throw_except:
            raise own_exception(failure)
        return {"type": "__end__", "exception": failure is not None, **self.stats}

    def result(self, throw_except: bool = True, **_ignored: Any) -> Any:
        """Waits for the call and returns its result.

        Raises:
            Exception: The function's own exception (remote traceback as ``__cause__``),
                unless ``throw_except=False``, which returns None instead.
        """
        failure = self.future._wait(None)
        if failure is not None:
            if throw_except:
                raise own_exception(failure)
            return None
        return self.future.result(0)

    @property
    def stats(self) -> dict[str, Any]:
        """Timestamps (seconds since the epoch) and figures of the call's last attempt."""
        mine = [a for a in self.future._job.native.attempts() if a[0] == self.future._task]
        if not mine:
            return {}
        last = mine[-1]
        queued, started, finished = last[5], last[6], last[7]
        return {
            "host_submit_tstamp": queued,
            "worker_start_tstamp": started,
            "worker_end_tstamp": finished,
            "worker_exec_time": round(finished - started, 8),
            "worker_cold_start": last[3],
            "worker_peak_memory_start": 0,
            "worker_peak_memory_end": last[11][0],
            "worker_id": last[2],
            "attempts": len(mine),
        }


class FuturesList(list[ResponseFuture]):
    """The futures of one call; ``wait()``, ``get_result()``, ``plot()`` and ``clean()`` act on
    them through their executor."""

    def __init__(
        self, futures: Iterable[ResponseFuture], executor: FunctionExecutor | None = None
    ) -> None:
        super().__init__(futures)
        self._executor = executor

    @property
    def executor(self) -> FunctionExecutor:
        if self._executor is None:
            raise ValueError("these futures have no executor (the list is empty)")
        return self._executor

    def wait(self, **kwargs: Any) -> tuple[FuturesList, FuturesList]:
        return self.executor.wait(self, **kwargs)

    def get_result(self, **kwargs: Any) -> Any:
        return self.executor.get_result(self, **kwargs)

    def plot(self, **kwargs: Any) -> Any:
        return self.executor.plot(self, **kwargs)

    def clean(self, **kwargs: Any) -> None:
        self.executor.clean(self, **kwargs)
