"""Starting and stopping LocalStack (S3 and Lambda, host mode) for the tests and benchmarks.

Its Lambda functions run as local processes through the ``squall-process`` runtime executor
(``squall_lambda_executor``), with the interpreter ``lambda_python``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ENDPOINT = "http://127.0.0.1:4566"
SERVICES = ("s3", "lambda", "sts", "iam", "logs")


def running() -> bool:
    """Whether LocalStack answers with every service squall uses."""
    try:
        with urllib.request.urlopen(f"{ENDPOINT}/_localstack/health", timeout=2) as r:
            services = json.load(r)["services"]
        return all(services.get(s) in ("running", "available") for s in SERVICES)
    except (OSError, ValueError, KeyError):
        return False


@contextmanager
def localstack(localstack_python: Path, lambda_python: str, workdir: Path) -> Iterator[str]:
    """Runs LocalStack (or reuses one already up) and yields its endpoint; stops what it started.

    Its temporary files, among them every Lambda function's unzipped code (about 200 MB each), go
    under ``workdir`` and are removed when it stops.
    """
    if running():
        yield ENDPOINT
        return
    if not localstack_python.exists():
        raise RuntimeError(f"LocalStack is not installed at {localstack_python}: run `make test`")
    # LocalStack keeps S3 objects under a fixed path of its own: removed at the end unless it
    # was there before (another LocalStack's).
    s3_storage = Path("/tmp/localstack-s3-storage")
    s3_storage_was_there = s3_storage.exists()
    log_path = workdir / "localstack.log"
    tmp = workdir / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    env = dict(
        os.environ,
        GATEWAY_LISTEN="127.0.0.1:4566",
        SERVICES=",".join(SERVICES),
        LAMBDA_RUNTIME_EXECUTOR="squall-process",
        SQUALL_LAMBDA_PYTHON=lambda_python,
        EAGER_SERVICE_LOADING="1",
        DNS_ADDRESS="0",
        SKIP_SSL_CERT_DOWNLOAD="1",
        LOCALSTACK_VOLUME_DIR=str(workdir / "volume"),
        TMPDIR=str(tmp),
    )
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [str(localstack_python), "-m", "localstack.runtime.main"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 120
        while not running():
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = log_path.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"LocalStack did not start (exit {proc.poll()}):\n{tail}")
            time.sleep(0.5)
        yield ENDPOINT
    finally:
        # Its state is thrown away below: a short grace, then the whole process group (the
        # functions' processes too) is killed.
        proc.terminate()
        try:
            proc.wait(3)
        except subprocess.TimeoutExpired:
            pass
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)
        if not s3_storage_was_there:
            shutil.rmtree(s3_storage, ignore_errors=True)


def make_bucket(name: str) -> str:
    """Creates bucket ``name`` (fine if it exists); returns its s3:// URL."""
    request = urllib.request.Request(f"{ENDPOINT}/{name}", method="PUT")
    with urllib.request.urlopen(request, timeout=10) as r:
        assert r.status == 200
    return f"s3://{name}"
