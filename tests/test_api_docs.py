"""Every public function and method of squall has a docstring with an example."""

from __future__ import annotations

import inspect
from typing import Any

import squall
from squall import dataset

CLASSES: list[type[Any]] = [
    squall.Session,
    dataset.Dataset,
    dataset.GroupedDataset,
    squall.Future,
    squall.FutureList,
    squall.JobRecord,
    squall.SessionExecutor,
    squall.Expr,
]


def test_public_api_docstrings_have_examples() -> None:
    missing = []
    for name in squall.__all__:
        obj = getattr(squall, name)
        if inspect.isfunction(obj) and ">>>" not in (inspect.getdoc(obj) or ""):
            missing.append(name)
    for cls in CLASSES:
        for name, member in vars(cls).items():
            if name.startswith("_"):
                continue
            fn = member.fget if isinstance(member, property) else member
            if inspect.isfunction(fn) and ">>>" not in (inspect.getdoc(fn) or ""):
                missing.append(f"{cls.__name__}.{name}")
    assert not missing, f"public API without an example in its docstring: {missing}"
