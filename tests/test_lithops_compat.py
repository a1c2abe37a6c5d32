"""squall.compat.lithops: Lithops' executor API as its documentation describes it, checked
against plain Python as the oracle."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import squall
import squall.compat.lithops as lithops


def add(x: int, y: int = 0) -> int:
    return x + y


def slow(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def fail_on(x: int, bad: int) -> int:
    if x == bad:
        raise ValueError(f"bad {x}")
    return x


@pytest.fixture
def fexec(session: squall.Session, tmp_path: Path) -> Iterator[lithops.FunctionExecutor]:
    yield lithops.FunctionExecutor(session=session, storage_root=f"file://{tmp_path}/buckets")


def test_call_async_takes_a_value_a_tuple_or_a_dict(fexec: lithops.FunctionExecutor) -> None:
    one = fexec.call_async(add, 5)
    two = fexec.call_async(add, (5, 6))
    three = fexec.call_async(add, {"x": 1, "y": 2})
    assert fexec.get_result(one) == 5
    assert fexec.get_result([two, three]) == [11, 3]
    assert three.done and three.success and three.ready and not three.error


def test_map_iterdata_forms_and_extra_args(fexec: lithops.FunctionExecutor) -> None:
    futures = fexec.map(add, [1, (2, 3), {"x": 4, "y": 5}])
    assert futures.get_result() == [1, 5, 9]
    assert fexec.map(add, [1, 2], extra_args=(10,)).get_result() == [11, 12]
    assert fexec.map(add, [{"x": 1}, {"x": 2}], extra_args={"y": 7}).get_result() == [8, 9]
    assert fexec.map(add, range(5), chunksize=2).get_result() == [0, 1, 2, 3, 4]
    with pytest.raises(TypeError, match=r"input 1 .*does not fit"):
        fexec.map(add, [1, (1, 2, 3)])
    with pytest.raises(TypeError, match="input 0"):
        fexec.map(add, [{"z": 1}])


def test_get_result_collects_each_future_once(fexec: lithops.FunctionExecutor) -> None:
    fexec.map(add, [1, 2, 3])
    fexec.call_async(add, (4, 4))
    # Every future not yet collected, in order; the last call was not a map, so a list.
    assert fexec.get_result() == [1, 2, 3, 8]
    assert fexec.get_result() == []
    fexec.call_async(add, 9)
    assert fexec.get_result() == 9  # one result alone after call_async


def test_errors_raise_the_functions_exception_or_give_none(
    fexec: lithops.FunctionExecutor,
) -> None:
    futures = fexec.map(fail_on, [1, 2, 3], extra_args=(2,))
    with pytest.raises(ValueError, match="bad 2"):
        fexec.get_result(futures)
    assert fexec.get_result(futures, throw_except=False) == [1, None, 3]
    assert futures[1].error and futures[1].done and not futures[1].success
    assert futures[1].status(throw_except=False)["exception"] is True
    with pytest.raises(ValueError):
        futures[1].status()
    assert futures[0].result() == 1 and futures[1].result(throw_except=False) is None


def test_wait_return_when(fexec: lithops.FunctionExecutor) -> None:
    futures = fexec.map(slow, [0.05, 1.5, 1.5])
    done, not_done = fexec.wait(futures, return_when=lithops.ALWAYS)
    assert len(done) + len(not_done) == 3
    start = time.monotonic()
    done, not_done = fexec.wait(futures, return_when=lithops.ANY_COMPLETED)
    assert time.monotonic() - start < 1.2
    assert futures[0] in done and len(not_done) >= 1
    with pytest.raises(TimeoutError):
        fexec.wait(futures, timeout=0.05)
    done, not_done = fexec.wait(futures, return_when=lithops.ALL_COMPLETED)
    assert len(done) == 3 and not not_done
    with pytest.raises(ValueError, match="return_when"):
        fexec.wait(futures, return_when=150)


def test_future_stats_and_status(fexec: lithops.FunctionExecutor) -> None:
    f = fexec.call_async(slow, 0.1)
    status = f.status()
    assert status["exception"] is False
    stats = f.stats
    assert stats["worker_end_tstamp"] - stats["worker_start_tstamp"] >= 0.1
    assert stats["host_submit_tstamp"] <= stats["worker_start_tstamp"]
    assert abs(stats["worker_start_tstamp"] - time.time()) < 60  # epoch seconds
    assert stats["worker_exec_time"] >= 0.1


def with_id_and_storage(x: int, id: int, storage: lithops.Storage) -> int:
    storage.put_object("out", f"part-{id}", str(x * 10).encode())
    return id


def test_id_and_storage_are_given_to_the_function(fexec: lithops.FunctionExecutor) -> None:
    assert fexec.map(with_id_and_storage, [3, 4, 5]).get_result() == [0, 1, 2]
    storage = fexec.storage
    assert storage.list_keys("out") == ["part-0", "part-1", "part-2"]
    assert [storage.get_object("out", k) for k in storage.list_keys("out")] == [
        b"30",
        b"40",
        b"50",
    ]


def read_env(name: str) -> str | None:
    return os.environ.get(name)


def test_extra_env_is_set_for_the_call_only(fexec: lithops.FunctionExecutor) -> None:
    name = "SQUALL_COMPAT_TEST_VAR"
    assert fexec.call_async(read_env, name, extra_env={name: "on"}).result() == "on"
    assert fexec.map(read_env, [name] * 4).get_result() == [None] * 4


def test_map_reduce(fexec: lithops.FunctionExecutor) -> None:
    def square(x: int) -> int:
        return x * x

    def total(results: list[int], offset: int) -> int:
        return sum(results) + offset

    fexec.map_reduce(square, range(10), total, extra_args_reduce=(1000,))
    assert fexec.get_result() == sum(x * x for x in range(10)) + 1000
    futures = fexec.map_reduce(square, [1, 2, 3], total, extra_args_reduce={"offset": 0})
    assert futures.get_result() == 14  # only the reducer produces output


def count_lines(obj: Any) -> tuple[str, list[bytes]]:
    return obj.key, obj.data_stream.read().splitlines()


def test_data_processing_by_object_chunks(fexec: lithops.FunctionExecutor) -> None:
    storage = fexec.storage
    texts = {
        "logs/a.txt": "".join(f"line {i} {'x' * (i % 7)}\n" for i in range(500)),
        "logs/b.txt": "no final newline\nsecond\nthird",
        "logs/c.txt": "",
    }
    for key, text in texts.items():
        storage.put_object("data", key, text)
    for options in ({"obj_chunk_size": 97}, {"obj_chunk_number": 4}, {}):
        out = fexec.map(count_lines, ["data/logs/"], **options).get_result()
        by_key: dict[str, list[bytes]] = {}
        for key, lines in out:
            by_key.setdefault(key, []).extend(lines)
        # Every line once, whole, in order: the oracle is Python's own split.
        assert by_key == {k: v.encode().splitlines() for k, v in texts.items()}, options
    chunks = fexec.map(count_lines, ["data/logs/a.txt"], obj_chunk_size=97)
    assert len(chunks) == -(-len(texts["logs/a.txt"]) // 97)


def test_map_reduce_by_object_key(fexec: lithops.FunctionExecutor) -> None:
    storage = fexec.storage
    for name, n in (("x", 30), ("y", 50)):
        storage.put_object("data", f"words/{name}.txt", "w\n" * n)

    def count(obj: Any) -> int:
        return len(obj.data_stream.read().splitlines())

    def total(results: list[int]) -> int:
        return sum(results)

    fexec.map_reduce(count, ["data/words/"], total, obj_chunk_size=16, obj_reduce_by_key=True)
    assert sorted(fexec.get_result()) == [30, 50]


def test_storage_api(tmp_path: Path) -> None:
    storage = lithops.Storage(backend="localhost", root=f"file://{tmp_path}")
    storage.put_object("lab", "runs/1.txt", b"hello world")
    storage.put_object("lab", "runs/2.txt", "text")
    storage.put_object("lab", "other.txt", b"x")
    assert storage.get_object("lab", "runs/1.txt") == b"hello world"
    assert storage.get_object("lab", "runs/1.txt", extra_get_args={"Range": "bytes=6-10"}) == (
        b"world"
    )
    assert storage.get_object("lab", "runs/1.txt", stream=True).read() == b"hello world"  # type: ignore[union-attr]
    assert storage.list_keys("lab") == ["other.txt", "runs/1.txt", "runs/2.txt"]
    assert storage.list_keys("lab", prefix="runs/") == ["runs/1.txt", "runs/2.txt"]
    assert storage.list_keys("lab", prefix="run") == ["runs/1.txt", "runs/2.txt"]
    assert storage.list_objects("lab", prefix="runs/2") == [{"Key": "runs/2.txt", "Size": 4}]
    assert storage.head_object("lab", "runs/1.txt")["content-length"] == "11"
    storage.delete_object("lab", "runs/1.txt")
    storage.delete_objects("lab", ["runs/2.txt"])
    assert storage.list_keys("lab", prefix="runs/") == []
    assert storage.list_keys("empty") == []
    with pytest.raises(squall.StoreNotFoundError):
        storage.get_object("lab", "runs/1.txt")
    with pytest.raises(ValueError, match="Range"):
        storage.get_object("lab", "other.txt", extra_get_args={"Range": "rows=1"})


def put_cloudobject(x: int, storage: lithops.Storage) -> lithops.CloudObject:
    return storage.put_cloudobject(f"value {x}")


def test_cloudobjects_and_clean(fexec: lithops.FunctionExecutor) -> None:
    refs = fexec.map(put_cloudobject, [1, 2]).get_result()
    storage = fexec.storage
    assert [storage.get_cloudobject(r) for r in refs] == [b"value 1", b"value 2"]
    mine = storage.put_cloudobject(b"driver", bucket="keep", key="named")
    fexec.clean()
    for r in refs:
        with pytest.raises(squall.StoreNotFoundError):
            storage.get_cloudobject(r)
    assert storage.get_cloudobject(mine) == b"driver"  # named by the user: kept
    fexec.clean(cs=[mine])
    assert storage.list_keys("keep") == []


def test_plot_and_job_summary(fexec: lithops.FunctionExecutor, tmp_path: Path) -> None:
    futures = fexec.map(add, [1, 2, 3])
    futures.get_result()
    figures = fexec.plot(futures, dst=str(tmp_path / "run"))
    assert len(figures) == 1
    assert list(tmp_path.glob("run_*_timeline.png"))
    assert "3 tasks" in fexec.job_summary()


def test_chained_map_over_futures(fexec: lithops.FunctionExecutor) -> None:
    first = fexec.map(add, [1, 2, 3])
    assert fexec.map(add, first, extra_args=(100,)).get_result() == [101, 102, 103]


def test_module_level_wait_and_get_result(fexec: lithops.FunctionExecutor) -> None:
    futures = fexec.map(add, [(1, 1), (2, 2)])
    done, not_done = lithops.wait(futures)
    assert len(done) == 2 and not not_done
    assert lithops.get_result(futures) == [2, 4]
    assert lithops.get_result(futures[0]) == 2


def test_unsupported_backends_are_refused_clearly() -> None:
    with pytest.raises(ValueError, match="standalone"):
        lithops.FunctionExecutor(mode="standalone")
    with pytest.raises(ValueError, match="gcp_functions"):
        lithops.FunctionExecutor(backend="gcp_functions")
    with pytest.raises(ValueError, match="Storage backend"):
        lithops.Storage(backend="gcp_storage")


def test_own_session_closes_with_the_executor(tmp_path: Path) -> None:
    with lithops.LocalhostExecutor(max_workers=1, storage_root=f"file://{tmp_path}") as ex:
        assert ex.map(add, [1, 2]).get_result() == [1, 2]
    assert ex.session._closed


def test_dict_inputs_may_name_varargs_and_kwargs(fexec: lithops.FunctionExecutor) -> None:
    def total(a: int, b: int, *rest: int, d: int, **more: int) -> int:
        return a + b + sum(rest) + d + sum(more.values())

    futures = fexec.map(
        total,
        [
            {"a": 1, "b": 2, "d": 3},
            {"rest": (1, 2, 3), "d": 4},
            {"rest": (1, 2), "more": {"d": 3, "e": 5}},
        ],
    )
    assert futures.get_result() == [6, 10, 11]


def test_keys_and_urls_as_lithops_writes_them(fexec: lithops.FunctionExecutor) -> None:
    storage = fexec.storage
    storage.put_object("data", "__tests/.x/_a.txt", "one\ntwo\n")
    storage.put_object("data", "__tests/b.txt", "three\n")
    # Hidden-looking names are plain keys here (squall's datasets hide them; Storage does not).
    assert storage.list_keys("data", prefix="__tests/") == ["__tests/.x/_a.txt", "__tests/b.txt"]
    for where in ("localhost://data/__tests/", "data/__tests/"):
        out = fexec.map(count_lines, [where]).get_result()
        assert sorted(line for _, lines in out for line in lines) == [b"one", b"three", b"two"]
    out = fexec.map(count_lines, ["data/__tests/b.txt"]).get_result()
    assert out == [("__tests/b.txt", [b"three"])]
    with pytest.raises(squall.StoreNotFoundError, match="no object there"):
        fexec.map(count_lines, ["data/__tests/nothing"])
