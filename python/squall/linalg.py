"""Serverless linear algebra: a matrix is a grid of numpy tiles, each the result of a task and
kept in the store; every operation is a graph of per-tile tasks (numpy's BLAS and LAPACK on
the workers) whose futures are the tiles of the result. The driver holds a whole matrix only
when ``to_numpy()`` asks for it.

Example:
    >>> from squall.linalg import BlockMatrix
    >>> a = BlockMatrix.from_numpy(np.random.rand(8000, 8000), block=2000)
    >>> c = (a @ a.T + a).to_numpy()
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .futures import Future
    from .jobs import JobRecord
    from .session import Session

#: Tiles are square, ``block`` x ``block`` (smaller at the matrix's last row and column).
DEFAULT_BLOCK = 4096
#: How many R factors one task of a tall-skinny QR stacks and factors again.
TSQR_FAN_IN = 16

# A tile as a task receives it: the array and whether to use its transpose.
Tile = tuple[Any, bool]


def _op(tile: Tile) -> Any:
    array, transposed = tile
    return array.T if transposed else array


def _copy(tile: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(tile)


def _read(cut: tuple[str, str, int, int, tuple[int, int], tuple[int, int]]) -> np.ndarray:
    """Rows and columns of a ``.npy`` file's matrix (C order; its dtype, width and header
    length given), reading only the bytes of those rows."""
    from . import _native

    url, dtype, width, header, rows, cols = cut
    row_bytes = np.dtype(dtype).itemsize * width
    start, shape = header + rows[0] * row_bytes, (rows[1] - rows[0], width)
    band: np.ndarray
    if url.startswith("file://"):
        # Mapped, only the tile's own pages are read (the band's whole rows hold width / block
        # tiles). The copy below leaves nothing mapped.
        path = url[len("file://") :]
        band = np.memmap(path, dtype=dtype, mode="r", offset=start, shape=shape)
    else:
        data = _native.read_range(url, start, header + rows[1] * row_bytes)
        band = np.frombuffer(data, dtype=dtype).reshape(shape)
    return np.array(band[:, cols[0] : cols[1]], order="C")


def _npy_header(head: bytes, url: str) -> tuple[np.dtype[Any], tuple[int, int], int]:
    """The dtype, shape and header length of a ``.npy`` file from its first bytes."""
    import io

    f = io.BytesIO(head)
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
    except ValueError as exc:
        raise ValueError(f"{url} is not a .npy file: {exc}") from exc
    if fortran or len(shape) != 2 or dtype.hasobject:
        raise ValueError(
            f"{url} holds a {'Fortran-order ' if fortran else ''}{dtype} array of shape "
            f"{shape}: from_store reads 2-D C-order numeric arrays (np.save of a matrix)"
        )
    return dtype, (int(shape[0]), int(shape[1])), f.tell()


def _add(pair: tuple[Tile, Tile]) -> Any:
    a, b = pair
    return _op(a) + _op(b)


def _matmul(row_col: tuple[Sequence[Tile], Sequence[Tile]]) -> Any:
    """One tile of a product: the sum over k of row[k] @ col[k]."""
    row, col = row_col
    out = _op(row[0]) @ _op(col[0])
    for a, b in zip(row[1:], col[1:], strict=True):
        out += _op(a) @ _op(b)
    return out


def _potrf(a: Tile) -> Any:
    try:
        return np.linalg.cholesky(_op(a))
    except np.linalg.LinAlgError as exc:
        raise np.linalg.LinAlgError(
            f"cholesky: the matrix is not positive definite ({exc}); cholesky() and solve() "
            "take symmetric positive definite matrices"
        ) from None


#: Below this size a triangular solve is numpy's general solve (its LU costs little there).
TRIANGLE_LEAF = 64


def _solve_triangular(t: np.ndarray, b: np.ndarray, lower: bool) -> np.ndarray:
    """x with t @ x == b for a triangular t, by halves: two solves of half the size and one
    matrix product, so nearly all the work is BLAS's product (numpy has no triangular solve;
    its general one costs 2.7x the work by first factoring t)."""
    x = np.array(b, dtype=np.result_type(t, b, 1.0), order="C")
    column = x.ndim == 1
    if column:
        x = x[:, None]
    _solve_triangular_in(t, x, lower)
    return x[:, 0] if column else x


def _solve_triangular_in(t: np.ndarray, x: np.ndarray, lower: bool) -> None:
    n = t.shape[0]
    if n <= TRIANGLE_LEAF:
        x[...] = np.linalg.solve(t, x)
        return
    h = n // 2
    if lower:
        _solve_triangular_in(t[:h, :h], x[:h], lower)
        x[h:] -= t[h:, :h] @ x[:h]
        _solve_triangular_in(t[h:, h:], x[h:], lower)
    else:
        _solve_triangular_in(t[h:, h:], x[h:], lower)
        x[:h] -= t[:h, h:] @ x[h:]
        _solve_triangular_in(t[:h, :h], x[:h], lower)


def _trsm(item: tuple[np.ndarray, Tile]) -> Any:
    """A L^-T: a tile below the diagonal of the factor, from the diagonal tile L above it."""
    lkk, a = item
    return _solve_triangular(lkk, _op(a).T, lower=True).T


def _update(item: tuple[Tile, np.ndarray, np.ndarray]) -> Any:
    """A - L_ik L_jk^T: a trailing tile after a column of the factor is known."""
    a, lik, ljk = item
    return _op(a) - lik @ ljk.T


def _forward(lii: np.ndarray, b: Tile, ls: Sequence[np.ndarray], ys: Sequence[np.ndarray]) -> Any:
    """y_i of L y = b, from the y_j before it."""
    rhs = _op(b).copy()
    for lij, yj in zip(ls, ys, strict=True):
        rhs -= lij @ yj
    return _solve_triangular(lii, rhs, lower=True)


def _backward(lii: np.ndarray, y: np.ndarray, ls: Sequence[np.ndarray], xs: Sequence[Any]) -> Any:
    """x_i of L^T x = y, from the x_j after it (``ls`` are the L_ji below the diagonal)."""
    rhs = y.copy()
    for lji, xj in zip(ls, xs, strict=True):
        rhs -= lji.T @ xj
    return _solve_triangular(lii.T, rhs, lower=False)


def _qr_leaf(item: tuple[Tile, str]) -> tuple[str, np.ndarray]:
    """A tile's QR: its Q written beside the session's scratch (named by this attempt, so that
    an R and the Q it came with are never from two runs), returned as (Q's URL, R)."""
    import io
    import uuid

    from . import _native
    from ._task import current_attempt

    a, prefix = item
    q, r = np.linalg.qr(_op(a))
    url = f"{prefix}{uuid.uuid4().hex}.attempt-{current_attempt()}.npy"
    buffer = io.BytesIO()
    np.save(buffer, q, allow_pickle=False)
    _native.write_bytes(url, buffer.getvalue())
    return url, r


def _qr_stack(children: Sequence[tuple[Any, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """(Q, R) of the R factors below, stacked (each a leaf's (Q's URL, R) or a node's (Q, R))."""
    q, r = np.linalg.qr(np.vstack([c[1] for c in children]))
    return q, r


def _qr_q(item: tuple[tuple[str, np.ndarray], Sequence[tuple[Any, int, int]]]) -> Any:
    """A leaf's rows of Q: its own Q times its rows of the Q factors up the tree (each path
    step: a node's (Q, R) and the rows of its Q that this leaf's branch stacked)."""
    import io

    from . import _native

    (url, _), path = item
    q = np.load(io.BytesIO(_native.read_bytes(url)), allow_pickle=False)
    factor: np.ndarray | None = None
    for (node_q, _), start, stop in reversed(path):
        rows = node_q[start:stop]
        factor = rows if factor is None else rows @ factor
    assert factor is not None
    return q @ factor


def _delete_when_done(futures: Sequence[Future], prefix: str) -> None:
    """Deletes the objects under ``prefix`` once every task of ``futures`` has finished
    (returned, failed or cancelled); the session's close deletes them otherwise."""
    import threading

    from . import _native

    jobs = {id(f._job): f._job for f in futures}.values()
    left = [len(jobs)]
    lock = threading.Lock()

    def one_over() -> None:
        with lock:
            left[0] -= 1
            if left[0]:
                return
        try:
            _native.delete([prefix], prefix=True)
        except Exception:  # the session's close deletes its scratch anyway
            pass

    for job in jobs:
        job.on_finished(one_over)


class _Graph:
    """The tasks of one operation: submitted to its session, recorded as one job whose stages
    are the kinds of task (``potrf``, ``trsm``, ...), as ``job.timeline()`` draws them."""

    def __init__(self, session: Session, name: str) -> None:
        from .jobs import JobRecord

        self.session = session
        self.record = JobRecord(f"squall.linalg.{name}", session.backend, session.memory_mb)
        session.last_job = self.record

    def map(self, fn: Any, items: Sequence[Any]) -> list[Future]:
        futures = self.session.map(fn, items, progress=False)
        for job in futures._jobs:
            self.record._add_stage(fn.__name__.lstrip("_"), job.native)
        self.session.last_job = self.record
        return list(futures)

    def submit(self, fn: Any, *args: Any) -> Future:
        future = self.session.submit(fn, *args)
        self.record._add_stage(fn.__name__.lstrip("_"), future._job.native)
        self.session.last_job = self.record
        return future


class BlockMatrix:
    """A matrix held as a grid of tiles in the session's store, each the future of a task.

    Operations return new matrices at once; their tiles are computed by tasks that start as
    soon as the tiles they read are ready. Shapes and blocks are checked when you call them.

    Example:
        >>> a = BlockMatrix.from_numpy(np.random.rand(6000, 6000), block=2000)
        >>> spd = a @ a.T + 6000 * BlockMatrix.identity(6000, block=2000)
        >>> x = spd.solve(np.ones(6000))
    """

    def __init__(
        self,
        tiles: list[list[Future | None]],
        shape: tuple[int, int],
        block: int,
        session: Session,
        transposed: bool = False,
        job: JobRecord | None = None,
    ) -> None:
        # `tiles` is the grid as stored; with `transposed` this matrix is its transpose. None is
        # a tile of zeros (above a triangular factor's diagonal).
        self._tiles = tiles
        self._stored_shape = shape
        self.block = block
        self.session = session
        self._transposed = transposed
        #: The record of the tasks that made this matrix (``job.timeline()``, ``job.stats``).
        self.job = job

    # -- making and reading -----------------------------------------------------------------

    @classmethod
    def from_numpy(
        cls, array: np.ndarray, block: int = DEFAULT_BLOCK, session: Session | None = None
    ) -> BlockMatrix:
        """Cuts a 2-D array (a 1-D one is a column) into ``block`` x ``block`` tiles and puts
        them in the store.

        Example:
            >>> a = BlockMatrix.from_numpy(np.eye(5000), block=2048)
        """
        array = np.asarray(array)
        if array.ndim == 1:
            array = array[:, None]
        if array.ndim != 2 or array.dtype.hasobject:
            raise ValueError(f"from_numpy takes a numeric 1-D or 2-D array, got {array.shape}")
        session = _session(session)
        block = _check_block(block)
        m, n = array.shape
        bands = [
            [array[r : r + block, c : c + block] for c in range(0, max(n, 1), block)]
            for r in range(0, max(m, 1), block)
        ]
        graph = _Graph(session, "from_numpy")
        flat = graph.map(_copy, [t for row in bands for t in row])
        return cls(_grid(flat, len(bands[0])), (m, n), block, session, job=graph.record)

    @classmethod
    def from_store(
        cls, url: str, block: int = DEFAULT_BLOCK, session: Session | None = None
    ) -> BlockMatrix:
        """A matrix from a ``.npy`` file (``np.save`` of a 2-D array) in a store (a path,
        ``file://`` or ``s3://``): each tile's task reads only its own rows.

        Example:
            >>> a = BlockMatrix.from_store("s3://lab/A.npy", block=4096)
        """
        from . import _native

        session = _session(session)
        block = _check_block(block)
        found = _native.resolve(url)
        if len(found) != 1:
            raise ValueError(f"from_store takes one .npy file; {url} names {len(found)} objects")
        url, size, _ = found[0]
        dtype, (m, n), header = _npy_header(_native.read_range(url, 0, min(size, 4096)), url)
        if header + m * n * dtype.itemsize != size:
            raise ValueError(f"{url} holds {size} bytes, not the {m} x {n} {dtype} it says")
        cuts = [
            (url, dtype.str, n, header, (r, min(r + block, m)), (c, min(c + block, n)))
            for r in range(0, m, block)
            for c in range(0, n, block)
        ]
        graph = _Graph(session, "from_store")
        flat = graph.map(_read, cuts)
        return cls(_grid(flat, math.ceil(n / block)), (m, n), block, session, job=graph.record)

    @classmethod
    def identity(
        cls, n: int, block: int = DEFAULT_BLOCK, session: Session | None = None
    ) -> BlockMatrix:
        """The ``n`` x ``n`` identity, its tiles made on the workers.

        Example:
            >>> BlockMatrix.identity(3, block=2).to_numpy()[2, 2]
            1.0
        """
        session = _session(session)
        block = _check_block(block)
        edges = [(r, min(r + block, n)) for r in range(0, n, block)]
        cuts = [(i, j, rows, cols) for i, rows in enumerate(edges) for j, cols in enumerate(edges)]
        graph = _Graph(session, "identity")
        flat = graph.map(_eye_tile, cuts)
        return cls(_grid(flat, len(edges)), (n, n), block, session, job=graph.record)

    def to_numpy(self) -> np.ndarray:
        """Gathers the tiles into one array on this process.

        Example:
            >>> BlockMatrix.from_numpy(np.ones((3, 2)), block=2).to_numpy().sum()
            6.0
        """
        m, n = self.shape
        out: np.ndarray | None = None
        for i in range(self.grid[0]):
            for j in range(self.grid[1]):
                future, transposed = self._tile(i, j)
                rows, cols = self._rows(i), self._cols(j)
                if future is None:
                    continue
                tile = future.result()
                if out is None:
                    out = np.zeros((m, n), dtype=tile.dtype)
                out[rows[0] : rows[1], cols[0] : cols[1]] = tile.T if transposed else tile
        return out if out is not None else np.zeros((m, n))

    # -- shape -------------------------------------------------------------------------------

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns)."""
        m, n = self._stored_shape
        return (n, m) if self._transposed else (m, n)

    @property
    def grid(self) -> tuple[int, int]:
        """Tiles down and across."""
        m, n = self.shape
        return math.ceil(m / self.block), math.ceil(n / self.block)

    @property
    def T(self) -> BlockMatrix:
        """The transpose, at no cost: tasks that read its tiles transpose them."""
        return BlockMatrix(
            self._tiles, self._stored_shape, self.block, self.session, not self._transposed
        )

    def __repr__(self) -> str:
        m, n = self.shape
        tiles = f"{self.grid[0]} x {self.grid[1]} tiles of {self.block}"
        return f"<squall.linalg.BlockMatrix {m} x {n}, {tiles}>"

    # -- operations --------------------------------------------------------------------------

    def __add__(self, other: BlockMatrix) -> BlockMatrix:
        """Tile by tile.

        Example:
            >>> (a + a.T).to_numpy()
        """
        self._check_same(other, "+")
        gi, gj = self.grid
        pairs = [(self._tile(i, j), other._tile(i, j)) for i in range(gi) for j in range(gj)]
        if any(a[0] is None or b[0] is None for a, b in pairs):
            raise ValueError("+ of a triangular factor: use to_numpy(), or a full matrix")
        graph = _Graph(self.session, "add")
        return self._like(_grid(graph.map(_add, pairs), gj), self.shape, graph)

    def __matmul__(self, other: BlockMatrix) -> BlockMatrix:
        """Matrix product: one task per tile of the result, summing over the inner tiles.

        Example:
            >>> (a @ b).to_numpy()
        """
        if not isinstance(other, BlockMatrix):
            return NotImplemented
        if self.shape[1] != other.shape[0]:
            raise ValueError(f"@: the shapes {self.shape} and {other.shape} do not align")
        if self.block != other.block:
            raise ValueError(f"@: blocks differ ({self.block} and {other.block}); use one block")
        gi, gk, gj = self.grid[0], self.grid[1], other.grid[1]
        items = []
        for i in range(gi):
            for j in range(gj):
                pairs = [(self._tile(i, k), other._tile(k, j)) for k in range(gk)]
                pairs = [(a, b) for a, b in pairs if a[0] is not None and b[0] is not None]
                if not pairs:
                    raise ValueError("@ of two triangular factors' zero tiles: use to_numpy()")
                items.append(([a for a, _ in pairs], [b for _, b in pairs]))
        graph = _Graph(self.session, "matmul")
        return self._like(
            _grid(graph.map(_matmul, items), gj), (self.shape[0], other.shape[1]), graph
        )

    def cholesky(self) -> BlockMatrix:
        """The lower-triangular L with L @ L.T == self, for a symmetric positive definite
        matrix, by tiles (a task graph of potrf, trsm and update tasks).

        Example:
            >>> L = spd.cholesky()
            >>> np.allclose((L @ L.T).to_numpy(), spd.to_numpy())
            True
        """
        return self._cholesky(_Graph(self.session, "cholesky"))

    def _cholesky(self, s: _Graph) -> BlockMatrix:
        m, n = self.shape
        if m != n:
            raise ValueError(f"cholesky takes a square matrix, got {self.shape}")
        g = self.grid[0]
        work: list[list[Any]] = [[self._tile(i, j) for j in range(i + 1)] for i in range(g)]
        low: list[list[Future | None]] = [[None] * g for _ in range(g)]
        for k in range(g):
            diagonal = s.submit(_potrf, work[k][k])
            low[k][k] = diagonal
            below = s.map(_trsm, [(diagonal, work[i][k]) for i in range(k + 1, g)])
            for i, f in zip(range(k + 1, g), below, strict=True):
                low[i][k] = f
            trailing = [(i, j) for j in range(k + 1, g) for i in range(j, g)]
            items = [(work[i][j], low[i][k], low[j][k]) for i, j in trailing]
            updated = s.map(_update, items)
            for (i, j), f in zip(trailing, updated, strict=True):
                work[i][j] = (f, False)
        return BlockMatrix(low, (m, n), self.block, self.session, job=s.record)

    def solve(self, b: BlockMatrix | np.ndarray) -> Any:
        """x with self @ x == b, for a symmetric positive definite matrix (through its
        Cholesky factor). ``b`` may be a numpy array (1-D or 2-D; the answer is one too) or a
        BlockMatrix with the same block (the answer is one too).

        Example:
            >>> x = spd.solve(np.ones(spd.shape[0]))
        """
        as_numpy = not isinstance(b, BlockMatrix)
        vector = as_numpy and np.asarray(b).ndim == 1
        rhs = BlockMatrix.from_numpy(np.asarray(b), self.block, self.session) if as_numpy else b
        assert isinstance(rhs, BlockMatrix)
        if rhs.shape[0] != self.shape[0] or rhs.block != self.block:
            raise ValueError(
                f"solve: b has shape {rhs.shape} (block {rhs.block}) for a {self.shape} matrix "
                f"(block {self.block})"
            )
        graph = _Graph(self.session, "solve")
        x = self._cholesky(graph)._substitute(rhs, graph)
        if not as_numpy:
            return x
        out = x.to_numpy()
        return out[:, 0] if vector else out

    def _substitute(self, b: BlockMatrix, s: _Graph) -> BlockMatrix:
        """x with L L^T x = b, L being self (a factor from cholesky())."""
        g = self.grid[0]
        low = self._tiles
        columns = []
        for c in range(b.grid[1]):
            ys: list[Future] = []
            for i in range(g):
                ls = [low[i][j] for j in range(i)]
                ys.append(s.submit(_forward, low[i][i], b._tile(i, c), ls, ys[:i]))
            xs: list[Future | None] = [None] * g
            for i in reversed(range(g)):
                ls = [low[j][i] for j in range(i + 1, g)]
                xs[i] = s.submit(_backward, low[i][i], ys[i], ls, xs[i + 1 :])
            columns.append(xs)
        grid = [[columns[c][i] for c in range(b.grid[1])] for i in range(g)]
        return BlockMatrix(grid, b.shape, self.block, self.session, job=s.record)

    def tsqr(self) -> tuple[BlockMatrix, np.ndarray]:
        """Tall-skinny QR of a matrix one tile wide: (Q, R), Q with orthonormal columns (a
        BlockMatrix like self) and R upper triangular (a numpy array). Each tile's R factor is
        factored once by its own task (its Q waits in the session's scratch, deleted when Q's tiles
        are made); a tree of tasks (16 at a time) factors the R factors again up to the
        matrix's R, and each tile's rows of Q are its own Q times its path up the tree.

        Example:
            >>> q, r = BlockMatrix.from_numpy(np.random.rand(1_000_000, 50), block=100_000).tsqr()
        """
        m, n = self.shape
        if self.grid[1] != 1:
            raise ValueError(
                f"tsqr takes a matrix one tile wide (columns <= block): {self.shape} with block "
                f"{self.block}; use a block of at least {n}"
            )
        import uuid

        s = _Graph(self.session, "tsqr")
        leaves = [self._tile(i, 0) for i in range(self.grid[0])]
        # Each tile's Q waits in the scratch until its rows of the matrix's Q are made.
        prefix = f"{self.session._scratch().rstrip('/')}/tsqr-{uuid.uuid4().hex}/"
        rs = s.map(_qr_leaf, [(a, prefix) for a in leaves])
        # Up the tree: each level stacks up to TSQR_FAN_IN factors from the level below. A
        # factor of h rows stacks into its node's Q as rows start:start+h, and has
        # min(h, n) rows; each leaf keeps its path of (node, start, stop).
        paths: list[list[tuple[Future, int, int]]] = [[] for _ in leaves]
        level: list[Any] = list(rs)
        heights = [min(self._rows(i)[1] - self._rows(i)[0], n) for i in range(len(leaves))]
        owners: list[list[int]] = [[i] for i in range(len(leaves))]
        while True:
            groups = [level[k : k + TSQR_FAN_IN] for k in range(0, len(level), TSQR_FAN_IN)]
            nodes = s.map(_qr_stack, groups)
            next_owners: list[list[int]] = []
            next_heights: list[int] = []
            for g, node in enumerate(nodes):
                members = range(g * TSQR_FAN_IN, min((g + 1) * TSQR_FAN_IN, len(level)))
                start = 0
                for member in members:
                    for leaf in owners[member]:
                        paths[leaf].append((node, start, start + heights[member]))
                    start += heights[member]
                next_owners.append([leaf for member in members for leaf in owners[member]])
                next_heights.append(min(start, n))
            if len(nodes) == 1:
                root = nodes[0]
                break
            level, owners, heights = list(nodes), next_owners, next_heights
        qs = s.map(_qr_q, [(leaf, paths[i]) for i, leaf in enumerate(rs)])
        _delete_when_done(qs, prefix)
        _, r = root.result()
        return BlockMatrix([[q] for q in qs], (m, n), self.block, self.session, job=s.record), r

    # -- helpers -----------------------------------------------------------------------------

    def _tile(self, i: int, j: int) -> Tile:
        """Tile (i, j) of this matrix: the stored tile's future, and whether to transpose it."""
        if self._transposed:
            return (self._tiles[j][i], True)
        return (self._tiles[i][j], False)

    def _rows(self, i: int) -> tuple[int, int]:
        return i * self.block, min((i + 1) * self.block, self.shape[0])

    def _cols(self, j: int) -> tuple[int, int]:
        return j * self.block, min((j + 1) * self.block, self.shape[1])

    def _like(self, grid: list[list[Any]], shape: tuple[int, int], graph: _Graph) -> BlockMatrix:
        return BlockMatrix(grid, shape, self.block, self.session, job=graph.record)

    def _check_same(self, other: BlockMatrix, op: str) -> None:
        if not isinstance(other, BlockMatrix):
            raise TypeError(f"{op} takes a BlockMatrix, got {type(other).__name__}")
        if other.shape != self.shape or other.block != self.block:
            raise ValueError(
                f"{op}: shapes {self.shape} and {other.shape} (blocks {self.block}, "
                f"{other.block}) differ"
            )


def _grid(flat: Sequence[Future], width: int) -> list[list[Future | None]]:
    """Futures in row-major order as rows of ``width``."""
    return [list(flat[i : i + width]) for i in range(0, len(flat), width)]


def _eye_tile(cut: tuple[int, int, tuple[int, int], tuple[int, int]]) -> np.ndarray:
    i, j, rows, cols = cut
    tile = np.zeros((rows[1] - rows[0], cols[1] - cols[0]))
    if i == j:
        np.fill_diagonal(tile, 1.0)
    return tile


def _check_block(block: int) -> int:
    if not isinstance(block, int) or block < 1:
        raise ValueError(f"block={block!r}: use a positive number of rows and columns per tile")
    return block


def _session(session: Session | None) -> Session:
    if session is not None:
        return session
    from ._default import default_session

    return default_session()


__all__ = ["DEFAULT_BLOCK", "BlockMatrix"]
