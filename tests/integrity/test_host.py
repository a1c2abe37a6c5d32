"""squall is a guest in the user's process: importing it and running jobs leaves the process's
malloc settings, environment, signal handlers, working directory and umask as they were.

Each check runs in a fresh interpreter, so nothing the test runner did before can hide a change.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PROBE = textwrap.dedent(
    """
    import ctypes, json, os, signal, sys, threading

    libc = ctypes.CDLL("libc.so.6")
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]

    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
            "uordblks", "fordblks", "keepcost")]

    libc.mallinfo2.restype = MallInfo2

    def arenas():
        # malloc_info's XML has one <heap nr=...> element per arena.
        buf, size = ctypes.c_char_p(), ctypes.c_size_t()
        libc.open_memstream.restype = ctypes.c_void_p
        stream = libc.open_memstream(ctypes.byref(buf), ctypes.byref(size))
        libc.malloc_info(0, ctypes.c_void_p(stream))
        libc.fclose(ctypes.c_void_p(stream))
        return buf.value.decode().count("<heap nr=")

    def threads_allocate(n):
        # n threads alive at once, each allocating from glibc: each gets an arena of its own
        # unless M_ARENA_MAX was lowered.
        barrier = threading.Barrier(n + 1)
        blocks = []
        def run():
            blocks.append(libc.malloc(1 << 16))
            barrier.wait()
            barrier.wait()
        threads = [threading.Thread(target=run) for _ in range(n)]
        for t in threads:
            t.start()
        barrier.wait()
        count = arenas()
        barrier.wait()
        for t in threads:
            t.join()
        for b in blocks:
            libc.free(b)
        return count

    def big_block_is_mapped():
        # 64 MB is over glibc's largest dynamic mmap threshold: mapped unless it was raised.
        before = libc.mallinfo2().hblks
        block = libc.malloc(64 << 20)
        mapped = libc.mallinfo2().hblks == before + 1
        libc.free(block)
        return mapped

    def state():
        handlers = {}
        for sig in signal.valid_signals():
            try:
                handlers[int(sig)] = repr(signal.getsignal(sig))
            except (ValueError, OSError):
                pass
        umask = os.umask(0o022)
        os.umask(umask)
        return {"env": dict(os.environ), "signals": handlers, "cwd": os.getcwd(), "umask": umask}

    # Threads that allocated before squall made their arenas already; in a process where squall
    # runs first, a lowered M_ARENA_MAX would keep later threads from making theirs.
    before_arenas = threads_allocate(8) if sys.argv[1] == "threads-first" else None
    before = state()
    mapped_before = big_block_is_mapped()

    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    import squall

    rng = np.random.default_rng(0)
    for i in range(4):
        table = pa.table({"k": rng.integers(0, 100, 100_000), "v": rng.random(100_000)})
        pq.write_table(table, f"part-{i}.parquet")
    with squall.Session(workers=2) as s:
        ds = s.read_parquet([f"part-{i}.parquet" for i in range(4)])
        assert ds.sort("v").collect().num_rows == 400_000
        assert ds.groupby("k").agg(v=("v", "sum")).collect().num_rows == 100
        assert s.map(abs, [-1, -2]).results() == [1, 2]

    print(json.dumps({
        "before": before, "after": state(),
        "arenas_before": before_arenas, "arenas_after": threads_allocate(8),
        "mapped_before": mapped_before, "mapped_after": big_block_is_mapped(),
    }))
    """
)


@pytest.mark.parametrize("order", ["threads-first", "squall-first"])
def test_importing_and_running_squall_leaves_the_process_as_it_was(
    tmp_path: Path, order: str
) -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, order],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["after"]["env"] == seen["before"]["env"]
    assert seen["after"]["signals"] == seen["before"]["signals"]
    assert seen["after"]["cwd"] == seen["before"]["cwd"]
    assert seen["after"]["umask"] == seen["before"]["umask"]
    # Eight threads allocating at once have eight arenas besides the main one, before squall
    # and after it (no M_ARENA_MAX), and big blocks are still mapped (no M_MMAP_THRESHOLD).
    if order == "threads-first":
        assert seen["arenas_before"] >= 9
    assert seen["arenas_after"] >= 9
    assert seen["mapped_before"] and seen["mapped_after"]


@pytest.mark.parametrize(
    ("conf", "warning"),
    [
        ("dirty_decay_ms=0, muzzy_decay_ms=-1", None),
        ("dirty_decay=0", 'unknown option "dirty_decay"'),
        ("dirty_decay_ms=soon", "the value is not an integer"),
    ],
)
def test_squall_malloc_conf_tunes_squalls_allocator_and_names_mistakes(
    conf: str, warning: str | None
) -> None:
    probe = "import warnings; warnings.simplefilter('always'); import squall; print('imported')"
    env = {"PATH": os.environ["PATH"], "SQUALL_MALLOC_CONF": conf}
    out = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0 and out.stdout.strip() == "imported", out.stderr
    if warning is None:
        assert "SQUALL_MALLOC_CONF" not in out.stderr
    else:
        assert "RuntimeWarning" in out.stderr
        assert f'SQUALL_MALLOC_CONF="{conf}" was ignored' in out.stderr and warning in out.stderr


IDLE_PROBE = textwrap.dedent(
    """
    import json, time
    import numpy as np, pyarrow as pa, squall

    def resident():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096

    rng = np.random.default_rng(7)
    n = 6_000_000
    table = pa.table({"k": rng.integers(0, 1 << 40, n), "v": rng.random(n)})
    with squall.Session(workers=2) as s:
        data = s.from_arrow(table, num_partitions=4)
        before = resident()
        out = data.sort("k").collect()
        kept = resident()
        again = data.sort("k").collect()
        after_two = resident()
        time.sleep(3)
        idle = resident()
        ordered = out.column("k").to_numpy()
        ok = bool((np.diff(ordered) >= 0).all()) and again.equals(out) and out.num_rows == n
    seen = {"before": before, "kept": kept, "after_two": after_two, "idle": idle, "ok": ok}
    print(json.dumps(seen))
    """
)


def test_squalls_allocator_keeps_what_a_job_freed_for_the_next_and_gives_it_back_when_idle() -> (
    None
):
    out = subprocess.run(
        [sys.executable, "-c", IDLE_PROBE], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    mb = {k: v / 2**20 for k, v in seen.items() if k != "ok"}
    assert seen["ok"], "the sorts are ordered and equal"
    # The sort's freed memory stays mapped after it (the second sort reuses it rather than
    # growing by as much again), and goes back once no job has run for a second.
    assert mb["kept"] - mb["before"] > 150, mb
    assert mb["after_two"] - mb["kept"] < (mb["kept"] - mb["before"]) / 2, mb
    assert mb["after_two"] - mb["idle"] > 100, mb


EXIT_PROBE = textwrap.dedent(
    """
    import atexit, gc, threading

    def squall_threads_left():
        # Runs after squall's own exit handler (they run last registered, first run).
        left = [t.name for t in threading.enumerate() if t.name.startswith("squall")]
        print("left:", left, flush=True)

    atexit.register(squall_threads_left)
    import squall

    def work(close):
        s = squall.Session(workers=1)
        futures = s.map(abs, [-1, -2], progress=False)
        assert futures.results() == [1, 2]
        futures[0].add_done_callback(lambda f: None)  # the futures' completer thread
        if close:
            s.close()
        return futures  # they outlive their session object

    kept = [work(close) for close in (False, True, False)]
    gc.collect()  # the unclosed sessions are gone: no exit handler can close them
    """
)


def test_no_squall_thread_is_left_in_native_code_when_the_interpreter_exits() -> None:
    # A thread coming back from a native wait into a finalizing interpreter is killed
    # mid-frame, which crashed the process: they must all have ended by then.
    done = subprocess.run(
        [sys.executable, "-c", EXIT_PROBE], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "left: []" in done.stdout, done.stdout + done.stderr[-3000:]


FORK_PROBE = textwrap.dedent(
    """
    import json, os, sys, time
    import pyarrow as pa, pyarrow.parquet as pq
    import squall

    path = sys.argv[1]
    rows = 20_000
    pq.write_table(pa.table({"k": [i % 7 for i in range(rows)], "v": list(range(rows))}), path)
    expected = {k: sum(v for v in range(rows) if v % 7 == k) for k in range(7)}

    def grouped():
        # In-process stages: the session's threads and the process's runtime.
        got = squall.read_parquet(path).groupby("k").agg(s=("v", "sum")).collect()
        return dict(zip(got["k"].to_pylist(), got["s"].to_pylist())) == expected

    def mapped():
        return squall.map(abs, [-1, -2, 3]).results()  # worker processes

    parent = squall.default_session()
    assert grouped() and mapped() == [1, 2, 3]
    pending = squall.map(time.sleep, [2])
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        seen = {"grouped": grouped(), "mapped": mapped()}
        try:
            parent.map(abs, [1])
        except RuntimeError as e:
            seen["inherited"] = str(e)
        try:
            pending.results(timeout=30)
        except RuntimeError as e:
            seen["pending"] = str(e)
        # The child lets go of its copies of the parent's session and job (freed now, not at
        # exit): that must not touch what the parent's use (its workers' pipes).
        import gc
        import squall._default
        squall._default._inherited.clear()
        del parent, pending
        gc.collect()
        os.write(write, json.dumps(seen).encode())
        os.close(write)
        sys.exit(0)  # as a child that ends normally: the interpreter's exit handlers run
    os.close(write)
    deadline = time.monotonic() + 90
    while not os.waitpid(pid, os.WNOHANG)[0]:
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            break
        time.sleep(0.05)
    seen = json.loads(os.read(read, 1 << 16) or b"{}")
    # The parent's session, its workers and scratch data are untouched by the child's exit.
    seen["parent_after"] = [grouped(), mapped(), pending.results(), mapped()]
    print(json.dumps(seen))
    """
)


def test_a_forked_child_runs_jobs_of_its_own_and_leaves_its_parents_alone(tmp_path: Path) -> None:
    # A process forked after squall ran (multiprocessing's default on Linux, a data loader's
    # workers) inherited a runtime and threads that do not exist in it: its first job hung.
    out = subprocess.run(
        [sys.executable, "-c", FORK_PROBE, str(tmp_path / "t.parquet")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen.get("grouped") is True and seen.get("mapped") == [1, 2, 3], (
        seen,
        out.stderr[-3000:],
    )
    assert "forked" in seen["inherited"] and "squall.Session()" in seen["inherited"], seen
    # A job the parent started is its own: the child is told, not left waiting.
    assert "forked" in seen["pending"] and "squall.map(sleep)" in seen["pending"], seen
    assert seen["parent_after"] == [True, [1, 2, 3], [None], [1, 2, 3]], seen
