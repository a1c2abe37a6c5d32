"""squall.linalg against numpy: tiled task graphs must give numpy's answers (to rounding)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import squall
from squall.linalg import BlockMatrix

EPS = np.finfo(np.float64).eps


def close(got: np.ndarray, want: np.ndarray, scale: float = 1.0) -> None:
    """Equal up to rounding of the size a backward-stable algorithm makes (times ``scale``,
    e.g. a condition number)."""
    assert got.shape == want.shape
    err = np.linalg.norm(got - want) / max(np.linalg.norm(want), 1e-300)
    assert err <= 1e3 * EPS * scale * max(want.shape), err


def spd(n: int, seed: int) -> np.ndarray:
    m = np.random.default_rng(seed).standard_normal((n, n))
    return m @ m.T + n * np.eye(n)


@pytest.mark.parametrize(
    ("m", "k", "n", "block"),
    [(256, 256, 256, 128), (300, 170, 90, 64), (50, 700, 33, 128), (5, 5, 5, 8)],
    ids=["square", "uneven", "wide-inner", "one-tile"],
)
def test_matmul_add_and_transpose(
    session: squall.Session, m: int, k: int, n: int, block: int
) -> None:
    rng = np.random.default_rng(m + k + n)
    a, b = rng.standard_normal((m, k)), rng.standard_normal((k, n))
    A = BlockMatrix.from_numpy(a, block, session)
    B = BlockMatrix.from_numpy(b, block, session)
    assert A.shape == (m, k) and A.T.shape == (k, m)
    close((A @ B).to_numpy(), a @ b)
    close((A.T @ A).to_numpy(), a.T @ a)
    close((A @ B + A @ B).to_numpy(), 2 * (a @ b))
    close((B.T @ A.T).T.to_numpy(), a @ b)
    np.testing.assert_array_equal((A + A.T.T).to_numpy(), a + a)


def test_cholesky_and_solve_match_numpy(session: squall.Session) -> None:
    n, block = 333, 64  # 6 x 6 tiles, the last one 13 wide
    a = spd(n, 1)
    cond = np.linalg.cond(a)
    A = BlockMatrix.from_numpy(a, block, session)
    low = A.cholesky()
    close(low.to_numpy(), np.linalg.cholesky(a), cond)
    assert np.allclose(np.triu(low.to_numpy(), 1), 0)
    close((low @ low.T).to_numpy(), a)
    # Its record holds every task of the graph, one stage per kind of task.
    assert low.job is not None
    g = 6
    tasks = g + g * (g - 1) // 2 + sum((g - k - 1) * (g - k) // 2 for k in range(g))
    assert f"all stages: {tasks} tasks" in low.job.summary()
    path = low.job.critical_path()
    assert path is not None and 1 < path[0] <= 3 * (g - 1) + 1 and path[1] > 0
    assert "critical path" in low.job.summary()
    assert BlockMatrix.from_numpy(a, block, session).job.critical_path() is None  # no graph
    rhs = np.random.default_rng(2).standard_normal(n)
    close(A.solve(rhs), np.linalg.solve(a, rhs), cond)
    many = np.random.default_rng(3).standard_normal((n, 70))
    x = A.solve(BlockMatrix.from_numpy(many, block, session))
    assert isinstance(x, BlockMatrix) and x.shape == (n, 70)
    close(x.to_numpy(), np.linalg.solve(a, many), cond)


@pytest.mark.parametrize("n", [1, 64, 65, 301])
def test_triangular_solve_by_halves_matches_numpy(n: int) -> None:
    # One leaf (1, 64: numpy's solve), one split (65) and three levels of halves (301).
    from squall.linalg import _solve_triangular

    low = np.linalg.cholesky(spd(n, n))
    cond = np.linalg.cond(low)
    rng = np.random.default_rng(n)
    for t, lower in ((low, True), (low.T, False)):
        for b in (rng.standard_normal(n), rng.standard_normal((n, 7))):
            x = _solve_triangular(t, b, lower)
            assert x.shape == b.shape
            close(x, np.linalg.solve(t, b), cond)
        b32 = rng.standard_normal((n, 3)).astype(np.float32)
        x32 = _solve_triangular(t.astype(np.float32), b32, lower)
        assert x32.dtype == np.float32
        assert np.allclose(t @ x32, b32, atol=1e-3 * cond)
    unit = np.tril(np.ones((n, n), dtype=np.int64))
    ones = _solve_triangular(unit, np.ones(n, dtype=np.int64), True)
    assert ones.dtype == np.float64
    np.testing.assert_allclose(ones, np.eye(n)[0], atol=1e-12)


def test_cholesky_of_a_matrix_that_is_not_positive_definite_says_so(
    session: squall.Session,
) -> None:
    a = -np.eye(100)
    with pytest.raises(squall.TaskError, match="not positive definite"):
        BlockMatrix.from_numpy(a, 32, session).cholesky().to_numpy()


@pytest.mark.parametrize(
    ("m", "n", "block", "levels"),
    [(4000, 30, 100, 2), (1000, 20, 999, 1), (64, 64, 64, 1)],
    ids=["tree", "ragged", "square"],
)
def test_tsqr_gives_an_orthonormal_q_and_numpys_r(
    session: squall.Session, m: int, n: int, block: int, levels: int
) -> None:
    a = np.random.default_rng(m).standard_normal((m, n))
    q, r = BlockMatrix.from_numpy(a, block, session).tsqr()
    Q = q.to_numpy()
    close(Q @ r, a)
    close(Q.T @ Q, np.eye(n))
    assert np.allclose(np.tril(r, -1), 0)
    close(np.abs(r), np.abs(np.linalg.qr(a, mode="r")))
    # Each tile is factored once; its Q waits in the scratch until Q's tiles are made.
    assert [n for n, _ in q.job._stages] == ["qr_leaf"] + ["qr_stack"] * levels + ["qr_q"]
    deadline = time.monotonic() + 10
    while squall._native.list_prefix(f"{session._scratch().rstrip('/')}/tsqr-"):
        assert time.monotonic() < deadline, "the tiles' Q factors were not deleted"
        time.sleep(0.05)


def test_least_squares_through_tsqr(session: squall.Session) -> None:
    rng = np.random.default_rng(7)
    a, b = rng.standard_normal((3000, 12)), rng.standard_normal(3000)
    q, r = BlockMatrix.from_numpy(a, 500, session).tsqr()
    qtb = (q.T @ BlockMatrix.from_numpy(b, 500, session)).to_numpy()[:, 0]
    x = np.linalg.solve(r, qtb)
    close(x, np.linalg.lstsq(a, b, rcond=None)[0], np.linalg.cond(a))


@pytest.fixture(params=["file", "s3"])
def npy_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, np.ndarray]]:
    a = np.random.default_rng(5).standard_normal((310, 170)).astype(np.float32)
    path = tmp_path / "a.npy"
    np.save(path, a)
    if request.param == "file":
        yield f"file://{path}", a
    else:
        bucket = request.getfixturevalue("s3_bucket")
        squall._native.write_bytes(f"{bucket}/a.npy", path.read_bytes())
        yield f"{bucket}/a.npy", a


def test_from_store_reads_each_tiles_rows(
    session: squall.Session, npy_url: tuple[str, np.ndarray]
) -> None:
    url, a = npy_url
    A = BlockMatrix.from_store(url, block=64, session=session)
    assert A.shape == a.shape and A.grid == (5, 3)
    np.testing.assert_array_equal(A.to_numpy(), a)
    close((A @ A.T).to_numpy().astype(np.float64), (a @ a.T).astype(np.float64), 1e8)


def test_wrong_shapes_and_inputs_are_refused(session: squall.Session, tmp_path: Path) -> None:
    A = BlockMatrix.from_numpy(np.ones((10, 4)), 4, session)
    with pytest.raises(ValueError, match="do not align"):
        A @ A
    with pytest.raises(ValueError, match="blocks differ"):
        A.T @ BlockMatrix.from_numpy(np.ones((10, 4)), 5, session)
    with pytest.raises(ValueError, match="square"):
        A.cholesky()
    with pytest.raises(ValueError, match="one tile wide"):
        BlockMatrix.from_numpy(np.ones((10, 9)), 4, session).tsqr()
    with pytest.raises(ValueError, match="block=0"):
        BlockMatrix.from_numpy(np.ones(3), 0, session)
    np.save(tmp_path / "v.npy", np.ones(3))
    with pytest.raises(ValueError, match="2-D C-order"):
        BlockMatrix.from_store(str(tmp_path / "v.npy"), session=session)


def test_identity_and_the_simulated_fleet() -> None:
    fleet = squall.FleetModel(
        concurrency=8, cold_start_s=0.05, task_s=0.01, failure_rate=0.05, time_scale=0.1, seed=3
    )
    with squall.Session(backend="simulated", workers=2, fleet=fleet) as sim:
        a = spd(100, 9)
        A = BlockMatrix.from_numpy(a, 32, sim)
        close((A @ BlockMatrix.identity(100, 32, sim)).to_numpy(), a)
        close(A.solve(np.ones(100)), np.linalg.solve(a, np.ones(100)), np.linalg.cond(a))
        # Attempts that crash after writing a tile's Q leave nothing that a later one reads.
        tall = np.random.default_rng(4).standard_normal((640, 8))
        q, r = BlockMatrix.from_numpy(tall, 32, sim).tsqr()
        close(q.to_numpy() @ r, tall)
