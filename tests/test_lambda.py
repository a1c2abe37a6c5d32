"""The lambda backend end to end on LocalStack: deploy, map, sort and group-by over S3, failures.

LocalStack runs each execution environment as a local process (tests/emulators) with the deployed
package first on its path, so the code that runs is the package ``squall.deploy`` built.
"""

from __future__ import annotations

import base64
import html
import json
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cloudpickle
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import squall
from squall import aws
from squall._task import current_attempt

# Functions of this module travel by value: the deployed function cannot import test modules.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

ROLE = "arn:aws:iam::000000000000:role/squall-tests"
FUNCTION_TIMEOUT_S = 4

pytestmark = pytest.mark.timeout(600)


def deploy(name: str, store: str, **settings: Any) -> aws.Deployment:
    """squall.deploy with this module's role and settings, quietly; `settings` override."""
    chosen = {"role": ROLE, "memory_mb": 1024, "timeout_s": FUNCTION_TIMEOUT_S} | settings
    return squall.deploy(function_name=name, store=store, verbose=False, **chosen)


@pytest.fixture(scope="module")
def store(s3_server: str) -> str:
    return f"{squall.localstack.make_bucket('squall-lambda', s3_server)}/scratch"


@pytest.fixture(scope="module")
def function(store: str) -> str:
    """The squall function, deployed once for this module as two shards."""
    d = deploy("squall-tests", store, shards=2)
    assert d.status in ("created", "updated", "unchanged")
    assert d.functions == ("squall-tests", "squall-tests-shard2")
    return d.function_name


@pytest.fixture(scope="module")
def lam(function: str, store: str) -> Iterator[squall.Session]:
    with squall.Session(backend="lambda", function=function, store=store, workers=8) as s:
        yield s


def square(x: int) -> int:
    return x * x


def fails_on_three(x: int) -> int:
    if x == 3:
        raise ValueError(f"three is not allowed (got {x})")
    return x


def crash_first_attempt(x: int) -> tuple[int, int]:
    if current_attempt() == 0:
        os._exit(3)
    return x, current_attempt()


def slow_square(x: int) -> int:
    time.sleep(0.3)
    return x * x


def function_name(_: object) -> str:
    return os.environ["AWS_LAMBDA_FUNCTION_NAME"]


def test_a_session_spreads_its_tasks_over_the_shards(lam: squall.Session) -> None:
    assert aws.functions("squall-tests") == ["squall-tests", "squall-tests-shard2"]
    ran_on = Counter(lam.map(function_name, range(24)).results())
    assert set(ran_on) == {"squall-tests", "squall-tests-shard2"}, ran_on
    assert min(ran_on.values()) >= 6, ran_on  # the least busy shard takes each task


