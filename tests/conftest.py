"""Shared fixtures: one two-worker session for the whole run, LocalStack (S3 and Lambda), and a
Redis-compatible server (Valkey, from the same virtualenv) for the redis:// store.

LocalStack (``localstack-core``, host mode, its own virtualenv ``.venv-localstack`` that
``make test`` installs) is started once, on first use, and stopped at the end of the run. Its
Lambda functions run as local processes through squall's runtime-executor plugin
(``squall.localstack``), with this test run's Python: the squall installed here stands in for
Lambda's own Python runtime, and the deployed package comes first on its path.
"""

from __future__ import annotations

import os
import signal
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from emulators.redis_server import redis_server

import squall
import squall.localstack

ROOT = Path(__file__).resolve().parent.parent
LOCALSTACK_PYTHON = Path(
    os.environ.get("SQUALL_LOCALSTACK_PYTHON", ROOT / ".venv-localstack" / "bin" / "python")
)
ENDPOINT = squall.localstack.endpoint_of(4566)

# Every process of the run (workers included) talks to LocalStack, never to AWS.
for _name, _value in squall.localstack.environment(ENDPOINT).items():
    os.environ.setdefault(_name, _value)
# The wheel `make wheel` built for Lambda's Linux: what squall.deploy ships in these tests.
_wheels = sorted((ROOT / "dist").glob("squall-*.whl"))
if _wheels:
    os.environ.setdefault("SQUALL_WHEEL", str(_wheels[-1]))


@pytest.fixture(scope="session", autouse=True)
def _no_scratch_left_behind() -> Iterator[None]:
    """Drivers that tests kill leave their scratch directories: removed at the end of the run,
    as the next session on this machine would."""
    yield
    squall._native.reap_scratch([tempfile.gettempdir(), "/dev/shm"])


@pytest.fixture(scope="session", autouse=True)
def _package_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """squall.deploy's packages are cached in the run's temporary directory, never the home."""
    os.environ["SQUALL_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="session")
def session() -> Iterator[squall.Session]:
    with squall.Session(workers=2) as s:
        yield s


@pytest.fixture(scope="session")
def localstack_venv() -> Path:
    """LocalStack's virtualenv (``make test`` installs it)."""
    return LOCALSTACK_PYTHON.parent.parent


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory, localstack_venv: Path) -> Iterator[str]:
    """LocalStack's endpoint (S3 and Lambda), started for this run (or reused if already up)."""
    try:
        with squall.localstack.run(
            venv=localstack_venv, workdir=tmp_path_factory.mktemp("ls")
        ) as url:
            yield url
    except RuntimeError as e:
        pytest.fail(str(e))


@pytest.fixture(scope="session")
def redis_address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``host:port`` of a Valkey server started for this run, stopped at its end."""
    try:
        with redis_server(tmp_path_factory.mktemp("redis")) as address:
            yield address
    except RuntimeError as e:
        pytest.fail(str(e))


@pytest.fixture
def s3_bucket(s3_server: str) -> str:
    """A new, empty bucket; returns its s3:// URL."""
    return squall.localstack.make_bucket(f"squall-test-{uuid.uuid4().hex[:12]}", ENDPOINT)


@pytest.fixture(params=["file", "memory", "s3"])
def root(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh location on each store: file://, memory:// and s3:// (LocalStack)."""
    if request.param == "file":
        return f"file://{tmp_path}"
    if request.param == "s3":
        return str(request.getfixturevalue("s3_bucket"))
    return f"memory://test-{uuid.uuid4().hex}"


def _worker_pids() -> list[int]:
    """This process's squall worker processes."""
    me = os.getpid()
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == me and b"squall._worker" in cmd:
            pids.append(int(entry))
    return pids


@pytest.fixture
def worker_pids() -> Callable[[], list[int]]:
    """Lists this process's squall worker processes (to kill them)."""
    return _worker_pids


@pytest.fixture
def ctrl_c() -> Iterator[None]:
    """Ctrl-C raises KeyboardInterrupt in this test (and its children's Pythons), even when the
    test run was started in the background of a shell, which ignores SIGINT there."""
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, old)
