"""A LocalStack Lambda runtime executor that runs each execution environment as a local process.

LocalStack's own executor starts a Docker container per execution environment; this machine has no
Docker. This plugin starts, per environment, a minimal Lambda Runtime API server (a thread in
LocalStack) and ``python -m awslambdaric <handler>`` from the interpreter named by
``SQUALL_LAMBDA_PYTHON``, with the function's unzipped code and ``python/`` folders of its layers on
``PYTHONPATH`` (as Lambda puts ``/var/task`` and ``/opt/python`` there), then the runtime client,
and nothing else: ``-S`` leaves that interpreter's own packages out, so a function imports what its
package holds and the standard library, as on AWS. It enforces the function's timeout and reports
crashes, as Lambda does, as ``FunctionError: Unhandled``.
"""

from __future__ import annotations

from plux import Plugin


class ProcessExecutorPlugin(Plugin):  # type: ignore[misc]
    """Entry point in LocalStack's ``localstack.lambda.runtime_executor`` group."""

    namespace = "localstack.lambda.runtime_executor"
    name = "squall-process"

    def load(self, *args: object, **kwargs: object) -> type:
        from squall_lambda_executor.executor import ProcessExecutor

        return ProcessExecutor
