"""Large payloads and many tasks."""

from __future__ import annotations

import hashlib

import numpy as np

import squall

MB = 1 << 20


def digest_and_grow(blob: bytes) -> tuple[str, bytes]:
    return hashlib.sha256(blob).hexdigest(), blob + b"!"


def test_50_mb_argument_and_result_round_trip(session: squall.Session) -> None:
    blob = np.random.default_rng(1).integers(0, 256, 50 * MB, dtype=np.uint8).tobytes()
    digest, grown = session.submit(digest_and_grow, blob).result(timeout=120)
    assert digest == hashlib.sha256(blob).hexdigest()
    assert grown == blob + b"!"


def test_50_mb_numpy_array_round_trip(session: squall.Session) -> None:
    arr = np.random.default_rng(2).standard_normal(50 * MB // 8)
    out = session.submit(lambda a: a * 2, arr).result(timeout=120)
    np.testing.assert_array_equal(out, arr * 2)


def test_ten_thousand_tiny_tasks(session: squall.Session) -> None:
    n = 10_000
    assert session.map(lambda x: x + 1, range(n), progress=False).results() == list(range(1, n + 1))


def test_ten_thousand_futures_through_as_completed(session: squall.Session) -> None:
    futures = session.map(lambda x: -x, range(10_000), progress=False)
    assert sorted(f.result() for f in squall.as_completed(futures, timeout=120)) == sorted(
        -x for x in range(10_000)
    )
