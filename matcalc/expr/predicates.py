"""Questions asked of expressions: their kind of shape, their number, their nodes, and a cache
on the node for answers that would otherwise walk a deep tree again for every parent."""

from __future__ import annotations

from fractions import Fraction
from functools import wraps

from ..shapes import is_scalar_shape, resolve
from .nodes import Const, Expr, MatMul


def is_scalar(e: Expr) -> bool:
    return is_scalar_shape(e.shape)


def is_square(e: Expr) -> bool:
    """Whether ``e`` has as many rows as columns (sizes unified so far, while parsing)."""
    return resolve(e.shape[0]) == resolve(e.shape[1])


def const_value(e: Expr) -> Fraction | None:
    return e.value if isinstance(e, Const) else None


def is_scalar_product(e: Expr) -> bool:
    return isinstance(e, MatMul) and all(is_scalar(f) for f in e.factors)


def cached_on_node(fn):
    """Remember ``fn(e)`` on the node itself: nodes are immutable, and deep trees would
    otherwise be walked again for every parent (transpose and symmetry call each other)."""
    attribute = "_cache_" + fn.__name__

    @wraps(fn)
    def wrapper(e):
        try:
            return e.__dict__[attribute]
        except KeyError:
            value = fn(e)
            e.__dict__[attribute] = value
            return value

    return wrapper


def nodes(e: Expr):
    """Every distinct node of the DAG below ``e`` (``e`` included), each once, without recursion."""
    stack, seen = [e], set()
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            yield node
            stack.extend(node.children())


def contains(e: Expr, d) -> bool:
    """Whether ``e`` holds the differential ``d`` (or one of a frozenset of them)."""
    return not d.isdisjoint(e.free) if isinstance(d, frozenset) else d in e.free
