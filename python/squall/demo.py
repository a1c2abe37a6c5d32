"""The demo job of ``make demo``: a 1,000-task Monte Carlo estimate of pi.

Run it with ``python -m squall.demo``.
"""

from __future__ import annotations

import random
import time

import squall

TASKS = 1_000
DARTS = 100_000


def estimate_pi(seed: int) -> float:
    """Throws darts at the unit square; the share inside the quarter circle is pi / 4."""
    rng = random.Random(seed)
    hits = sum(rng.random() ** 2 + rng.random() ** 2 <= 1.0 for _ in range(DARTS))
    return 4.0 * hits / DARTS


def main() -> None:
    """Runs the demo on the embedded default and prints the estimate and timing."""
    start = time.perf_counter()
    estimates = squall.map(estimate_pi, range(TASKS)).results()
    elapsed = time.perf_counter() - start
    pi = sum(estimates) / TASKS
    workers = squall.default_session().workers
    print(
        f"pi ~= {pi:.6f} (error {abs(pi - 3.141592653589793):.1e}) from {TASKS} tasks x "
        f"{DARTS:,} darts on {workers} local workers in {elapsed:.1f} s"
    )


if __name__ == "__main__":
    main()
