"""Shared fixtures: one two-worker session for the whole run, and a scratch directory."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import squall


@pytest.fixture(scope="session")
def session() -> Iterator[squall.Session]:
    with squall.Session(workers=2) as s:
        yield s
