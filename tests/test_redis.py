"""The redis:// store (a real Valkey server) and the fast tier: a session's small intermediate
objects in Redis, the large ones in its store; results checked against pyarrow and Python."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
import redis
from emulators.redis_server import redis_server

import squall
from squall import _native


def client(address: str) -> redis.Redis:
    host, port = address.rsplit(":", 1)
    return redis.Redis(host=host, port=int(port))


def keys_without_expiry(address: str) -> list[bytes]:
    c = client(address)
    return [k for k in c.scan_iter(count=1000) if c.pttl(k) <= 0]


def scripts_run(address: str) -> int:
    """Scripts the server has run: every squall read and write of an object is one."""
    stats = client(address).info("commandstats")
    return sum(v["calls"] for k, v in stats.items() if k in ("cmdstat_evalsha", "cmdstat_eval"))


@pytest.fixture
def prefix(redis_address: str) -> str:
    return f"redis://{redis_address}/t-{uuid.uuid4().hex[:8]}"


def test_objects_round_trip_and_every_key_expires(redis_address: str, prefix: str) -> None:
    big = np.random.default_rng(1).bytes(3 * 2**20 + 11)  # chunked: 4 chunks
    _native.write_bytes(f"{prefix}/a/one.bin", b"0123456789")
    _native.write_bytes(f"{prefix}/a/big.bin", big)
    _native.write_bytes(f"{prefix}/a/empty.bin", b"")
    assert _native.read_bytes(f"{prefix}/a/one.bin") == b"0123456789"
    assert _native.read_bytes(f"{prefix}/a/big.bin") == big
    assert (
        _native.read_range(f"{prefix}/a/big.bin", 2**20 - 5, 2**20 + 5)
        == big[2**20 - 5 : 2**20 + 5]
    )
    assert _native.resolve(f"{prefix}/a/") == [
        (f"{prefix}/a/big.bin", len(big), []),
        (f"{prefix}/a/empty.bin", 0, []),
        (f"{prefix}/a/one.bin", 10, []),
    ]
    assert keys_without_expiry(redis_address) == []
    ttl = client(redis_address).pttl(f"{prefix.split('/', 3)[3]}/a/one.bin")
    assert 0 < ttl <= 24 * 3600 * 1000
    _native.delete([f"{prefix}/a/"], prefix=True)
    with pytest.raises(squall.StoreNotFoundError, match=r"one\.bin"):
        _native.read_bytes(f"{prefix}/a/one.bin")
    assert not list(client(redis_address).scan_iter(match=f"{prefix.split('/', 3)[3]}*"))


def test_a_bad_redis_url_says_what_a_good_one_looks_like() -> None:
    with pytest.raises(squall.StoreError, match=r"redis://host:port/key"):
        _native.read_bytes("redis://localhost/x")
    with pytest.raises(ValueError, match="give store= too"):
        squall.Session(workers=1, fast="redis://127.0.0.1:1/x")
    with pytest.raises(ValueError, match="Redis or Valkey"):
        squall.Session(workers=1, store="file:///tmp/x", fast="s3://b/x")


def test_a_password_in_a_redis_url_works_and_never_shows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with redis_server(tmp_path, "--requirepass", "s3cret-pw") as address:
        url = f"redis://:s3cret-pw@{address}/p"
        _native.write_bytes(f"{url}/a.bin", b"hello")
        assert _native.read_bytes(f"{url}/a.bin") == b"hello"
        with pytest.raises(squall.StoreNotFoundError) as missing:
            _native.read_bytes(f"{url}/missing.bin")
        with pytest.raises(squall.StoreError) as refused:
            _native.read_bytes(f"redis://:wrong-pw@{address}/p/a.bin")
        with squall.Session(workers=1, store=f"file://{tmp_path}/s", fast=url) as s:
            s.from_arrow(_table(1000), num_partitions=2).sort("t").explain()
    shown = f"{missing.value}\n{refused.value}\n{capsys.readouterr().out}"
    assert "s3cret" not in shown and "wrong-pw" not in shown, shown
    assert f"redis://***@{address}/p/missing.bin" in shown and "to redis://***@" in shown


def _table(n: int) -> pa.Table:
    rng = np.random.default_rng(7)
    keys = rng.integers(0, 500, n)
    return pa.table(
        {
            "k": pa.array([f"key-{k}" for k in keys]),
            "t": rng.permutation(n),
            "v": pa.array(rng.normal(size=n), mask=rng.random(n) < 0.1),
        }
    )


def _dag(session: squall.Session) -> list[float]:
    """A diamond whose middle results are large (stored, not sent back inline)."""
    a = session.submit(np.arange, 200_000, dtype=np.float64)
    b = session.submit(np.multiply, a, 2.0)
    c = session.submit(np.add, a, 1.0)
    return [float(session.submit(np.dot, b, c).result())]


@pytest.fixture(params=["store", "hybrid"])
def placed(
    request: pytest.FixtureRequest, redis_address: str, prefix: str, tmp_path: Path
) -> Iterator[squall.Session]:
    """A session whose jobs keep their objects in Redis alone, or in a shared directory with
    the small ones in Redis; its workers do the shuffles."""
    if request.param == "store":
        kwargs = {"store": prefix}
    else:
        kwargs = {"store": f"file://{tmp_path}/scratch", "fast": prefix}
    with squall.Session(workers=2, in_process=False, **kwargs) as s:
        yield s
    assert keys_without_expiry(redis_address) == []
    left = [k for k in client(redis_address).scan_iter(count=1000) if s._session_id.encode() in k]
    assert left == [], "a closed session leaves nothing in Redis"


def test_sort_groupby_and_dags_match_their_oracles(
    placed: squall.Session, redis_address: str
) -> None:
    table = _table(60_000)
    before = scripts_run(redis_address)
    ds = placed.from_arrow(table, num_partitions=6)
    got = ds.sort("t").collect()
    assert got.column("t").to_pylist() == sorted(table.column("t").to_pylist())
    assert got.sort_by("t").equals(table.sort_by("t"))
    sums = ds.groupby("k").agg(n=("v", "count"), s=("v", "sum")).collect().sort_by("k")
    want = table.group_by("k").aggregate([("v", "count"), ("v", "sum")]).sort_by("k")
    assert sums.column("k").equals(want.column("k"))
    assert sums.column("n").to_pylist() == want.column("v_count").to_pylist()
    assert np.allclose(sums.column("s").to_numpy(), want.column("v_sum").to_numpy())
    cost = placed.last_job.cost()  # type: ignore[union-attr]
    assert cost.fast_requests > 0 and cost.usd["fast_store"] > 0, cost
    if placed._fast is None:  # Redis alone: no S3 request at all
        assert (cost.s3_puts, cost.s3_gets, cost.s3_lists) == (0, 0, 0), cost
    x = np.arange(200_000, dtype=np.float64)
    assert _dag(placed) == [float(np.dot(x * 2, x + 1))]
    if placed._fast is not None:
        held = placed.submit(np.ones, 20_000)  # 160 KB, read once: cheaper in the fast store
        assert held.result().sum() == 20_000
        stored = [k.decode() for k in client(redis_address).scan_iter(match="*/results/job-*")]
        assert [k for k in stored if placed._session_id in k], stored
    assert scripts_run(redis_address) > before + 20, "the jobs' objects went through Redis"
    # Nothing of the finished jobs stays in Redis but the session's record, its table and the
    # result a live future holds.
    session_keys = [k.decode() for k in client(redis_address).scan_iter(count=1000)]
    kept = [k for k in session_keys if placed._session_id in k]
    owned = ("/_sessions/", "/table-", "/results/")
    assert [k for k in kept if not any(o in k for o in owned)] == []


def test_explain_says_where_intermediate_objects_go(
    placed: squall.Session, capsys: pytest.CaptureFixture[str]
) -> None:
    placed.from_arrow(_table(1000), num_partitions=2).sort("t").explain()
    text = capsys.readouterr().out
    assert text.count("to redis://") == 3, text  # the sample, the map outputs, the result


def test_a_full_fast_store_sends_objects_to_the_scratch_store(tmp_path: Path) -> None:
    table = _table(200_000)
    with redis_server(
        tmp_path, "--maxmemory", "2mb", "--maxmemory-policy", "noeviction"
    ) as address:
        fast = f"redis://{address}/full"
        store = f"file://{tmp_path}/scratch"
        with squall.Session(workers=2, in_process=False, store=store, fast=fast) as s:
            # Map outputs read in 64 slices each: cheaper in the fast store, which fills up.
            got = s.from_arrow(table, num_partitions=8).repartition(64, by="k").collect()
            refused = client(address).info("errorstats").get("errorstat_OOM", {}).get("count", 0)
        assert got.sort_by("t").equals(table.sort_by("t"))
        assert refused > 0, "the fast store was full, and said so"


def test_a_store_server_killed_mid_job_fails_the_job_clearly(tmp_path: Path) -> None:
    table = _table(40_000)

    def slow(batch: pa.RecordBatch) -> pa.RecordBatch:
        time.sleep(3.0)
        return batch

    with redis_server(tmp_path) as address:
        s = squall.Session(workers=2, in_process=False, store=f"redis://{address}/s", retries=1)
        ds = s.from_arrow(table, num_partitions=4).sort("t").map_batches(slow)
        # The server goes away, as in a crash, while the job runs (its reducer sleeps, then
        # writes its result there).
        killer = threading.Timer(1.5, lambda: client(address).shutdown(nosave=True, now=True))
        killer.start()
        with pytest.raises(squall.SquallError, match="cannot reach the Redis server") as err:
            ds.collect()
        killer.join()
        assert address in str(err.value)
        with pytest.warns(
            UserWarning, match=r"could not delete the session's scratch data under redis"
        ):
            s.close()


def test_results_are_identical_with_and_without_the_fast_tier(
    redis_address: str, prefix: str, tmp_path: Path
) -> None:
    table = _table(30_000)
    out = []
    for fast in (None, prefix):
        store = f"file://{tmp_path}/scratch"
        with squall.Session(workers=2, in_process=False, store=store, fast=fast) as s:
            ds = s.from_arrow(table, num_partitions=5)
            out.append(ds.groupby("k").agg(m=("v", "mean")).collect().sort_by("k"))
    assert out[0].equals(out[1])
    assert pc.sum(out[0].column("m")).as_py() == pytest.approx(
        sum(table.group_by("k").aggregate([("v", "mean")]).column("v_mean").to_pylist())
    )
