"""``python -m squall.localstack``, as a user runs it: LocalStack started on a port of its own,
the printed environment used by squall in another process (S3 and a Lambda function), Ctrl-C
stopping it and removing its files."""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

import squall.localstack

pytestmark = pytest.mark.timeout(300)

#: What the user runs where squall runs, after exporting the command's environment.
USER_SCRIPT = """
import pyarrow as pa, squall
store = "{store}"
squall.deploy(function_name="squall-cli", store=store, role="arn:aws:iam::000000000000:role/x",
              memory_mb=512, timeout_s=60, verbose=False)
with squall.Session(backend="lambda", function="squall-cli", store=store) as s:
    print("squares", s.map(lambda x: x * x, range(4)).results())
squall.from_arrow(pa.table({{"x": [3, 1, 2]}})).write_parquet(store + "/table")
print("rows", squall.read_parquet(store + "/table").sort("x").collect()["x"].to_pylist())
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_command_starts_localstack_that_squall_uses_and_ctrl_c_removes_it(
    tmp_path: Path, localstack_venv: Path, s3_server: str, ctrl_c: None
) -> None:
    # This run's own LocalStack shares the path LocalStack keeps S3 objects under.
    other = squall.localstack.make_bucket(f"other-{uuid.uuid4().hex[:8]}", s3_server)
    other_dir = squall.localstack.S3_STORAGE / other.removeprefix("s3://")
    port, bucket = _free_port(), f"cli-{uuid.uuid4().hex[:8]}"
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    command = [sys.executable, "-m", "squall.localstack", "--port", str(port), "--bucket", bucket]
    command += ["--venv", str(localstack_venv)]
    proc = subprocess.Popen(
        command,
        env=dict(os.environ, TMPDIR=str(tmp)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        printed = []
        for line in proc.stdout:
            printed.append(line)
            if line.strip().startswith("export "):
                break
        text = "".join(printed)
        assert f"is up at http://127.0.0.1:{port}" in text, text
        exports = dict(
            word.split("=", 1) for word in shlex.split(line.strip().removeprefix("export "))
        )
        assert exports["AWS_ENDPOINT_URL"] == f"http://127.0.0.1:{port}"
        assert squall.localstack.running(exports["AWS_ENDPOINT_URL"])
        # Its files live under the TMPDIR it was given, until it stops.
        assert [p.name for p in tmp.iterdir() if p.name.startswith("squall-localstack-")]

        user = subprocess.run(
            [sys.executable, "-c", USER_SCRIPT.format(store=f"s3://{bucket}/squall")],
            env=dict(os.environ, **exports),
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert user.returncode == 0, user.stderr[-3000:]
        assert "squares [0, 1, 4, 9]" in user.stdout
        assert "rows [1, 2, 3]" in user.stdout
        assert (squall.localstack.S3_STORAGE / bucket).is_dir()
    finally:
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, rest
    assert "Stopped LocalStack." in rest
    assert not squall.localstack.running(f"http://127.0.0.1:{port}")
    assert not list(tmp.iterdir()), "the command left files behind"
    # Its bucket's objects are gone; another LocalStack's (this run's own) are not touched.
    assert not (squall.localstack.S3_STORAGE / bucket).exists()
    assert other_dir.is_dir()


def test_a_lambda_python_without_the_runtime_client_is_refused_naming_the_fix(
    tmp_path: Path,
) -> None:
    bare = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    port = _free_port()
    with pytest.raises(RuntimeError, match=r"cannot import awslambdaric.*squall\[localstack\]"):
        with squall.localstack.run(
            port, venv=tmp_path / "nowhere", lambda_python=str(bare / "bin/python")
        ):
            pass
    assert not (tmp_path / "nowhere").exists()


def test_a_virtualenv_that_cannot_be_made_is_a_clear_error(tmp_path: Path) -> None:
    where = tmp_path / "file"
    where.write_text("not a directory")
    command = [sys.executable, "-m", "squall.localstack", "install", "--venv", str(where / "v")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "pass --venv a directory you can write" in done.stderr, done.stderr
