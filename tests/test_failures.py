"""Exceptions, dying workers, timeouts and cancellation."""

from __future__ import annotations

import os
import pickle
import signal
import threading
import time
from pathlib import Path

import pytest

import squall


def divide(x: int) -> float:
    return 1 / x


def count_and_raise(marker: str) -> None:
    with open(marker, "a") as f:
        f.write("x")
    raise ValueError(f"bad input {marker!r}")


class Unpicklable(Exception):
    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("no pickling for you")


def raise_unpicklable() -> None:
    raise Unpicklable("only the text survives")


def die_once(marker: str, how: str) -> str:
    """Kills its own worker on the first attempt, returns on the next."""
    if not os.path.exists(marker):
        Path(marker).write_text("died")
        if how == "exit":
            os._exit(3)
        if how == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        if how == "segfault":
            import ctypes

            ctypes.string_at(0)
    return f"survived {how}"


def always_die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def test_user_exception_becomes_task_error_with_traceback(session: squall.Session) -> None:
    futures = session.map(divide, [1, 0, 4])
    with pytest.raises(squall.TaskError) as info:
        futures.results()
    err = info.value
    text = str(err)
    assert "task 1" in text and "input 0" in text and "squall.map(divide)" in text
    assert "ZeroDivisionError: division by zero" in text
    assert "in divide" in err.remote_traceback and "return 1 / x" in err.remote_traceback
    assert "_task.py" not in err.remote_traceback
    assert isinstance(err.__cause__, ZeroDivisionError) and err.original is err.__cause__
    assert isinstance(err, squall.SquallError)
    assert futures[0].result() == 1.0 and futures[2].result() == 0.25
    again = pickle.loads(pickle.dumps(err))
    assert str(again) == text and again.task == 1


def test_user_exceptions_are_not_retried(session: squall.Session, tmp_path: Path) -> None:
    marker = str(tmp_path / "calls")
    with pytest.raises(squall.TaskError, match="ValueError: bad input"):
        session.submit(count_and_raise, marker).result()
    assert Path(marker).read_text() == "x"


def test_unpicklable_exception_keeps_its_text(session: squall.Session) -> None:
    err = session.submit(raise_unpicklable).exception()
    assert isinstance(err, squall.TaskError)
    assert "Unpicklable: only the text survives" in str(err)
    assert err.original is None


@pytest.mark.parametrize("how", ["exit", "kill", "segfault"])
def test_a_dead_worker_is_replaced_and_the_task_retried(
    session: squall.Session, tmp_path: Path, how: str
) -> None:
    futures = session.map(lambda m: die_once(m, how), [str(tmp_path / "m")], timeout=60)
    assert futures.results() == [f"survived {how}"]
    assert session.map(divide, [2]).results() == [0.5]


def test_a_worker_that_always_dies_fails_after_the_retries(session: squall.Session) -> None:
    f = session.map(lambda _: always_die(), [0], retries=1)[0]
    err = f.exception(timeout=60)
    assert isinstance(err, squall.WorkerLostError)
    assert "after 2 attempts" in str(err) and "SIGKILL" in str(err)


def test_timeout_kills_the_task(session: squall.Session) -> None:
    start = time.monotonic()
    f = session.map(lambda s: time.sleep(s), [60], timeout=0.5, retries=1)[0]
    err = f.exception(timeout=30)
    assert time.monotonic() - start < 10
    assert isinstance(err, squall.TaskTimeoutError) and isinstance(err, TimeoutError)
    assert "timed out after 0.500 s" in str(err) and "after 2 attempts" in str(err)
    assert session.map(divide, [4]).results() == [0.25]


def test_cancel_stops_running_and_queued_tasks(session: squall.Session) -> None:
    futures = session.map(lambda s: time.sleep(s), [30] * 6)
    time.sleep(0.5)
    start = time.monotonic()
    futures.cancel()
    with pytest.raises(squall.CancelledError):
        futures.results(timeout=5)
    assert all(f.cancelled() for f in futures)
    # The killed workers are replaced: new work runs at once.
    assert session.map(divide, [1, 2]).results(timeout=30) == [1.0, 0.5]
    assert time.monotonic() - start < 10


def test_ctrl_c_cancels_the_job_within_a_second(session: squall.Session, ctrl_c: None) -> None:
    futures = session.map(lambda s: time.sleep(s), [30] * 4)
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        futures.results()
    assert time.monotonic() - start < 1.5
    assert all(f.cancelled() for f in futures)
    assert session.map(divide, [8]).results(timeout=30) == [0.125]


def test_ctrl_c_while_waiting_on_one_future(session: squall.Session, ctrl_c: None) -> None:
    f = session.submit(time.sleep, 30)
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        f.result()
    assert f.cancelled()


def test_a_function_the_worker_cannot_load_is_a_task_error(
    session: squall.Session, tmp_path: Path
) -> None:
    module = tmp_path / "only_here.py"
    module.write_text("def f(x):\n    return x\n")
    import importlib.util

    spec = importlib.util.spec_from_file_location("only_here", module)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    import sys

    sys.modules["only_here"] = mod  # importable here, by reference, but not on the workers
    try:
        f = session.submit(mod.f, 1)
        with pytest.raises(squall.TaskError) as info:
            f.result(timeout=30)
    finally:
        del sys.modules["only_here"]
    err = info.value
    assert isinstance(f.exception(), RuntimeError) and err.original is f.exception()
    assert "could not load the task's function" in str(err) and "only_here" in str(err)


def test_workers_that_cannot_start_give_a_clear_error() -> None:
    with squall.Session(workers=1, python="/nonexistent/python3") as s:
        err = s.map(divide, [1], retries=0)[0].exception(timeout=30)
    assert isinstance(err, squall.WorkerStartError)
    assert "/nonexistent/python3" in str(err)


def test_closed_session_refuses_work() -> None:
    s = squall.Session(workers=1)
    assert s.map(divide, [2]).results() == [0.5]
    s.close()
    with pytest.raises(ValueError, match="closed"):
        s.map(divide, [1])
