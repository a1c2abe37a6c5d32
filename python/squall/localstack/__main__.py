"""``python -m squall.localstack``: LocalStack for squall on this machine, until Ctrl-C."""

from __future__ import annotations

import argparse
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

from . import (
    LOCALSTACK_VERSION,
    default_venv,
    endpoint_of,
    environment,
    install,
    installed,
    make_bucket,
    run,
    running,
)

#: How often the running command checks that LocalStack still answers.
WATCH_S = 5.0


def _stop(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _usage(endpoint: str, bucket: str | None, lambda_python: str) -> str:
    env = environment(endpoint)
    exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    store = f"s3://{bucket}/squall" if bucket else "s3://<bucket>/squall"
    return f"""\
LocalStack {LOCALSTACK_VERSION} is up at {endpoint} (S3, Lambda, IAM, STS, CloudWatch Logs).
Emulated Lambda functions run with {lambda_python}: squall must run on the same Python version.
Ctrl-C stops LocalStack and removes its files.

Where squall runs, in a shell:
  export {exports}
or at the top of a notebook, before squall talks to AWS:
  import os; os.environ.update({env!r})
Then:
  import squall
  squall.deploy(function_name="squall-try", store="{store}",
                role="arn:aws:iam::000000000000:role/squall")
  with squall.Session(backend="lambda", function="squall-try", store="{store}") as s:
      print(s.map(abs, range(-3, 3)).results())
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m squall.localstack",
        description="Starts LocalStack (S3 and Lambda, no Docker) for squall and prints the "
        "environment to export; runs until Ctrl-C. The first run installs LocalStack.",
    )
    parser.add_argument("action", nargs="?", choices=("start", "install"), default="start")
    parser.add_argument("--port", type=int, default=4566)
    parser.add_argument("--bucket", help="a bucket to create, e.g. for the session's store")
    parser.add_argument(
        "--venv", type=Path, default=default_venv(), help="LocalStack's own virtualenv"
    )
    parser.add_argument(
        "--lambda-python",
        default=sys.executable,
        help="the interpreter of the emulated functions (default: this one)",
    )
    args = parser.parse_args(argv)
    if not installed(args.venv):
        print(f"Installing LocalStack {LOCALSTACK_VERSION} into {args.venv} (once)...", flush=True)
    try:
        install(args.venv)
    except (OSError, subprocess.CalledProcessError) as e:
        print(
            f"squall.localstack: installing LocalStack into {args.venv} failed ({e}); see pip's "
            "output above, or pass --venv a directory you can write",
            file=sys.stderr,
        )
        return 1
    if args.action == "install":
        print(f"LocalStack {LOCALSTACK_VERSION} is installed in {args.venv}.")
        return 0
    endpoint = endpoint_of(args.port)
    if running(endpoint):
        print(f"A LocalStack already answers at {endpoint}: using it as it is (not stopped here).")
        if args.bucket:
            make_bucket(args.bucket, endpoint)
        print(_usage(endpoint, args.bucket, args.lambda_python))
        return 0
    # SIGTERM stops LocalStack as Ctrl-C does, while this runs; the handler before is put back
    # (main() may be called from a program of the user's).
    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        with run(args.port, args.venv, args.lambda_python, bucket=args.bucket):
            print(_usage(endpoint, args.bucket, args.lambda_python), flush=True)
            while running(endpoint):
                time.sleep(WATCH_S)
            print(f"LocalStack at {endpoint} stopped answering.", file=sys.stderr)
            return 1
    except KeyboardInterrupt:
        print("Stopped LocalStack.", flush=True)
        return 0
    except RuntimeError as e:
        print(f"squall.localstack: {e}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
