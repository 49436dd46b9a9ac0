"""Batched deep-learning layers: gradients against the forms of the papers, written out in NumPy here
(backpropagation by hand), and the printed forms against the textbook ones.

Rows are examples: X is batch x features, Y = X W + ones b^T."""

import numpy as np
import pytest

import matcalc

N, D, H, C = 5, 4, 3, 6  # batch, features, hidden units, classes


def softmax_rows(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def one_hot_rows(rng, n, c):
    y = np.zeros((n, c))
    y[np.arange(n), rng.integers(0, c, n)] = 1.0
    return y


def evaluate(results, values):
    return {name: r.evaluate({s.name: values[s.name] for s in r.inputs()}) for name, r in results.items()}


# ------------------------------------------------------------------ softmax cross-entropy

CROSS_ENTROPY = "-sum(Y .* logsoftmax(X W + ones b^T))"


@pytest.mark.parametrize("labels", ["one-hot", "soft"])
def test_batched_cross_entropy_against_the_textbook_gradient(labels):
    rng = np.random.default_rng(1)
    x, w, b = rng.standard_normal((N, D)), rng.standard_normal((D, C)), rng.standard_normal((C, 1))
    y = one_hot_rows(rng, N, C) if labels == "one-hot" else rng.random((N, C))
    s = softmax_rows(x @ w + b.T)
    dz = s * y.sum(axis=1, keepdims=True) - y  # with one-hot rows: S - Y
    if labels == "one-hot":
        np.testing.assert_allclose(dz, s - y)
    got = evaluate(matcalc.gradient(CROSS_ENTROPY, ["W", "b"]), {"X": x, "W": w, "b": b, "Y": y})
    np.testing.assert_allclose(got["W"], x.T @ dz, rtol=1e-10)  # X^T (softmax(X W + ones b^T) - Y)
    np.testing.assert_allclose(got["b"], dz.sum(axis=0)[:, None], rtol=1e-10)  # the column sums


def test_batched_cross_entropy_prints_the_general_form():
    """Without an assumption on Y, each row of the softmax is weighted by the row sum of Y."""
    g = matcalc.gradient(CROSS_ENTROPY, ["W", "b"])
    weighted = {"(Y (ones ones^T)) .* softmax(X W + b^T) - Y", "softmax(X W + b^T) .* (Y (ones ones^T)) - Y"}
    assert any(str(g["W"]) == f"X^T ({t})" for t in weighted), str(g["W"])
    assert any(str(g["b"]) == f"({t})^T ones" for t in weighted), str(g["b"])
    assert g["W"].check().ok and g["b"].check().ok


def test_batched_cross_entropy_with_one_hot_rows_is_softmax_minus_y():
    g = matcalc.gradient(CROSS_ENTROPY, ["W", "b"], declare={"Y": "onehot_rows"})
    assert str(g["W"]) == "X^T (softmax(X W + b^T) - Y)"
    assert str(g["b"]) == "(softmax(X W + b^T) - Y)^T ones"  # the column sums
    assert g["W"].check().ok and g["b"].check().ok  # at Y drawn with one-hot rows


# ------------------------------------------------------------------ attention

ATTENTION = "Q = X W_q; K = X W_k; V = X W_v; A = softmax(Q K^T / sqrt(d)); sum(G .* (A V))"


def test_attention_against_the_papers_backward_pass():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((N, D))
    wq, wk, wv = (rng.standard_normal((D, H)) for _ in range(3))
    g, d = rng.standard_normal((N, H)), 3.0
    q, k, v = x @ wq, x @ wk, x @ wv
    a = softmax_rows(q @ k.T / np.sqrt(d))
    da = g @ v.T
    ds = a * (da - (da * a).sum(axis=1, keepdims=True))  # dS = A .* (dA - rowsum(dA .* A))
    expected = {"W_q": x.T @ (ds @ k) / np.sqrt(d), "W_k": x.T @ (ds.T @ q) / np.sqrt(d), "W_v": x.T @ (a.T @ g)}
    results = matcalc.gradient(ATTENTION, ["W_q", "W_k", "W_v"], declare={"d": "scalar"})  # one call
    got = evaluate(results, {"X": x, "W_q": wq, "W_k": wk, "W_v": wv, "G": g, "d": d})
    for name, value in expected.items():
        np.testing.assert_allclose(got[name], value, rtol=1e-9, err_msg=name)


def test_attention_is_written_with_the_attention_matrix():
    results = matcalc.gradient(ATTENTION, ["W_q", "W_k", "W_v"], declare={"d": "scalar"})
    assert str(results["W_v"]) == "X^T softmax(X W_q W_k^T X^T / sqrt(d))^T G"
    shared = results["W_q"].shared()
    assert "A = softmax(" in shared and "K = X W_k" in shared  # the text's own names
    # a definition named K is the product, not the commutation matrix K[m, n]
    assert matcalc.parse("K = X W_k; K^T", {}).shape == matcalc.parse("(X W_k)^T").shape


# ------------------------------------------------------------------ normalisation

LAYER_NORM = ("Xh = (X - mean(X, 2) ones^T) ./ (sqrt(var(X, 2) + eps) ones^T)\n"
              "sum(G .* (Xh .* (ones g^T) + ones b^T))")
BATCH_NORM = ("Xh = (X - ones mean(X, 1)) ./ (ones sqrt(var(X, 1) + eps))\n"
              "sum(G .* (Xh .* (ones g^T) + ones b^T))")


@pytest.mark.parametrize("text, axis", [(LAYER_NORM, 1), (BATCH_NORM, 0)], ids=["layer norm", "batch norm"])
def test_normalisation_against_the_papers_gradient(text, axis):
    """(g - mean(g) - x̂ mean(g .* x̂)) / σ per row (layer norm) or per column (batch norm), with g the
    gradient with respect to x̂ (Ba et al. 2016; Ioffe and Szegedy 2015)."""
    rng = np.random.default_rng(3)
    x, g_out = rng.standard_normal((N, D)), rng.standard_normal((N, D))
    gamma, beta, eps = rng.standard_normal((D, 1)), rng.standard_normal((D, 1)), 0.1
    sigma = np.sqrt(x.var(axis=axis, keepdims=True) + eps)
    xh = (x - x.mean(axis=axis, keepdims=True)) / sigma
    gh = g_out * gamma.T
    dx = (gh - gh.mean(axis=axis, keepdims=True) - xh * (gh * xh).mean(axis=axis, keepdims=True)) / sigma
    results = matcalc.gradient(text, ["X", "g", "b"], declare={"eps": "scalar"})
    got = evaluate(results, {"X": x, "G": g_out, "g": gamma, "b": beta, "eps": eps})
    np.testing.assert_allclose(got["X"], dx, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(got["g"], (g_out * xh).sum(axis=0)[:, None], rtol=1e-9)
    np.testing.assert_allclose(got["b"], g_out.sum(axis=0)[:, None], rtol=1e-9)
    assert str(results["b"]) == "G^T ones"
    assert results["X"].check().ok
    # the papers' form, g - mean(g) - x̂ .* mean(x̂ .* g) with g the gradient wrt x̂ over σ, in the
    # text's own name for x̂ (Xh); along each row (layer norm) or each column (batch norm)
    lines = dict(line.split(" = ", 1) for line in results["X"].shared().splitlines())
    spread, = (name for name, value in lines.items() if value.startswith(("sqrt(var(X, 2) + eps)", "ones sqrt(var(X, 1)")))
    g, = (name for name, value in lines.items() if value == f"G ./ {spread} .* (ones g^T)")
    mean_along = f"mean({g}, 2) ones^T" if axis == 1 else f"mean({g}, 1)"
    mean_of_product = f"mean(Xh .* {g}, 2) ones^T" if axis == 1 else f"ones mean(Xh .* {g}, 1)"
    assert lines["grad_X f"] == f"{g} - {mean_along} - Xh .* ({mean_of_product})", lines
    assert lines["Xh"].endswith(f" ./ {spread}")


def test_layer_norm_of_a_scalar_is_refused():
    with pytest.raises(matcalc.MatcalcError, match="a scalar has no dimension to run along"):
        matcalc.parse("mean(a, 2)", {"a": "scalar"})


# ------------------------------------------------------------------ residual block, two-layer classifier


def test_residual_block():
    rng = np.random.default_rng(4)
    x, w1, w2, g = (rng.standard_normal(s) for s in ((N, D), (D, H), (H, D), (N, D)))
    results = matcalc.gradient("sum(G .* (X + relu(X W_1) W_2))", ["X", "W_1", "W_2"])
    step = (x @ w1 > 0).astype(float)
    got = evaluate(results, {"X": x, "W_1": w1, "W_2": w2, "G": g})
    np.testing.assert_allclose(got["W_2"], np.maximum(x @ w1, 0).T @ g, rtol=1e-10)
    np.testing.assert_allclose(got["W_1"], x.T @ ((g @ w2.T) * step), rtol=1e-10)
    np.testing.assert_allclose(got["X"], g + ((g @ w2.T) * step) @ w1.T, rtol=1e-10)  # the skip adds G
    assert str(results["W_2"]) == "relu(X W_1)^T G"
    assert str(results["W_1"]) == "X^T ((G W_2^T) .* step(X W_1))"


TWO_LAYER = "H = relu(X W_1 + ones b_1^T); -sum(Y .* logsoftmax(H W_2 + ones b_2^T))"


def test_two_layer_classifier_with_a_softmax_cross_entropy_head():
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((N, D)), one_hot_rows(rng, N, C)
    w1, b1, w2, b2 = (rng.standard_normal(s) for s in ((D, H), (H, 1), (H, C), (C, 1)))
    z1 = x @ w1 + b1.T
    h = np.maximum(z1, 0)
    dz2 = softmax_rows(h @ w2 + b2.T) - y  # one-hot rows
    dz1 = (dz2 @ w2.T) * (z1 > 0)
    expected = {"W_1": x.T @ dz1, "b_1": dz1.sum(axis=0)[:, None], "W_2": h.T @ dz2, "b_2": dz2.sum(axis=0)[:, None]}
    results = matcalc.gradient(TWO_LAYER, list(expected))
    got = evaluate(results, {"X": x, "Y": y, "W_1": w1, "b_1": b1, "W_2": w2, "b_2": b2})
    for name, value in expected.items():
        np.testing.assert_allclose(got[name], value, rtol=1e-9, atol=1e-12, err_msg=name)
    # the text's own name H, and the head's gradient dZ2 = softmax(...) - Y weighted by the row sums of Y
    head = {"(Y (ones ones^T)) .* softmax(H W_2 + b_2^T) - Y", "softmax(H W_2 + b_2^T) .* (Y (ones ones^T)) - Y"}
    assert results["W_2"].shared() in {f"H = relu(X W_1 + b_1^T)\ngrad_W_2 f = H^T ({t})" for t in head}
    assert any(f"(({t}) W_2^T) .* step(" in results["W_1"].shared() for t in head)
