"""Housekeeping of sessions' scratch space: each session's record in its store, and the
removal of what sessions of dead processes left behind."""

from __future__ import annotations

import tempfile
import threading

from . import _native, _threads

#: Shared memory for shuffles on this machine, used while it has four times a shuffle's input
#: (plus 1 GiB) free.
SHM_DIR = "/dev/shm"

_reaped = threading.Event()

#: Seconds between a session's signs of life in its store (see ``_native.heartbeat``).
HEARTBEAT_SECONDS = 3600.0


def reap_dead_sessions(store: str, session_id: str) -> None:
    """Records a session in its store and removes the scratch of dead ones. A store
    that cannot be reached now is tried again by the next session; the job itself will say."""
    try:
        _native.reap_store(store, session_id)
    except Exception:
        pass


def reap_dead_scratch() -> None:
    """Removes, once per process and in the background, the scratch directories that sessions
    of dead processes left in the temp directory and in shared memory."""
    if _reaped.is_set():
        return
    _reaped.set()
    parents = [tempfile.gettempdir(), SHM_DIR]
    _threads.start(_native.reap_scratch, (parents,), "squall-reaper")
