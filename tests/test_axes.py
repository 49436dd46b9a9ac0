"""Operations along an axis: softmax, logsoftmax and logsumexp of a matrix, sum, mean, var and std
of all entries or along either dimension (MATLAB's numbering), and sizes as numbers.

Values are checked against NumPy written out here, derivatives against central differences and
the complex step of those NumPy functions (never against matcalc's own evaluation), and the
exact check against sympy."""

import numpy as np
import pytest

import matcalc
import matcalc.expr as E
from matcalc.errors import MatcalcError
from matcalc.shapes import size_factors

ROWS, COLS, OUT = 4, 3, 5


def softmax(u, axis):
    z = np.exp(u - u.real.max(axis=axis, keepdims=True))
    return z / z.sum(axis=axis, keepdims=True)


def logsumexp(u, axis):
    m = u.real.max(axis=axis, keepdims=True)
    return m + np.log(np.exp(u - m).sum(axis=axis, keepdims=True))


def var(u, axis):
    c = u - u.mean(axis=axis, keepdims=True)
    return (c * c).mean(axis=axis, keepdims=True)


# np.var and np.std take absolute values, which the complex step cannot go through: var() above does not


def values(seed=0):
    rng = np.random.default_rng(seed)
    return {"X": rng.standard_normal((ROWS, COLS)), "W": rng.standard_normal((COLS, OUT)),
            "Y": rng.random((ROWS, OUT)), "x": rng.standard_normal((ROWS, 1)), "b": rng.standard_normal((OUT, 1))}


# (text, NumPy function of the values): axis 1 runs down each column (NumPy's axis 0), axis 2 along each row
VALUES = [
    ("softmax(X)", lambda v: softmax(v["X"], 1)),
    ("softmax(X, 2)", lambda v: softmax(v["X"], 1)),
    ("softmax(X, 1)", lambda v: softmax(v["X"], 0)),
    ("softmax(x)", lambda v: softmax(v["x"], 0)),
    ("logsoftmax(X W)", lambda v: np.log(softmax(v["X"] @ v["W"], 1))),
    ("logsoftmax(X, 1)", lambda v: np.log(softmax(v["X"], 0))),
    ("logsumexp(X)", lambda v: np.log(np.exp(v["X"]).sum(axis=1, keepdims=True))),
    ("logsumexp(X, 1)", lambda v: np.log(np.exp(v["X"]).sum(axis=0, keepdims=True))),
    ("sum(X, 1)", lambda v: v["X"].sum(axis=0, keepdims=True)),
    ("sum(X, 2)", lambda v: v["X"].sum(axis=1, keepdims=True)),
    ("mean(X)", lambda v: np.array([[v["X"].mean()]])),
    ("mean(X, 1)", lambda v: v["X"].mean(axis=0, keepdims=True)),
    ("mean(X, 2)", lambda v: v["X"].mean(axis=1, keepdims=True)),
    ("var(X)", lambda v: np.array([[np.var(v["X"])]])),
    ("var(X, 1)", lambda v: np.var(v["X"], axis=0, keepdims=True)),
    ("var(X, 2)", lambda v: np.var(v["X"], axis=1, keepdims=True)),
    ("std(X)", lambda v: np.array([[np.std(v["X"])]])),
    ("std(X, 1)", lambda v: np.std(v["X"], axis=0, keepdims=True)),
    ("std(X, 2)", lambda v: np.std(v["X"], axis=1, keepdims=True)),
    ("sum(x + ones) + tr(I + x x^T)", lambda v: np.array([[2 * ROWS + v["x"].sum() + (v["x"] ** 2).sum()]])),
]


@pytest.mark.parametrize("text, expected", VALUES, ids=[t for t, _ in VALUES])
def test_values_match_numpy(text, expected):
    from matcalc.evaluate import bind_sizes, evaluate
    from matcalc.verify import symbols_of

    f = matcalc.parse(text)
    v = {s.name: values()[s.name] for s in symbols_of(f)}
    got = evaluate(f, v, bind_sizes(symbols_of(f), v))
    np.testing.assert_allclose(got, expected(v), rtol=1e-12)


