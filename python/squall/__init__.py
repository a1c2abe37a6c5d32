"""squall: a serverless supercomputer for scientists.

``squall.map(fn, items)`` fans calls out to workers and returns futures; the embedded default
runs local worker processes, with the same code that will run on AWS Lambda.
"""

from ._native import __version__
from .errors import (
    CancelledError,
    SquallError,
    TaskError,
    TaskTimeoutError,
    WorkerLostError,
    WorkerStartError,
)
from .futures import (
    ALL_COMPLETED,
    FIRST_COMPLETED,
    FIRST_EXCEPTION,
    DoneAndNotDone,
    Future,
    FutureList,
    as_completed,
    wait,
)
from .session import Executor, Session, default_session, map, submit

__all__ = [
    "ALL_COMPLETED",
    "FIRST_COMPLETED",
    "FIRST_EXCEPTION",
    "CancelledError",
    "DoneAndNotDone",
    "Executor",
    "Future",
    "FutureList",
    "Session",
    "SquallError",
    "TaskError",
    "TaskTimeoutError",
    "WorkerLostError",
    "WorkerStartError",
    "__version__",
    "as_completed",
    "default_session",
    "map",
    "submit",
    "wait",
]
