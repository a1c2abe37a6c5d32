"""squall: a serverless supercomputer for scientists.

``squall.map(fn, items)`` fans calls out to workers and returns futures;
``squall.read_parquet(url)`` and friends build lazy datasets of Arrow record batches. The
embedded default runs local worker processes, with the same code that will run on AWS Lambda.
"""

from typing import TYPE_CHECKING, Any

from ._default import (
    clean,
    default_session,
    from_arrow,
    from_items,
    from_pandas,
    last_job,
    map,
    map_async,
    range,
    read_ipc,
    read_parquet,
    submit,
)
from ._native import __version__
from ._waiting import DoneAndNotDone, as_completed, wait
from .aws import deploy
from .errors import (
    CancelledError,
    CommitConflict,
    DataError,
    InputError,
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
from .executor import SessionExecutor, as_completed_async
from .expr import Expr, col, lit
from .fleet import FleetModel, Speculation, StoreModel
from .futures import (
    ALL_COMPLETED,
    FIRST_COMPLETED,
    FIRST_EXCEPTION,
    Future,
    FutureList,
)
from .jobs import Cost, JobRecord
from .model import Estimate, StageEstimate, synthetic
from .session import Executor, Session

if TYPE_CHECKING:
    from .dataset import Dataset, GroupedDataset


def __getattr__(name: str) -> Any:
    # Datasets need pyarrow, slow to import: workers and map-only users never pay for it.
    if name in ("Dataset", "GroupedDataset"):
        from . import dataset

        return getattr(dataset, name)
    raise AttributeError(f"module 'squall' has no attribute {name!r}")


__all__ = [
    "ALL_COMPLETED",
    "FIRST_COMPLETED",
    "FIRST_EXCEPTION",
    "CancelledError",
    "CommitConflict",
    "Cost",
    "DataError",
    "Dataset",
    "DoneAndNotDone",
    "Estimate",
    "Executor",
    "Expr",
    "FleetModel",
    "Future",
    "FutureList",
    "GroupedDataset",
    "InputError",
    "JobRecord",
    "PlanError",
    "Session",
    "SessionExecutor",
    "Speculation",
    "SquallError",
    "StageEstimate",
    "StoreError",
    "StoreModel",
    "StoreNotFoundError",
    "StorePermissionError",
    "TaskError",
    "TaskTimeoutError",
    "TransientError",
    "WorkerLostError",
    "WorkerStartError",
    "__version__",
    "as_completed",
    "as_completed_async",
    "clean",
    "col",
    "default_session",
    "deploy",
    "from_arrow",
    "from_items",
    "from_pandas",
    "last_job",
    "lit",
    "map",
    "map_async",
    "range",
    "read_ipc",
    "read_parquet",
    "submit",
    "synthetic",
    "wait",
]
