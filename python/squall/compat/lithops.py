"""Lithops' executor API on squall, for code written for Lithops.

``import squall.compat.lithops as lithops`` and keep ``lithops.FunctionExecutor()``,
``call_async``, ``map``, ``map_reduce``, ``wait``, ``get_result``, ``plot``, ``clean``,
``job_summary``, the futures' ``status()``/``result()``/``done``/``error``/``stats``, and
``lithops.Storage``. Calls run on a :class:`squall.Session` (``backend="localhost"``: local
worker processes; ``"aws_lambda"``: squall's Lambda function, see :func:`squall.deploy`).

Not supported, and why:

- Functions that return futures (spawning calls from inside a call): a task cannot start
  work on the driver's session.
- ``RetryingFunctionExecutor``: squall retries lost workers, timeouts and crashed functions
  itself (``retries``); exceptions your function raises are never retried.
- The ``url`` parameter (HTTP inputs), ``obj_reduce_by_key`` over HTTP, ``match_pattern``;
  ``runtime``, ``include_modules``/``exclude_modules`` and per-call ``runtime_memory``
  (squall deploys one function with cloudpickle) are accepted and have no effect.
- ``map_reduce`` starts its reducer once every map call finished (``spawn_reducer`` and
  ``reducer_wait_local`` change nothing) and hands it their results through the driver.
- ``FuturesList`` as ``map`` input waits for those futures and passes their results.
"""

from __future__ import annotations

import inspect
import math
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from .._waiting import as_completed
from ..futures import FutureList, own_exception
from ..jobs import JobRecord
from ..session import Session
from .lithops_args import Call, bind_all, inputs_of, with_extra, with_results
from .lithops_futures import FuturesList, ResponseFuture
from .lithops_storage import (
    CloudObject,
    DataObject,
    Storage,
    cloudobjects_prefix,
    partitions,
)

ALWAYS = 0
ANY_COMPLETED = -1
ALL_COMPLETED = 100

_BACKENDS = {
    "localhost": "local",
    "local": "local",
    "aws_lambda": "lambda",
    "lambda": "lambda",
    "simulated": "simulated",
}


