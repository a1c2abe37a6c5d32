"""The Python half of running one task attempt.

The engine (``squall._native.execute_frame``, the same in a worker process, on Lambda and on
the driver's threads) runs each attempt and writes its report; it calls back here only to load
a pickled function, to call it, and to describe an exception.
"""

from __future__ import annotations

import pickle
import threading
import traceback
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

import cloudpickle

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


def call(
    fn: Callable[..., Any], args: bytes, attempt: int = 0
) -> tuple[bool, bytes, dict[str, Any] | None]:
    """Calls ``fn`` with the pickled ``(args, kwargs)`` as attempt ``attempt``; returns
    (returned, body, error): the pickled result, or the pickled exception and its description."""
    _running.attempt = attempt
    try:
        call_args, kwargs = pickle.loads(args)
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
