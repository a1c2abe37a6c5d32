"""Policies and models for large fleets: speculative backups, and the simulated Lambda fleet."""

from __future__ import annotations

from dataclasses import dataclass

from ._native import FleetModel as FleetModel
from ._native import StoreModel as StoreModel


@dataclass(frozen=True)
class Speculation:
    """When a running task gets a backup attempt on another worker (first to finish wins).

    Args:
        after: Share of the job's tasks that must have finished first.
        multiple: The task has run longer than this multiple of the finished ones' median...
        min_seconds: ...and longer than this.
    """

    after: float = 0.75
    multiple: float = 3.0
    min_seconds: float = 2.0