class FunctionExecutor:
    """Lithops' ``FunctionExecutor`` on a squall session.

    Args:
        backend: ``"localhost"`` (default), ``"aws_lambda"`` or ``"simulated"``; ``mode``
            ``"serverless"`` means ``"aws_lambda"``.
        config: A Lithops configuration dict; squall reads ``lithops.backend``,
            ``lithops.storage`` and ``lithops.storage_bucket`` from it.
        storage: ``"localhost"`` or ``"aws_s3"`` for :class:`Storage` (default: by backend).
        max_workers: Calls in flight at once.
        runtime_memory: The Lambda function's memory in MB, for cost estimates.
        session: A squall session to run on instead of one of the executor's own.
        storage_root: Where :class:`Storage` keeps buckets (see its ``root``).

    Example:
        >>> fexec = lithops.FunctionExecutor()
        >>> fexec.map(lambda x, y: x + y, [(1, 2), (3, 4)])
        >>> fexec.get_result()
        [3, 7]
    """

    def __init__(
        self,
        mode: str | None = None,
        config: dict[str, Any] | None = None,
        backend: str | None = None,
        storage: str | None = None,
        runtime: str | None = None,
        runtime_memory: int | None = None,
        monitoring: str | None = None,
        max_workers: int | None = None,
        worker_processes: int | None = None,
        remote_invoker: bool | None = None,
        log_level: Any = None,
        *,
        session: Session | None = None,
        storage_root: str | None = None,
    ) -> None:
        lithops = (config or {}).get("lithops", {})
        if mode == "standalone":
            raise ValueError("mode='standalone' (virtual machines) is not available in squall")
        if mode == "serverless" and backend is None:
            backend = "aws_lambda"
        backend = backend or lithops.get("backend") or "localhost"
        if session is None:
            if backend not in _BACKENDS:
                raise ValueError(
                    f"backend={backend!r} is not available in squall: use 'localhost', "
                    "'aws_lambda' or 'simulated'"
                )
            session = Session(_BACKENDS[backend], workers=max_workers, memory_mb=runtime_memory)
            self._owns_session = True
        else:
            self._owns_session = False
        self.session = session
        self.executor_id = uuid.uuid4().hex[:10]
        default_storage = "aws_s3" if session.backend == "lambda" else "localhost"
        self.storage = Storage(
            config,
            backend=storage or lithops.get("storage") or default_storage,
            root=storage_root,
            executor_id=self.executor_id,
        )
        #: Every future this executor made, in order.
        self.futures: list[ResponseFuture] = []
        self.last_call: str | None = None
        self._jobs = 0
        self._records: dict[str, JobRecord] = {}

    def __enter__(self) -> FunctionExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._owns_session:
            self.session.close()

    def _job_id(self, kind: str) -> str:
        self._jobs += 1
        return f"{kind}{self._jobs - 1:03d}"

    def call_async(
        self,
        func: Callable[..., Any],
        data: Any = (),
        extra_env: dict[str, str] | None = None,
        runtime_memory: int | None = None,
        timeout: float | None = None,
        include_modules: list[str] | None = None,
        exclude_modules: list[str] | None = None,
    ) -> ResponseFuture:
        """Runs one call: ``data`` is a value, a tuple of arguments or a dict of keyword
        arguments."""
        futures = self._run(func, [data], "A", None, None, extra_env, timeout, None, None, None)
        self.last_call = "call_async"
        return futures[0]

    def map(
        self,
        map_function: Callable[..., Any],
        map_iterdata: Any,
        chunksize: int | None = None,
        extra_args: Any = None,
        extra_env: dict[str, str] | None = None,
        runtime_memory: int | None = None,
        obj_chunk_size: int | None = None,
        obj_chunk_number: int | None = None,
        obj_newline: str | None = "\n",
        timeout: float | None = None,
        include_modules: list[str] | None = None,
        exclude_modules: list[str] | None = None,
    ) -> FuturesList:
        """One call per item of ``map_iterdata`` (values, tuples of arguments, dicts of keyword
        arguments); ``extra_args`` is added to each. A function with an ``obj`` parameter given
        ``"bucket/key"``, ``"bucket/prefix/"`` or a URL gets one call per chunk of each object
        (``obj_chunk_size`` bytes or ``obj_chunk_number`` chunks, whole lines)."""
        futures = self._run(
            map_function,
            inputs_of(map_iterdata),
            "M",
            chunksize,
            extra_args,
            extra_env,
            timeout,
            obj_chunk_size,
            obj_chunk_number,
            obj_newline,
        )
        self.last_call = "map"
        return futures

    def map_reduce(
        self,
        map_function: Callable[..., Any],
        map_iterdata: Any,
        reduce_function: Callable[..., Any],
        chunksize: int | None = None,
        extra_args: Any = None,
        extra_args_reduce: Any = None,
        extra_env: dict[str, str] | None = None,
        map_runtime_memory: int | None = None,
        reduce_runtime_memory: int | None = None,
        timeout: float | None = None,
        obj_chunk_size: int | None = None,
        obj_chunk_number: int | None = None,
        obj_newline: str | None = "\n",
        obj_reduce_by_key: bool = False,
        spawn_reducer: int = 20,
        include_modules: list[str] | None = None,
        exclude_modules: list[str] | None = None,
        reducer_wait_local: bool = False,
    ) -> FuturesList:
        """Maps, then calls ``reduce_function(results)`` on the map results (one reducer per
        object with ``obj_reduce_by_key``); ``get_result()`` gives the reducer's result."""
        maps = self.map(
            map_function,
            map_iterdata,
            chunksize,
            extra_args,
            extra_env,
            obj_chunk_size=obj_chunk_size,
            obj_chunk_number=obj_chunk_number,
            obj_newline=obj_newline,
            timeout=timeout,
        )
        self.wait(maps, throw_except=True)
        groups: dict[str, list[Any]] = {}
        for f in maps:
            obj = f.future._input[1].get("obj") if obj_reduce_by_key else None
            key = obj.key if isinstance(obj, DataObject) else ""
            groups.setdefault(key, []).append(f.result())
            f._produce_output = False
            f._read = True
        items = [
            with_results(reduce_function, results, extra_args_reduce) for results in groups.values()
        ]
        reducers = self._run(
            reduce_function, items, "R", None, None, extra_env, timeout, None, None, None
        )
        self.last_call = "map_reduce"
        return FuturesList([*maps, *reducers], self)

    def _run(
        self,
        fn: Callable[..., Any],
        items: list[Any],
        kind: str,
        chunksize: int | None,
        extra_args: Any,
        extra_env: dict[str, str] | None,
        timeout: float | None,
        obj_chunk_size: int | None,
        obj_chunk_number: int | None,
        obj_newline: str | None,
    ) -> FuturesList:
        calls = bind_all(fn, with_extra(items, extra_args))
        calls = self._expand_objects(fn, calls, obj_chunk_size, obj_chunk_number, obj_newline)
        self._inject(fn, calls)
        job_id = self._job_id(kind)
        inner = self.session.map(
            Call(fn, extra_env), calls, chunksize=chunksize or 1, timeout=timeout
        )
        if inner.job is not None:
            self._records[job_id] = inner.job
        futures = FuturesList(
            (ResponseFuture(f, self, job_id, i) for i, f in enumerate(inner)), self
        )
        self.futures.extend(futures)
        return futures

    def _expand_objects(
        self,
        fn: Callable[..., Any],
        calls: list[tuple[tuple[Any, ...], dict[str, Any]]],
        chunk_size: int | None,
        chunk_number: int | None,
        newline: str | None,
    ) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
        if "obj" not in inspect.signature(fn).parameters:
            return calls
        out = []
        for args, kwargs in calls:
            where = kwargs.get("obj")
            if not isinstance(where, str):
                out.append((args, kwargs))
                continue
            for part in partitions(self.storage, where, chunk_size, chunk_number, newline):
                out.append((args, {**kwargs, "obj": part}))
        return out

    def _inject(
        self, fn: Callable[..., Any], calls: list[tuple[tuple[Any, ...], dict[str, Any]]]
    ) -> None:
        params = inspect.signature(fn).parameters
        for i, (_, kwargs) in enumerate(calls):
            if "id" in params:
                kwargs["id"] = i
            if "storage" in params:
                kwargs["storage"] = self.storage

    def wait(
        self,
        fs: ResponseFuture | Iterable[ResponseFuture] | None = None,
        throw_except: bool = True,
        return_when: int = ALL_COMPLETED,
        download_results: bool = False,
        timeout: float | None = None,
        threadpool_size: int = 64,
        wait_dur_sec: float | None = None,
        show_progressbar: bool = True,
    ) -> tuple[FuturesList, FuturesList]:
        """Waits for ``fs`` (default: every future of this executor) until ``return_when``:
        ``ALL_COMPLETED``, ``ANY_COMPLETED``, ``ALWAYS`` (no wait) or a percentage of them;
        returns (done, not done).

        Raises:
            TimeoutError: ``timeout`` seconds passed first.
            Exception: A finished call's own exception, with ``throw_except``.
        """
        futures = self._listed(fs)
        need = _needed(return_when, len(futures))
        inner = [f.future for f in futures]
        if need >= len(futures) and futures:
            jobs = list({id(f._job): f._job for f in inner}.values())
            if not FutureList(inner, jobs, show_progressbar).wait(timeout):
                raise _timeout(timeout, sum(not f.done() for f in inner), len(inner))
        elif need > 0:
            finished = sum(f.done() for f in inner)
            try:
                for _ in as_completed([f for f in inner if not f.done()], timeout):
                    finished += 1
                    if finished >= need:
                        break
            except TimeoutError:
                raise _timeout(timeout, len(inner) - finished, len(inner)) from None
        if throw_except:
            for f in futures:
                failure = f.future._wait(0) if f.done else None
                if failure is not None:
                    raise own_exception(failure)
        done = FuturesList([f for f in futures if f.done], self)
        return done, FuturesList([f for f in futures if not f.done], self)

    def get_result(
        self,
        fs: ResponseFuture | Iterable[ResponseFuture] | None = None,
        throw_except: bool = True,
        timeout: float | None = None,
        threadpool_size: int = 128,
        wait_dur_sec: float | None = None,
        show_progressbar: bool = True,
    ) -> Any:
        """Results of ``fs``, in order (default: of every future not yet collected); one
        result alone unless the last call was ``map``. Failed calls raise their exception, or
        give None with ``throw_except=False``."""
        explicit = fs is not None
        if explicit:
            futures = self._listed(fs)
        else:
            futures = [f for f in self.futures if not f._read and f._produce_output]
        self.wait(
            futures, throw_except=throw_except, timeout=timeout, show_progressbar=show_progressbar
        )
        results = []
        for f in futures:
            if not f._produce_output:
                continue
            results.append(f.result(throw_except=throw_except))
            if not explicit:
                f._read = True
        if len(results) == 1 and self.last_call != "map":
            return results[0]
        return results

    def _listed(self, fs: ResponseFuture | Iterable[ResponseFuture] | None) -> list[ResponseFuture]:
        if fs is None:
            return list(self.futures)
        if isinstance(fs, ResponseFuture):
            return [fs]
        return list(fs)

    def plot(
        self,
        fs: Iterable[ResponseFuture] | None = None,
        dst: str | None = None,
        figsize: tuple[float, float] = (10, 6),
    ) -> list[Any]:
        """Draws the timeline of each job of ``fs`` (default: every job of this executor);
        with ``dst``, saves them as ``<dst>_<job>_timeline.png``. Returns the figures."""
        wanted = None if fs is None else {f.job_id for f in self._listed(fs)}
        figures = []
        for job_id, record in self._records.items():
            if wanted is not None and job_id not in wanted:
                continue
            path = f"{dst}_{job_id}_timeline.png" if dst else None
            figure = record.timeline(path)
            figure.set_size_inches(*figsize)
            figures.append(figure)
        return figures

    def clean(
        self,
        fs: Iterable[ResponseFuture] | None = None,
        cs: list[CloudObject] | None = None,
        clean_cloudobjects: bool = True,
        clean_fn: bool = False,
        force: bool = False,
    ) -> None:
        """Deletes the cloud objects ``cs`` and, with ``clean_cloudobjects``, every cloud object
        put without a key through this executor's storage (in tasks too)."""
        if cs:
            self.storage.delete_cloudobjects(cs)
        if clean_cloudobjects:
            prefix = cloudobjects_prefix(self.executor_id)
            self.storage._delete_prefix(self.storage.bucket, prefix)

    def job_summary(self, cloud_objects_n: int = 0) -> str:
        """The summaries of this executor's jobs (squall's ``JobRecord.summary()``)."""
        return "\n".join(str(r.summary()) for r in self._records.values())


