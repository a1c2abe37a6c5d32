"""Type stub of the compiled module ``squall._native`` (rust/squall-python)."""

from os import PathLike
from typing import final

__all__ = ["Job", "Outcome", "Scheduler", "__version__"]

__version__: str

@final
class Scheduler:
    """A scheduler over a pool of local worker processes."""

    def __new__(
        cls,
        python: str | PathLike[str],
        workers: int,
        env: list[tuple[str, str]],
        startup_timeout: float = 60.0,
    ) -> Scheduler: ...
    @property
    def workers(self) -> int:
        """Number of worker processes."""
    def submit(
        self,
        func_hash: str,
        func: bytes,
        inputs: list[bytes],
        timeout: float | None,
        retries: int,
    ) -> Job:
        """Queues one task per input; returns the job at once."""
    def seq(self) -> int:
        """The change counter of the outcome board."""
    def wait_change(self, seq: int, timeout: float) -> int:
        """Waits (GIL released, at most 0.2 s) until the counter passes ``seq``."""
    def close(self) -> None:
        """Cancels every job and stops the workers."""

@final
class Job:
    """A submitted job: one task per input."""

    @property
    def id(self) -> int:
        """The job's id within its scheduler."""
    def __len__(self) -> int: ...
    def progress(self) -> tuple[int, int, int, int, int, int]:
        """(total, succeeded, failed, cancelled, running, retried)."""
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
    def cancel(self) -> None:
        """Cancels the job: queued tasks never start, running attempts are stopped."""
    def cancel_task(self, task: int) -> bool:
        """Cancels one queued task; False if it already runs or finished."""

@final
class Outcome:
    """The final outcome of one task."""

    @property
    def kind(self) -> str:
        """ "returned", "raised", "lost", "timeout", "spawn" or "cancelled"."""
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
    def started(self) -> float:
        """Start of the call on the worker, seconds since the epoch."""
    @property
    def finished(self) -> float:
        """End of the call on the worker, seconds since the epoch."""
