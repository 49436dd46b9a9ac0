"""The identities the smart constructors apply hold numerically: each left side, built through
the constructors, evaluates to what NumPy computes for it written out by hand."""

import numpy as np
import pytest

import matcalc
from matcalc.evaluate import bind_sizes, evaluate
from matcalc.verify import dims_of, symbols_of

RNG = np.random.default_rng(7)
VALUES = {"v": RNG.standard_normal((3, 1)), "A": RNG.standard_normal((3, 3)), "B": RNG.standard_normal((2, 2)),
          "y": RNG.standard_normal((3, 1)), "z": RNG.standard_normal((3, 1))}

CASES = [
    # (text, its value written out with NumPy)
    ("tr(diag(v))", lambda v: np.trace(np.diagflat(v["v"]))),
    ("sum(diag(v))", lambda v: np.diagflat(v["v"]).sum()),
    ("ones^T diag(v) A", lambda v: np.ones((1, 3)) @ np.diagflat(v["v"]) @ v["A"]),
    ("A diag(v) ones", lambda v: v["A"] @ np.diagflat(v["v"]) @ np.ones((3, 1))),
    ("tr(kron(A, B))", lambda v: np.trace(np.kron(v["A"], v["B"]))),
    ("v - 2 (y - z)", lambda v: v["v"] - 2 * (v["y"] - v["z"])),
    ("-(y - v) + z", lambda v: -(v["y"] - v["v"]) + v["z"]),
    ("sum(v - v)", lambda v: 0.0),
]


@pytest.mark.parametrize("text, reference", CASES, ids=[c[0] for c in CASES])
def test_constructor_identity_keeps_the_value(text, reference):
    e = matcalc.parse(text)
    sizes = bind_sizes(symbols_of(e), VALUES)
    sizes.update({d: 3 for d in dims_of([e]) if d not in sizes})  # sizes only an I, ones or 0 holds
    np.testing.assert_allclose(evaluate(e, VALUES, sizes), np.atleast_2d(reference(VALUES)), rtol=1e-12, atol=1e-14)
