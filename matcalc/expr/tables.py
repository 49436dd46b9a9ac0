"""Named identity rows and their tables: the form in which the normal form states what it knows.

A row is one identity, read like a row of ``differential.RULES``: the node type it applies to
(``Expr`` for any node; one type per side for a pair of adjacent factors), the identity in words
and as an identity, and a function returning the equal expression, or None where the identity
does not apply.  A table is indexed by a node's type (or a pair of types) and gives the rows that
can apply to it, in the table's order, so that a constructor tries only those.
"""

from __future__ import annotations

from typing import Callable

from .recording import cite


class Row:
    __slots__ = ("kind", "words", "identity", "apply", "cited")

    def __init__(self, kind, words: str, identity: str, apply: Callable):
        self.kind, self.words, self.identity, self.apply = kind, words, identity, apply
        self.cited = (words, identity)  # what a recording lists

    def __repr__(self):
        return f"<identity {self.words}: {self.identity}>"


class Table(dict):
    """The rows in order (``rows``), and as a mapping from a node type, or a pair of them, to
    the rows written for it or for a class above it; filled in as types are met."""

    def __init__(self, rows, pairwise: bool):
        super().__init__()
        self.rows = tuple(rows)
        self.pairwise = pairwise

    def __missing__(self, key):
        if self.pairwise:
            rows = tuple(r for r in self.rows if issubclass(key[0], r.kind[0]) and issubclass(key[1], r.kind[1]))
        else:
            rows = tuple(r for r in self.rows if issubclass(key, r.kind))
        self[key] = rows
        return rows


def table(*rows) -> Table:
    """Rows ``(type, words, identity, function of the node and any parameters)``."""
    return Table((Row(*r) for r in rows), pairwise=False)


def pair_table(*rows) -> Table:
    """Rows ``((left type, right type), words, identity, function of the two)``."""
    return Table((Row(*r) for r in rows), pairwise=True)


def sequence(*rows) -> tuple[Row, ...]:
    """Rows ``(words, identity, function)`` that each apply to the same thing (a list of terms,
    a chain of factors), not looked up by type."""
    return tuple(Row(None, *r) for r in rows)


def first_identity(rows, *args):
    """The result of the first of ``rows`` that applies to ``args`` (cited), or None."""
    for row in rows:
        out = row.apply(*args)
        if out is not None:
            cite(row)
            return out
    return None


def rewritten(row: Row, value):
    """``value`` rewritten by ``row`` (cited) where it applies, else ``value`` itself."""
    out = row.apply(value)
    if out is None:
        return value
    cite(row)
    return out
