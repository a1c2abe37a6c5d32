"""The AWS Lambda handler: ``squall._lambda.handler``.

Lambda invokes it with the event the driver's ``lambda`` backend sends; it runs the very
``squall._native.execute_frame`` the local workers run. Function and arguments come inline
(base64) or, when too large for an event, from the scratch store; the answer goes back the same way.

Under SnapStart (``deploy(snapstart=True)``) the module imports what every task needs when it is
loaded, before Lambda snapshots the environment, and after each restore seeds anew the random
generators that the snapshot would otherwise hand every environment in the same state.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import random
import sys
import tempfile
import uuid
from collections.abc import Iterator
from typing import Any

#: Largest pickled result returned inside the answer (Lambda's response limit is 6 MB and
#: base64 grows the bytes by a third).
INLINE_LIMIT = 4 << 20

#: Bytes of a task's output (its last ones) returned in the answer for the driver to show.
OUTPUT_LIMIT = 64 << 10


_cold = True
#: Set in each environment restored from a SnapStart snapshot: environments of one snapshot
#: share everything else.
_restored_as = ""


def _worker_name() -> str:
    # One log stream per execution environment: it names the "worker" in job statistics.
    name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME") or f"lambda-{os.getpid()}"
    return f"{name}-{_restored_as}" if _restored_as else name


def _after_restore() -> None:
    """Runs in each environment restored from the snapshot, before its first invocation."""
    global _restored_as
    _restored_as = uuid.uuid4().hex[:8]  # os.urandom: the kernel's, not the snapshot's
    random.seed()
    if numpy := sys.modules.get("numpy"):
        numpy.random.seed()


def _before_snapshot() -> None:
    """Imports, while Lambda initialises a SnapStart version, what every task imports."""
    import cloudpickle  # noqa: F401
    import numpy  # noqa: F401
    import pyarrow  # noqa: F401
    from snapshot_restore_py import (  # Lambda runtime 3.12+
        register_after_restore,
    )

    from . import _native  # noqa: F401

    register_after_restore(_after_restore)


if os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "snap-start":
    _before_snapshot()


@contextlib.contextmanager
def _captured() -> Iterator[list[str]]:
    """What the task writes to its stdout and stderr (C libraries' writes too), for the driver:
    its last :data:`OUTPUT_LIMIT` bytes, decoded, are in the list once the block ends. The
    bytes also go on to the function's log (CloudWatch), after the task."""
    out = [""]
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    saved = (os.dup(1), os.dup(2))
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            yield out
        finally:
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(OSError, ValueError):
                    stream.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            size = sink.seek(0, os.SEEK_END)
            sink.seek(0)
            while chunk := sink.read(1 << 20):
                while chunk:
                    chunk = chunk[os.write(1, chunk) :]
            sink.seek(max(size - OUTPUT_LIMIT, 0))
            out[0] = sink.read().decode(errors="replace")


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Runs one task attempt described by ``event``; returns its report and result."""
    from . import _native

    global _cold
    cold, _cold = _cold, False
    spec = event["spec"]
    if "body" in event:
        payload = base64.b64decode(event["body"])
    else:
        payload = _native.read_bytes(event["body_url"])
    with _captured() as output:
        header, body = _native.execute_frame(json.dumps(spec).encode(), payload)
    answer: dict[str, Any] = {
        "report": json.loads(header),
        "worker": _worker_name(),
        "cold": cold,
        "output": output[0],
    }
    if len(body) <= INLINE_LIMIT:
        answer["body"] = base64.b64encode(body).decode()
    else:
        name = f"{spec['job']}-{spec['task']}-{spec['attempt']}-{uuid.uuid4().hex}.out"
        url = f"{event['scratch'].rstrip('/')}/lambda-io/{name}"
        _native.write_bytes(url, body)
        answer["body_url"] = url
    return answer
