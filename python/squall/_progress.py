"""The progress bar shown while a caller waits on a job (tqdm.auto, so it renders in Jupyter)."""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from typing import Any

from . import _native

#: Seconds of waiting before a bar appears: short jobs stay quiet.
DELAY = 1.0


def _make_bar(total: int, desc: str) -> Any:
    from tqdm import TqdmWarning

    with warnings.catch_warnings():
        # Without ipywidgets, tqdm.auto warns and falls back to text: the text bar is fine.
        warnings.simplefilter("ignore", TqdmWarning)
        from tqdm.auto import tqdm

        return tqdm(total=total, desc=desc, unit="task", dynamic_ncols=True)


class Progress:
    """Tasks done / running / failed / retried (and backups started for stragglers) across some
    jobs, drawn after :data:`DELAY` s."""

    def __init__(self, jobs: Sequence[_native.Job], desc: str, enabled: bool) -> None:
        self._jobs = jobs
        self._desc = desc
        self._enabled = enabled
        self._start = time.monotonic()
        self._bar: Any = None

    def update(self) -> None:
        """Redraws the bar (creating it once the delay has passed)."""
        if not self._enabled:
            return
        if self._bar is None and time.monotonic() - self._start < DELAY:
            return
        total = finished = failed = running = retried = backups = stopped = 0
        for job in self._jobs:
            t, ok, bad, cancelled, run, retry, backup = job.progress()
            total += t
            finished += ok + bad + cancelled
            failed += bad
            stopped += cancelled
            running += run
            retried += retry
            backups += backup
        if self._bar is None:
            self._bar = _make_bar(total, self._desc)
            self._bar.start_t -= time.monotonic() - self._start  # count the quiet first second
        self._bar.n = finished
        if (failed or stopped) and self._bar.colour != "red":
            self._bar.colour = "red"  # a job that failed does not end green
        counts = {"running": running, "failed": failed, "retried": retried}
        if backups:
            counts["backups"] = backups
        self._bar.set_postfix(counts, refresh=False)
        self._bar.refresh()

    def close(self) -> None:
        """Draws the final state and closes the bar."""
        if self._bar is not None:
            self.update()
            self._bar.close()