# (text, variable, NumPy function): scalar functions, their gradients against differences
GRADIENTS = [
    ("sum(Y .* softmax(X W))", "W", lambda v: (v["Y"] * softmax(v["X"] @ v["W"], 1)).sum()),
    ("sum(Y .* softmax(X W, 1))", "X", lambda v: (v["Y"] * softmax(v["X"] @ v["W"], 0)).sum()),
    ("-sum(Y .* logsoftmax(X W + ones b^T))", "W",
     lambda v: -(v["Y"] * np.log(softmax(v["X"] @ v["W"] + v["b"].T, 1))).sum()),
    ("-sum(Y .* logsoftmax(X W + ones b^T))", "b",
     lambda v: -(v["Y"] * np.log(softmax(v["X"] @ v["W"] + v["b"].T, 1))).sum()),
    ("sum(logsoftmax(X W, 1) .* Y)", "W", lambda v: (np.log(softmax(v["X"] @ v["W"], 0)) * v["Y"]).sum()),
    ("sum(logsumexp(X W))", "X", lambda v: logsumexp(v["X"] @ v["W"], 1).sum()),
    ("x^T logsumexp(X W)", "W", lambda v: (v["x"] * logsumexp(v["X"] @ v["W"], 1)).sum()),
    ("logsumexp(X W, 1) b", "W", lambda v: (logsumexp(v["X"] @ v["W"], 0) @ v["b"])[0, 0]),
    ("mean(X .* X)", "X", lambda v: (v["X"] ** 2).mean()),
    ("x^T mean(X W, 2)", "W", lambda v: (v["x"] * (v["X"] @ v["W"]).mean(axis=1, keepdims=True)).sum()),
    ("mean(X W, 1) b", "X", lambda v: (((v["X"] @ v["W"]).mean(axis=0, keepdims=True)) @ v["b"])[0, 0]),
    ("sum(sum(X, 1) .^ 2) + x^T sum(X, 2)", "X",
     lambda v: (v["X"].sum(axis=0) ** 2).sum() + (v["x"][:, 0] * v["X"].sum(axis=1)).sum()),
    ("var(X W)", "W", lambda v: var(v["X"] @ v["W"], None)[0, 0]),
    ("x^T var(X, 2)", "X", lambda v: (v["x"][:, 0] * var(v["X"], 1)[:, 0]).sum()),
    ("var(X W, 1) b", "W", lambda v: (var(v["X"] @ v["W"], 0)[0] * v["b"][:, 0]).sum()),
    ("std(X)", "X", lambda v: np.sqrt(var(v["X"], None))[0, 0]),
    ("x^T std(X W, 2)", "W", lambda v: (v["x"][:, 0] * np.sqrt(var(v["X"] @ v["W"], 1))[:, 0]).sum()),
    ("std(X, 1) W b", "X", lambda v: (np.sqrt(var(v["X"], 0)) @ v["W"] @ v["b"])[0, 0]),
]


def central_gradient(f, v, name, h=1e-6):
    g = np.zeros_like(v[name])
    for idx in np.ndindex(*g.shape):
        step = np.zeros_like(g)
        step[idx] = h
        g[idx] = (f({**v, name: v[name] + step}) - f({**v, name: v[name] - step})) / (2 * h)
    return g


def complex_step_gradient(f, v, name, h=1e-30):
    g = np.zeros_like(v[name])
    for idx in np.ndindex(*g.shape):
        step = np.zeros(g.shape, dtype=complex)
        step[idx] = 1j * h
        g[idx] = f({**v, name: v[name] + step}).imag / h
    return g


@pytest.mark.parametrize("text, wrt, f", GRADIENTS, ids=[f"{t} wrt {w}" for t, w, _ in GRADIENTS])
def test_gradients_match_differences_and_the_complex_step(text, wrt, f):
    g = matcalc.gradient(text, wrt)
    for seed in range(2):
        v = values(seed)
        got = g.evaluate({s.name: v[s.name] for s in g.inputs()})
        np.testing.assert_allclose(got, central_gradient(f, v, wrt), rtol=1e-5, atol=1e-7, err_msg=str(g))
        np.testing.assert_allclose(got, complex_step_gradient(f, v, wrt), rtol=1e-9, atol=1e-12, err_msg=str(g))


@pytest.mark.parametrize("text, wrt, f", GRADIENTS, ids=[f"{t} wrt {w}" for t, w, _ in GRADIENTS])
def test_gradients_generate_code_and_parse_back(text, wrt, f):
    g = matcalc.gradient(text, wrt)
    v = values(3)
    inputs = {s.name: v[s.name] for s in g.inputs()}
    expected = central_gradient(f, v, wrt)
    np.testing.assert_allclose(g.to_numpy()(**inputs), expected, rtol=1e-5, atol=1e-7)
    back = matcalc.parse(str(g))  # the printed gradient, read again, is the same expression
    from sizes import matches_up_to_sizes

    assert matches_up_to_sizes(back, g.expr), f"{g} parses back as {back!r}"
    from matcalc.evaluate import bind_sizes, evaluate
    from matcalc.verify import symbols_of

    bound = {s.name: v[s.name] for s in symbols_of(back)}
    sizes = bind_sizes(symbols_of(back), bound)
    needed = {name for node in E.nodes(back) for d in node.shape for name in size_factors(d)[1]}
    if needed <= set(sizes):  # every size is read from the variables: then the same value
        np.testing.assert_allclose(evaluate(back, bound, sizes), expected, rtol=1e-5, atol=1e-7, err_msg=str(g))


