"""Backpropagation: the gradients of a network's loss with respect to all its weights in one
call, against NumPy backprop written out here; the shared (backprop) printout; and linear
growth of the results and of the printout in the depth of the network.

The notes' rule dL/dW = X^T dL/d(X W + b) is what the NumPy backprop below applies, layer by layer.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from reference import sigmoid, softmax

import matcalc
from matcalc import expr as E
from matcalc.cli import main
from matcalc.cse import share
from matcalc.evaluate import as_matrix, bind_sizes, evaluate
from matcalc.printing import to_text
from matcalc.simplify import size
from matcalc.verify import symbols_of

TWO_LAYER = "||sigmoid(X W1 + b1^T) W2 + b2^T - Y||_F^2"

# activation: (NumPy function, its derivative written with the activation's output H and input Z)
ACTIVATIONS = {
    "sigmoid": (sigmoid, lambda z, h: h * (1 - h)),
    "tanh": (np.tanh, lambda z, h: 1 - h**2),
    "relu": (lambda z: np.maximum(z, 0.0), lambda z, h: (z > 0).astype(float)),
}


def two_layer_values(rng, n=6, d=3, hidden=4, out=2):
    return {
        "X": rng.standard_normal((n, d)),
        "W1": rng.standard_normal((d, hidden)),
        "b1": rng.standard_normal(hidden),
        "W2": rng.standard_normal((hidden, out)),
        "b2": rng.standard_normal(out),
        "Y": rng.standard_normal((n, out)),
    }


def two_layer_backprop(v, activation="sigmoid"):
    """Forward Z1 = X W1 + 1 b1^T, H = act(Z1), Z2 = H W2 + 1 b2^T; L = ||Z2 - Y||_F^2;
    backward delta2 = 2 (Z2 - Y), dW2 = H^T delta2, db2 = delta2^T 1,
    delta1 = (delta2 W2^T) * act'(Z1), dW1 = X^T delta1, db1 = delta1^T 1."""
    act, dact = ACTIVATIONS[activation]
    x, w1, b1, w2, b2, y = (v[k] for k in ("X", "W1", "b1", "W2", "b2", "Y"))
    ones = np.ones(x.shape[0])
    z1 = x @ w1 + np.outer(ones, b1)
    h = act(z1)
    z2 = h @ w2 + np.outer(ones, b2)
    delta2 = 2 * (z2 - y)
    delta1 = (delta2 @ w2.T) * dact(z1, h)
    return {"W1": x.T @ delta1, "b1": delta1.T @ ones, "W2": h.T @ delta2, "b2": delta2.T @ ones}


def two_layer_loss_value(v, activation="sigmoid"):
    act, _ = ACTIVATIONS[activation]
    z2 = act(v["X"] @ v["W1"] + v["b1"]) @ v["W2"] + v["b2"]
    return float(np.sum((z2 - v["Y"]) ** 2))


def _assert_gradients(results, expected, values):
    assert set(results) == set(expected)
    for name, r in results.items():
        got = r.evaluate(values)
        assert got.shape == np.shape(values[name])
        np.testing.assert_allclose(got, expected[name], rtol=1e-9, atol=1e-11, err_msg=f"gradient wrt {name}")


# ---------------------------------------------------------------------------------------
# Two-layer networks


def test_numpy_backprop_is_right():
    """The hand-written backprop agrees with central differences of the loss."""
    rng = np.random.default_rng(1)
    v = two_layer_values(rng)
    grads = two_layer_backprop(v)
    h = 1e-6
    for name, g in grads.items():
        direction = rng.standard_normal(np.shape(v[name]))
        fd = (two_layer_loss_value({**v, name: v[name] + h * direction})
              - two_layer_loss_value({**v, name: v[name] - h * direction})) / (2 * h)
        assert np.isclose(np.sum(g * direction), fd, rtol=1e-6)


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_two_layer_gradients_in_one_call(activation):
    text = TWO_LAYER.replace("sigmoid", activation)
    results = matcalc.gradient(text, wrt=["W1", "b1", "W2", "b2"])
    rng = np.random.default_rng(len(activation))
    for _ in range(3):
        v = two_layer_values(rng)
        _assert_gradients(results, two_layer_backprop(v, activation), v)
    for name, r in results.items():
        report = r.check()
        assert report, f"gradient wrt {name} of {text}: {r}; check: {report}"


