"""Fixtures of the hostile suite: a dataset location on each store that matters (file:// and
s3:// on LocalStack), a raw listing of what is really there (hidden files included), and a way
to run a driver in a process of its own, so that it can be killed."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture(params=["file", "s3"])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh location on a local disk or in an S3 bucket (LocalStack)."""
    if request.param == "file":
        return f"file://{tmp_path}"
    return str(request.getfixturevalue("s3_bucket"))


def _s3_keys(url: str) -> list[str]:
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    keys: list[str] = []
    token = ""
    while True:
        query = {"list-type": "2", "prefix": prefix} | (
            {"continuation-token": token} if token else {}
        )
        with urllib.request.urlopen(
            f"{os.environ['AWS_ENDPOINT_URL']}/{bucket}?{urllib.parse.urlencode(query)}"
        ) as r:
            root = ET.fromstring(r.read())
        ns = {"s3": root.tag.split("}")[0].strip("{")}
        keys += [k.text or "" for k in root.iterfind("s3:Contents/s3:Key", ns)]
        token = root.findtext("s3:NextContinuationToken", "", ns)
        if not token:
            return sorted(k[len(prefix) :].lstrip("/") for k in keys)


def raw_names(url: str) -> list[str]:
    """Every object under ``url`` (a directory or prefix), hidden ones included, as paths
    relative to it; squall's own lock files left out."""
    if url.startswith("s3://"):
        return _s3_keys(url.rstrip("/") + "/")
    root = Path(url.removeprefix("file://"))
    found = [
        str((Path(d) / f).relative_to(root))
        for d, _, files in os.walk(root)
        for f in files
        if not f.startswith(".squall-lock-")
    ]
    return sorted(found)


@pytest.fixture
def raw() -> Callable[[str], list[str]]:
    """``raw(url)``: what is really under ``url``."""
    return raw_names


def run_driver(code: str, *args: str, env: dict[str, str] | None = None, timeout: float = 120):
    """Runs ``code`` (a Python script using squall) in a process of its own with ``args``."""
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        env=os.environ | (env or {}),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def driver() -> Callable[..., subprocess.CompletedProcess[str]]:
    """``driver(code, *args, env=..., timeout=...)``: a driver process of its own."""
    return run_driver
