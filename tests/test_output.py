"""What tasks print reaches the user: under the running notebook cell, on sys.stderr in a
terminal, and in each attempt's record; bounded when a task floods it."""

from __future__ import annotations

import os
import sys
import time

import nbformat
import pytest
from nbclient import NotebookClient

import squall


def chatty(x: int) -> int:
    print(f"stdout line of {x}")
    print(f"stderr line of {x}", file=sys.stderr)
    os.write(2, f"fd-level line of {x}\n".encode())  # as a C library would write
    return x


def flood(lines: int) -> int:
    for i in range(lines):
        print(f"flood {i}")
    return lines


def settle(capsys: pytest.CaptureFixture[str], expected: int) -> str:
    """What the printing thread wrote once ``expected`` lines came (it runs beside the job)."""
    text = ""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        text += capsys.readouterr().err
        if text.count("\n") >= expected:
            break
        time.sleep(0.05)
    return text


def test_task_output_goes_to_sys_stderr_with_the_task(
    session: squall.Session, capsys: pytest.CaptureFixture[str]
) -> None:
    futures = session.map(chatty, range(4), progress=False)
    assert futures.results() == [0, 1, 2, 3]
    err = settle(capsys, 12)
    for x in range(4):
        for kind in ("stdout", "stderr", "fd-level"):
            assert err.count(f"[task {x}] {kind} line of {x}\n") == 1, err
    # One task: no prefix.
    assert session.submit(chatty, 7).result() == 7
    err = settle(capsys, 3)
    assert "stdout line of 7\n" in err and "[task" not in err
    # Each attempt's last lines are in its record.
    job = futures.job
    assert job is not None
    rows = job.stats.select(["task", "output"]).to_pylist()
    assert {r["task"]: r["output"] for r in rows} == {
        x: f"stdout line of {x}\nstderr line of {x}\nfd-level line of {x}" for x in range(4)
    }


def test_forward_output_off_leaves_it_on_the_process_stderr(
    capfd: pytest.CaptureFixture[str],
) -> None:
    with squall.Session(workers=1, forward_output=False) as s:
        assert s.map(chatty, [5], progress=False).results() == [5]
        time.sleep(0.3)
        job = s.last_job
        assert job is not None
        assert job.stats.column("output").to_pylist() == [
            "stdout line of 5\nstderr line of 5\nfd-level line of 5"
        ]
    err = capfd.readouterr().err
    assert "stdout line of 5" in err and "[task" not in err


def test_a_flood_is_shown_or_counted_line_by_line(
    session: squall.Session, capsys: pytest.CaptureFixture[str]
) -> None:
    assert session.map(flood, [30_000, 10], progress=False).results() == [30_000, 10]
    err = settle(capsys, 10_010)
    time.sleep(0.5)
    err += capsys.readouterr().err
    lines = err.splitlines()
    assert "[task 1] flood 9" in lines
    assert "[task 0] flood 0" in lines
    shown = [int(line.rsplit(" ", 1)[1]) for line in lines if line.startswith("[task 0] flood ")]
    dropped = [line for line in lines if line.startswith("[squall]") and "dropped" in line]
    # Every line is shown once, in order, or counted among the dropped (the queue is bounded:
    # squall_exec's output tests).
    assert shown == sorted(set(shown))
    assert len(shown) + sum(int(d.split()[1]) for d in dropped) == 30_000
    # The worker is fine, and its next task's output is its own.
    assert session.submit(chatty, 1).result() == 1
    assert "stdout line of 1" in settle(capsys, 3)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_output_appears_under_the_notebook_cell() -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "import squall\n"
            "def shout(x):\n"
            "    print(f'shouting {x}')\n"
            "    return x\n"
            "squall.map(shout, range(3), progress=False).results()"
        ),
        nbformat.v4.new_code_cell("print('second cell')"),
    ]
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    first = nb.cells[0].outputs
    streamed = "".join(o.get("text", "") for o in first if o.output_type == "stream")
    for x in range(3):
        assert f"[task {x}] shouting {x}" in streamed, first
    result = [o for o in first if o.output_type == "execute_result"]
    assert result and result[0]["data"]["text/plain"] == "[0, 1, 2]"
    second = "".join(o.get("text", "") for o in nb.cells[1].outputs)
    assert "shouting" not in second
