"""squall: a serverless supercomputer for scientists.

``squall.map(fn, items)`` fans calls out to workers and returns futures;
``squall.read_parquet(url)`` and friends build lazy datasets of Arrow record batches. The
embedded default runs local worker processes, with the same code that will run on AWS Lambda.
"""

from ._native import __version__
from .dataset import Dataset, GroupedDataset
from .errors import (
    CancelledError,
    DataError,
    PlanError,
    SquallError,
    StoreError,
    StoreNotFoundError,
    StorePermissionError,
    TaskError,
    TaskTimeoutError,
    TransientError,
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
from .session import (
    Executor,
    Session,
    default_session,
    from_arrow,
    from_items,
    from_pandas,
    map,
    range,
    read_ipc,
    read_parquet,
    submit,
)

__all__ = [
    "ALL_COMPLETED",
    "FIRST_COMPLETED",
    "FIRST_EXCEPTION",
    "CancelledError",
    "DataError",
    "Dataset",
    "DoneAndNotDone",
    "Executor",
    "Future",
    "FutureList",
    "GroupedDataset",
    "PlanError",
    "Session",
    "SquallError",
    "StoreError",
    "StoreNotFoundError",
    "StorePermissionError",
    "TaskError",
    "TaskTimeoutError",
    "TransientError",
    "WorkerLostError",
    "WorkerStartError",
    "__version__",
    "as_completed",
    "default_session",
    "from_arrow",
    "from_items",
    "from_pandas",
    "map",
    "range",
    "read_ipc",
    "read_parquet",
    "submit",
    "wait",
]
