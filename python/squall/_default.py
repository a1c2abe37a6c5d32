"""The module-level functions (``squall.map``, ``squall.read_parquet``, ...): each runs on a
default session, created on first use."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from . import _native
from .fleet import Speculation
from .futures import Future, FutureList
from .jobs import JobRecord
from .session import Session

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from .dataset import Dataset

_default: Session | None = None
_default_lock = threading.Lock()
# Sessions a forked child inherited from its parent: kept, never closed or freed here (their
# workers, threads and scratch data are the parent's).
_inherited: list[Session] = []


def default_session() -> Session:
    """The session the module-level functions use, created on first use (and again in a
    process forked from one that used it: the parent's workers and threads are not the child's).

    Example:
        >>> squall.default_session().close()  # the next call starts a new one
    """
    global _default
    with _default_lock:
        if _default is not None and _default._pid != os.getpid():
            _inherited.append(_default)  # this process was forked after the parent used it
            _default = None
        if _default is None or _default._closed:
            _default = Session()
        return _default


def map(
    fn: Callable[[Any], Any],
    iterable: Iterable[Any],
    *,
    chunksize: int = 1,
    timeout: float | None = None,
    retries: int | None = None,
    progress: bool = True,
    speculation: bool | Speculation = True,
) -> FutureList:
    """Calls ``fn(item)`` for every item on the default session; see :meth:`Session.map`.

    Example:
        >>> squall.map(lambda x: x * x, range(4)).results()
        [0, 1, 4, 9]
    """
    return default_session().map(
        fn,
        iterable,
        chunksize=chunksize,
        timeout=timeout,
        retries=retries,
        progress=progress,
        speculation=speculation,
    )


def submit(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
    """Calls ``fn(*args, **kwargs)`` on the default session; see :meth:`Session.submit`.

    Example:
        >>> squall.submit(pow, 2, 10).result()
        1024
    """
    return default_session().submit(fn, *args, **kwargs)


async def map_async(fn: Callable[[Any], Any], iterable: Iterable[Any], **options: Any) -> list[Any]:
    """Awaits ``fn(item)`` for every item on the default session; see
    :meth:`Session.map_async`.

    Example:
        >>> await squall.map_async(lambda x: x * x, range(4))
        [0, 1, 4, 9]
    """
    return await default_session().map_async(fn, iterable, **options)


def last_job() -> JobRecord | None:
    """The record of the default session's latest map, submit or dataset action: ``.stats``,
    ``.summary()``, ``.timeline()``, ``.cost()``.

    Example:
        >>> squall.map(abs, [-1, 2]).results()
        [1, 2]
        >>> print(squall.last_job().summary())
    """
    return default_session().last_job


def clean(url: str) -> list[str]:
    """Removes what crashed or cancelled jobs left in the dataset directory ``url``: attempts of
    jobs whose process is gone (or, written from another machine, a day old), files that the
    manifest replaced, and part files that no manifest lists and no running job is about to
    publish. Readers never see any of them; this only frees the space. Returns the URLs removed.

    Example:
        >>> squall.clean("s3://lab/events-sorted/")
    """
    return _native.clean(url)


def read_parquet(urls: str | Sequence[str]) -> Dataset:
    """A dataset of Parquet files on the default session; see :meth:`Session.read_parquet`.

    Example:
        >>> ds = squall.read_parquet("s3://lab/events/")
        >>> ds.groupby("station").agg(n=("temp", "count")).collect()
    """
    return default_session().read_parquet(urls)


def read_ipc(urls: str | Sequence[str]) -> Dataset:
    """A dataset of Arrow IPC files on the default session; see :meth:`Session.read_ipc`.

    Example:
        >>> squall.read_ipc("file:///data/frames.arrow").count()
    """
    return default_session().read_ipc(urls)


def from_arrow(table: pa.Table, num_partitions: int | None = None) -> Dataset:
    """A dataset of a pyarrow.Table on the default session; see :meth:`Session.from_arrow`.

    Example:
        >>> squall.from_arrow(pa.table({"x": [3, 1, 2]})).sort("x").collect()["x"].to_pylist()
        [1, 2, 3]
    """
    return default_session().from_arrow(table, num_partitions)


def from_pandas(df: pd.DataFrame, num_partitions: int | None = None) -> Dataset:
    """A dataset of a pandas.DataFrame on the default session.

    Example:
        >>> squall.from_pandas(df).groupby("site").agg(mean=("value", "mean")).to_pandas()
    """
    return default_session().from_pandas(df, num_partitions)


def from_items(items: Iterable[dict[str, Any]], num_partitions: int | None = None) -> Dataset:
    """A dataset of rows given as dicts, on the default session.

    Example:
        >>> squall.from_items([{"id": 1, "v": 2.5}, {"id": 2, "v": 0.5}]).count()
        2
    """
    return default_session().from_items(items, num_partitions)


def range(n: int, num_partitions: int | None = None) -> Dataset:
    """A dataset of the integers 0 .. n-1 (column ``id``) on the default session.

    Example:
        >>> squall.range(10).filter(squall.col("id") > 6).count()
        3
    """
    return default_session().range(n, num_partitions)
