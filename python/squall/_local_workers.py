"""How the local backend's worker processes are started: how many, and their environment."""

from __future__ import annotations

import os
import sys

#: glibc malloc settings for squall's worker processes (never the user's process). squall's
#: engine allocates from its own allocator; these cover what Python and the task's libraries
#: take from glibc: freed memory is kept for the next task, as a warm Lambda container keeps
#: it, and one arena serves the worker's threads, so that no thread's arena keeps its own peak.
WORKER_MALLOC = (
    "glibc.malloc.mmap_threshold=4294967295:glibc.malloc.trim_threshold=4294967295"
    ":glibc.malloc.arena_max=1"
)


def default_workers() -> int:
    """Local workers by default: the CPUs this process may use, plus one, so that while a
    worker waits on a disk (a dataset's file being written) another keeps that CPU busy."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return cpus + 1


def worker_env() -> list[tuple[str, str]]:
    # About one worker per core: a BLAS thread pool in each would only fight the others (and
    # its idle threads spin). A caller's own settings win.
    env = [("PYTHONPATH", worker_pythonpath())]
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.append((var, os.environ.get(var, "1")))
    env.append(("GLIBC_TUNABLES", os.environ.get("GLIBC_TUNABLES", WORKER_MALLOC)))
    return env


def worker_pythonpath() -> str:
    # Workers must import what the caller can: modules beside a script or notebook included.
    entries = [os.path.abspath(p or os.curdir) for p in sys.path]
    return os.pathsep.join(dict.fromkeys(entries))
