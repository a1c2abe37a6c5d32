"""squall for code written against :mod:`concurrent.futures` and :mod:`asyncio`."""

from __future__ import annotations

import concurrent.futures
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from .futures import Future, FutureList

if TYPE_CHECKING:
    from .session import Session


class _Star:
    """Calls ``fn`` with a tuple's items as its arguments; named after ``fn`` (the job's label
    is ``squall.map(<its name>)``)."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn
        self.__name__ = getattr(fn, "__name__", type(fn).__name__)

    def __call__(self, args: tuple[Any, ...]) -> Any:
        return self.fn(*args)


class SessionExecutor(concurrent.futures.Executor):
    """A :class:`concurrent.futures.Executor` that runs calls on a squall session, for
    libraries and code that take an executor.

    Its :meth:`map` has the standard library's semantics (an iterator of results, ``timeout``
    for them all); :meth:`Session.map` returns futures instead. :meth:`shutdown` stops this
    executor taking work and waits for (or cancels) what it submitted; the session stays open.

    Example:
        >>> with squall.Session().executor() as ex:
        ...     list(ex.map(pow, [2, 3], [5, 2]))
        [32, 9]
    """

    def __init__(self, session: Session) -> None:
        self._session = session
        self._lock = threading.Lock()
        self._shutdown = False
        self._futures: list[Future] = []

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        """Runs ``fn(*args, **kwargs)`` on the session; returns its future.

        Example:
            >>> session.executor().submit(pow, 2, 8).result()
            256
        """
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot schedule new futures after shutdown")
            future = self._session.submit(fn, *args, **kwargs)
            self._futures = [f for f in self._futures if not f.done()]
            self._futures.append(future)
            return future

    def map(
        self,
        fn: Callable[..., Any],
        *iterables: Iterable[Any],
        timeout: float | None = None,
        chunksize: int = 1,
    ) -> Iterator[Any]:
        """Calls ``fn`` on the items of ``iterables`` taken together, as :func:`map` does, on
        the session at once; yields the results in order.

        Args:
            timeout: Seconds, from this call, for all the results; then TimeoutError.
            chunksize: Calls per task.

        Raises:
            TaskError: A call raised (when its result is reached); the rest are cancelled.

        Example:
            >>> list(session.executor().map(pow, [2, 3], [5, 2]))
            [32, 9]
        """
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot schedule new futures after shutdown")
            futures = self._session.map(
                _Star(fn),
                zip(*iterables, strict=False),
                chunksize=chunksize,
                progress=False,
            )
            self._futures.extend(futures)
        deadline = None if timeout is None else time.monotonic() + timeout
        return _results_in_order(futures, deadline)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Takes no more work; cancels the queued calls with ``cancel_futures``; with ``wait``,
        returns when every call this executor submitted has finished.

        Example:
            >>> ex = session.executor()
            >>> futures = [ex.submit(simulate, s) for s in seeds]
            >>> ex.shutdown(cancel_futures=True)
        """
        with self._lock:
            self._shutdown = True
            futures = list(self._futures)
        if cancel_futures:
            for f in futures:
                f.cancel()
        if wait:
            concurrent.futures.wait(futures)


def _results_in_order(futures: FutureList, deadline: float | None) -> Iterator[Any]:
    try:
        for f in futures:
            f_timeout = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            yield f.result(f_timeout)
    finally:
        # Stopped early (an error, a timeout, the caller gave up): nobody wants the rest. As
        # the standard library does, calls already running go on.
        for f in futures:
            f.cancel()


async def map_async(
    session: Session, fn: Callable[[Any], Any], iterable: Iterable[Any], **options: Any
) -> list[Any]:
    """Awaits ``fn(item)`` for every item (as :meth:`Session.map`, with the same options); the
    results in input order. A raising call raises its own exception here (its remote
    traceback as ``__cause__``) and cancels the others; so does cancelling the awaiting task.
    """
    import asyncio

    futures = session.map(fn, iterable, progress=False, **options)
    try:
        return list(await asyncio.gather(*futures))
    except BaseException:
        futures.cancel()
        raise


async def as_completed_async(
    fs: Iterable[Future], timeout: float | None = None
) -> AsyncIterator[Future]:
    """Yields futures as they finish, without blocking the event loop.

    Raises:
        TimeoutError: ``timeout`` seconds passed before all finished.

    Example:
        >>> async for f in squall.as_completed_async(squall.map(simulate, seeds)):
        ...     print(f.result())
    """
    import asyncio

    pending = {asyncio.wrap_future(f): f for f in dict.fromkeys(fs)}
    deadline = None if timeout is None else time.monotonic() + timeout
    while pending:
        left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
        done, _ = await asyncio.wait(pending, timeout=left, return_when=asyncio.FIRST_COMPLETED)
        if not done:  # the tasks go on, as with concurrent.futures.as_completed
            raise TimeoutError(f"{len(pending)} tasks did not finish within {timeout} s")
        for w in done:
            yield pending.pop(w)
