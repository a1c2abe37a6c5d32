"""Workers, attacked: tasks that fork, print garbage, leave grandchildren, or lose their worker;
drivers whose stderr is closed or full. No reply may reach the wrong task, and no worker may be
left broken. Oracles: plain Python (each task's own input), and the process table."""

from __future__ import annotations

import ctypes
import os
import random
import signal
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import squall
from squall._task import current_attempt

Driver = Callable[..., subprocess.CompletedProcess[str]]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie is dead, waiting for its parent
        return f.read().rsplit(")", 1)[1].split()[0] != "Z"


def wait_dead(pid: int, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.05)
    return False


def fork_idle_child(x: int) -> tuple[int, int]:
    """Forks a child that sleeps on; returns its pid beside the answer."""
    pid = os.fork()
    if pid == 0:
        time.sleep(30)
        os._exit(0)
    return x * 3, pid


def test_a_task_that_forks_an_idle_child_keeps_every_reply_in_place(
    session: squall.Session,
) -> None:
    out = session.map(fork_idle_child, range(12)).results()
    try:
        assert [v for v, _ in out] == [x * 3 for x in range(12)]
        # Later jobs on the same workers still get their own replies.
        assert session.map(lambda x: x + 1, range(30)).results() == list(range(1, 31))
        stats = session.last_job.stats.to_pylist() if session.last_job else []
        assert {r["outcome"] for r in stats} == {"ok"}
    finally:
        for _, pid in out:
            os.kill(pid, signal.SIGKILL)


# A well-formed reply frame for a task that is not running: what a stale or stray reply is.
_HEADER = b'{"job":999999,"task":0,"attempt":0,"ok":true,"started":0.0,"finished":0.0}'
FORGED = struct.pack("<IQ", len(_HEADER), 0) + _HEADER


def fork_child_writing_everywhere(x: int) -> int:
    """Forks a child that writes a forged reply frame and garbage to every descriptor."""
    pid = os.fork()
    if pid == 0:
        for fd in range(64):
            try:
                os.write(fd, FORGED + b"\xff\xfe garbage\n")
            except OSError:
                pass
        os._exit(0)
    os.waitpid(pid, 0)
    return -x


def test_a_forked_child_that_writes_to_every_fd_cannot_answer_for_the_worker(
    session: squall.Session,
) -> None:
    futures = session.map(fork_child_writing_everywhere, range(10))
    assert futures.results() == [-x for x in range(10)]
    assert futures.job is not None
    # The child's copies of the pipes were closed when it was forked: no worker was lost.
    assert {r["outcome"] for r in futures.job.stats.to_pylist()} == {"ok"}
    assert session.map(str, range(20)).results() == [str(x) for x in range(20)]


def raw_fork_writing_frames(x: int) -> int:
    """On its first attempt, forks through libc (no Python at-fork hooks run, so the child
    keeps the reply pipe) a child that writes a forged frame to every descriptor."""
    if current_attempt() == 0:
        pid = ctypes.CDLL(None).fork()
        if pid == 0:
            for fd in range(3, 64):
                try:
                    os.write(fd, FORGED)
                except OSError:
                    pass
            os._exit(0)
        os.waitpid(pid, 0)
    return x * x


def test_a_forged_frame_on_the_reply_pipe_loses_the_worker_never_a_result(
    session: squall.Session,
) -> None:
    futures = session.map(raw_fork_writing_frames, range(8), retries=3)
    assert futures.results() == [x * x for x in range(8)]
    assert futures.job is not None
    lost = [r for r in futures.job.stats.to_pylist() if r["outcome"] == "lost"]
    assert lost, "the forged frames were taken for what they are"
    assert session.map(abs, [-1, -2, -3]).results() == [1, 2, 3]


def print_bytes(x: int) -> int:
    sys.stderr.buffer.write(b"\xff\xfe\xfd not utf-8 \xc3\x28\n")
    sys.stderr.flush()
    return x


def print_lines(x: int) -> int:
    for i in range(200):
        print(f"line {i} of task {x}")
    return x


def test_non_utf8_output_does_not_stop_the_forwarding(session: squall.Session) -> None:
    assert session.map(print_bytes, range(6)).results() == list(range(6))
    # Prints afterwards still work: the forwarder never stopped, so no print fails.
    assert session.map(print_lines, range(6)).results() == list(range(6))
    stats = session.last_job.stats.to_pylist() if session.last_job else []
    assert {r["outcome"] for r in stats} == {"ok"}


