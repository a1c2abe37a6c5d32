"""Shared fixtures: one two-worker session for the whole run, and a LocalStack S3 server.

LocalStack (``localstack-core``, host mode, its own virtualenv ``.venv-localstack`` that
``make test`` installs) is started once, on first use, and stopped at the end of the run.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import squall

ROOT = Path(__file__).resolve().parent.parent
S3_ENDPOINT = "http://127.0.0.1:4566"
LOCALSTACK_PYTHON = Path(
    os.environ.get("SQUALL_LOCALSTACK_PYTHON", ROOT / ".venv-localstack" / "bin" / "python")
)

# Every process of the run (workers included) talks to LocalStack, never to AWS.
os.environ.setdefault("AWS_ENDPOINT_URL", S3_ENDPOINT)
os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
os.environ.setdefault("AWS_REGION", "us-east-1")


@pytest.fixture(scope="session")
def session() -> Iterator[squall.Session]:
    with squall.Session(workers=2) as s:
        yield s


def _s3_running() -> bool:
    try:
        with urllib.request.urlopen(f"{S3_ENDPOINT}/_localstack/health", timeout=2) as r:
            return json.load(r)["services"].get("s3") in ("running", "available")
    except (OSError, ValueError, KeyError):
        return False


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """LocalStack's S3 endpoint, started for this run (or reused if already up)."""
    if _s3_running():
        yield S3_ENDPOINT
        return
    if not LOCALSTACK_PYTHON.exists():
        pytest.fail(f"LocalStack is not installed at {LOCALSTACK_PYTHON}: run `make test`")
    log_path = tmp_path_factory.mktemp("localstack") / "localstack.log"
    env = dict(
        os.environ,
        GATEWAY_LISTEN="127.0.0.1:4566",
        SERVICES="s3",
        EAGER_SERVICE_LOADING="1",
        DNS_ADDRESS="0",
        SKIP_SSL_CERT_DOWNLOAD="1",
        LOCALSTACK_VOLUME_DIR=str(log_path.parent / "volume"),
    )
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [str(LOCALSTACK_PYTHON), "-m", "localstack.runtime.main"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 120
        while not _s3_running():
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = log_path.read_text(errors="replace")[-3000:]
                pytest.fail(f"LocalStack did not start (exit {proc.poll()}):\n{tail}")
            time.sleep(0.5)
        yield S3_ENDPOINT
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def s3_bucket(s3_server: str) -> str:
    """A new, empty bucket; returns its s3:// URL."""
    name = f"squall-test-{uuid.uuid4().hex[:12]}"
    request = urllib.request.Request(f"{s3_server}/{name}", method="PUT")
    with urllib.request.urlopen(request, timeout=10) as r:
        assert r.status == 200
    return f"s3://{name}"


@pytest.fixture(params=["file", "memory", "s3"])
def root(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh location on each store: file://, memory:// and s3:// (LocalStack)."""
    if request.param == "file":
        return f"file://{tmp_path}"
    if request.param == "s3":
        return str(request.getfixturevalue("s3_bucket"))
    return f"memory://test-{uuid.uuid4().hex}"
