"""The worker process of the local backend: ``python -m squall._worker``.

It reads task frames from its request pipe, runs each with ``squall._native.execute_frame`` and
answers on its reply pipe. Both pipes are private: the worker moves them off stdin and stdout
(to descriptors that subprocesses do not inherit), points stdout at stderr, which the driver
forwards, and closes them in any child it forks, so a task that forks (or prints) cannot write
a frame. An answer names the job, task and attempt it answers; the driver takes anything else
for a broken worker. A worker keeps freed memory for its next task (see
``squall._local_workers.WORKER_MALLOC``), and gives it back to the system once idle for a
second (its own process only: the user's process is never trimmed).
"""

from __future__ import annotations

import json
import os
import select
import signal
import struct
import sys
from typing import BinaryIO

from squall import _native

_PREFIX = struct.Struct("<IQ")

#: Seconds without a task after which a worker returns its free heap to the system.
IDLE_TRIM_SECONDS = 1.0


def _read_exact(f: BinaryIO, n: int) -> bytes | None:
    """``n`` bytes from the unbuffered pipe ``f``, or None when it closed first."""
    parts = []
    while n:
        part = f.read(n)
        if not part:
            return None
        parts.append(part)
        n -= len(part)
    return b"".join(parts)


def _send(out: BinaryIO, head: bytes, body: bytes) -> None:
    out.write(_PREFIX.pack(len(head), len(body)))
    out.write(head)
    out.write(body)
    out.flush()


def main() -> None:
    """Serves tasks over the request and reply pipes until the driver closes its end."""
    # The driver decides what to stop; a terminal's Ctrl-C must not kill tasks mid-flight.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # os.dup makes descriptors that exec'd subprocesses do not inherit.
    requests = os.fdopen(os.dup(0), "rb", buffering=0)
    replies = os.fdopen(os.dup(1), "wb")

    def close_pipes_in_child() -> None:
        # A forked child (multiprocessing, os.fork in a task) must never answer for the worker.
        for pipe in (requests, replies):
            try:
                os.close(pipe.fileno())
            except OSError:
                pass

    os.register_at_fork(after_in_child=close_pipes_in_child)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)  # user prints must never corrupt the reply stream
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    _send(replies, json.dumps({"pid": os.getpid()}).encode(), b"")
    while True:
        if not select.select([requests], [], [], IDLE_TRIM_SECONDS)[0]:
            _native.release_memory(process_heap=True)
        prefix = _read_exact(requests, _PREFIX.size)
        if prefix is None:
            return  # the driver is gone
        header_len, body_len = _PREFIX.unpack(prefix)
        header = _read_exact(requests, header_len)
        payload = _read_exact(requests, body_len)
        if header is None or payload is None:
            return
        reply = _native.execute_frame(header, payload)
        # What the task printed is on stderr before the mark that ends it.
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):  # closed or broken by the task
                pass
        try:
            os.write(2, _native.TASK_END_MARK)
        except OSError:  # the task closed stderr: its output goes to no task
            pass
        _send(replies, *reply)


if __name__ == "__main__":
    main()