NOISY_DRIVER = """
import sys, squall
def noisy(x):
    for i in range(3000):
        print("x" * 200, i)
    return x
with squall.Session(workers=2) as s:
    out = s.map(noisy, range(8), progress=False).results()
    out += s.map(noisy, range(8, 12), progress=False).results()
sys.stdout.write(" ".join(map(str, out)))
"""


@pytest.mark.parametrize("stderr", ["closed", "full"])
def test_a_driver_whose_stderr_is_closed_or_full_still_runs_its_tasks(stderr: str) -> None:
    # A pipe that nobody reads ("full": it fills after 64 KB, and the tasks print 5 MB each),
    # or whose reader is gone ("closed", as in `python job.py 2>&1 | head`).
    p = subprocess.Popen(
        [sys.executable, "-c", NOISY_DRIVER, stderr],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    if stderr == "closed":
        assert p.stderr is not None
        p.stderr.close()
    try:
        deadline = time.monotonic() + 60
        while p.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert p.returncode == 0, "the driver did not finish (or failed)"
        assert p.stdout is not None
        assert p.stdout.read().decode().split() == [str(x) for x in range(12)]
    finally:
        p.kill()
        p.wait()
        for pipe in (p.stdout, p.stderr):
            if pipe is not None:
                pipe.close()


def spawn_grandchild(marker: str) -> None:
    """Starts a long-lived subprocess, records its pid, and hangs."""
    child = subprocess.Popen(["sleep", "300"])
    Path(marker).write_text(str(child.pid))
    time.sleep(300)


def test_a_timed_out_task_is_killed_with_its_whole_process_group(
    session: squall.Session, tmp_path: Path
) -> None:
    marker = str(tmp_path / "grandchild")
    with pytest.raises(squall.TaskTimeoutError):
        session.map(spawn_grandchild, [marker], timeout=2, retries=0).results()
    pid = int(Path(marker).read_text())
    assert wait_dead(pid), f"the task's subprocess {pid} outlived its timeout"


def test_a_cancelled_task_is_killed_with_its_whole_process_group(
    session: squall.Session, tmp_path: Path
) -> None:
    marker = tmp_path / "grandchild"
    futures = session.map(spawn_grandchild, [str(marker)], progress=False)
    deadline = time.monotonic() + 30
    while not marker.exists() or not marker.read_text():
        assert time.monotonic() < deadline, "the task never started"
        time.sleep(0.05)
    futures.cancel()
    with pytest.raises(squall.CancelledError):
        futures.results()
    assert wait_dead(int(marker.read_text()))


def test_killing_workers_during_a_group_by_on_the_workers_loses_nothing(
    where: str, worker_pids: Callable[[], list[int]]
) -> None:
    rng = np.random.default_rng(4)
    n = 200_000
    table = pa.table({"k": rng.integers(0, 5000, n), "v": rng.standard_normal(n)})
    expected = table.group_by("k").aggregate([("v", "sum"), ("v", "count")])
    expected = dict(zip(expected["k"].to_pylist(), expected["v_count"].to_pylist(), strict=True))
    with squall.Session(workers=3, in_process=False, retries=6) as s:
        s.from_arrow(table, 12).write_parquet(f"{where}/in")
        stop = threading.Event()
        kills = []

        def chaos() -> None:
            # Fewer kills than a task has retries: however they fall, no task runs out of them.
            rand = random.Random(9)
            while len(kills) < 6 and not stop.wait(0.1):
                pids = worker_pids()
                if pids:
                    os.kill(rand.choice(pids), signal.SIGKILL)
                    kills.append(1)

        killer = threading.Thread(target=chaos, daemon=True)
        killer.start()
        try:

            def slow_copy(batch: pa.RecordBatch) -> pa.RecordBatch:
                time.sleep(0.1)  # each batch takes a moment: the kills land while the job runs
                return batch

            ds = s.read_parquet(f"{where}/in").map_batches(slow_copy).groupby("k")
            got = ds.agg(n=("v", "count"), s=("v", "sum")).collect()
        finally:
            stop.set()
            killer.join()
        assert kills, "the job ended before any worker was killed"
    assert dict(zip(got["k"].to_pylist(), got["n"].to_pylist(), strict=True)) == expected
