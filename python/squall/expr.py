"""Expressions: ``squall.col("temp") > 0`` for :meth:`Dataset.filter`, and expressions over
aggregates, ``squall.col("hi").max() - squall.col("lo").min()``, for
:meth:`GroupedDataset.agg`. The engine evaluates them natively (no Python per batch)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from . import _native

#: One aggregate inside an expression: (column, function, argument).
AggLeaf = tuple[str, str, float | None]


class Expr:
    """An expression over columns, built with :func:`col`, :func:`lit` and operators:
    ``+ - * / % //`` (``/`` is true division; ``%`` has the divisor's sign and ``//`` rounds
    down, as in Python), unary ``-``, ``abs()``, ``== != < <= > >=``, ``&`` (and), ``|``
    (or), ``~`` (not), :meth:`is_null` and :meth:`is_in`. Nulls propagate; a filter keeps rows
    where the condition is true. A column's aggregate (``col("v").max()``) makes an expression
    for ``agg()``."""

    __slots__ = ("_aggs", "_native")
    __hash__ = None  # type: ignore[assignment]  # == builds an expression

    def __init__(self, native: _native.Expr, aggs: dict[str, AggLeaf] | None = None) -> None:
        self._native = native
        self._aggs = aggs or {}

    def __repr__(self) -> str:
        return f"squall.Expr({self._native!r})"

    def __bool__(self) -> bool:
        raise TypeError(
            f"{self!r} has no truth value until it runs: combine conditions with & and |, "
            "not `and` and `or`"
        )

    def _binary(self, op: str, other: Any, reflected: bool = False) -> Expr:
        other = other if isinstance(other, Expr) else lit(other)
        left, right = (other, self) if reflected else (self, other)
        return Expr(left._native.binary(op, right._native), {**left._aggs, **right._aggs})

    def __add__(self, other: Any) -> Expr:
        return self._binary("+", other)

    def __radd__(self, other: Any) -> Expr:
        return self._binary("+", other, True)

    def __sub__(self, other: Any) -> Expr:
        return self._binary("-", other)

    def __rsub__(self, other: Any) -> Expr:
        return self._binary("-", other, True)

    def __mul__(self, other: Any) -> Expr:
        return self._binary("*", other)

    def __rmul__(self, other: Any) -> Expr:
        return self._binary("*", other, True)

    def __truediv__(self, other: Any) -> Expr:
        return self._binary("/", other)

    def __rtruediv__(self, other: Any) -> Expr:
        return self._binary("/", other, True)

    def __mod__(self, other: Any) -> Expr:
        return self._binary("%", other)

    def __rmod__(self, other: Any) -> Expr:
        return self._binary("%", other, True)

    def __floordiv__(self, other: Any) -> Expr:
        return self._binary("//", other)

    def __rfloordiv__(self, other: Any) -> Expr:
        return self._binary("//", other, True)

    def __neg__(self) -> Expr:
        return Expr(self._native.neg(), self._aggs)

    def __abs__(self) -> Expr:
        return self.abs()

    def abs(self) -> Expr:
        """Each number without its sign (``abs(col)`` says the same); ``abs`` of an integer
        type's least value (``-2**63`` for int64) is an error, not a wrapped value.

        Example:
            >>> ds.filter(squall.col("anomaly").abs() > 3.0)
        """
        return Expr(self._native.abs(), self._aggs)

    def __eq__(self, other: Any) -> Expr:  # type: ignore[override]
        return self._binary("==", other)

    def __ne__(self, other: Any) -> Expr:  # type: ignore[override]
        return self._binary("!=", other)

    def __lt__(self, other: Any) -> Expr:
        return self._binary("<", other)

    def __le__(self, other: Any) -> Expr:
        return self._binary("<=", other)

    def __gt__(self, other: Any) -> Expr:
        return self._binary(">", other)

    def __ge__(self, other: Any) -> Expr:
        return self._binary(">=", other)

    def __and__(self, other: Any) -> Expr:
        return self._binary("&", other)

    def __rand__(self, other: Any) -> Expr:
        return self._binary("&", other, True)

    def __or__(self, other: Any) -> Expr:
        return self._binary("|", other)

    def __ror__(self, other: Any) -> Expr:
        return self._binary("|", other, True)

    def __invert__(self) -> Expr:
        return Expr(self._native.negate(), self._aggs)

    def is_null(self) -> Expr:
        """Whether each value is null.

        Example:
            >>> ds.filter(~squall.col("station").is_null())
        """
        return Expr(self._native.is_null(), self._aggs)

    def is_in(self, values: Iterable[Any]) -> Expr:
        """Whether each value is one of ``values`` (a list, set, numpy array, pandas Series or
        pyarrow Array of bools, numbers or strings), compared as ``==`` compares; a null stays
        null, so a filter drops it (add ``| col.is_null()`` to keep nulls).

        Example:
            >>> ds.filter(squall.col("station").is_in(["KBOS", "KJFK"]))
        """
        if isinstance(values, str | bytes | Expr):
            raise TypeError(f"is_in() takes a collection of values, not {values!r}")
        if hasattr(values, "to_pylist"):
            values = values.to_pylist()
        elif hasattr(values, "tolist"):
            values = values.tolist()
        return Expr(self._native.is_in([_plain(v) for v in values]), self._aggs)

    # -- aggregates of a column, for agg() -------------------------------------------------

    def _agg(self, func: str, arg: float | None = None) -> Expr:
        column = self._native.column_name
        if column is None or self._aggs:
            raise TypeError(f"{func}() aggregates a column, as col('v').{func}(), not {self!r}")
        name = f"{func}({column}{'' if arg is None else f', {arg:g}'})"
        return Expr(_native.Expr.column(name), {name: (column, func, arg)})

    def count(self) -> Expr:
        """Non-null values per group.

        Example:
            >>> ds.groupby("k").agg(share=squall.col("v").count() / squall.col("k").count())
        """
        return self._agg("count")

    def n_unique(self) -> Expr:
        """Distinct non-null values per group.

        Example:
            >>> ds.groupby("site").agg(days=squall.col("day").n_unique())
        """
        return self._agg("n_unique")

    def sum(self) -> Expr:
        """Sum per group.

        Example:
            >>> ds.groupby("k").agg(total=squall.col("v").sum() * 2)
        """
        return self._agg("sum")

    def mean(self) -> Expr:
        """Mean per group.

        Example:
            >>> ds.groupby("k").agg(cv=squall.col("v").std() / squall.col("v").mean())
        """
        return self._agg("mean")

    def min(self) -> Expr:
        """Smallest value per group.

        Example:
            >>> ds.groupby("k").agg(spread=squall.col("v").max() - squall.col("v").min())
        """
        return self._agg("min")

    def max(self) -> Expr:
        """Largest value per group.

        Example:
            >>> ds.groupby("k").agg(spread=squall.col("v").max() - squall.col("v").min())
        """
        return self._agg("max")

    def std(self) -> Expr:
        """Sample standard deviation per group.

        Example:
            >>> ds.groupby("k").agg(cv=squall.col("v").std() / squall.col("v").mean())
        """
        return self._agg("std")

    def var(self) -> Expr:
        """Sample variance per group.

        Example:
            >>> ds.groupby("k").agg(sem2=squall.col("v").var() / squall.col("v").count())
        """
        return self._agg("var")

    def median(self) -> Expr:
        """Median per group (exact).

        Example:
            >>> ds.groupby("k").agg(skew=squall.col("v").mean() - squall.col("v").median())
        """
        return self._agg("median")

    def quantile(self, q: float) -> Expr:
        """The value at fraction ``q`` per group (exact, linear interpolation).

        Example:
            >>> v = squall.col("v")
            >>> ds.groupby("k").agg(iqr=v.quantile(0.75) - v.quantile(0.25))
        """
        return self._agg("quantile", float(q))

    def approx_median(self) -> Expr:
        """Median per group, approximate (a t-digest per group: within about 1% of rank, with
        a state of a few kilobytes however large the group; exact for groups of at most 2,048
        values).

        Example:
            >>> ds.groupby("k").agg(mid=squall.col("v").approx_median())
        """
        return self._agg("approx_median")

    def approx_quantile(self, q: float) -> Expr:
        """The value at fraction ``q`` per group, approximate (a t-digest per group).

        Example:
            >>> v = squall.col("v")
            >>> ds.groupby("k").agg(tail=v.approx_quantile(0.99) - v.approx_median())
        """
        return self._agg("approx_quantile", float(q))

    def first(self) -> Expr:
        """First non-null value per group, in input order.

        Example:
            >>> v = squall.col("v")
            >>> ds.sort("t").groupby("k").agg(change=v.last() - v.first())
        """
        return self._agg("first")

    def last(self) -> Expr:
        """Last non-null value per group, in input order.

        Example:
            >>> v = squall.col("v")
            >>> ds.sort("t").groupby("k").agg(change=v.last() - v.first())
        """
        return self._agg("last")


def col(name: str) -> Expr:
    """The column ``name``, to build expressions: ``col("temp") > 0``.

    Example:
        >>> ds.filter(squall.col("temp") > 20.5)
    """
    if not isinstance(name, str):
        raise TypeError(f"col() takes a column name, not {name!r}")
    return Expr(_native.Expr.column(name))


def lit(value: bool | int | float | str | None) -> Expr:
    """A literal value in an expression (plain Python values are taken as literals).

    Example:
        >>> squall.col("temp") * squall.lit(1.8) + 32
    """
    return Expr(_native.Expr.literal(_plain(value)))


def _plain(value: Any) -> Any:
    """A numpy scalar (``np.int64(3)``) as the Python value it holds; others as they are."""
    return value.item() if isinstance(value, np.generic) else value
