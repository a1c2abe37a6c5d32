"""Every tutorial notebook runs top to bottom (on the embedded default; 05 on LocalStack)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks() -> None:
    assert NOTEBOOKS, "notebooks/ holds the tutorials; none were found"


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path: Path, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    if "lambda" in path.name:
        request.getfixturevalue("s3_server")  # LocalStack: S3 and Lambda
    nb = nbformat.read(path, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), (
        f"{path.name} is committed with outputs: clear them"
    )
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute(env=dict(os.environ, TMPDIR=str(tmp_path)))  # what the notebook writes is removed
    errors = [
        o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"
    ]
    assert not errors
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "pi ~= 3.14" in text or path.name != "01-map.ipynb"
    assert "pi ~= 3.1" in text or path.name != "05-lambda.ipynb"
    if path.name == "06-linalg.ipynb":  # the tiled answers against numpy's
        err = re.search(r"relative error vs numpy: (\S+)", text)
        fit = re.search(r"max \|b - numpy's lstsq\| = (\S+)", text)
        assert err and float(err[1]) < 1e-10 and fit and float(fit[1]) < 1e-8, text[-2000:]
    if path.name == "07-scale.ipynb":  # 10,000 environments through four functions; 503s
        four = re.search(r"through 4 function\(s\): last environment after (\S+) s", text)
        slow = re.search(r"([\d,]+) answered 503 SlowDown", text)
        assert four and float(four[1]) <= 30, text[-2000:]
        assert slow and int(slow[1].replace(",", "")) > 0, text[-2000:]
        assert "200,000 rows back (of 200,000)" in text
        agree = re.search(r"agree within (\S+)%", text)
        assert agree and float(agree[1]) < 10, text[-2000:]
    if path.name == "04-observability.ipynb":
        saved = re.search(r"timeline saved: ([\d,]+) bytes", text)
        assert saved and int(saved[1].replace(",", "")) > 10_000, text[-2000:]