def test_two_layer_gradient_forms():
    """The README's forms: the notes' dL/dW = X^T dL/d(X W + b), layer by layer."""
    results = matcalc.gradient(TWO_LAYER, wrt=["W1", "b1", "W2", "b2"])
    assert str(results["W2"]) == "2 sigmoid(X W1 + b1^T)^T (sigmoid(X W1 + b1^T) W2 + b2^T - Y)"
    assert str(results["b2"]) == "2 (sigmoid(X W1 + b1^T) W2 + b2^T - Y)^T ones"
    assert str(results["W1"]).startswith("2 X^T (")


def test_one_call_equals_separate_calls():
    together = matcalc.gradient(TWO_LAYER, wrt=["W1", "b1", "W2", "b2"])
    v = two_layer_values(np.random.default_rng(2))
    for name in together:
        alone = matcalc.gradient(TWO_LAYER, wrt=name)
        np.testing.assert_allclose(together[name].evaluate(v), alone.evaluate(v), rtol=1e-12)


def test_batch_of_one_is_a_vector_network():
    """With one row in X the bias gradients are the deltas themselves."""
    rng = np.random.default_rng(3)
    v = two_layer_values(rng, n=1)
    results = matcalc.gradient(TWO_LAYER, wrt=["W1", "b1", "W2", "b2"])
    _assert_gradients(results, two_layer_backprop(v), v)


# ---------------------------------------------------------------------------------------
# Softmax cross-entropy output, one sample

CROSS_ENTROPY = "-y^T log(softmax(W2 sigmoid(W1 x + b1) + b2))"


def cross_entropy_backprop(v):
    """z1 = W1 x + b1, h = sigmoid(z1), p = softmax(W2 h + b2), L = -y^T log p;
    dL/dz2 = sum(y) p - y (p - y for a one-hot y), then back through W2 and the sigmoid."""
    x, w1, b1, w2, b2, y = (v[k] for k in ("x", "W1", "b1", "W2", "b2", "y"))
    h = sigmoid(w1 @ x + b1)
    p = softmax(w2 @ h + b2)
    delta2 = y.sum() * p - y
    delta1 = (w2.T @ delta2) * h * (1 - h)
    return {"W1": np.outer(delta1, x), "b1": delta1, "W2": np.outer(delta2, h), "b2": delta2}


def cross_entropy_values(rng, one_hot):
    classes = 4
    y = np.eye(classes)[rng.integers(classes)] if one_hot else rng.uniform(0.0, 1.0, classes)
    return {"x": rng.standard_normal(3), "W1": rng.standard_normal((5, 3)), "b1": rng.standard_normal(5),
            "W2": rng.standard_normal((classes, 5)), "b2": rng.standard_normal(classes), "y": y}


@pytest.mark.parametrize("one_hot", [True, False], ids=["one-hot", "general y"])
def test_softmax_cross_entropy_network(one_hot):
    results = matcalc.gradient(CROSS_ENTROPY, wrt=["W1", "b1", "W2", "b2"])
    rng = np.random.default_rng(4)
    for _ in range(3):
        v = cross_entropy_values(rng, one_hot)
        _assert_gradients(results, cross_entropy_backprop(v), v)
    for name, r in results.items():
        report = r.check()
        assert report, f"gradient wrt {name}: {r}; check: {report}"


def test_cross_entropy_reference_against_differences():
    rng = np.random.default_rng(5)
    v = cross_entropy_values(rng, one_hot=False)

    def loss(values):
        h = sigmoid(values["W1"] @ values["x"] + values["b1"])
        return float(-values["y"] @ np.log(softmax(values["W2"] @ h + values["b2"])))

    for name, g in cross_entropy_backprop(v).items():
        d = rng.standard_normal(np.shape(v[name]))
        fd = (loss({**v, name: v[name] + 1e-6 * d}) - loss({**v, name: v[name] - 1e-6 * d})) / 2e-6
        assert np.isclose(np.sum(g * d), fd, rtol=1e-6)


