"""How a call travels to a worker: its function and arguments pickled with cloudpickle, each
squall future among the arguments (at any depth) written as a reference to its task, which the
worker replaces by the task's result (``squall._task``)."""

from __future__ import annotations

import io
import pickle
from collections.abc import Callable
from typing import Any

import cloudpickle

from . import _native
from ._task import INPUT_TAG
from .errors import InputError, SquallError
from .futures import Future, FutureInArguments


def pickle_calls(
    scheduler: _native.Scheduler,
    fn: Callable[..., Any],
    calls: list[tuple[tuple[Any, ...], dict[str, Any]]],
    label: str,
) -> tuple[bytes, list[bytes], list[list[tuple[int, int]]]]:
    """``fn`` and each call's arguments, pickled for a worker, and each call's inputs (the
    tasks whose futures its arguments hold)."""
    try:
        func = cloudpickle.dumps(fn)
    except Exception as exc:
        raise TypeError(f"{label}: the function cannot be pickled: {exc}") from exc
    inputs: list[bytes] = []
    refs: list[list[tuple[int, int]]] = []
    for i, call in enumerate(calls):
        try:
            try:
                inputs.append(cloudpickle.dumps(call))
                refs.append([])
            except FutureInArguments:  # rare: pay for a reference check only here
                pickler = _ArgumentPickler(scheduler)
                inputs.append(pickler.dumps(call))
                refs.append(pickler.refs)
        except SquallError:
            raise
        except Exception as exc:
            raise TypeError(f"{label}: input {i} cannot be pickled: {exc}") from exc
    return func, inputs, refs


class _ArgumentPickler(cloudpickle.Pickler):  # type: ignore[misc]
    """Pickles a call's arguments, writing each squall future among them (at any depth) as a
    reference to its task, which the worker replaces by the task's result."""

    def __init__(self, scheduler: _native.Scheduler) -> None:
        self.buffer = io.BytesIO()
        super().__init__(self.buffer, protocol=pickle.HIGHEST_PROTOCOL)
        self.scheduler = scheduler
        #: The tasks referred to, in the order the references number them.
        self.refs: list[tuple[int, int]] = []
        self.index: dict[tuple[int, int], int] = {}

    def dumps(self, obj: Any) -> bytes:
        self.dump(obj)
        return self.buffer.getvalue()

    def persistent_id(self, obj: Any) -> Any:
        if not isinstance(obj, Future):
            return None
        job = obj._job
        if job.scheduler is not self.scheduler:
            raise InputError(
                f"{obj!r} belongs to another session: pass futures only to the session that "
                "made them (or pass their .result())"
            )
        key = (job.native.id, obj._task)
        if key not in self.index:
            self.index[key] = len(self.refs)
            self.refs.append(key)
        return (INPUT_TAG, self.index[key], obj._slot)