def _needed(return_when: int, n: int) -> int:
    if return_when == ALWAYS:
        return 0
    if return_when == ANY_COMPLETED:
        return min(1, n)
    if not 0 < return_when <= 100:
        raise ValueError(
            f"return_when={return_when!r}: use ALL_COMPLETED, ANY_COMPLETED, ALWAYS or a "
            "percentage of the calls (1-100)"
        )
    return math.ceil(return_when * n / 100)


def _timeout(timeout: float | None, left: int, n: int) -> TimeoutError:
    return TimeoutError(f"{left} of {n} calls did not finish within {timeout} s")


def wait(
    fs: ResponseFuture | Iterable[ResponseFuture],
    throw_except: bool = True,
    return_when: int = ALL_COMPLETED,
    timeout: float | None = None,
    show_progressbar: bool = True,
    **_ignored: Any,
) -> tuple[FuturesList, FuturesList]:
    """``lithops.wait``: :meth:`FunctionExecutor.wait` for futures of any executor."""
    futures = [fs] if isinstance(fs, ResponseFuture) else list(fs)
    if not futures:
        return FuturesList([]), FuturesList([])
    return futures[0]._executor.wait(
        futures,
        throw_except=throw_except,
        return_when=return_when,
        timeout=timeout,
        show_progressbar=show_progressbar,
    )


