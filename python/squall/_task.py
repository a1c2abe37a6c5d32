"""The Python half of running one task attempt.

The engine (``squall._native.execute_frame``, the same in a worker process, on Lambda and on
the driver's threads) runs each attempt and writes its report; it calls back here only to load
a pickled function, to call it, and to describe an exception.
"""

from __future__ import annotations

import io
import pickle
import threading
import traceback
from collections.abc import Callable, Iterable, Sequence
from types import TracebackType
from typing import Any

import cloudpickle

#: How a future passed as an argument is written into the pickled arguments: this tag, the
#: index of its task among the call's inputs, and its item within a chunked task (or None).
INPUT_TAG = "squall.input"

_functions: dict[str, Any] = {}
# Per thread: a session may run tasks on several threads of the driver at once.
_running = threading.local()


def current_attempt() -> int:
    """The attempt number of the task running on this thread (0 for the first)."""
    return getattr(_running, "attempt", 0)


def describe_error(exc: BaseException) -> dict[str, Any]:
    """Type, message, formatted traceback and (when possible) the pickled exception."""
    try:
        pickled = cloudpickle.dumps(exc)
    except Exception:
        pickled = b""
    kind = type(exc)
    return {
        "error_type": f"{kind.__module__}.{kind.__qualname__}",
        "message": str(exc),
        "traceback": "".join(traceback.format_exception(type(exc), exc, _user_frames(exc))),
        "exception": pickled,
    }


def _user_frames(exc: BaseException) -> TracebackType | None:
    """The traceback without squall's own frames at its top."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    return tb


def run_chunk(fn: Callable[[Any], Any], items: Iterable[Any]) -> list[tuple[bool, Any]]:
    """Calls ``fn`` on each item; returns ``(True, result)`` or ``(False, describe_error(...))``."""
    out: list[tuple[bool, Any]] = []
    for item in items:
        try:
            out.append((True, fn(item)))
        except Exception as exc:
            out.append((False, describe_error(exc)))
    return out


def load_function(digest: str, pickled: bytes | None) -> Any:
    """The pickled function ``digest``: unpickled from ``pickled``, or held from an earlier task
    of this process. For a dataset stage it is the list of the plan's functions."""
    fn = _functions.get(digest)
    if fn is not None:
        return fn
    if not pickled:
        raise RuntimeError(f"function {digest} was neither sent nor held by this worker")
    try:
        fn = cloudpickle.loads(pickled)
    except Exception as exc:
        raise RuntimeError(
            f"could not load the task's function on the worker ({type(exc).__name__}: {exc}); "
            "modules it refers to must be importable by the worker's Python"
        ) from exc
    _functions[digest] = fn
    return fn


class _ArgumentUnpickler(pickle.Unpickler):
    """Unpickles a call's arguments, putting in place of each future the result of its task
    (``inputs``: the pickled results, in the order the arguments refer to them)."""

    def __init__(self, data: bytes, inputs: Sequence[bytes]) -> None:
        super().__init__(io.BytesIO(data))
        self.inputs = inputs
        self.values: dict[int, Any] = {}

    def persistent_load(self, pid: Any) -> Any:
        tag, index, item = pid
        if tag != INPUT_TAG:
            raise pickle.UnpicklingError(f"unknown reference {pid!r} in the task's arguments")
        if index not in self.values:
            self.values[index] = pickle.loads(self.inputs[index])
        value = self.values[index]
        if item is None:
            return value
        returned, result = value[item]
        if not returned:  # an item of a chunked map that raised
            from .errors import InputError

            raise InputError(
                f"argument {index} is item {item} of a chunked task, which raised "
                f"{result['error_type'].removeprefix('builtins.')}: {result['message']}"
            )
        return result


def call(
    fn: Callable[..., Any], args: bytes, attempt: int = 0, inputs: Sequence[bytes] = ()
) -> tuple[bool, bytes, dict[str, Any] | None]:
    """Calls ``fn`` with the pickled ``(args, kwargs)`` as attempt ``attempt``, the futures
    among them replaced by ``inputs``; returns (returned, body, error): the pickled result, or
    the pickled exception and its description."""
    _running.attempt = attempt
    try:
        unpickler = _ArgumentUnpickler(args, inputs) if inputs else None
        call_args, kwargs = unpickler.load() if unpickler else pickle.loads(args)
        result = fn(*call_args, **kwargs)
        try:
            return True, cloudpickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL), None
        except Exception as exc:
            raise TypeError(
                f"the task's result of type {type(result).__qualname__} cannot be pickled: {exc}"
            ) from exc
    except BaseException as exc:  # everything user code raises is reported, SystemExit included
        error = describe_error(exc)
        return False, error.pop("exception"), error
