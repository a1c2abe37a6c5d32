"""Running one task attempt: the code every backend shares.

:func:`execute_task` is called by the local worker loop (``squall._worker``) and, later, by the
Lambda handler, so a task behaves the same wherever it runs.
"""

from __future__ import annotations

import json
import pickle
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any, cast

import cloudpickle

from . import _native

_IO_FIELDS = ("puts", "gets", "lists", "deletes", "bytes_read", "bytes_written")
_functions: dict[str, Callable[..., Any]] = {}
# Per thread: a session runs its engine's tasks on several threads of the driver at once.
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


def _load_function(spec: dict[str, Any], payload: memoryview) -> Callable[..., Any]:
    fn = _functions.get(spec["func"])
    if fn is not None:
        return fn
    if not spec["func_len"]:
        raise RuntimeError(f"function {spec['func']} was neither sent nor cached on this worker")
    try:
        fn = cast(Callable[..., Any], cloudpickle.loads(payload[: spec["func_len"]]))
    except Exception as exc:
        raise RuntimeError(
            f"could not load the task's function on the worker ({type(exc).__name__}: {exc}); "
            "modules it refers to must be importable by the worker's Python"
        ) from exc
    _functions[spec["func"]] = fn
    return fn


def execute_task(spec: dict[str, Any], payload: bytes) -> tuple[dict[str, Any], bytes]:
    """Runs one task attempt and returns its report and body.

    Args:
        spec: The task spec (``job``, ``task``, ``attempt``, ``func``, ``func_len``).
        payload: ``func_len`` bytes of pickled function, then the pickled ``(args, kwargs)``.

    Returns:
        The report (``task``, ``ok``, ``error``, ``started``, ``finished``, ``io``: the attempt's
        store requests and bytes) and the pickled result, or the pickled exception when the
        function raised.
    """
    started = time.time()
    io_before = _native.io_counts()
    _running.attempt = spec.get("attempt", 0)
    view = memoryview(payload)
    try:
        fn = _load_function(spec, view)
        args, kwargs = pickle.loads(view[spec["func_len"] :])
        result = fn(*args, **kwargs)
        try:
            body = cloudpickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            raise TypeError(
                f"the task's result of type {type(result).__qualname__} cannot be pickled: {exc}"
            ) from exc
    except BaseException as exc:  # everything user code raises is reported, SystemExit included
        error = describe_error(exc)
        body = error.pop("exception")
        report = {"task": spec["task"], "ok": False, "error": error}
        return report | _timings(started, io_before), body
    return {"task": spec["task"], "ok": True} | _timings(started, io_before), body


def execute_frame(header: bytes, payload: bytes) -> tuple[bytes, bytes]:
    """:func:`execute_task` on a JSON task spec; returns the JSON report and the body."""
    report, body = execute_task(json.loads(header), payload)
    return json.dumps(report).encode(), body


def _timings(started: float, io_before: tuple[int, ...]) -> dict[str, Any]:
    io = {k: a - b for k, a, b in zip(_IO_FIELDS, _native.io_counts(), io_before, strict=True)}
    return {"started": started, "finished": time.time(), "io": io}