def test_deploy_again_with_nothing_changed_does_nothing(
    function: str, store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = time.monotonic()
    d = deploy(function, store, shards=2)
    assert d.status == "unchanged"
    assert d.zipped_bytes is None
    assert time.monotonic() - started < 5  # no package was built
    # A shard gone (deleted by hand) is not "unchanged": the deploy goes ahead.
    deployed = squall._native.deployed_hash
    monkeypatch.setattr(
        squall._native, "deployed_hash", lambda n: None if n.endswith("-shard2") else deployed(n)
    )
    asked: list[str] = []
    monkeypatch.setattr(
        squall._native, "deploy_function", lambda name, **_: asked.append(name) or "updated"
    )
    assert deploy(function, store, shards=2).status == "updated" and asked == [function]


def test_map_200_tasks_matches_local(lam: squall.Session, session: squall.Session) -> None:
    items = list(range(200))
    remote = lam.map(square, items).results()
    assert remote == session.map(square, items).results() == [x * x for x in items]


def test_user_exception_is_a_task_error_and_not_retried(lam: squall.Session) -> None:
    futures = lam.map(fails_on_three, range(6), retries=2)
    with pytest.raises(squall.TaskError) as info:
        futures.results()
    assert "three is not allowed (got 3)" in str(info.value)
    assert "fails_on_three" in info.value.remote_traceback
    assert isinstance(info.value.__cause__, ValueError)
    results = futures.results(return_exceptions=True)
    assert [r for i, r in enumerate(results) if i != 3] == [0, 1, 2, 4, 5]
    assert futures[3]._job.native.progress()[5] == 0  # nothing was retried


def column(n: int, seed: int) -> Any:
    import numpy as np

    return np.random.default_rng(seed).standard_normal(n)


def dot(a: Any, b: Any) -> float:
    return float(a @ b)


def test_a_small_graph_moves_its_results_through_s3(lam: squall.Session, store: str) -> None:
    import numpy as np

    n = 100_000  # 800 KB each: stored in S3, never sent through the driver
    a, b = lam.submit(column, n, 1), lam.submit(column, n, 2)
    both = lam.submit(dot, a, b)
    assert both.result(timeout=120) == pytest.approx(float(column(n, 1) @ column(n, 2)))
    assert lam.last_job is not None
    assert lam.last_job.stats.column("bytes_read").to_pylist()[0] >= 2 * 8 * n
    for f, count in [(a, 1), (b, 1), (both, 0)]:
        prefix = f"{lam._scratch()}/results/job-{f._job.native.id}-"
        assert len(squall._native.list_prefix(prefix)) == count, prefix
    np.testing.assert_array_equal(a.result(), column(n, 1))
    with pytest.raises(squall.InputError, match="three is not allowed"):
        lam.submit(square, lam.submit(fails_on_three, 3)).result(timeout=120)
    # squall.linalg's task graphs on the same path: tiles of 80 KB through S3.
    from squall.linalg import BlockMatrix

    m = np.random.default_rng(4).standard_normal((200, 200))
    spd = m @ m.T + 200 * np.eye(200)
    tiles = BlockMatrix.from_numpy(spd, 100, lam)
    np.testing.assert_allclose((tiles @ tiles.T).to_numpy(), spd @ spd.T, rtol=1e-10)
    np.testing.assert_allclose(tiles.solve(np.ones(200)), np.linalg.solve(spd, np.ones(200)))


def lines_in(obj: Any, storage: Any) -> int:
    n = len(obj.data_stream.read().splitlines())
    storage.put_object("counts", f"{obj.key}.{obj.part}", str(n))
    return n


def test_lithops_compat_on_lambda_over_s3(lam: squall.Session, store: str) -> None:
    from squall.compat import lithops

    fexec = lithops.FunctionExecutor(session=lam, storage_root=store)
    assert fexec.storage.backend == "aws_s3"
    text = "".join(f"row {i}\n" for i in range(300))
    fexec.storage.put_object("data", "in/rows.txt", text)
    fexec.map_reduce(lines_in, ["data/in/"], sum, obj_chunk_size=500)
    assert fexec.get_result() == 300
    parts = fexec.storage.list_keys("counts", prefix="in/rows.txt.")
    assert len(parts) == -(-len(text) // 500)
    assert sum(int(fexec.storage.get_object("counts", k)) for k in parts) == 300
    futures = fexec.map(fails_on_three, [1, 3])
    assert fexec.get_result(futures, throw_except=False) == [1, None]


def talks(x: int) -> int:
    print(f"python says {x}")
    os.write(2, f"fd 2 says {x}\n".encode())
    return x


def test_what_lambda_tasks_print_reaches_the_driver(
    lam: squall.Session, capsys: pytest.CaptureFixture[str]
) -> None:
    futures = lam.map(talks, range(3))
    assert futures.results() == [0, 1, 2]
    text = ""
    deadline = time.monotonic() + 10
    while text.count("says") < 6 and time.monotonic() < deadline:
        text += capsys.readouterr().err
        time.sleep(0.05)
    for x in range(3):
        assert f"[task {x}] python says {x}\n" in text and f"[task {x}] fd 2 says {x}\n" in text
    job = futures.job
    assert job is not None
    outputs = dict(zip(*job.stats.select(["task", "output"]).to_pydict().values(), strict=True))
    assert outputs == {x: f"python says {x}\nfd 2 says {x}" for x in range(3)}


def imports(module: str) -> str:
    return __import__(module).__name__


def test_a_function_imports_only_what_its_package_holds(lam: squall.Session) -> None:
    # nbformat is installed here (for the notebook tests) but not deployed: as on AWS, the
    # function cannot import it.
    assert lam.submit(imports, "pyarrow").result() == "pyarrow"
    with pytest.raises(squall.TaskError) as info:
        lam.submit(imports, "nbformat").result()
    assert isinstance(info.value.__cause__, ModuleNotFoundError)


def test_crashed_runtime_is_retried(lam: squall.Session) -> None:
    assert lam.map(crash_first_attempt, [7, 8]).results() == [(7, 1), (8, 1)]


def test_crash_every_attempt_is_worker_lost(lam: squall.Session) -> None:
    with pytest.raises(squall.WorkerLostError, match=r"Runtime\.ExitError.*exit status 3"):
        lam.submit(os._exit, 3).result()


def test_function_timeout_is_retried_then_reported(lam: squall.Session) -> None:
    futures = lam.map(time.sleep, [FUNCTION_TIMEOUT_S * 5], retries=1)
    with pytest.raises(squall.TaskTimeoutError, match="after 2 attempts") as info:
        futures.results()
    assert f"timed out after {FUNCTION_TIMEOUT_S}.000 s" in str(info.value)


def test_large_arguments_and_results_travel_through_the_store(lam: squall.Session) -> None:
    blob = os.urandom(5 << 20)  # over the inline limit: staged in S3 both ways
    assert lam.submit(bytes, blob).result() == blob


def test_missing_function_is_a_clear_start_error(store: str) -> None:
    with squall.Session(backend="lambda", function="no-such-function", store=store) as s:
        with pytest.raises(squall.WorkerStartError, match=r"no-such-function.*squall\.deploy"):
            s.submit(abs, -1).result()


def test_lambda_session_needs_an_s3_store() -> None:
    with pytest.raises(ValueError, match="store='s3://"):
        squall.Session(backend="lambda", store="/tmp/scratch")


def _readings(n: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    return pa.table(
        {
            "station": rng.integers(0, 50, n),
            "t": rng.permutation(n).astype("int64"),
            "temp": rng.normal(10, 5, n),
        }
    )


def test_sort_and_groupby_over_s3_match_local(
    lam: squall.Session, session: squall.Session, store: str
) -> None:
    base = f"{store}/readings-{time.time_ns()}"
    table = _readings(60_000, 1)
    session.from_arrow(table, num_partitions=4).write_parquet(f"{base}/in")

    lam.read_parquet(f"{base}/in").sort("t").write_parquet(f"{base}/sorted")
    out = session.read_parquet(f"{base}/sorted").collect()  # files in name order
    local = session.read_parquet(f"{base}/in").sort("t").collect()
    assert out.equals(local)
    assert out.column("t").to_pylist() == sorted(table.column("t").to_pylist())

    aggs = {"n": ("temp", "count"), "mean": ("temp", "mean"), "hi": ("temp", "max")}
    g_remote = lam.read_parquet(f"{base}/in").groupby("station").agg(**aggs).collect()
    g_local = session.read_parquet(f"{base}/in").groupby("station").agg(**aggs).collect()
    g_remote, g_local = g_remote.sort_by("station"), g_local.sort_by("station")
    assert g_remote.column("n").equals(g_local.column("n"))
    assert g_remote.column("hi").equals(g_local.column("hi"))
    assert np.allclose(g_remote.column("mean").to_numpy(), g_local.column("mean").to_numpy())
    assert sum(g_remote.column("n").to_pylist()) == table.num_rows


def test_lambda_functions_keep_small_objects_in_a_fast_store(
    function: str, store: str, redis_address: str, session: squall.Session
) -> None:
    table = _readings(20_000, 2)
    fast = f"redis://{redis_address}/lambda"
    with squall.Session(backend="lambda", function=function, store=store, fast=fast) as s:
        got = s.from_arrow(table, num_partitions=4).groupby("station").agg(n=("temp", "count"))
        got_table = got.collect().sort_by("station")
        cost = s.last_job.cost()  # type: ignore[union-attr]
    want = session.from_arrow(table, 2).groupby("station").agg(n=("temp", "count")).collect()
    assert got_table.equals(want.sort_by("station"))
    assert cost.fast_requests > 0 and cost.fast_bytes > 0, cost


def test_throttling_is_retried_and_the_job_completes(store: str) -> None:
    capped = deploy(
        "squall-tests-capped", store, memory_mb=512, timeout_s=30, reserved_concurrency=2
    )
    with squall.Session(
        backend="lambda", function=capped.function_name, store=store, workers=8
    ) as s:
        futures = s.map(slow_square, range(12), retries=0)
        assert futures.results() == [x * x for x in range(12)]
        retried = futures[0]._job.native.progress()[5]
    assert retried > 0  # 8 in flight against a cap of 2: LocalStack answered 429


def test_a_package_built_before_comes_from_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = aws.build_package(out_dir=tmp_path / "first", verbose=False)
    monkeypatch.setattr(aws.subprocess, "run", None)  # pip cannot run: a build would fail
    again = aws.build_package(out_dir=tmp_path / "again", verbose=False)
    assert again.path.read_bytes() == first.path.read_bytes()
    assert (again.hash, again.unzipped_bytes) == (first.hash, first.unzipped_bytes)
    with pytest.raises(TypeError):
        aws.build_package(out_dir=tmp_path / "anew", verbose=False, cache=False)
    cached = Path(os.environ["SQUALL_CACHE_DIR"]) / "packages" / f"{first.hash}.zip"
    whole = cached.read_bytes()
    cached.write_bytes(whole[:-100])  # a cached zip cut short is never shipped: built anew
    with pytest.raises(TypeError):
        aws.build_package(out_dir=tmp_path / "again", verbose=False)
    cached.write_bytes(whole)


def test_package_is_manylinux_fits_lambda_and_imports_cleanly(tmp_path: Path) -> None:
    package = aws.build_package(out_dir=tmp_path, verbose=False)
    assert package.zipped_bytes == package.path.stat().st_size
    assert package.unzipped_bytes <= aws.MAX_UNZIPPED
    with zipfile.ZipFile(package.path) as zf:
        wheel_meta = next(
            n for n in zf.namelist() if n.startswith("squall-") and n.endswith("/WHEEL")
        )
        tags = zf.read(wheel_meta).decode()
        zf.extractall(tmp_path / "unzipped")
    platforms = [line.split("-")[-1] for line in tags.splitlines() if line.startswith("Tag:")]
    assert platforms, tags
    for platform in platforms:  # python3.11's Amazon Linux 2 has glibc 2.26
        arch, needs = aws._wheel_glibc(Path(f"squall-0-{platform}.whl"))
        assert arch == "x86_64" and needs and max(needs) <= (2, 26), platform
    # A clean interpreter (no site-packages, no environment): everything comes from the package,
    # and a task runs through the Lambda handler.
    event = {
        "spec": {"job": 1, "task": 0, "attempt": 0, "func": "h", "func_len": 0},
        "scratch": "memory://unused",
    }
    func = cloudpickle.dumps(square)
    body = func + cloudpickle.dumps(((12,), {}))
    event["spec"]["func_len"] = len(func)  # type: ignore[index]
    event["body"] = base64.b64encode(body).decode()
    script = (
        "import sys, json, pickle, base64; sys.path.insert(0, sys.argv[1]);"
        "import squall, squall._lambda, pyarrow;"
        "assert squall.__file__.startswith(sys.argv[1]), squall.__file__;"
        "a = squall._lambda.handler(json.loads(sys.argv[2]));"
        "print(a['report']['ok'], pickle.loads(base64.b64decode(a['body'])))"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", script, str(tmp_path / "unzipped"), json.dumps(event)],
        capture_output=True,
        text=True,
        env={"PATH": os.environ["PATH"]},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "144"]


def test_the_installed_squall_is_rebuilt_as_the_wheel_it_came_from(tmp_path: Path) -> None:
    from squall._wheel import installed_wheel

    shipped = Path(os.environ["SQUALL_WHEEL"])  # what `make build` installed here
    rebuilt = installed_wheel(tmp_path)
    assert rebuilt.name == shipped.name
    with zipfile.ZipFile(shipped) as a, zipfile.ZipFile(rebuilt) as b:
        files = {n for n in a.namelist() if not n.endswith("RECORD")}
        assert files == {n for n in b.namelist() if not n.endswith("RECORD")}
        assert all(a.read(n) == b.read(n) for n in files)
    assert installed_wheel(tmp_path).read_bytes() == rebuilt.read_bytes()  # same bytes again


def test_deploy_without_a_wheel_ships_the_installed_squall(
    store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SQUALL_WHEEL", raising=False)
    d = deploy("squall-no-wheel", store)
    assert d.status in ("created", "updated")
    with squall.Session(backend="lambda", function=d.function_name, store=store) as s:
        assert s.map(square, [2, 3]).results() == [4, 9]
    assert deploy("squall-no-wheel", store).status == "unchanged"


def test_deploy_refuses_another_python_version() -> None:
    other = "3.12" if sys.version_info[:2] != (3, 12) else "3.11"
    with pytest.raises(ValueError, match="cloudpickle"):
        squall.deploy(role=ROLE, python_version=other, verbose=False)


def test_deploy_refuses_a_wheel_for_a_newer_glibc(tmp_path: Path) -> None:
    wheel = tmp_path / f"squall-{squall.__version__}-cp311-abi3-manylinux_2_36_x86_64.whl"
    wheel.write_bytes(b"")
    with pytest.raises(ValueError, match=r"glibc 2\.(26|34)"):
        aws.find_wheel(wheel, f"{sys.version_info.major}.{sys.version_info.minor}", "x86_64")


def test_deploy_takes_arm64_when_a_wheel_for_it_is_at_hand(tmp_path: Path) -> None:
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    v = squall.__version__
    x86 = tmp_path / f"squall-{v}-cp311-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
    x86.write_bytes(b"")
    assert aws.find_wheel(x86, python, None) == (x86, "x86_64"), "only x86_64 at hand"
    arm = tmp_path / f"squall-{v}-cp311-abi3-manylinux_2_17_aarch64.manylinux2014_aarch64.whl"
    arm.write_bytes(b"")
    (tmp_path / "squall-0.0.1-cp311-abi3-manylinux2014_aarch64.whl").write_bytes(
        b""
    )  # another version
    assert aws.find_wheel(tmp_path, python, None) == (arm, "arm64"), "a fifth cheaper"
    assert aws.find_wheel(tmp_path, python, "x86_64") == (x86, "x86_64"), "as asked"
    with pytest.raises(ValueError, match=r"cannot run on Lambda's .* arm64 runtime"):
        aws.find_wheel(x86, python, "arm64")
    with pytest.raises(ValueError, match="architecture='sparc'"):
        squall.deploy(role=ROLE, architecture="sparc", verbose=False)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match=f"holds no squall {v} wheel"):
        aws.find_wheel(empty, python, None)


def test_cancel_stops_the_job_at_once(lam: squall.Session) -> None:
    futures = lam.map(time.sleep, [3] * 20)
    time.sleep(0.5)
    started = time.monotonic()
    futures.cancel()
    with pytest.raises(squall.CancelledError):
        futures.results()
    assert time.monotonic() - started < 2  # in-flight invocations are abandoned, not awaited


def test_local_files_are_refused_on_lambda(lam: squall.Session, tmp_path: Path) -> None:
    pq.write_table(pa.table({"x": [1, 2]}), tmp_path / "a.parquet")
    with pytest.raises(ValueError, match=r"on this machine.*s3://"):
        lam.read_parquet(str(tmp_path)).collect()


def test_closing_a_lambda_session_deletes_its_scratch_data(function: str, store: str) -> None:
    s = squall.Session(backend="lambda", function=function, store=store)
    scratch = s._scratch()
    assert s.from_arrow(pa.table({"x": list(range(100))}), 4).sort("x").count() == 100
    assert squall._native.resolve(f"{scratch}/")  # from_arrow's input table is there
    s.close()
    with pytest.raises(squall.StoreNotFoundError):
        squall._native.resolve(f"{scratch}/")


def test_a_new_lambda_session_removes_the_scratch_of_dead_ones(function: str, store: str) -> None:
    # A session whose driver died (its process is gone) left scratch data and its record.
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    with squall.Session(backend="lambda", function=function, store=store) as alive:
        root = alive._store_root
        own = f"{root}/_sessions/{alive._session_id}.json"
        assert _wait_for(lambda: _exists(own)), "a session records itself in its store"
        dead = json.loads(squall._native.read_bytes(own)) | {"pid": int(gone.stdout)}
        squall._native.write_bytes(f"{root}/_sessions/session-dead.json", json.dumps(dead).encode())
        squall._native.write_bytes(f"{root}/session-dead/shuffle/map-00000.arrow", b"left behind")
        with squall.Session(backend="lambda", function=function, store=store):
            assert _wait_for(lambda: not _exists(f"{root}/session-dead/shuffle/map-00000.arrow"))
        assert not _exists(f"{root}/_sessions/session-dead.json")
        assert _exists(f"{root}/_sessions/{alive._session_id}.json"), "a live session keeps its own"


def _exists(url: str) -> bool:
    try:
        squall._native.read_bytes(url)
    except squall.StoreNotFoundError:
        return False
    return True


def _wait_for(condition: Callable[[], bool], seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_deploy_can_create_a_role_limited_to_the_store(store: str) -> None:
    d = deploy(
        "squall-tests-own-role", store, role=None, create_role=True, memory_mb=512, timeout_s=30
    )
    assert d.status in ("created", "updated")
    # Read the role's policy back from IAM (LocalStack's query API), independently of squall.
    query = urllib.parse.urlencode(
        {
            "Action": "GetRolePolicy",
            "RoleName": "squall-tests-own-role-squall",
            "PolicyName": "squall-store-access",
            "Version": "2010-05-08",
        }
    )
    with urllib.request.urlopen(f"http://127.0.0.1:4566/?{query}", timeout=10) as r:
        xml = r.read().decode()
    document = urllib.parse.unquote(xml.split("<PolicyDocument>")[1].split("</PolicyDocument>")[0])
    policy = json.loads(html.unescape(document))
    by_action = {a: s for s in policy["Statement"] for a in s["Action"]}
    assert by_action["s3:PutObject"]["Resource"] == "arn:aws:s3:::squall-lambda/scratch/*"
    listing = by_action["s3:ListBucket"]
    assert listing["Resource"] == "arn:aws:s3:::squall-lambda"
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["scratch", "scratch/*"]}}
    group = "arn:aws:logs:*:*:log-group:/aws/lambda/squall-tests-own-role"
    assert by_action["logs:PutLogEvents"]["Resource"] == [group, f"{group}:*"]
    with squall.Session(backend="lambda", function=d.function_name, store=store) as s:
        assert s.map(square, [5, 6]).results() == [25, 36]


def test_the_role_policy_covers_the_log_groups_of_every_shard() -> None:
    policy = aws.role_policy("s3://lab/scratch", "fit", shards=2)
    logs = next(s for s in policy["Statement"] if "logs:PutLogEvents" in s["Action"])  # type: ignore[attr-defined]
    group = "arn:aws:logs:*:*:log-group:/aws/lambda/fit"
    assert logs["Resource"] == [group, f"{group}:*", f"{group}-shard2", f"{group}-shard2:*"]


def snapstart_probe(_: int) -> tuple[str, str, float]:
    import random
    import sys

    restored = sys.modules["squall._lambda"]._restored_as
    return os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE", ""), restored, random.random()


def lambda_versions(name: str) -> list[str]:
    """The function's versions, read from LocalStack's Lambda API (independently of squall)."""
    url = f"http://127.0.0.1:4566/2015-03-31/functions/{name}/versions"
    with urllib.request.urlopen(url, timeout=10) as r:
        return [v["Version"] for v in json.load(r)["Versions"]]


def test_snapstart_runs_a_published_version_behind_an_alias_and_reseeds_each_restore(
    store: str, tmp_path: Path
) -> None:
    # LocalStack takes SnapStart for python3.12+ runtimes only and this is Python 3.11: the
    # function says python3.12 and the emulator runs it with this interpreter (a 3.11 package).
    package = aws.build_package(out_dir=tmp_path, verbose=False)
    name, url = "squall-snap", f"{store}/deploy/squall-snap.zip"
    squall._native.write_bytes(url, package.path.read_bytes())
    bucket, _, key = url.removeprefix("s3://").partition("/")

    def deploy_snap(hash: str, snapstart: bool) -> str:
        return squall._native.deploy_function(
            name, runtime_id="python3.12", architecture="x86_64", handler=aws.HANDLER,
            memory_mb=512, timeout_s=60, role=ROLE, hash=hash, environment={"V": hash},
            reserved_concurrency=None, snapstart=snapstart, s3=(bucket, key),
        )  # fmt: skip

    assert deploy_snap("one", True) == "created"
    assert deploy_snap("two", True) == "updated"
    # The alias moved to the second version; the first is gone.
    assert aws.functions(name) == [f"{name}:squall"]
    assert lambda_versions(name) == ["$LATEST", "2"]
    with squall.Session(backend="lambda", function=name, store=store, workers=4) as s:
        out = s.map(snapstart_probe, range(8)).results()
        workers = set(s.last_job.stats.column("worker").to_pylist())
    assert {kind for kind, _, _ in out} == {"snap-start"}
    restores = {restored for _, restored, _ in out}
    assert "" not in restores
    # Each restored environment names itself apart in the job's record.
    assert len(workers) == len(restores)
    assert all(w.rsplit("-", 1)[1] in restores for w in workers)
    assert len({x for _, _, x in out}) == 8

    # Off again: the alias and its version go, sessions invoke the function itself.
    assert deploy_snap("three", False) == "updated"
    assert aws.functions(name) == [name]
    assert lambda_versions(name) == ["$LATEST"]
    with squall.Session(backend="lambda", function=name, store=store) as s:
        assert {kind for kind, _, _ in s.map(snapstart_probe, range(2)).results()} == {"on-demand"}


def test_snapstart_needs_python_3_12() -> None:
    with pytest.raises(ValueError, match=r"snapstart=True needs Python 3\.12 or later.*3\.11"):
        aws._check_snapstart(True, "3.11")
    aws._check_snapstart(True, "3.12")
    aws._check_snapstart(False, "3.11")


def test_fewer_shards_delete_the_extra_functions(function: str, store: str) -> None:
    # Last in this module: the module's function goes from two shards to one.
    two = deploy(function, store, shards=2)
    assert squall._native.deployed_hash(f"{function}-shard2") == two.hash
    d = deploy(function, store, shards=1)
    assert d.functions == (function,) and d.status == "updated"
    assert squall._native.deployed_hash(f"{function}-shard2") is None
    assert aws.functions(function) == [function]  # what sessions use


def test_after_a_snapstart_restore_random_generators_are_seeded_anew() -> None:
    import random

    from squall import _lambda

    random.seed(7)
    np.random.seed(7)
    from_the_snapshot = (random.random(), np.random.random())
    random.seed(7)  # the state every environment restored from one snapshot starts in
    np.random.seed(7)
    try:
        _lambda._after_restore()
        assert (random.random(), np.random.random()) != from_the_snapshot
        assert len(_lambda._restored_as) == 8
    finally:
        _lambda._restored_as = ""
