"""pyarrow compute expressions (``pc.field("temp") > 30``) as squall filters.

An expression squall's engine evaluates the same way (column references, plain literals,
comparisons, ``&``, ``|``, ``~``, ``is_null``/``is_valid``) becomes a squall :class:`Expr`, so it
runs without Python and prunes row groups by their statistics. Any other expression is
evaluated by pyarrow, batch by batch (same rows, no pruning).

pyarrow offers no public way to walk an expression, so the tree is read from the form pyarrow
pickles it in (an Arrow IPC file: the literals as columns, the tree as the schema's ordered
metadata, read through the C data interface, which keeps repeated keys). The tree read back is
rebuilt as a pyarrow expression and must equal the original; anything else is not translated.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from .expr import Expr, col, lit

_COMPARISONS = {
    "equal": "==",
    "not_equal": "!=",
    "less": "<",
    "less_equal": "<=",
    "greater": ">",
    "greater_equal": ">=",
}
_LOGIC = {"and_kleene": "&", "or_kleene": "|"}
# Literal types squall evaluates as pyarrow does.
_PLAIN = (pa.types.is_boolean, pa.types.is_int64, pa.types.is_float64, pa.types.is_string)


class _Untranslatable(Exception):
    pass


def translate(expr: pc.Expression) -> Expr | None:
    """The squall expression equal to ``expr``, or None when squall cannot evaluate it alone."""
    try:
        pairs, literals = _serialized(expr)
        tree, rest = _node(pairs, 0, literals)
        if rest != len(pairs) or not _rebuild(tree).equals(expr):
            return None
        return _squall(tree)
    except (_Untranslatable, pa.ArrowException, ValueError, TypeError, IndexError):
        return None


def mask_of(expr: pc.Expression) -> Callable[[pa.Table], pa.ChunkedArray]:
    """A function giving, for a table, ``expr``'s value on each row (pyarrow evaluates it)."""
    import pyarrow.dataset as ds

    def mask(table: pa.Table) -> pa.ChunkedArray:
        return ds.dataset(table).to_table(columns={"mask": expr}).column("mask")

    return mask


# A node: ("field", name) | ("literal", pyarrow scalar) | ("call", name, [children], options).
Node = tuple[Any, ...]


def _serialized(expr: pc.Expression) -> tuple[list[tuple[str, str]], list[pa.Scalar]]:
    import pyarrow.ipc as ipc

    buffer = expr.__reduce__()[1][0]
    reader = ipc.open_file(buffer)
    table = reader.read_all()
    literals = [column[0] for column in table.columns] if table.num_rows else []
    return _metadata_pairs(reader.schema), literals


def _node(pairs: list[tuple[str, str]], at: int, literals: list[pa.Scalar]) -> tuple[Node, int]:
    key, value = pairs[at]
    if key == "field_ref":
        return ("field", value), at + 1
    if key == "literal":
        return ("literal", literals[int(value)]), at + 1
    if key != "call":
        raise _Untranslatable(key)
    children: list[Node] = []
    options = None
    at += 1
    while pairs[at] != ("end", value):
        if pairs[at][0] == "options":
            options = literals[int(pairs[at][1])]
            at += 1
            continue
        child, at = _node(pairs, at, literals)
        children.append(child)
    return ("call", value, children, options), at + 1


def _rebuild(node: Node) -> pc.Expression:
    if node[0] == "field":
        return pc.field(node[1])
    if node[0] == "literal":
        return pc.scalar(node[1])
    _, name, children, options = node
    args = [_rebuild(c) for c in children]
    if name in ("is_null", "is_valid") and len(args) == 1:
        nan_is_null = options is not None and options["nan_is_null"].as_py()
        return args[0].is_null(nan_is_null) if name == "is_null" else args[0].is_valid()
    if options is not None:
        raise _Untranslatable(name)
    return pc.Expression._call(name, args)


def _squall(node: Node) -> Expr:
    if node[0] == "field":
        return col(node[1])
    if node[0] == "literal":
        scalar = node[1]
        if not any(plain(scalar.type) for plain in _PLAIN) or not scalar.is_valid:
            raise _Untranslatable(str(scalar.type))
        return lit(scalar.as_py())
    _, name, children, options = node
    args = [_squall(c) for c in children]
    if name in _COMPARISONS and len(args) == 2:
        # pyarrow compares floats as IEEE 754 says, not by squall's total order.
        return Expr(args[0]._native.binary(_COMPARISONS[name], args[1]._native, ieee=True))
    if name in _LOGIC and len(args) == 2:
        return args[0]._binary(_LOGIC[name], args[1])
    if name == "invert" and len(args) == 1:
        return ~args[0]
    if name == "is_null" and len(args) == 1 and not options["nan_is_null"].as_py():
        return args[0].is_null()
    if name == "is_valid" and len(args) == 1:
        return ~args[0].is_null()
    raise _Untranslatable(name)


class _ArrowSchema(ctypes.Structure):
    """The C data interface's ArrowSchema (Arrow's stable ABI)."""


_ArrowSchema._fields_ = [
    ("format", ctypes.c_char_p),
    ("name", ctypes.c_char_p),
    ("metadata", ctypes.c_void_p),
    ("flags", ctypes.c_int64),
    ("n_children", ctypes.c_int64),
    ("children", ctypes.c_void_p),
    ("dictionary", ctypes.c_void_p),
    ("release", ctypes.CFUNCTYPE(None, ctypes.c_void_p)),
    ("private_data", ctypes.c_void_p),
]


def _metadata_pairs(schema: pa.Schema) -> list[tuple[str, str]]:
    """A schema's metadata in order, repeated keys kept (pyarrow's ``.metadata`` is a dict)."""
    c = _ArrowSchema()
    schema._export_to_c(ctypes.addressof(c))
    try:
        pairs: list[tuple[str, str]] = []
        if not c.metadata:
            return pairs
        at = c.metadata + 4

        def take() -> str:
            nonlocal at
            size = ctypes.c_int32.from_address(at).value
            text = ctypes.string_at(at + 4, size).decode()
            at += 4 + size
            return text

        for _ in range(ctypes.c_int32.from_address(c.metadata).value):
            key = take()
            pairs.append((key, take()))
        return pairs
    finally:
        c.release(ctypes.addressof(c))
