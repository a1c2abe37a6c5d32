"""LocalStack on this machine: S3 and Lambda to try squall's Lambda backend with no AWS account
and no Docker.

From a shell (the Python you will run squall from; it also runs the emulated functions)::

    pip install "squall[localstack]"
    python -m squall.localstack --bucket demo

The first run installs LocalStack into a virtualenv of its own (:func:`default_venv`);
then it starts LocalStack in host mode, prints the environment to export, and runs until Ctrl-C,
which stops it and removes what it wrote. From Python, :func:`run` does the same for a block::

    with squall.localstack.run(bucket="demo") as endpoint:
        squall.deploy("squall-demo", store="s3://demo/squall", endpoint_url=endpoint, ...)

Each Lambda execution environment is a local process of ``lambda_python`` (by default this
interpreter) running the deployed package with the standard library and Lambda's runtime client
only: a requirement missing from ``deploy(requirements=...)`` fails here as it would on AWS.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from xml.etree import ElementTree

from .._cache import cache_dir
from ._install import LOCALSTACK_VERSION, install, installed

__all__ = [
    "LOCALSTACK_VERSION",
    "SERVICES",
    "default_venv",
    "endpoint_of",
    "environment",
    "install",
    "installed",
    "make_bucket",
    "run",
    "running",
]

#: The services squall uses.
SERVICES = ("s3", "lambda", "sts", "iam", "logs")
#: Where LocalStack keeps S3 objects (its S3 provider's fixed path).
S3_STORAGE = Path("/tmp/localstack-s3-storage")
#: How long LocalStack may take to answer on every service.
START_TIMEOUT_S = 120.0


def default_venv() -> Path:
    """Where :func:`run` installs LocalStack unless told: squall's cache folder ``localstack``
    (``~/.cache/squall/localstack`` unless ``$SQUALL_CACHE_DIR`` or ``$XDG_CACHE_HOME`` say)."""
    return cache_dir("localstack")


def endpoint_of(port: int) -> str:
    """The URL of a LocalStack listening on ``port`` of this machine."""
    return f"http://127.0.0.1:{port}"


def environment(endpoint: str) -> dict[str, str]:
    """The variables that point the AWS SDKs (squall's too) at LocalStack at ``endpoint``."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": "us-east-1",
    }


def running(endpoint: str) -> bool:
    """Whether a LocalStack at ``endpoint`` answers with every service squall uses."""
    try:
        with urllib.request.urlopen(f"{endpoint}/_localstack/health", timeout=2) as r:
            services = json.load(r)["services"]
        return all(services.get(s) in ("running", "available") for s in SERVICES)
    except (OSError, ValueError, KeyError, TypeError):
        return False


def make_bucket(name: str, endpoint: str) -> str:
    """Creates bucket ``name`` on the LocalStack at ``endpoint`` (fine if it is there); returns
    its ``s3://`` URL."""
    request = urllib.request.Request(f"{endpoint}/{name}", method="PUT")
    with urllib.request.urlopen(request, timeout=10) as r:
        if r.status != 200:
            raise RuntimeError(
                f"LocalStack at {endpoint} did not create bucket {name!r}: {r.status}"
            )
    return f"s3://{name}"


def _check_runtime_client(python: str) -> None:
    probe = subprocess.run([python, "-c", "import awslambdaric"], capture_output=True, text=True)
    if probe.returncode != 0:
        raise RuntimeError(
            f"emulated Lambda functions run with {python}, which cannot import awslambdaric "
            "(Lambda's runtime client): install it there with "
            f"`{python} -m pip install 'squall[localstack]'`"
        )


@contextmanager
def run(
    port: int = 4566,
    venv: str | os.PathLike[str] | None = None,
    lambda_python: str = sys.executable,
    workdir: str | os.PathLike[str] | None = None,
    bucket: str | None = None,
) -> Iterator[str]:
    """Runs LocalStack (S3, Lambda, IAM, STS, CloudWatch Logs) in host mode on ``port`` and
    yields its endpoint; stops it and removes what it wrote when the block ends. A LocalStack
    already answering on ``port`` is used as it is and left running.

    ``venv``: LocalStack's virtualenv (default :func:`default_venv`), installed on first use.
    ``lambda_python``: the interpreter of the emulated functions; it must be the Python minor
    version squall runs on and have ``awslambdaric``. ``workdir``: where LocalStack's files go
    (functions' unzipped code, about 200 MB each); a temporary directory by default.
    ``bucket``: a bucket to create.

    Example::

        with squall.localstack.run(port=4566, bucket="demo") as endpoint:
            print(squall.localstack.environment(endpoint))
    """
    endpoint = endpoint_of(port)
    if running(endpoint):
        if bucket:
            make_bucket(bucket, endpoint)
        yield endpoint
        return
    _check_runtime_client(lambda_python)
    localstack_python = install(Path(venv) if venv else default_venv())
    with contextlib.ExitStack() as stack:
        if workdir is None:
            workdir = stack.enter_context(tempfile.TemporaryDirectory(prefix="squall-localstack-"))
        endpoint = stack.enter_context(
            _started(localstack_python, port, lambda_python, Path(workdir))
        )
        if bucket:
            make_bucket(bucket, endpoint)
        yield endpoint


@contextmanager
def _started(
    localstack_python: Path, port: int, lambda_python: str, workdir: Path
) -> Iterator[str]:
    endpoint = endpoint_of(port)
    log_path = workdir / "localstack.log"
    tmp = workdir / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    env = dict(
        os.environ,
        GATEWAY_LISTEN=f"127.0.0.1:{port}",
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
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not running(endpoint):
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = log_path.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"LocalStack did not start (exit {proc.poll()}):\n{tail}")
            time.sleep(0.5)
        yield endpoint
    finally:
        buckets = _buckets(endpoint) if proc.poll() is None else []
        # Its state is thrown away below: a short grace, then the whole process group (the
        # functions' processes too) is killed.
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(3)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)
        # LocalStack keeps S3 objects under a fixed path of its own, a folder per bucket, which
        # another LocalStack on this machine may share: only this one's buckets go, then, when
        # no other bucket is left, its Lambda code bucket (which it does not list) and the path.
        for name in buckets:
            shutil.rmtree(S3_STORAGE / name, ignore_errors=True)
        left = list(S3_STORAGE.iterdir()) if S3_STORAGE.is_dir() else []
        if all(p.name.startswith("awslambda-") for p in left):
            for p in left:
                shutil.rmtree(p, ignore_errors=True)
            with contextlib.suppress(OSError):
                S3_STORAGE.rmdir()


def _buckets(endpoint: str) -> list[str]:
    """The buckets of the LocalStack at ``endpoint`` (none if it does not answer)."""
    # LocalStack takes a request for S3 by its (unchecked) signature's scope.
    scope = "Credential=test/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0"
    request = urllib.request.Request(
        f"{endpoint}/", headers={"Authorization": f"AWS4-HMAC-SHA256 {scope}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            root = ElementTree.fromstring(r.read())
    except (OSError, ElementTree.ParseError):
        return []
    return [e.text or "" for e in root.iter() if e.tag.endswith("}Name") and e.text]
