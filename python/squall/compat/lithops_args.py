"""How Lithops' inputs become calls (see :mod:`squall.compat.lithops`): values, tuples and
dicts of keyword arguments, ``extra_args``, checked against the function's signature on the
driver."""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from typing import Any

from .lithops_futures import FuturesList

#: Parameters that squall fills in, as Lithops does: ``id`` (the call's index) and ``storage``.
INJECTED = ("id", "storage", "ibm_cos", "rabbitmq")


class Call:
    """Calls the user's function with arguments bound on the driver, in ``extra_env``."""

    def __init__(self, fn: Callable[..., Any], env: dict[str, str] | None) -> None:
        self.fn = fn
        self.env = dict(env or {})
        self.__name__ = getattr(fn, "__name__", type(fn).__name__)

    def __call__(self, call: tuple[tuple[Any, ...], dict[str, Any]]) -> Any:
        args, kwargs = call
        if not self.env:
            return self.fn(*args, **kwargs)
        # Only ever in a worker process or a Lambda environment (squall runs Python functions
        # nowhere else), and restored before the worker takes its next call.
        saved = {k: os.environ.get(k) for k in self.env}
        os.environ.update(self.env)
        try:
            return self.fn(*args, **kwargs)
        finally:  # the worker serves other calls next
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def inputs_of(iterdata: Any) -> list[Any]:
    """The calls' inputs, as Lithops reads ``map_iterdata``."""
    if isinstance(iterdata, FuturesList):
        return [f.result() for f in iterdata]
    if isinstance(iterdata, (list, range, set)):
        return list(iterdata)
    return [iterdata]


def with_extra(items: list[Any], extra_args: Any) -> list[Any]:
    if not extra_args:
        return items
    out: list[Any] = []
    for item in items:
        if isinstance(item, dict):
            if not isinstance(extra_args, dict):
                raise TypeError(f"extra_args={extra_args!r}: inputs given as dicts need a dict")
            out.append({**item, **extra_args})
        else:
            if not isinstance(extra_args, tuple):
                raise TypeError(f"extra_args={extra_args!r}: give a tuple of extra arguments")
            out.append((*item, *extra_args) if isinstance(item, tuple) else (item, *extra_args))
    return out


def with_results(reducer: Callable[..., Any], results: list[Any], extra_args: Any) -> Any:
    """A reducer's input: the map results as its first argument, then ``extra_args``."""
    if isinstance(extra_args, dict):
        params = [n for n in inspect.signature(reducer).parameters if n not in INJECTED]
        if not params:
            raise TypeError(f"{reducer!r} takes no argument for the map results")
        return {params[0]: results, **extra_args}
    return (results, *(extra_args or ()))


def _unpacked(
    sig: inspect.Signature, item: dict[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """A dict input's arguments: under the name of the function's ``*args`` (or ``**kwargs``)
    it may give the positional (or extra keyword) arguments, as Lithops lets it."""
    kw = dict(item)
    args: tuple[Any, ...] = ()
    for name, p in sig.parameters.items():
        if p.kind is inspect.Parameter.VAR_POSITIONAL and name in kw:
            args = tuple(kw.pop(name) or ())
        elif p.kind is inspect.Parameter.VAR_KEYWORD and name in kw:
            kw = {**(kw.pop(name) or {}), **kw}
    return args, kw


def bind_all(
    fn: Callable[..., Any], items: list[Any]
) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
    """Each input as (args, kwargs) for ``fn``, checked against its signature now, not when a
    worker calls it."""
    sig = inspect.signature(fn)
    user = sig.replace(parameters=[p for n, p in sig.parameters.items() if n not in INJECTED])
    name = getattr(fn, "__name__", type(fn).__name__)
    calls = []
    for i, item in enumerate(items):
        try:
            if isinstance(item, dict):
                args, kwargs = _unpacked(user, item)
                bound = user.bind(*args, **kwargs)
            else:
                bound = user.bind(*(item if isinstance(item, tuple) else (item,)))
        except TypeError as e:
            raise TypeError(
                f"{name}{user}: input {i} ({item!r}) does not fit: {e}. Give a value, a tuple "
                "of arguments or a dict of keyword arguments"
            ) from None
        calls.append(by_name(user, bound.arguments))
    return calls


def by_name(
    sig: inspect.Signature, arguments: dict[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Bound arguments as a call that names every argument it can (so that ``obj``, ``id`` and
    ``storage`` can be found and added), positionally only where the signature needs it."""
    kinds = inspect.Parameter
    varargs = any(
        p.kind is kinds.VAR_POSITIONAL and arguments.get(n) for n, p in sig.parameters.items()
    )
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for name, p in sig.parameters.items():
        if name not in arguments:
            continue
        value = arguments[name]
        if p.kind is kinds.POSITIONAL_ONLY or (p.kind is kinds.POSITIONAL_OR_KEYWORD and varargs):
            args.append(value)
        elif p.kind is kinds.VAR_POSITIONAL:
            args.extend(value)
        elif p.kind is kinds.VAR_KEYWORD:
            kwargs.update(value)
        else:
            kwargs[name] = value
    return tuple(args), kwargs
