"""The reverse walk over a DAG: each node's rule runs once, on the sum of its carries, so the
work and the result grow linearly with depth where every path would grow exponentially."""

import numpy as np
import pytest
from conftest import point_for

import matcalc
import matcalc.expr as E
from matcalc.canonical import ADJOINT
from matcalc.differential import differential
from matcalc.evaluate import evaluate
from matcalc.linear import walk
from matcalc.simplify import size


def nested_softmax(k: int) -> str:
    return "sum(" + "softmax(" * k + "x" + ")" * k + " .* y)"


def residual(k: int) -> str:
    lines = [f"h{i} = {'x' if i == 1 else f'h{i - 1}'} + tanh(W{i} {'x' if i == 1 else f'h{i - 1}'})" for i in range(1, k + 1)]
    return "; ".join(lines + [f"sum(h{k})"])


def test_each_rule_runs_once_per_node():
    """In sum(softmax(W x + b) .* y), du = dW x + db reaches softmax's differential
    s .* du - s s^T du along two paths: the walk applies the rule of every node once, that of
    the shared du too, on the sum of its two carries."""
    f = matcalc.parse("sum(softmax(W x + b) .* y)")
    w, b = (next(s for s in f.free if s.name == name) for name in ("W", "b"))
    df = differential(f, [w, b])
    calls: dict = {}

    def counting(rule):
        def counted(e, c, dx):
            calls[e] = calls.get(e, 0) + 1
            return rule(e, c, dx)
        return counted

    rules = {t: (words, identity, counting(rule)) for t, (words, identity, rule) in ADJOINT.items()}
    reached = walk(df, E.ONE, rules, frozenset([E.Differential(w), E.Differential(b)]))
    assert calls and max(calls.values()) == 1
    shared = [n for n in E.nodes(df) if n != df and sum(n in p.children() for p in E.nodes(df)) >= 2 and n in calls]
    assert shared, "the example must hold a linear node with two parents"
    g = reached[E.Differential(w)]
    values, sizes = point_for(f)
    direction = np.random.default_rng(0).standard_normal(values["W"].shape)
    h = 1e-6
    plus = evaluate(f, {**values, "W": values["W"] + h * direction}, sizes)
    minus = evaluate(f, {**values, "W": values["W"] - h * direction}, sizes)
    assert np.sum(evaluate(g, values, sizes) * direction) == pytest.approx(((plus - minus) / (2 * h))[0, 0], rel=1e-6)


@pytest.mark.parametrize("family", [nested_softmax, residual], ids=["nested softmax", "residual stack"])
def test_the_result_grows_linearly_with_depth(family):
    sizes = {}
    for k in (8, 32):
        r = matcalc.gradient(family(k), wrt="x" if family is nested_softmax else "W1")
        sizes[k] = size(r.expr)
    assert sizes[32] <= 4.5 * sizes[8], sizes  # every path walked apart would give 2^24 times


@pytest.mark.parametrize("text, wrt", [
    (nested_softmax(3), ["x"]),
    (residual(3), ["W1", "W2", "W3", "x"]),
    ("v1 = sin(x) + cos(x); v2 = sin(v1) + cos(v1); v3 = sin(v2) + cos(v2); sum(v3)", ["x"]),
    ("h1 = x + V1^T softmax(K1 x); h2 = h1 + V2^T softmax(K2 h1); y^T h2", ["K1", "V1", "K2", "V2", "x"]),
])
def test_gradients_through_shared_parts_are_right(text, wrt):
    for name, r in matcalc.gradient(text, wrt=wrt).items():
        assert r.check(), f"{name}: {r.check()}"


def test_hessian_through_a_shared_part_is_right():
    h = matcalc.hessian("s = softmax(A x); sum(s .* y) + y^T s", wrt="x")
    assert h.check()
