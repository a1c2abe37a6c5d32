"""squall's futures under concurrent.futures and asyncio, checked against the behaviour the
standard library documents (and shows with its own executors as the oracle)."""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import gc
import logging
import threading
import time
import weakref

import pytest

import squall


def square(x: int) -> int:
    return x * x


def sleep_then(seconds: float, value: object) -> object:
    time.sleep(seconds)
    return value


def fail(message: str) -> None:
    raise ValueError(message)


def completer_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "squall-futures"]


def test_a_future_is_a_concurrent_future(session: squall.Session) -> None:
    f = session.submit(square, 4)
    assert isinstance(f, cf.Future)
    assert f.result(timeout=30) == 16
    ref = weakref.ref(f)
    assert ref() is f


def test_stdlib_wait_and_as_completed_take_squall_futures(session: squall.Session) -> None:
    futures = session.map(lambda s: sleep_then(s, s), [0.6, 0.05, 0.3])
    order = [f.result() for f in cf.as_completed(futures, timeout=30)]
    assert order == [0.05, 0.3, 0.6]
    done, not_done = cf.wait(futures, timeout=30)
    assert done == set(futures) and not not_done


def test_stdlib_wait_first_completed_and_first_exception(session: squall.Session) -> None:
    slow = session.submit(sleep_then, 2.0, "slow")
    fast = session.submit(sleep_then, 0.05, "fast")
    done, not_done = cf.wait([slow, fast], timeout=30, return_when=cf.FIRST_COMPLETED)
    assert done == {fast} and not_done == {slow}
    bad = session.submit(fail, "boom")
    done, not_done = cf.wait([slow, bad], timeout=30, return_when=cf.FIRST_EXCEPTION)
    assert bad in done and slow in not_done
    assert slow.result(timeout=30) == "slow"


def test_as_completed_yields_each_future_once_and_times_out(session: squall.Session) -> None:
    f = session.submit(square, 3)
    for waiter in (cf.as_completed, squall.as_completed):
        assert list(waiter([f, f, f], timeout=30)) == [f]
    slow = session.submit(sleep_then, 1.0, "slow")
    for waiter in (cf.as_completed, squall.as_completed):
        with pytest.raises(TimeoutError):
            list(waiter([slow], timeout=0.05))
    assert slow.result(timeout=30) == "slow"


def test_squall_wait_mixes_with_a_thread_pool(session: squall.Session) -> None:
    with cf.ThreadPoolExecutor(1) as pool:
        local = pool.submit(sleep_then, 0.1, "thread")
        remote = session.submit(sleep_then, 0.1, "worker")
        done, not_done = squall.wait([local, remote], timeout=30)
        assert done == {local, remote} and not not_done
        got = {f.result() for f in squall.as_completed([local, remote], timeout=30)}
        assert got == {"thread", "worker"}


def test_exception_is_the_functions_own_and_result_raises_task_error(
    session: squall.Session,
) -> None:
    f = session.submit(fail, "bad input")
    err = f.exception(timeout=30)
    assert type(err) is ValueError and str(err) == "bad input"
    assert isinstance(err.__cause__, squall.errors.RemoteTraceback)
    assert "in fail" in str(err.__cause__) and "raise ValueError(message)" in str(err.__cause__)
    with pytest.raises(squall.TaskError) as info:
        f.result()
    assert info.value.__cause__ is err and info.value.original is err
    # The same object every time, as a concurrent.futures.Future gives.
    assert f.exception() is err


