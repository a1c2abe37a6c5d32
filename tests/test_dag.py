"""Futures as arguments: task graphs whose results move between workers through the store."""

from __future__ import annotations

import gc
import os
import pickle
import signal
import time
from pathlib import Path

import numpy as np
import pytest

import squall
from squall._task import current_attempt


def inc(x: int) -> int:
    return x + 1


def add(a: int, b: int) -> int:
    return a + b


def boom(x: int) -> int:
    raise ValueError(f"boom {x}")


def vector(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(n)


def dot(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b)


def sleep_then(seconds: float, x: int) -> int:
    time.sleep(seconds)
    return x


def die_first(x: int) -> int:
    """Kills its worker on the first attempt, returns on the next."""
    if current_attempt() == 0:
        os.kill(os.getpid(), signal.SIGKILL)
    return x * 10


def straggle_first(x: int) -> int:
    """The first attempt of input 0 hangs (a straggler); every other attempt is quick."""
    if x == 0 and current_attempt() == 0:
        time.sleep(60)
    time.sleep(0.05)
    return x * x


def results_dir(session: squall.Session) -> Path:
    return Path(session._scratch().removeprefix("file://")) / "results"


def test_a_diamond_and_nested_arguments_match_plain_python(session: squall.Session) -> None:
    a = session.submit(inc, 1)
    b = session.submit(inc, a)
    c = session.submit(add, a, 10)
    d = session.submit(add, b, c)
    nested = session.submit(lambda m: m["k"][0] * m["k"][1][0], {"k": (b, [c])})
    keyword = session.submit(add, b=a, a=d)
    assert (d.result(), nested.result(), keyword.result()) == (3 + 12, 3 * 12, 15 + 2)


def test_a_fan_in_of_1000_futures(session: squall.Session) -> None:
    parts = session.map(inc, range(1000), progress=False)
    total = session.submit(sum, list(parts))
    assert total.result(timeout=120) == sum(i + 1 for i in range(1000))
    squares = session.map(lambda f: f * f, parts[:5])  # map over futures
    assert squares.results() == [1, 4, 9, 16, 25]


def test_a_chain_of_10000_tasks(session: squall.Session) -> None:
    link = session.submit(inc, 0)
    for _ in range(9_999):
        link = session.submit(inc, link)
    assert link.result(timeout=300) == 10_000


def test_items_of_a_chunked_map_are_arguments(session: squall.Session) -> None:
    chunked = session.map(lambda x: 1 // x, [1, 0, 2, 1], chunksize=2)
    assert session.submit(add, chunked[0], chunked[3]).result() == 2
    with pytest.raises(squall.TaskError) as info:
        session.submit(inc, chunked[1]).result()
    assert isinstance(info.value.original, squall.InputError)
    assert "ZeroDivisionError" in str(info.value)


def test_a_failure_fails_every_dependent_naming_the_root(session: squall.Session) -> None:
    root = session.submit(boom, 7)
    middle = session.submit(inc, root)
    leaves = [session.submit(add, middle, i) for i in range(3)]
    later = session.submit(inc, leaves[0])
    with pytest.raises(squall.TaskError, match="boom 7"):
        root.result()
    for f in [middle, *leaves, later]:
        with pytest.raises(squall.InputError) as info:
            f.result()
        message = str(info.value)
        assert "task 0 of squall.submit(boom) raised ValueError: boom 7" in message, message
    # A dependent submitted after its input failed fails at once, the same way.
    with pytest.raises(squall.InputError, match=r"submit\(boom\) raised ValueError"):
        session.submit(inc, middle).result(timeout=10)
    assert isinstance(later.exception(), squall.InputError)


def test_cancelling_a_future_cancels_what_depends_on_it(session: squall.Session) -> None:
    slow = session.submit(sleep_then, 1.0, 1)
    waiting = session.submit(inc, slow)
    after = [session.submit(inc, waiting) for _ in range(3)]
    deeper = session.submit(add, after[0], after[1])
    assert waiting.cancel()
    for f in [waiting, *after, deeper]:
        assert f.cancelled()
        with pytest.raises(squall.CancelledError):
            f.result(timeout=10)
    assert slow.result() == 1, "an input is not cancelled with its dependents"
    # Cancelling a whole map cancels its dependents too.
    many = session.map(lambda x: sleep_then(0.5, x), [1] * 8, progress=False)
    total = session.submit(sum, list(many))
    many.cancel()
    assert total.cancelled(), "a map's cancel returns once what takes its results is cancelled"
    with pytest.raises(squall.CancelledError):
        total.result(timeout=30)


def test_a_worker_killed_mid_graph_is_retried_and_the_graph_completes(
    session: squall.Session,
) -> None:
    a = session.map(die_first, range(4), retries=2)
    b = session.submit(sum, list(a))
    c = session.submit(inc, b)
    assert c.result(timeout=60) == sum(x * 10 for x in range(4)) + 1
    lost = session.map(die_first, [1], retries=0)
    with pytest.raises(squall.InputError, match=r"squall.map\(die_first\) failed: worker lost"):
        session.submit(inc, lost[0]).result(timeout=60)


def test_results_are_identical_with_a_backup_of_a_straggling_input(session: squall.Session) -> None:
    policy = squall.Speculation(after=0.5, multiple=2.0, min_seconds=0.3)
    squares = session.map(straggle_first, range(6), speculation=policy)
    total = session.submit(sum, list(squares))
    assert total.result(timeout=60) == sum(x * x for x in range(6))
    assert squares.job is not None
    rows = squares.job.stats.to_pylist()
    backups = [r for r in rows if r["backup"]]
    assert backups and backups[0]["task"] == 0 and backups[0]["outcome"] == "ok", rows


def test_large_results_stay_in_the_store_until_their_futures_are_gone(
    session: squall.Session,
) -> None:
    n = 1_000_000  # 8 MB: far above what a reply carries inline
    a, b = session.submit(vector, n, 1), session.submit(vector, n, 2)
    product = session.submit(dot, a, b)
    expected = float(vector(n, 1) @ vector(n, 2))
    assert product.result(timeout=60) == pytest.approx(expected, rel=1e-12)
    # a and b were written once each; the float came back inline.
    stored = lambda f: list(results_dir(session).glob(f"job-{f._job.native.id}-*"))  # noqa: E731
    assert (len(stored(a)), len(stored(b)), len(stored(product))) == (1, 1, 0)
    # The worker read its inputs from the store: the driver never held them.
    assert session.last_job is not None
    reads = session.last_job.stats.column("bytes_read").to_pylist()
    assert reads and reads[0] >= 2 * 8 * n, reads
    np.testing.assert_array_equal(a.result(), vector(n, 1))
    jobs = [f"job-{f._job.native.id}-*" for f in (a, b)]
    del a, b, product
    gc.collect()
    deadline = time.monotonic() + 10
    left = lambda: [p for j in jobs for p in results_dir(session).glob(j)]  # noqa: E731
    while left() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not left(), "results outlived their futures"


def first_of(a: np.ndarray, _: int) -> float:
    return float(a[0])


def test_an_input_whose_future_is_dropped_is_kept_for_its_dependents(
    session: squall.Session,
) -> None:
    big = session.submit(vector, 100_000, 3)  # stored: its future alone would keep it
    slow = session.submit(sleep_then, 0.5, 1)
    later = session.submit(first_of, big, slow)
    big.result()
    del big
    gc.collect()
    assert later.result(timeout=30) == vector(1, 3)[0]


def test_a_future_of_another_session_or_pickled_is_refused(session: squall.Session) -> None:
    with squall.Session(workers=1) as other:
        theirs = other.submit(inc, 1)
        with pytest.raises(squall.InputError, match="another session"):
            session.submit(inc, theirs)
    mine = session.submit(inc, 1)
    with pytest.raises(TypeError, match="cannot be pickled; pass it as an argument"):
        pickle.dumps(mine)
