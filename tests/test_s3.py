"""The s3:// store against a real S3 server (LocalStack): the store contract and its errors."""

from __future__ import annotations

import hashlib

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
        (f"{s3_bucket}/a/empty.bin", 0),
        (f"{s3_bucket}/a/one.bin", 10),
        (f"{s3_bucket}/a/two.bin", 2),
    ]
    assert [u for u, _ in _native.resolve(f"{s3_bucket}/a/t*.bin")] == [f"{s3_bucket}/a/two.bin"]
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
