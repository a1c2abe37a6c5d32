"""squall.map / submit / wait / as_completed against plain Python as the oracle."""

from __future__ import annotations

import math
import time

import pytest

import squall


def square(x: int) -> int:
    return x * x


def sleep_then(seconds: float, value: object) -> object:
    time.sleep(seconds)
    return value


def test_map_matches_builtin_map(session: squall.Session) -> None:
    items = list(range(-50, 50))
    assert session.map(square, items).results() == [square(x) for x in items]


def test_closures_lambdas_and_kwargs_travel(session: squall.Session) -> None:
    offset = 17
    assert session.map(lambda x: x + offset, [1, 2, 3]).results() == [18, 19, 20]

    def fmt(a: int, b: int = 0, *, sep: str) -> str:
        return f"{a}{sep}{b}"

    assert session.submit(fmt, 1, b=2, sep="-").result() == "1-2"
    assert session.submit(math.hypot, 3, 4).result() == 5.0


def test_results_keep_input_order_and_types(session: squall.Session) -> None:
    items = [None, "ünïcødé", b"\x00\xff", {"k": [1, 2]}, (1.5, float("inf")), 2**80]
    assert session.map(lambda x: x, items).results() == items


def test_chunksize_groups_items_and_keeps_order(session: squall.Session) -> None:
    items = list(range(23))
    futures = session.map(square, items, chunksize=5)
    assert len(futures) == len(items)
    assert futures.results() == [x * x for x in items]