@pytest.mark.parametrize("text, wrt", [("sum(Y .* softmax(X W))", "W"), ("var(X, 1) W b", "X"),
                                       ("std(X) + mean(X, 2)^T x", "X"), ("x^T logsumexp(X W)", "W"),
                                       ("sum(logsoftmax(X, 1))", "X")])
def test_exact_check_with_sympy(text, wrt):
    assert matcalc.gradient(text, wrt).exact_check(size=2)


# (text, variable, NumPy function of the values giving the matrix F): Jacobians d vec(F) / d vec(X)^T
JACOBIANS = [
    ("softmax(X W)", "W", lambda v: softmax(v["X"] @ v["W"], 1)),
    ("softmax(X, 1)", "X", lambda v: softmax(v["X"], 0)),
    ("logsoftmax(X W)", "X", lambda v: np.log(softmax(v["X"] @ v["W"], 1))),
    ("logsumexp(X, 1)", "X", lambda v: logsumexp(v["X"], 0)),
    ("mean(X, 1)", "X", lambda v: v["X"].mean(axis=0, keepdims=True)),
    ("mean(X W, 2)", "W", lambda v: (v["X"] @ v["W"]).mean(axis=1, keepdims=True)),
    ("var(X, 2)", "X", lambda v: var(v["X"], 1)),
    ("std(X W, 1)", "W", lambda v: np.sqrt(var(v["X"] @ v["W"], 0))),
]


@pytest.mark.parametrize("text, wrt, f", JACOBIANS, ids=[f"{t} wrt {w}" for t, w, _ in JACOBIANS])
def test_jacobians_match_differences(text, wrt, f):
    j = matcalc.jacobian(text, wrt)
    v = values(1)
    got = j.evaluate({s.name: v[s.name] for s in j.inputs()})
    x = v[wrt]
    columns = []
    for k in range(x.size):  # column k: d vec(F) / d vec(X)_k, vec stacking columns
        step = np.zeros(x.size)
        step[k] = 1e-6
        step = step.reshape(x.shape, order="F")
        plus, minus = f({**v, wrt: x + step}), f({**v, wrt: x - step})
        columns.append(((plus - minus) / 2e-6).reshape(-1, order="F"))
    np.testing.assert_allclose(got, np.stack(columns, axis=1), rtol=1e-5, atol=1e-7, err_msg=str(j))


def test_the_printed_forms():
    assert str(matcalc.gradient("logsumexp(x)", "x")) == "softmax(x)"
    # a mean divides by the size it runs over, written as MATLAB does where a variable has it
    assert str(matcalc.gradient("mean(X, 2)^T x", "X")) == "x ones[m]^T / size[m]"  # X is not in it
    assert str(matcalc.gradient("mean(X, 2)^T x + tr(X^T X)", "X")) == "x ones^T / size(X, 2) + 2 X"
    assert str(matcalc.gradient("var(X)", "X")) == "2 (X - mean(X)) / (size(X, 1) size(X, 2))"
    # where no variable has it, the size is named in brackets and tied to the ones it divides
    assert str(matcalc.gradient("mean(X)", "X")) == "ones[n, m] / size[m*n]"
    # the row-wise softmax's adjoint, as the attention papers write it: A .* (G - (G .* A) ones ones^T)
    text = str(matcalc.gradient("sum(Y .* softmax(X W))", "W")).replace("softmax(X W)", "A")
    assert text in ("X^T (A .* Y - ((A .* Y) (ones ones^T)) .* A)", "X^T (Y .* A - ((Y .* A) (ones ones^T)) .* A)")


def test_sizes_print_as_numbers_and_parse_back():
    assert str(matcalc.parse("sum(ones) + tr(I)")) == "size[n] + size[m]"
    assert str(matcalc.parse("tr(I[n]) + sum(ones[n])")) == "2 size[n]"
    assert str(matcalc.parse("sum(ones[m, n])")) == "size[m*n]"
    assert str(matcalc.parse("size[3] x")) == "3 x"
    assert matcalc.parse("size(X, 2) x") == matcalc.parse("size(X^T, 1) x")
    # an undeclared n is still a variable: only size[n] and size(X, k) are sizes
    assert "n" in {s.name for s in E.nodes(matcalc.parse("n^T x")) if isinstance(s, E.Symbol)}


