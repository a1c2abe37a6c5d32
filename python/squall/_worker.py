"""The worker process of the local backend: ``python -m squall._worker``.

It reads task frames from stdin, runs each with :func:`squall._task.execute_task` and answers on
stdout. User code's prints go to stderr, which the driver forwards.
"""

from __future__ import annotations

import json
import os
import signal
import struct
import sys
from typing import Any, BinaryIO

from squall._task import execute_task

_PREFIX = struct.Struct("<IQ")


def _send(out: BinaryIO, header: dict[str, Any], body: bytes) -> None:
    head = json.dumps(header).encode()
    out.write(_PREFIX.pack(len(head), len(body)))
    out.write(head)
    out.write(body)
    out.flush()


def main() -> None:
    """Serves tasks over stdin/stdout until the driver closes stdin."""
    # The driver decides what to stop; a terminal's Ctrl-C must not kill tasks mid-flight.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    requests = os.fdopen(os.dup(0), "rb")
    replies = os.fdopen(os.dup(1), "wb")
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)  # user prints must never corrupt the reply stream
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    _send(replies, {"pid": os.getpid()}, b"")
    while True:
        prefix = requests.read(_PREFIX.size)
        if len(prefix) < _PREFIX.size:
            return  # the driver is gone
        header_len, body_len = _PREFIX.unpack(prefix)
        spec = json.loads(requests.read(header_len))
        report, body = execute_task(spec, requests.read(body_len))
        _send(replies, report, body)


if __name__ == "__main__":
    main()