def get_result(
    fs: ResponseFuture | Iterable[ResponseFuture],
    throw_except: bool = True,
    timeout: float | None = None,
    show_progressbar: bool = True,
    **_ignored: Any,
) -> Any:
    """``lithops.get_result``: the results of ``fs``, in order (one result alone)."""
    futures = [fs] if isinstance(fs, ResponseFuture) else list(fs)
    wait(futures, throw_except=throw_except, timeout=timeout, show_progressbar=show_progressbar)
    results = [f.result(throw_except=throw_except) for f in futures]
    return results[0] if isinstance(fs, ResponseFuture) else results


def LocalhostExecutor(**kwargs: Any) -> FunctionExecutor:
    """A :class:`FunctionExecutor` on local worker processes."""
    return FunctionExecutor(backend="localhost", **kwargs)


def ServerlessExecutor(**kwargs: Any) -> FunctionExecutor:
    """A :class:`FunctionExecutor` on AWS Lambda."""
    kwargs.setdefault("backend", "aws_lambda")
    return FunctionExecutor(**kwargs)


__all__ = [
    "ALL_COMPLETED",
    "ALWAYS",
    "ANY_COMPLETED",
    "CloudObject",
    "FunctionExecutor",
    "FuturesList",
    "LocalhostExecutor",
    "ResponseFuture",
    "ServerlessExecutor",
    "Storage",
    "get_result",
    "wait",
]
