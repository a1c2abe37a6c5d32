"""squall's own background threads, stopped before the interpreter finalizes.

They wait in native code with the GIL released. A thread that comes back from there into a
finalizing interpreter is killed mid-frame (``pthread_exit`` unwinding through the extension),
which crashes the process: so at exit they are told to stop (``EXITING``), and are joined while
the interpreter still runs.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

#: Set at exit: every loop of a squall thread ends at its next turn.
EXITING = threading.Event()
_started: weakref.WeakSet[threading.Thread] = weakref.WeakSet()


def start(
    target: Callable[..., Any], args: tuple[Any, ...] = (), name: str = "squall"
) -> threading.Thread:
    """Starts a daemon thread that ``stop_all`` waits for."""
    thread = threading.Thread(target=target, args=args, name=name, daemon=True)
    _started.add(thread)
    thread.start()
    return thread


def stop_all(timeout: float) -> None:
    """Tells squall's threads to stop and waits up to ``timeout`` seconds in all for them."""
    EXITING.set()
    deadline = time.monotonic() + timeout
    for thread in list(_started):
        if thread is not threading.current_thread():
            thread.join(max(0.0, deadline - time.monotonic()))