def test_defaults_keep_their_meaning():
    """softmax of a column vector runs down it, as before; of a matrix along each row."""
    assert matcalc.parse("softmax(x)") == matcalc.parse("softmax(x, 1)")
    assert matcalc.parse("softmax(X)") == matcalc.parse("softmax(X, 2)")
    assert str(matcalc.parse("softmax(X, 1)")) == "softmax(X, 1)"
    assert str(matcalc.parse("mean(x, 1)")) == "mean(x)"  # all the entries of a column
    assert str(matcalc.parse("sum(X, 2)")) == "X ones"
    assert str(matcalc.parse("sum(X, 1)")) == "ones^T X"


@pytest.mark.parametrize("text, message", [
    ("softmax(M, 3)", r"softmax\(\.\.\., axis\) at column 1 runs along dimension 1 \(down each column\) or 2"),
    ("mean(X, 0)", r"got 0"),
    ("var(X, k)", r"got k"),
    ("sum(X, 1.5)", r"got 3/2"),
    ("softmax(a, 1)", r"softmax\(a, 1\) at column 1: a scalar has no dimension to run along"),
    ("logsumexp(x, 2)", r"runs over one entry at a time \(x \(n x 1\)\): write logsumexp\(x\)"),
    ("mean(X, 1, 2)", r"mean takes 1 argument, or 2 with an axis \(mean\(X, 1\) or mean\(X, 2\)\), got 3"),
    ("size[n] x + foo[n]", r"foo|cannot multiply"),
    ("J[n]", r"only K\[m, n\] .*, I\[n\], ones\[n\], ones\[m, n\] and size\[n\] take sizes in brackets, got J"),
])
def test_bad_axes_are_one_line_errors(text, message):
    with pytest.raises(MatcalcError, match=message) as err:
        matcalc.parse(text, {"a": "scalar"})
    assert "\n" not in str(err.value).splitlines()[0]


def test_cli_exit_status_for_a_bad_axis():
    from matcalc.cli import main

    assert main(["grad", "sum(softmax(X, 3))", "--wrt", "X"]) == 2


def test_latex():
    from matcalc.printing import to_latex

    assert to_latex(matcalc.parse("mean(X, 2)")) == r"\operatorname{mean}\left(X, 2\right)"
    assert to_latex(matcalc.parse("softmax(X)")) == r"\operatorname{softmax}\left(X\right)"
    assert to_latex(matcalc.parse("logsoftmax(X, 1) + ones std(X, 1)")).count(r"\operatorname") == 2
    assert to_latex(matcalc.parse("x / size[n]")) == r"\frac{x}{n}"


def test_size_of_a_dimension():
    assert matcalc.parse("size(X, 1) size(X, 2)") == matcalc.parse("size[n*m]")
    with pytest.raises(MatcalcError, match=r"size\(X, k\) at column 1 takes dimension 1 \(the rows\) or 2"):
        matcalc.parse("size(X, 0)")


@pytest.mark.threaded_libraries
def test_jax_code_along_an_axis():
    jnp = pytest.importorskip("jax.numpy")
    g = matcalc.gradient("sum(Y .* softmax(X W)) + var(X W, 1) b", "W")
    v = values(4)
    inputs = {s.name: v[s.name] for s in g.inputs()}
    np.testing.assert_allclose(np.asarray(g.to_jax()(**{k: jnp.asarray(a) for k, a in inputs.items()})),
                               g.evaluate(inputs), rtol=1e-6)


@pytest.mark.parametrize("text, wrt", [("var(x)", "x"), ("std(x)", "x"), ("mean(exp(x))", "x"),
                                       ("sum(logsumexp(X W))", "W"), ("-sum(Y .* logsoftmax(X W))", "W"),
                                       ("x^T var(X, 2)", "X"), ("sum(softmax(X W, 1) .* Y)", "W")])
def test_hessians_through_operations_along_an_axis(text, wrt):
    """Second order: the differentials of the gradients (means, variances, softmaxes along an axis)."""
    h = matcalc.hessian(text, wrt)
    assert h.check().ok, f"{h}: {h.check()}"
    assert matcalc.hvp(text, wrt).check().ok


def test_the_variance_hessian_against_its_formula():
    """var(x) = ||x - mean(x)||^2 / n has the Hessian 2 (I - ones ones^T / n) / n."""
    n = 5
    h = matcalc.hessian("var(x)", "x")
    x = np.random.default_rng(0).standard_normal(n)
    np.testing.assert_allclose(h.evaluate({"x": x}), 2 * (np.eye(n) - np.ones((n, n)) / n) / n, atol=1e-12)
