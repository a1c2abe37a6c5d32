"""The AWS Lambda handler: ``squall._lambda.handler``.

Lambda invokes it with the event the driver's ``lambda`` backend sends; it runs the very
``squall._native.execute_frame`` the local workers run. Function and arguments come inline
(base64) or, when too large for an event, from the scratch store; the answer goes back the same way.
"""

from __future__ import annotations

import base64
import json
import os
import uuid
from typing import Any

#: Largest pickled result returned inside the answer (Lambda's response limit is 6 MB and
#: base64 grows the bytes by a third).
INLINE_LIMIT = 4 << 20


_cold = True


def _worker_name() -> str:
    # One log stream per execution environment: it names the "worker" in job statistics.
    return os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME") or f"lambda-{os.getpid()}"


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
    header, body = _native.execute_frame(json.dumps(spec).encode(), payload)
    answer: dict[str, Any] = {"report": json.loads(header), "worker": _worker_name(), "cold": cold}
    if len(body) <= INLINE_LIMIT:
        answer["body"] = base64.b64encode(body).decode()
    else:
        name = f"{spec['job']}-{spec['task']}-{spec['attempt']}-{uuid.uuid4().hex}.out"
        url = f"{event['scratch'].rstrip('/')}/lambda-io/{name}"
        _native.write_bytes(url, body)
        answer["body_url"] = url
    return answer
