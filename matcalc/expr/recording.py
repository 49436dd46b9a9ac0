"""Which identities of the normal form fire: ``with recording() as fired: ...`` lists them.

Built on a context variable, so that a constructor pays one lookup when an identity fires and
no one records, and so that threads and asynchronous tasks record apart.
"""

from __future__ import annotations

import contextvars
from contextlib import contextmanager
from functools import wraps

_fired: contextvars.ContextVar[list | None] = contextvars.ContextVar("identities_fired", default=None)


@contextmanager
def recording():
    """The identities that fire inside the block, as (words, identity) pairs in the order they
    complete (an identity whose right side needed others comes after them).  A recording inside
    another one passes what it saw on to the outer one as well."""
    outer = _fired.get()
    fired: list = []
    token = _fired.set(fired)
    try:
        yield fired
    finally:
        _fired.reset(token)
        if outer is not None:
            outer.extend(fired)


def cite(row) -> None:
    """Note that ``row`` fired, when someone records."""
    fired = _fired.get()
    if fired is not None:
        fired.append(row.cited)


def unrecorded(fn):
    """``fn`` with nothing it fires recorded: what a predicate builds on the way (the transposes
    it compares with) is no part of the expression being built."""

    @wraps(fn)
    def wrapper(*args):
        if _fired.get() is None:
            return fn(*args)
        token = _fired.set(None)
        try:
            return fn(*args)
        finally:
            _fired.reset(token)

    return wrapper


def cached_citing(fn):
    """Remember ``fn(e)`` on the node, as ``predicates.cached_on_node`` does, for a constructor
    whose result cites identities: a call made while someone records cites again the identities
    that computing it fired (worked out once, the first time someone records it)."""
    value_attribute, cited_attribute = "_cache_" + fn.__name__, "_cited_" + fn.__name__

    @wraps(fn)
    def wrapper(e):
        cache = e.__dict__
        fired = _fired.get()
        cited = None if fired is None else cache.get(cited_attribute)
        if fired is not None and cited is None:
            with recording() as cited:
                value = fn(e)
            cache[cited_attribute] = tuple(cited)
            return cache.setdefault(value_attribute, value)  # an earlier value stays: others may hold it
        value = cache.get(value_attribute)
        if value is None:
            value = cache[value_attribute] = fn(e)
        if cited:
            fired.extend(cited)
        return value

    return wrapper