def test_chunk_failure_only_fails_its_item(session: squall.Session) -> None:
    futures = session.map(lambda x: 10 // x, [5, 0, 2, 1], chunksize=4)
    out = futures.results(return_exceptions=True)
    assert out[0] == 2 and out[2] == 5 and out[3] == 10
    assert isinstance(out[1], squall.TaskError)
    assert isinstance(out[1].__cause__, ZeroDivisionError)


def test_empty_map(session: squall.Session) -> None:
    futures = session.map(square, [])
    assert futures.results() == []
    assert futures.wait(0)


def test_future_states(session: squall.Session) -> None:
    f = session.submit(sleep_then, 0.3, "late")
    assert not f.done()
    with pytest.raises(TimeoutError):
        f.result(timeout=0.05)
    assert f.result(timeout=30) == "late"
    assert f.done() and not f.running() and not f.cancelled()
    assert f.exception() is None


def test_wait_first_completed_returns_before_the_slow_task(session: squall.Session) -> None:
    slow = session.submit(sleep_then, 3.0, "slow")
    fast = session.submit(sleep_then, 0.05, "fast")
    start = time.monotonic()
    done, not_done = squall.wait([slow, fast], return_when=squall.FIRST_COMPLETED)
    assert time.monotonic() - start < 2.5
    assert done == {fast} and not_done == {slow}
    done, not_done = squall.wait([slow, fast], timeout=30)
    assert done == {slow, fast} and not not_done


def test_wait_first_exception(session: squall.Session) -> None:
    slow = session.submit(sleep_then, 3.0, "slow")
    bad = session.submit(lambda: 1 // 0)
    done, _ = squall.wait([slow, bad], timeout=30, return_when=squall.FIRST_EXCEPTION)
    assert bad in done and slow not in done
    assert isinstance(bad.exception(), ZeroDivisionError)
    slow.result(timeout=30)


def test_wait_timeout_returns_what_is_done(session: squall.Session) -> None:
    slow = session.submit(sleep_then, 1.0, "slow")
    done, not_done = squall.wait([slow], timeout=0.1)
    assert not done and not_done == {slow}
    slow.result(timeout=30)


def test_as_completed_yields_in_finishing_order(session: squall.Session) -> None:
    futures = session.map(lambda s: sleep_then(s, s), [1.0, 0.1, 0.5])
    order = [f.result() for f in squall.as_completed(futures, timeout=30)]
    assert order == [0.1, 0.5, 1.0]


def test_as_completed_times_out(session: squall.Session) -> None:
    futures = session.map(lambda s: sleep_then(s, s), [1.5])
    with pytest.raises(TimeoutError):
        list(squall.as_completed(futures, timeout=0.1))
    futures.results(timeout=30)


def test_cancel_a_queued_task(session: squall.Session) -> None:
    # Two workers are busy with the first two tasks: the third is still queued.
    futures = session.map(lambda s: sleep_then(s, s), [0.6, 0.6, 0.6])
    time.sleep(0.2)
    assert futures[2].cancel()
    assert futures[2].cancelled()
    with pytest.raises(squall.CancelledError):
        futures[2].result()
    assert not futures[0].cancel()  # already running
    assert [f.result(timeout=30) for f in futures[:2]] == [0.6, 0.6]


def test_lithops_style_executor() -> None:
    with squall.Executor(workers=1) as ex:
        one = ex.call_async(square, 7)
        two = ex.call_async(lambda a, b: a - b, (10, 4))
        three = ex.call_async(lambda a, b: a * b, {"a": 6, "b": 7})
        assert ex.get_result(one) == 49
        assert ex.get_result([two, three]) == [6, 42]
        ex.map(square, [1, 2])
        assert ex.get_result() == [49, 6, 42, 1, 4]  # every future not yet collected


def test_module_level_functions_use_the_default_session() -> None:
    assert squall.map(square, [3, 4], progress=False).results() == [9, 16]
    assert squall.submit(square, 5).result() == 25
    assert squall.default_session() is squall.default_session()


def test_progress_bar_appears_for_long_jobs_only(
    session: squall.Session, capfd: pytest.CaptureFixture[str]
) -> None:
    session.map(lambda s: sleep_then(s, s), [0.8, 0.8, 0.8, 0.8]).results()
    err = capfd.readouterr().err
    assert "squall.map(<lambda>)" in err and "4/4" in err
    session.map(lambda s: sleep_then(s, s), [0.8, 0.8, 0.8, 0.8], progress=False).results()
    assert "squall.map" not in capfd.readouterr().err
    session.map(square, [1, 2]).results()
    assert "squall.map" not in capfd.readouterr().err
    # A job with a failed task ends red (ANSI red in a terminal; the widget's colour in Jupyter).
    futures = session.map(lambda s: 1 // 0 if sleep_then(s, s) > 1 else s, [0.8, 0.8, 1.2])
    futures.results(return_exceptions=True)
    assert "\x1b[31m" in capfd.readouterr().err
    session.map(lambda s: sleep_then(s, s), [0.8, 0.8, 0.8]).results()
    assert "\x1b[31m" not in capfd.readouterr().err


def test_bad_arguments_are_refused_clearly(session: squall.Session) -> None:
    with pytest.raises(ValueError, match="chunksize"):
        session.map(square, [1], chunksize=0)
    with pytest.raises(ValueError, match="timeout"):
        session.map(square, [1], timeout=0)
    with pytest.raises(ValueError, match="workers"):
        squall.Session(workers=0)
    with pytest.raises(ValueError, match="backend"):
        squall.Session(backend="cluster")
    with pytest.raises(ValueError, match="return_when"):
        squall.wait([], return_when="SOMETIMES")


def _rss_after_churn(megabytes: int) -> tuple[int, int]:
    """This worker's pid and resident bytes after allocating and freeing ``megabytes``."""
    chunks = [bytearray(1 << 20) for _ in range(megabytes)]
    del chunks
    import os

    with open("/proc/self/statm") as f:
        return os.getpid(), int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_an_idle_worker_gives_its_free_heap_back() -> None:
    # Workers keep freed memory for their next task, but not while nothing comes.
    with squall.Session(workers=1) as s:
        pid, busy = s.submit(_rss_after_churn, 300).result()
        time.sleep(2.5)
        same, idle = s.submit(_rss_after_churn, 0).result()
    assert same == pid, "the same worker answered"
    assert busy - idle > 200 << 20, f"resident {busy >> 20} MB busy, {idle >> 20} MB after idling"