def test_done_callbacks_run_once_and_a_raising_one_is_logged(
    session: squall.Session, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[tuple[cf.Future[object], object]] = []
    event = threading.Event()

    def broken(_: object) -> None:
        raise RuntimeError("callback bug")

    def record(fut: cf.Future[object]) -> None:
        calls.append((fut, fut.result()))
        event.set()

    f = session.submit(sleep_then, 0.2, "v")
    with caplog.at_level(logging.ERROR, logger="concurrent.futures"):
        f.add_done_callback(broken)
        f.add_done_callback(record)
        assert event.wait(30)
        time.sleep(0.1)
    assert calls == [(f, "v")]
    assert "exception calling callback" in caplog.text and "callback bug" in caplog.text
    # Added after the future finished: called at once, in this thread.
    late: list[object] = []
    f.add_done_callback(lambda fut: late.append(threading.current_thread()))
    assert late == [threading.current_thread()]


def test_a_callback_keeps_a_dropped_future_alive_until_it_runs(session: squall.Session) -> None:
    got: list[object] = []
    event = threading.Event()
    f = session.submit(sleep_then, 0.3, "kept")
    f.add_done_callback(lambda fut: (got.append(fut.result()), event.set()))
    del f
    gc.collect()
    assert event.wait(30) and got == ["kept"]


def test_many_futures_complete_under_callbacks(session: squall.Session) -> None:
    futures = session.map(square, range(300), chunksize=7)
    seen: list[int] = []
    lock = threading.Lock()

    def count(fut: cf.Future[int]) -> None:
        with lock:
            seen.append(fut.result())

    for f in futures:
        f.add_done_callback(count)
    _, not_done = cf.wait(futures, timeout=60)
    assert not not_done
    deadline = time.monotonic() + 10
    while len(seen) < 300 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sorted(seen) == sorted(x * x for x in range(300))
    # The completing thread goes away once nothing waits.
    deadline = time.monotonic() + 10
    while completer_threads() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not completer_threads()


def test_cancel_a_queued_task_as_the_stdlib_does(session: squall.Session) -> None:
    futures = session.map(lambda s: sleep_then(s, s), [0.5, 0.5, 0.5])
    time.sleep(0.2)
    called: list[bool] = []
    futures[2].add_done_callback(lambda fut: called.append(fut.cancelled()))
    assert futures[2].cancel() and futures[2].cancel()
    assert futures[2].cancelled() and futures[2].done()
    with pytest.raises(cf.CancelledError):
        futures[2].exception()
    with pytest.raises(cf.CancelledError):
        futures[2].result()
    assert called == [True]
    done, _ = cf.wait([futures[2]], timeout=0)
    assert done == {futures[2]}
    assert list(cf.as_completed([futures[2]], timeout=0)) == [futures[2]]
    assert [f.result(timeout=30) for f in futures[:2]] == [0.5, 0.5]


def test_await_gather_wrap_future_and_run_in_executor(session: squall.Session) -> None:
    async def main() -> tuple[object, ...]:
        a = await session.submit(square, 7)
        b = await asyncio.gather(*session.map(square, [1, 2, 3]))
        c = await asyncio.wrap_future(session.submit(square, 5))
        d = await asyncio.get_running_loop().run_in_executor(session, square, 9)
        with pytest.raises(ValueError, match="async boom"):
            await session.submit(fail, "async boom")
        return a, b, c, d

    assert asyncio.run(main()) == (49, [1, 4, 9], 25, 81)


def test_cancelling_the_awaiting_task_cancels_queued_work(session: squall.Session) -> None:
    async def main() -> list[squall.Future]:
        busy = session.map(lambda s: sleep_then(s, s), [0.5, 0.5])
        await asyncio.sleep(0.1)
        queued = session.submit(sleep_then, 0.5, "never")
        waiter = asyncio.ensure_future(queued)
        await asyncio.sleep(0.05)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        return [*busy, queued]

    first, second, queued = asyncio.run(main())
    assert queued.cancelled()
    assert first.result(timeout=30) == 0.5 and second.result(timeout=30) == 0.5


def test_map_async_keeps_order_and_a_failure_cancels_the_rest(session: squall.Session) -> None:
    assert asyncio.run(session.map_async(square, range(20))) == [x * x for x in range(20)]
    assert asyncio.run(squall.map_async(square, [])) == []

    def maybe_fail(x: int) -> int:
        if x == 0:
            raise KeyError("first")
        time.sleep(0.3)
        return x

    with pytest.raises(KeyError, match="first"):
        asyncio.run(session.map_async(maybe_fail, range(8)))
    job = session.last_job
    assert job is not None
    outcomes = job.stats.column("outcome").to_pylist()
    assert outcomes.count("returned") < 7, outcomes  # the queued calls never ran


def test_as_completed_async_yields_in_finishing_order(session: squall.Session) -> None:
    async def main() -> list[object]:
        # Far apart, so that a busy machine's start-up delays cannot reorder them.
        futures = session.map(lambda s: sleep_then(s, s), [1.5, 0.05, 0.6])
        return [f.result() async for f in squall.as_completed_async(futures, timeout=30)]

    assert asyncio.run(main()) == [0.05, 0.6, 1.5]

    async def too_slow() -> None:
        futures = session.map(lambda s: sleep_then(s, s), [1.0])
        async for _ in squall.as_completed_async(futures, timeout=0.05):
            pass

    with pytest.raises(TimeoutError):
        asyncio.run(too_slow())


def test_session_executor_has_the_stdlib_map(session: squall.Session) -> None:
    with session.executor() as ex:
        assert isinstance(ex, cf.Executor)
        # Oracle: the standard library's own executor.
        with cf.ThreadPoolExecutor(2) as pool:
            expected = list(pool.map(pow, [2, 3, 4], [5, 2]))
        assert list(ex.map(pow, [2, 3, 4], [5, 2])) == expected == [32, 9]
        assert session.last_job is not None and session.last_job.label == "squall.map(pow)"
        assert list(ex.map(square, range(10), chunksize=3)) == [x * x for x in range(10)]
        results = ex.map(lambda x: 10 // x, [5, 0, 2])
        assert next(results) == 2
        with pytest.raises(squall.TaskError) as info:
            next(results)
        assert isinstance(info.value.__cause__, ZeroDivisionError)
        slow = ex.map(sleep_then, [1.0], ["late"], timeout=0.05)
        with pytest.raises(TimeoutError):
            list(slow)
        assert ex.submit(square, 6).result(timeout=30) == 36
    with pytest.raises(RuntimeError, match="after shutdown"):
        ex.submit(square, 1)


def test_executor_shutdown_cancels_queued_work(session: squall.Session) -> None:
    ex = session.executor()
    futures = [ex.submit(sleep_then, 0.4, i) for i in range(4)]
    deadline = time.monotonic() + 30
    while not (futures[0].running() and futures[1].running()) and time.monotonic() < deadline:
        time.sleep(0.01)
    ex.shutdown(wait=True, cancel_futures=True)
    assert all(f.done() for f in futures)
    assert [f.cancelled() for f in futures] == [False, False, True, True]
    assert [f.result() for f in futures[:2]] == [0, 1]
