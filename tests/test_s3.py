"""The s3:// store against a real S3 server (LocalStack): the store contract and its errors."""

from __future__ import annotations

import hashlib
import http.server
import os
import subprocess
import sys
import threading
from typing import ClassVar

import numpy as np
import pytest

import squall
from squall import _native

MB = 1 << 20


def test_put_get_range_list_delete(s3_bucket: str) -> None:
    _native.write_bytes(f"{s3_bucket}/a/one.bin", b"0123456789")
    _native.write_bytes(f"{s3_bucket}/a/two.bin", b"xy")
    _native.write_bytes(f"{s3_bucket}/a/empty.bin", b"")
    assert _native.read_bytes(f"{s3_bucket}/a/one.bin") == b"0123456789"
    assert _native.read_bytes(f"{s3_bucket}/a/empty.bin") == b""
    assert _native.read_range(f"{s3_bucket}/a/one.bin", 2, 5) == b"234"
    listed = _native.resolve(f"{s3_bucket}/a/")
    assert listed == [
        (f"{s3_bucket}/a/empty.bin", 0, []),
        (f"{s3_bucket}/a/one.bin", 10, []),
        (f"{s3_bucket}/a/two.bin", 2, []),
    ]
    assert [u for u, _, _ in _native.resolve(f"{s3_bucket}/a/t*.bin")] == [f"{s3_bucket}/a/two.bin"]
    _native.delete([f"{s3_bucket}/a/one.bin", f"{s3_bucket}/a/never-existed.bin"])
    with pytest.raises(squall.StoreNotFoundError, match=r"one\.bin"):
        _native.read_bytes(f"{s3_bucket}/a/one.bin")


def test_large_objects_use_multipart_upload_and_parallel_ranged_reads(s3_bucket: str) -> None:
    data = np.random.default_rng(5).bytes(40 * MB + 12345)  # 6 parts of 8 MB and a tail
    _native.write_bytes(f"{s3_bucket}/big.bin", data)
    back = _native.read_bytes(f"{s3_bucket}/big.bin")
    assert hashlib.sha256(back).digest() == hashlib.sha256(data).digest()
    start, end = 7 * MB - 3, 25 * MB + 11
    assert _native.read_range(f"{s3_bucket}/big.bin", start, end) == data[start:end]


def test_listing_pages_past_a_thousand_keys(s3_bucket: str) -> None:
    for i in range(1005):
        _native.write_bytes(f"{s3_bucket}/many/k{i:05}", b".")
    found = _native.resolve(f"{s3_bucket}/many/")
    assert len(found) == 1005 and found[-1][0].endswith("k01004")


def test_missing_bucket_and_key_are_named(s3_server: str, s3_bucket: str) -> None:
    with pytest.raises(squall.StoreNotFoundError, match="no-such-bucket-squall"):
        _native.read_bytes("s3://no-such-bucket-squall/x.parquet")
    with pytest.raises(squall.StoreNotFoundError, match=r"missing\.parquet"):
        squall.read_parquet(f"{s3_bucket}/missing.parquet")
    with pytest.raises(squall.StoreNotFoundError, match=r"nothing/\*\.parquet"):
        squall.read_parquet(f"{s3_bucket}/nothing/*.parquet")


class _FlakyS3(http.server.BaseHTTPRequestHandler):
    """Answers GETs with `script`'s statuses in turn, then 200 and the body."""

    script: ClassVar[list[int]] = []
    seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.seen.append(self.path)
        status = self.script.pop(0) if self.script else 200
        if status == 200:
            body = b"payload after throttling"
        else:
            code = {503: "SlowDown", 403: "AccessDenied", 500: "InternalError"}[status]
            body = f"<Error><Code>{code}</Code><Message>{code}</Message></Error>".encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def _read_through(server_script: list[int]) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    _FlakyS3.script = list(server_script)
    _FlakyS3.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FlakyS3)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    env = dict(os.environ, AWS_ENDPOINT_URL=f"http://127.0.0.1:{server.server_port}")
    code = (
        "import squall\nfrom squall import _native\n"
        "try:\n    print(_native.read_bytes('s3://lab/k').decode())\n"
        "except squall.SquallError as e:\n    print(type(e).__name__, e)\n"
    )
    try:
        done = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
        )
    finally:
        server.shutdown()
        server.server_close()
    return done, list(_FlakyS3.seen)


def test_throttling_and_5xx_are_retried_with_backoff() -> None:
    done, seen = _read_through([503, 500, 503])
    assert done.stdout.strip() == "payload after throttling", done.stderr
    assert len(seen) == 4


def test_retries_are_bounded_and_then_raise_a_transient_error() -> None:
    done, seen = _read_through([503] * 20)
    assert done.stdout.startswith("TransientError"), done.stdout + done.stderr
    assert "s3://lab/k" in done.stdout and "SlowDown" in done.stdout
    assert 2 <= len(seen) <= 10


def test_access_denied_is_a_permission_error() -> None:
    done, seen = _read_through([403])
    assert done.stdout.startswith("StorePermissionError"), done.stdout + done.stderr
    assert "s3://lab/k" in done.stdout and len(seen) == 1
