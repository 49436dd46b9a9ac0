"""Generated NumPy code gives the values of ``evaluate`` for gradients, Hessians and Jacobians."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import point_for

import matcalc


def _benchmark_corpus():
    """The 81 gradients and Hessians the derivation benchmark times (benchmarks/corpus.py)."""
    path = Path(__file__).resolve().parent.parent / "benchmarks" / "corpus.py"
    spec = importlib.util.spec_from_file_location("benchmark_corpus", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module.CASES

CASES = [
    ("gradient", "x^T A x", "x", {}),
    ("gradient", "x^T A x", "x", {"A": "symmetric"}),
    ("gradient", "||x||^3", "x", {}),
    ("gradient", "det(AXB)", "X", {}),
    ("gradient", "(x^T A x)(x^T B x)", "x", {}),
    ("gradient", "tr(X^T A X)", "X", {}),
    ("gradient", "a^T X b", "X", {}),
    ("gradient", "logdet(X)", "X", {}),
    ("gradient", "a^T inv(X) b", "X", {}),
    ("gradient", "tr(A inv(X) B)", "X", {}),
    ("gradient", "-y^T log(softmax(W x + b))", "W", {}),
    ("gradient", "-y^T log(softmax(W x + b))", "b", {}),
    ("gradient", "logsumexp(W x)", "x", {}),
    ("gradient", "sum(log(1 + exp(-y .* (X w))))", "w", {}),
    ("gradient", "||X w - y||^2 + s ||w||^2", "w", {"s": "scalar"}),
    ("gradient", "||X W + b^T - Y||_F^2", "b", {}),
    ("gradient", "||sigmoid(X W1 + b1^T) W2 + b2^T - Y||_F^2", "W1", {}),
    ("gradient", "||tanh(X W1 + b1^T) W2 + b2^T - Y||_F^2", "b1", {}),
    ("gradient", "||relu(X W1 + b1^T) W2 - Y||_F^2", "W2", {}),
    ("gradient", "logdet(S) + (x - m)^T inv(S) (x - m)", "S", {"S": "symmetric"}),
    ("gradient", "sum(diag(X) .* a)", "X", {}),
    ("gradient", "tr(X^3)", "X", {}),
    ("gradient", "sqrt(x^T x + 1)", "x", {}),
    ("gradient", "sum(exp(X) ./ (1 + X .* X))", "X", {}),
    ("hessian", "||x||^3", "x", {}),
    ("hessian", "x^T A x", "x", {}),
    ("hessian", "sum(log(1 + exp(-y .* (X w))))", "w", {}),
    ("hessian", "logsumexp(x)", "x", {}),
    ("hessian", "tr(X^T A X)", "X", {}),
    ("hessian", "logdet(X)", "X", {}),
    ("hessian", "||T - U V^T||_F^2", "U", {}),
    ("hessian", "(x^T A x)/(x^T x)", "x", {}),
    ("jacobian", "A x", "x", {}),
    ("jacobian", "tanh(W x + b)", "x", {}),
    ("jacobian", "softmax(x)", "x", {}),
    ("jacobian", "A X B", "X", {}),
    ("jacobian", "X^T", "X", {}),
    ("jacobian", "inv(X)", "X", {}),
    ("jacobian", "diag(x) A x", "x", {}),
    ("jacobian", "sigmoid(W x) .* x", "W", {}),
]


@pytest.mark.parametrize("kind, text, wrt, declare", CASES)
def test_generated_code_matches_evaluate(kind, text, wrt, declare):
    r = getattr(matcalc, kind)(text, wrt=wrt, declare=declare)
    values, _ = point_for(r.function, seed=11)
    expected = r.evaluate(values)
    computed = r.to_numpy()(**values)
    np.testing.assert_allclose(computed, expected, rtol=1e-10, atol=1e-12, err_msg=r.source())


def test_shared_subexpressions_are_computed_once():
    source = matcalc.gradient("det(AXB)", wrt="X").source()
    assert source.count("v_A @ (v_X @ v_B)") == 1
    assert "solve" in source and "inv(" not in source


def test_diagonal_matrices_are_never_built():
    source = matcalc.hessian("sum(log(1 + exp(-y .* (X w))))", wrt="w").source()
    assert "diag" not in source


def test_names_are_never_code():
    with pytest.raises(matcalc.DeclarationError):
        matcalc.gradient("x^T x", wrt="x", declare={"x__import__": "vector"})
    r = matcalc.gradient("lambda x^T x", wrt="x", declare={"lambda": "scalar"})  # a Python keyword as a name
    assert "_args = _bind(('lambda', 'x'), args, values)" in r.source()
    x = np.arange(3.0)
    np.testing.assert_allclose(r.to_numpy()(**{"lambda": 0.5, "x": x}), x)
    np.testing.assert_allclose(r.compile()(0.5, x), x)  # by position, in the order of the names


def test_cli_emit(capsys):
    from matcalc.cli import main

    assert main(["grad", "||X W + b^T - Y||_F^2", "--wrt", "W,b", "--emit", "numpy"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("import numpy as _numpy") and "def grad(W, X, Y, b):" in out
    namespace = {}
    exec(compile(out, "<emitted>", "exec"), namespace)
    rng = np.random.default_rng(0)
    x, w, b, y = rng.standard_normal((5, 3)), rng.standard_normal((3, 2)), rng.standard_normal(2), rng.standard_normal((5, 2))
    got = namespace["grad"](X=x, W=w, b=b, Y=y)
    residual = x @ w + b - y
    np.testing.assert_allclose(got["W"], 2 * x.T @ residual)
    np.testing.assert_allclose(got["b"], 2 * residual.sum(axis=0))  # shaped like b, as given


BENCHMARK_CASES = _benchmark_corpus()


@pytest.mark.parametrize("case", BENCHMARK_CASES, ids=[f"{c.kind} {c.text} wrt {c.wrt}" for c in BENCHMARK_CASES])
def test_generated_code_matches_evaluate_on_the_benchmark_corpus(case):
    try:
        r = getattr(matcalc, case.kind)(case.text, wrt=case.wrt, declare=case.declare)
    except matcalc.MatcalcError as err:  # the corpus holds a case matcalc refuses, as the report says
        pytest.skip(f"matcalc does not support it: {err}")
    values, _ = point_for(r.function, seed=3)
    np.testing.assert_allclose(r.to_numpy()(**values), r.evaluate(values), rtol=1e-9, atol=1e-12, err_msg=r.source())


HVP_CASES = [
    ("x^T A x", "x", {}),
    ("x^T A x", "x", {"A": "symmetric"}),
    ("sum(log(1 + exp(-y .* (X w))))", "w", {}),
    ("||T - U V^T||_F^2", "U", {}),
    ("logdet(X)", "X", {}),
    ("logdet(S) + (x - mu)^T inv(S) (x - mu)", "S", {"S": "symmetric", "mu": "vector"}),
    ("||sigmoid(X W1 + b1^T) W2 + b2^T - Y||_F^2", "W1", {}),
]


@pytest.mark.parametrize("text, wrt, declare", HVP_CASES)
def test_generated_hessian_vector_products_match_evaluate(text, wrt, declare):
    from matcalc.verify import domain_points

    r = matcalc.hvp(text, wrt=wrt, declare=declare)
    values, _ = domain_points(r.function, 1, 11, extra=(r.expr,))[0]
    np.testing.assert_allclose(r.to_numpy()(**values), r.evaluate(values), rtol=1e-10, atol=1e-12, err_msg=r.source())


def test_a_sum_of_matrices_is_applied_to_a_column_term_by_term():
    """(A + B + A^T + B^T) v as A v + B v + ...: the sum is never formed (an n x n temporary, a pass more)."""
    source = matcalc.hvp("x^T A x + x^T B x", wrt="x").source()
    assert "(v_A @ v_dx) + (v_B @ v_dx) + (v_dx.T @ v_A).T + (v_dx.T @ v_B).T" in source and "v_A + v_B" not in source


def _helper(name):
    """A helper of the generated source, with the helpers it calls."""
    from matcalc.codegen import HELPER_SOURCE, _helpers, compile_source, runtime_source

    return compile_source(runtime_source() + "\n".join(_helpers(HELPER_SOURCE[name])), name)


@pytest.mark.parametrize("dtype, order, columns, step", [
    (np.float64, "C", 1, 1), (np.float64, "F", 1, 1), (np.float32, "C", 1, 1), (np.float64, "C", 2, 1),
    (np.float64, "C", 1, 2), (np.complex128, "C", 1, 1),
])
def test_a_symmetric_matrix_times_a_column(dtype, order, columns, step):
    """S v by BLAS symv (one triangle) for a real contiguous S and one column, S @ v otherwise."""
    times = _helper("_symmetric_times")
    rng = np.random.default_rng(7)
    a = rng.standard_normal((40, 40)).astype(dtype)
    s = np.asarray(a + a.T, order=order)[::step, ::step]
    v = rng.standard_normal((s.shape[0], columns)).astype(dtype)
    got = times(np, s, v)
    assert got.shape == v.shape and got.dtype == dtype
    np.testing.assert_allclose(got, s @ v, rtol=1e-5 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("n", [1, 3, 300, 2000, 2048])
def test_a_matrix_plus_its_transpose_is_applied_in_one_pass(n):
    """(A + A^T) v by blocks of rows of about 8 MiB (each block read once for A v and A^T v; 524
    rows at n = 2000, the last block short, 512 at n = 2048, four full blocks): the same value as
    evaluate, whether n fills the last block or not, for one column and for several."""
    r = matcalc.hvp("x^T A x", wrt="x")
    source = r.source("numpy")
    assert "_sum_with_transpose_times(xp, v_A, v_dx)" in source and "v_A.T @" not in source
    rng = np.random.default_rng(n)
    values = {"A": rng.standard_normal((n, n)), "x": rng.standard_normal(n), "dx": rng.standard_normal(n)}
    np.testing.assert_allclose(r.to_numpy()(**values), r.evaluate(values), rtol=1e-12, atol=1e-12)
    helper = _helper("_sum_with_transpose_times")
    a, v = values["A"], rng.standard_normal((n, 3))
    np.testing.assert_allclose(helper(np, a, v), (a + a.T) @ v, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("n", [1, 5, 512, 700, 1100])
def test_a_matrix_plus_its_transpose_formed_by_tiles(n):
    """A + A^T by tiles of 512 x 512 (the Hessian of x^T A x, and its at-point part): the same as
    NumPy's sum, whether the tiles fill the matrix or not, for a C-ordered and a transposed A."""
    assert "_sum_with_transpose(xp, v_A)" in matcalc.hessian("x^T A x", wrt="x").source()
    plus = _helper("_sum_with_transpose")
    a = np.random.default_rng(n).standard_normal((n, n))
    for m in (a, a.T, a.astype(np.float32)):
        got = plus(np, m)
        assert got.dtype == m.dtype
        np.testing.assert_array_equal(got, m + m.T)


