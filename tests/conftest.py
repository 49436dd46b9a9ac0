import numpy as np
import pytest

import matcalc
from matcalc.evaluate import evaluate
from matcalc.verify import domain_points, symbols_of


def pytest_collection_modifyitems(session, config, items):
    """The tests on other array libraries (marked threaded_libraries) run last: JAX and PyTorch start threads, and a test that
    forks afterwards (the fuzz test's time limit, the server's workers) would copy them mid-lock."""
    items.sort(key=lambda item: item.get_closest_marker("threaded_libraries") is not None)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def point_for(f, seed=0):
    """One random point (values, sizes) in the domain of expression f."""
    return domain_points(f, 1, seed)[0]


def variable(f, name):
    return next(s for s in symbols_of(f) if s.name == name)


def directional_fd(f, values, sizes, name, direction, h=1e-6):
    """Central difference of f at values along direction for variable name."""
    plus = evaluate(f, {**values, name: values[name] + h * direction}, sizes)
    minus = evaluate(f, {**values, name: values[name] - h * direction}, sizes)
    return (plus - minus) / (2 * h)


__all__ = ["matcalc", "point_for", "variable", "directional_fd"]
