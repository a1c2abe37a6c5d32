"""Datasets' sources: files in a store (read_parquet, read_ipc) and tables in memory
(from_arrow, from_items, range), each a scan plan of input files."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from . import _native
from .dataset import Dataset

if TYPE_CHECKING:
    from .session import Session


# An input file as a scan takes it: url, format, size, and the (column, value) pairs of its
# `column=value` directories.
ScanInput = tuple[str, str, int, list[tuple[str, str | None]]]


def _scan(session: Session, urls: str | Sequence[str], format: str) -> Dataset:
    sources = [urls] if isinstance(urls, str) else list(urls)
    if not sources:
        raise ValueError(f"read_{format}() needs at least one URL")
    found: list[ScanInput] = []
    for source in sources:
        found.extend((url, format, size, path) for url, size, path in _native.resolve(source))
    label = sources[0] if len(sources) == 1 else f"{len(sources)} locations"
    plan = _native.Plan.scan(
        found, label, session.target_partition_bytes, session.workers, session.budget
    )
    return Dataset(session, plan, ())


def read_parquet_in(session: Session, urls: str | Sequence[str]) -> Dataset:
    return _scan(session, urls, "parquet")


def read_ipc_in(session: Session, urls: str | Sequence[str]) -> Dataset:
    return _scan(session, urls, "ipc")


def from_arrow_in(session: Session, table: pa.Table, num_partitions: int | None) -> Dataset:
    if isinstance(table, pa.RecordBatch):
        table = pa.Table.from_batches([table])
    if not isinstance(table, pa.Table):
        raise TypeError(f"from_arrow() takes a pyarrow.Table, got {type(table).__qualname__}")
    n = num_partitions or max(1, min(session.workers * 2, table.num_rows // 100_000 + 1))
    if n < 1:
        raise ValueError(f"num_partitions={num_partitions}: use 1 or more")
    prefix = f"{session._scratch()}/table-{uuid.uuid4().hex}"
    step = -(-table.num_rows // n) if table.num_rows else 0
    inputs: list[ScanInput] = []
    for i in range(n):
        part = table.slice(i * step, step) if step else table.slice(0, 0)
        url = f"{prefix}/part-{i:05}.arrow"
        size = _native.write_table(part, url, "ipc")
        inputs.append((url, "ipc", size, []))
    # Arrow IPC parts, already cut to size: none is split.
    plan = _native.Plan.scan(
        inputs, "an in-memory table", session.target_partition_bytes, n, session.budget
    )
    return Dataset(session, plan, ())


def from_items_in(
    session: Session, items: Iterable[dict[str, Any]], num_partitions: int | None
) -> Dataset:
    return from_arrow_in(session, pa.Table.from_pylist(list(items)), num_partitions)


def range_in(session: Session, n: int, num_partitions: int | None) -> Dataset:
    return from_arrow_in(session, pa.table({"id": pa.array(range(n), pa.int64())}), num_partitions)