# ---------------------------------------------------------------------------------------
# The shared printout on the command line


def _grad_lines(lines):
    return [line for line in lines if line.startswith("grad_")]


def test_cli_names_shared_subexpressions(capsys):
    assert main(["grad", TWO_LAYER, "--wrt", "W1,b1,W2,b2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    grads = _grad_lines(lines)
    assert [line.split(" f = ")[0] for line in grads] == ["grad_W1", "grad_b1", "grad_W2", "grad_b2"]
    definitions = [line for line in lines if re.match(r"Z\d+ = ", line)]
    assert "Z1 = sigmoid(X W1 + b1^T)" in definitions
    # definitions come first, then the gradients, and nothing else
    assert lines == definitions + grads
    names = [line.split(" = ")[0] for line in definitions]
    for line in grads:
        assert any(re.search(rf"\b{n}\b", line) for n in names), line
        assert "sigmoid" not in line, line
    assert re.fullmatch(r"grad_W1 f = 2 X\^T Z\d+", grads[0]), grads[0]
    assert re.fullmatch(r"grad_b1 f = 2 Z\d+\^T ones", grads[1]), grads[1]
    assert grads[2] == "grad_W2 f = 2 Z1^T Z2" or re.fullmatch(r"grad_W2 f = 2 Z1\^T Z\d+", grads[2]), grads[2]


def test_cli_no_share_writes_everything_in_full(capsys):
    assert main(["grad", TWO_LAYER, "--wrt", "W1,b1,W2,b2", "--no-share"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4 and lines == _grad_lines(lines)
    for line in lines:
        assert "sigmoid(X W1 + b1^T)" in line
        assert not re.search(r"\bZ\d+\b", line), line
    assert lines[2] == "grad_W2 f = 2 sigmoid(X W1 + b1^T)^T (sigmoid(X W1 + b1^T) W2 + b2^T - Y)"
    assert lines[3] == "grad_b2 f = 2 (sigmoid(X W1 + b1^T) W2 + b2^T - Y)^T ones"


def _evaluate_shared(function, definitions, rewritten, values):
    """Evaluate the definitions in order, then the rewritten results in terms of them."""
    known = {s.name: s for s in symbols_of(function)}
    arrays = {name: as_matrix(name, values[name], known[name]) for name in known}
    sizes = bind_sizes(list(known.values()), arrays)
    for symbol, value in definitions:
        arrays[symbol.name] = evaluate(value, arrays, sizes)
    return {label: evaluate(e, arrays, sizes) for label, e in rewritten.items()}


def test_shared_form_has_the_same_values():
    results = matcalc.gradient(TWO_LAYER, wrt=["W1", "b1", "W2", "b2"])
    definitions, rewritten = share({name: r.expr for name, r in results.items()})
    assert definitions
    v = two_layer_values(np.random.default_rng(6))
    expected = two_layer_backprop(v)
    got = _evaluate_shared(results["W1"].function, definitions, rewritten, v)
    for name in results:
        np.testing.assert_allclose(got[name].reshape(np.shape(expected[name])), expected[name], rtol=1e-10)


# ---------------------------------------------------------------------------------------
# Depth: linear growth


def deep_loss(layers: int) -> str:
    """||sigmoid(... sigmoid(X W1 + b1^T) W2 + b2^T ...) WL + bL^T - Y||_F^2."""
    z = "X W1 + b1^T"
    for i in range(2, layers + 1):
        z = f"sigmoid({z}) W{i} + b{i}^T"
    return f"||{z} - Y||_F^2"


def deep_variables(layers: int) -> list[str]:
    return [f"W{i}" for i in range(1, layers + 1)] + [f"b{i}" for i in range(1, layers + 1)]


def deep_backprop(v, layers: int):
    ones = np.ones(v["X"].shape[0])
    inputs, outputs = [v["X"]], []
    a = v["X"]
    for i in range(1, layers + 1):
        z = a @ v[f"W{i}"] + np.outer(ones, v[f"b{i}"])
        outputs.append(z)
        a = sigmoid(z) if i < layers else z
        inputs.append(a)
    delta = 2 * (outputs[-1] - v["Y"])
    grads = {}
    for i in range(layers, 0, -1):
        grads[f"W{i}"] = inputs[i - 1].T @ delta
        grads[f"b{i}"] = delta.T @ ones
        if i > 1:
            h = inputs[i - 1]
            delta = (delta @ v[f"W{i}"].T) * h * (1 - h)
    return grads


def deep_values(rng, layers: int, width=3, n=5):
    v = {"X": rng.standard_normal((n, width)), "Y": rng.standard_normal((n, width))}
    for i in range(1, layers + 1):
        v[f"W{i}"] = rng.standard_normal((width, width)) / np.sqrt(width)
        v[f"b{i}"] = rng.standard_normal(width)
    return v


DEPTHS = [1, 2, 4, 8, 16]


@pytest.fixture(scope="module")
def deep_results():
    return {layers: matcalc.gradient(deep_loss(layers), wrt=deep_variables(layers)) for layers in DEPTHS}


def _distinct_nodes(roots) -> int:
    seen = set()
    for root in roots:
        seen.update(E.nodes(root))
    return len(seen)


def _shared_printout_length(results) -> int:
    definitions, rewritten = share({name: r.expr for name, r in results.items()})
    return (sum(len(to_text(s)) + len(" = ") + len(to_text(value)) for s, value in definitions)
            + sum(len(to_text(e)) for e in rewritten.values()))


def _assert_linear(measure: dict, what: str):
    assert measure[16] / measure[8] <= 2.5, f"{what}: {measure}"
    assert measure[8] / measure[4] <= 2.5, f"{what}: {measure}"


def test_deep_loss_text():
    assert deep_loss(1) == "||X W1 + b1^T - Y||_F^2"
    assert deep_loss(2) == TWO_LAYER


def test_dag_size_grows_linearly(deep_results):
    total = {layers: _distinct_nodes(r.expr for r in results.values()) for layers, results in deep_results.items()}
    _assert_linear(total, "distinct nodes of all gradients together")


def test_each_gradient_grows_linearly(deep_results):
    """The gradient wrt the first layer goes through the whole network: its DAG stays linear."""
    first = {layers: size(results["W1"].expr) for layers, results in deep_results.items()}
    _assert_linear(first, "size of the gradient wrt W1")
    largest = {layers: max(size(r.expr) for r in results.values()) for layers, results in deep_results.items()}
    _assert_linear(largest, "size of the largest gradient")


def test_shared_printout_grows_linearly(deep_results):
    length = {layers: _shared_printout_length(results) for layers, results in deep_results.items()}
    _assert_linear(length, "characters of the shared printout")


def test_shared_definitions_grow_linearly(deep_results):
    count = {layers: len(share({n: r.expr for n, r in results.items()})[0]) for layers, results in deep_results.items()}
    _assert_linear(count, "number of definitions")


def test_four_layer_gradients(deep_results):
    results = deep_results[4]
    assert set(results) == set(deep_variables(4))
    for name, r in results.items():
        report = r.check()
        assert report, f"gradient wrt {name}: {r}; check: {report}"
    rng = np.random.default_rng(8)
    v = deep_values(rng, 4)
    _assert_gradients(results, deep_backprop(v, 4), v)


def test_sixteen_layer_gradients_against_numpy(deep_results):
    rng = np.random.default_rng(9)
    v = deep_values(rng, 16)
    _assert_gradients(deep_results[16], deep_backprop(v, 16), v)


def test_deep_backprop_reference_matches_the_two_layer_one():
    rng = np.random.default_rng(10)
    v = two_layer_values(rng)
    deep, two = deep_backprop(v, 2), two_layer_backprop(v)
    assert set(deep) == set(two)
    for name in two:
        np.testing.assert_allclose(deep[name], two[name], rtol=1e-12)