def _two_layer_point(rows, inputs, hidden, seed=5):
    """Values of the two-layer network's HVP, its X much larger than W1 and dW1 together."""
    rng = np.random.default_rng(seed)
    shapes = {"X": (rows, inputs), "W1": (inputs, hidden), "dW1": (inputs, hidden), "b1": (hidden,),
              "W2": (hidden, 2), "b2": (2,), "Y": (rows, 2)}
    return {name: rng.standard_normal(shape) for name, shape in shapes.items()}


def test_products_of_one_left_factor_are_made_by_one_call():
    """X W1 and X dW1 of a network's HVP: one product of X with W1 and dW1 side by side (X read
    once), the same value as evaluate; at a point X W1 is computed once and X dW1 per call, apart."""
    r = matcalc.hvp("||sigmoid(X W1 + b1^T) W2 + b2^T - Y||_F^2", wrt="W1")
    source = r.source()
    assert source.count("_products_side_by_side(xp, v_X, ") == 1 and "v_X @" not in source
    values = _two_layer_point(60, 20, 3)
    np.testing.assert_allclose(r.to_numpy()(**values), r.evaluate(values), rtol=1e-10, atol=1e-12)
    assert "_products_side_by_side" not in r.source(at_point=True)


def test_a_product_whose_right_factor_holds_another_is_made_alone():
    """X W and X exp(X W): the second's right factor needs the first, so they are not made together."""
    from matcalc.codegen import source

    e = matcalc.parse("X W + X exp(X W)")
    inputs = sorted(e.free, key=lambda s: s.name)
    text = source({"value": e}, inputs, name="value")
    assert "_products_side_by_side" not in text
    rng = np.random.default_rng(2)
    X, W = rng.standard_normal((6, 6)), rng.standard_normal((6, 3)) / 3
    from matcalc.codegen import compile_source

    np.testing.assert_allclose(compile_source(text, "value")(W=W, X=X), X @ W + X @ np.exp(X @ W), rtol=1e-12)


@pytest.mark.parametrize("rows, widths, merged", [(200, (3, 5), True), (200, (3, 5, 1), True), (6, (3, 5), False)])
def test_products_side_by_side(rows, widths, merged):
    """One product with the right factors side by side when the left factor is at least four times
    their size (columns of different widths, a single column among them), separate products when not."""
    helper = _helper("_products_side_by_side")
    rng = np.random.default_rng(rows)
    left = rng.standard_normal((rows, 8))
    rights = [rng.standard_normal((8, k)) for k in widths]
    got = helper(np, left, *rights)
    assert len(got) == len(rights)
    for out, right in zip(got, rights):
        np.testing.assert_allclose(out, left @ right, rtol=1e-12)
        assert (out.base is not None) == merged  # views of the one product, or products of their own
