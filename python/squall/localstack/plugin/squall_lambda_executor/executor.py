"""One Lambda execution environment as a local process behind a minimal Runtime API server."""

from __future__ import annotations

import json
import logging
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from localstack.services.lambda_.invocation.lambda_models import FunctionVersion, InvocationResult
from localstack.services.lambda_.invocation.runtime_executor import RuntimeExecutor

LOG = logging.getLogger(__name__)
API = "/2018-06-01/runtime"
STARTUP_TIMEOUT_S = 60.0
LOG_LINES = 2000
#: What Lambda's Python runtime has besides the standard library: its runtime client.
RUNTIME_MODULES = ("awslambdaric", "runtime_client", "simplejson", "snapshot_restore_py")

_runtime_lock = threading.Lock()
_runtime_dirs: dict[str, str] = {}


def _runtime_dir(python: str) -> str:
    """A directory with only Lambda's runtime client, linked from ``python``'s packages: with
    the standard library and the function's code, all that a function can import, as on AWS
    (a requirement missing from the package fails here too). It lives under ``TMPDIR``, which
    the tests remove."""
    with _runtime_lock:
        if python not in _runtime_dirs:
            names = ", ".join(RUNTIME_MODULES)
            found = subprocess.run(
                [python, "-c", f"import {names}\nfor m in ({names},): print(m.__file__)"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()
            out = Path(tempfile.mkdtemp(prefix="lambda-runtime-"))
            for file in map(Path, found):
                source = file.parent if file.name == "__init__.py" else file
                (out / source.name).symlink_to(source)
            _runtime_dirs[python] = str(out)
        return _runtime_dirs[python]


class _Invocation:
    def __init__(
        self, request_id: str, arn: str, payload: str, trace: str, deadline_ms: int
    ) -> None:
        self.request_id = request_id
        self.arn = arn
        self.payload = payload.encode()
        self.trace = trace
        self.deadline_ms = deadline_ms
        self.result: Future[tuple[bool, bytes]] = Future()


class _RuntimeApi(ThreadingHTTPServer):
    """The endpoints awslambdaric calls: next, response, error, init/error."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.pending: queue.Queue[_Invocation | None] = queue.Queue()
        self.current: _Invocation | None = None
        self.ready = threading.Event()
        self.init_error: bytes | None = None
        # Bumped per runtime process: a `next` call of a dead process must not take an invocation.
        self.generation = 0


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _RuntimeApi

    def log_message(self, format: str, *args: Any) -> None:
        LOG.debug("runtime api: " + format, *args)

    def _reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_GET(self) -> None:
        if self.path == f"{API}/restore/next":
            # SnapStart: the runtime has initialised and would be snapshotted here; the "restore"
            # is the same process going on (its after-restore hooks run next).
            self._reply(200)
            return
        if self.path != f"{API}/invocation/next":
            self._reply(404)
            return
        generation = self.server.generation
        self.server.ready.set()
        inv = self.server.pending.get()
        if inv is None:  # the environment is stopping
            self._reply(500, b'{"errorMessage": "execution environment stopped"}')
            return
        if generation != self.server.generation:  # asked by a runtime that has since died
            self.server.pending.put(inv)
            return
        self.server.current = inv
        self._reply(
            200,
            inv.payload,
            {
                "Content-Type": "application/json",
                "Lambda-Runtime-Aws-Request-Id": inv.request_id,
                "Lambda-Runtime-Deadline-Ms": str(inv.deadline_ms),
                "Lambda-Runtime-Invoked-Function-Arn": inv.arn,
                "Lambda-Runtime-Trace-Id": inv.trace,
            },
        )

    def do_POST(self) -> None:
        body = self._body()
        if self.path in (f"{API}/init/error", f"{API}/restore/error"):
            self.server.init_error = body
            self._reply(202)
            return
        parts = self.path.removeprefix(f"{API}/invocation/").split("/")
        inv = self.server.current
        if len(parts) != 2 or parts[1] not in ("response", "error") or inv is None:
            self._reply(404)
            return
        if inv.request_id == parts[0] and not inv.result.done():
            inv.result.set_result((parts[1] == "error", body))
        self._reply(202)


class ProcessExecutor(RuntimeExecutor):  # type: ignore[misc]
    """Runs the function's handler with ``awslambdaric`` in a local process."""

    def __init__(self, id: str, function_version: FunctionVersion) -> None:
        super().__init__(id, function_version)
        self.api: _RuntimeApi | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.env: dict[str, str] = {}
        self.logs: deque[str] = deque(maxlen=LOG_LINES)

    # --- lifecycle -------------------------------------------------------------------------
    def start(self, env_vars: dict[str, str]) -> None:
        self.api = _RuntimeApi()
        threading.Thread(
            target=self.api.serve_forever, name=f"runtime-api-{self.id}", daemon=True
        ).start()
        code = self.function_version.config.code
        paths = [str(code.get_unzipped_code_location())] if code else []
        for layer in self.function_version.config.layers or []:
            if layer.code:
                paths.append(os.path.join(str(layer.code.get_unzipped_code_location()), "python"))
        base = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "TMPDIR") if k in os.environ}
        self.env = base | {k: str(v) for k, v in env_vars.items()}
        self.env |= {
            "AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start"
            if _snapstart(self.function_version)
            else "on-demand",
            "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{self.api.server_address[1]}",
            "LAMBDA_TASK_ROOT": paths[0] if paths else "",
            "PYTHONPATH": os.pathsep.join(paths),
            "PYTHONUNBUFFERED": "1",
        }
        self._spawn()

    def _spawn(self) -> None:
        assert self.api is not None
        self.api.ready.clear()
        self.api.init_error = None
        self.api.generation += 1
        python = os.environ.get("SQUALL_LAMBDA_PYTHON", sys.executable)
        handler = self.env.get("_HANDLER", "")
        # -S: no site-packages; the path is the function's code, its layers and the runtime.
        env = dict(self.env)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [env["PYTHONPATH"], _runtime_dir(python)]))
        self.proc = subprocess.Popen(
            [python, "-S", "-m", "awslambdaric", handler],
            env=env,
            cwd=self.env["LAMBDA_TASK_ROOT"] or None,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        threading.Thread(target=self._collect_logs, args=(self.proc,), daemon=True).start()
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not self.api.ready.wait(0.05):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self._kill()
                raise RuntimeError(
                    f"execution environment {self.id} did not start ({python} -m awslambdaric "
                    f"{handler}): {self.get_logs()[-2000:]}"
                )

    def _collect_logs(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            text = line.decode(errors="replace").rstrip("\n")
            self.logs.append(text)
            LOG.debug("[%s] %s", self.id, text)

    def _kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, 9)
            except ProcessLookupError:
                pass
            self.proc.wait()

    def stop(self) -> None:
        self._kill()
        if self.api is not None:
            self.api.pending.put(None)
            self.api.shutdown()
            self.api.server_close()

    # --- invocations -----------------------------------------------------------------------
    def invoke(self, payload: dict[str, str]) -> InvocationResult:
        assert self.api is not None
        request_id = payload["invoke-id"]
        if self.proc is None or self.proc.poll() is not None:
            self._spawn()  # the last invocation crashed or timed out: a fresh runtime, like RIE
        timeout = float(self.function_version.config.timeout)
        inv = _Invocation(
            request_id,
            payload["invoked-function-arn"],
            payload["payload"],
            payload.get("trace-id", ""),
            int((time.time() + timeout) * 1000),
        )
        self.api.pending.put(inv)
        deadline = time.monotonic() + timeout
        while True:
            try:
                is_error, body = inv.result.result(timeout=0.05)
                return InvocationResult(request_id, body, is_error=is_error, logs=self.get_logs())
            except FutureTimeout:
                pass
            assert self.proc is not None
            code = self.proc.poll()
            if code is not None:
                how = f"signal: {_signal_name(-code)}" if code < 0 else f"exit status {code}"
                return self._error(
                    request_id,
                    "Runtime.ExitError",
                    f"RequestId: {request_id} Error: Runtime exited with error: {how}",
                )
            if time.monotonic() > deadline:
                self._kill()
                return self._error(
                    request_id, "Sandbox.Timedout", f"Task timed out after {timeout:.2f} seconds"
                )

    def _error(self, request_id: str, kind: str, message: str) -> InvocationResult:
        body = json.dumps({"errorType": kind, "errorMessage": message}).encode()
        self.logs.append(message)
        return InvocationResult(request_id, body, is_error=True, logs=self.get_logs())

    # --- endpoints and logs ----------------------------------------------------------------
    def get_address(self) -> str:
        return "127.0.0.1"

    def get_endpoint_from_executor(self) -> str:
        return "127.0.0.1"

    def get_runtime_endpoint(self) -> str:
        from localstack import config
        from localstack.services.lambda_.invocation.executor_endpoint import NAMESPACE

        return f"http://127.0.0.1:{config.GATEWAY_LISTEN[0].port}{NAMESPACE}/{self.id}"

    def get_logs(self) -> str:
        return "\n".join(self.logs)

    @classmethod
    def prepare_version(cls, function_version: FunctionVersion) -> None:
        if function_version.config.code:
            function_version.config.code.prepare_for_execution()
        for layer in function_version.config.layers or []:
            if layer.code:
                layer.code.prepare_for_execution()

    @classmethod
    def cleanup_version(cls, function_version: FunctionVersion) -> None:
        pass

    @classmethod
    def validate_environment(cls) -> bool:
        return True


def _snapstart(version: FunctionVersion) -> bool:
    """Whether Lambda would start ``version`` from a SnapStart snapshot: a published version of
    a function whose SnapStart applies to published versions."""
    snap = version.config.snap_start or {}
    return version.id.qualifier != "$LATEST" and snap.get("ApplyOn") == "PublishedVersions"


def _signal_name(number: int) -> str:
    import signal

    try:
        return signal.Signals(number).name.removeprefix("SIG").lower()
    except ValueError:
        return str(number)
