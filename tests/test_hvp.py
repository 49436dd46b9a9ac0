"""The Hessian as a linear map, H[D]: the differential of the gradient with dX replaced by a
direction D, in matrix products.  Forms against the textbook ones (Matrix Cookbook, Magnus &
Neudecker) as strings and values, the numeric check (central differences of the gradient
along D, and the dense Hessian times vec(D)), generated code, the Hessian at a point as a
function of the direction alone (``at``), derivations, the command line, symmetric variables
and bad input."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from reference import invertible, sigmoid, spd, unvec, vec

import matcalc
from matcalc import expr as E
from matcalc.cli import main

rng = np.random.default_rng(7)


# (expression, variable, declarations, printed H[D], values, H[D] written out in NumPy)
CASES = [
    ("||T - U V^T||_F^2", "U", None, "2 dU V^T V",
     {"U": (4, 2), "V": (3, 2), "T": (4, 3), "dU": (4, 2)}, lambda v: 2 * v["dU"] @ v["V"].T @ v["V"]),
    ("logdet(X)", "X", None, "-X^-T dX^T X^-T",
     {"X": "invertible", "dX": (3, 3)},
     lambda v: -np.linalg.inv(v["X"]).T @ v["dX"].T @ np.linalg.inv(v["X"]).T),
    ("x^T A x", "x", None, "(A + A^T) dx", {"x": (3, 1), "A": (3, 3), "dx": (3, 1)},
     lambda v: (v["A"] + v["A"].T) @ v["dx"]),
    ("x^T A x", "x", {"A": "symmetric"}, "2 A dx", {"x": (3, 1), "A": "spd", "dx": (3, 1)},
     lambda v: 2 * v["A"] @ v["dx"]),
    ("tr(X^T A X)", "X", None, "(A + A^T) dX", {"X": (3, 2), "A": (3, 3), "dX": (3, 2)},
     lambda v: (v["A"] + v["A"].T) @ v["dX"]),
    ("sum(log(1 + exp(-y .* (X w))))", "w", None,
     "X^T (y .^ 2 .* sigmoid(-y .* (X w)) .* (1 - sigmoid(-y .* (X w))) .* (X dw))",
     {"X": (5, 3), "y": (5, 1), "w": (3, 1), "dw": (3, 1)},
     lambda v: v["X"].T @ (v["y"] ** 2 * sigmoid(-v["y"] * (v["X"] @ v["w"]))
                           * (1 - sigmoid(-v["y"] * (v["X"] @ v["w"]))) * (v["X"] @ v["dw"]))),
    ("||x||^3", "x", None, "3 (x^T dx) x / ||x|| + 3 ||x|| dx", {"x": (3, 1), "dx": (3, 1)},
     lambda v: 3 * (v["x"].T @ v["dx"]) * v["x"] / np.linalg.norm(v["x"]) + 3 * np.linalg.norm(v["x"]) * v["dx"]),
]


def draw(specs: dict) -> dict:
    out = {}
    for name, spec in specs.items():
        if spec == "invertible":
            out[name] = invertible(rng, 3)
        elif spec == "spd":
            out[name] = spd(rng, 3)
        else:
            out[name] = rng.standard_normal(spec)
    return out


@pytest.mark.parametrize("expr, wrt, declare, expected, specs, formula", CASES, ids=[c[0] + " " + c[1] for c in CASES])
def test_textbook_forms_as_strings_values_and_checks(expr, wrt, declare, expected, specs, formula):
    r = matcalc.hvp(expr, wrt=wrt, declare=declare)
    assert str(r) == expected
    assert r.kind == "hvp" and r.direction.name == f"d{wrt}"
    values = draw(specs)
    assert np.allclose(r.evaluate(values), formula(values))
    assert np.allclose(r.to_numpy()(**values), formula(values))
    report = r.check()
    assert report.ok, report


def test_agrees_with_the_dense_hessian_on_vec():
    """vec(H[D]) = H vec(D), H the Kronecker form of hessian()."""
    values = draw({"U": (4, 2), "V": (3, 2), "T": (4, 3), "dU": (4, 2)})
    applied = matcalc.hvp("||T - U V^T||_F^2", wrt="U").evaluate(values)
    dense = matcalc.hessian("||T - U V^T||_F^2", wrt="U").evaluate(values)
    assert np.allclose(vec(applied), dense @ vec(values["dU"]))


def test_no_kronecker_product_and_a_named_direction():
    r = matcalc.hvp("logdet(X)", wrt="X", direction="D")
    assert str(r) == "-X^-T D^T X^-T"
    assert "kron" not in str(r) and "K(" not in str(r)
    assert r.label == "hess_X f[D]"
    assert "D" in [s.name for s in r.inputs()]
    X, D = invertible(rng, 3), rng.standard_normal((3, 3))
    assert np.allclose(r.evaluate({"X": X, "D": D}), -np.linalg.inv(X).T @ D.T @ np.linalg.inv(X).T)


def test_a_linear_function_has_a_zero_hessian():
    r = matcalc.hvp("a^T x + 3", wrt="x")
    assert r.check().ok
    assert np.allclose(r.evaluate({"a": np.ones(3), "x": np.ones(3), "dx": np.ones(3)}), 0)


def test_a_wrong_check_fails():
    """The check compares with the gradient's differences: a wrong H[D] is caught."""
    r = matcalc.hvp("||T - U V^T||_F^2", wrt="U")
    three_halves = E.mul(E.Const(Fraction(3, 2)), r.expr)  # 3 dU V^T V
    wrong = matcalc.api.Result(r.function, r.variable, three_halves, "hvp", of=r.of, direction=r.direction)
    assert not wrong.check().ok


def test_source_for_jax_and_numpy():
    r = matcalc.hvp("||T - U V^T||_F^2", wrt="U")
    assert "v_dU" in r.source("numpy")
    assert r.source("jax") == r.source("numpy")  # one source for every array library


# ------------------------------------------------------------------ at a point: a function of the direction alone


def _two_layer_gradient(v):
    """grad_W1 ||sigmoid(X W1 + b1^T) W2 + b2^T - Y||_F^2 by backpropagation, written out."""
    s = sigmoid(v["X"] @ v["W1"] + v["b1"].T)
    r = s @ v["W2"] + v["b2"].T - v["Y"]
    return v["X"].T @ ((2 * r @ v["W2"].T) * s * (1 - s))


# (expression, variable, value shapes, the gradient written out in NumPy)
AT_POINT = [
    ("x^T A x", "x", {"A": (5, 5), "x": (5, 1)}, lambda v: (v["A"] + v["A"].T) @ v["x"]),
    ("sum(log(1 + exp(-y .* (X w))))", "w", {"X": (9, 4), "y": (9, 1), "w": (4, 1)},
     lambda v: -v["X"].T @ (v["y"] * sigmoid(-v["y"] * (v["X"] @ v["w"])))),
    ("||T - U V^T||_F^2", "U", {"U": (6, 2), "V": (5, 2), "T": (6, 5)},
     lambda v: -2 * (v["T"] - v["U"] @ v["V"].T) @ v["V"]),
    ("logdet(X)", "X", {"X": "invertible"}, lambda v: np.linalg.inv(v["X"]).T),
    ("||sigmoid(X W1 + b1^T) W2 + b2^T - Y||_F^2", "W1",
     {"X": (7, 4), "W1": (4, 3), "b1": (3, 1), "W2": (3, 2), "b2": (2, 1), "Y": (7, 2)}, _two_layer_gradient),
]


def _along(gradient, values, wrt, d, h=1e-5):
    """(grad f(x + h D) - grad f(x - h D)) / 2h: the gradient's central difference along D."""
    return (gradient(values | {wrt: values[wrt] + h * d}) - gradient(values | {wrt: values[wrt] - h * d})) / (2 * h)


def _dense(gradient, values, wrt):
    """The Hessian d vec(grad f) / d vec(x)^T, column by column from central differences."""
    shape = values[wrt].shape
    columns = [vec(_along(gradient, values, wrt, unvec(e, shape))) for e in np.eye(np.prod(shape))]
    return np.column_stack(columns)


@pytest.mark.parametrize("expr, wrt, specs, gradient", AT_POINT, ids=[c[0] for c in AT_POINT])
def test_at_a_point_against_differences_of_the_gradient_and_the_dense_hessian(expr, wrt, specs, gradient):
    r = matcalc.hvp(expr, wrt=wrt)
    values = draw(specs)
    H = r.at(values)
    dense = _dense(gradient, values, wrt)
    for _ in range(3):  # one point, several directions
        d = rng.standard_normal(values[wrt].shape)
        got = H(d)
        assert got.shape == values[wrt].shape
        np.testing.assert_allclose(got, _along(gradient, values, wrt, d), rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(vec(got), dense @ vec(d), rtol=1e-6, atol=1e-7)


def test_at_a_point_the_direction_free_part_is_computed_once():
    """H = r.at(values) holds A + A^T (V^T V, the logistic weights): changing A afterwards does
    not change H; the function of the direction forms nothing n x n and applies the symmetric
    matrix with one product."""
    r = matcalc.hvp("x^T A x", wrt="x")
    A, x, d = rng.standard_normal((4, 4)), rng.standard_normal(4), rng.standard_normal(4)
    H = r.at({"A": A, "x": x})
    expected = (A + A.T) @ d
    A[:] = 0.0
    np.testing.assert_allclose(H(d), expected, rtol=1e-12)
    inner = r.source(at_point=True).split("    def hvp(dx):")[1]
    assert "_symmetric_times(xp, t" in inner and "v_A" not in inner
    inner = matcalc.hvp("||T - U V^T||_F^2", wrt="U").source(at_point=True).split("    def hvp(dU):")[1]
    assert "v_V" not in inner  # V^T V at the point
    inner = matcalc.hvp("sum(log(1 + exp(-y .* (X w))))", wrt="w").source(at_point=True).split("    def hvp(dw):")[1]
    assert "sigmoid" not in inner and "v_y" not in inner and "v_w" not in inner


def test_at_a_point_is_linear_and_takes_either_vector_shape():
    r = matcalc.hvp("sum(log(1 + exp(-y .* (X w))))", wrt="w")
    values = draw({"X": (8, 3), "y": (8, 1), "w": (3,)})
    H = r.at(values)
    a, b = rng.standard_normal(3), rng.standard_normal(3)
    np.testing.assert_allclose(H(2 * a - b), 2 * H(a) - H(b), rtol=1e-12, atol=1e-12)
    assert H(a).shape == H(a.reshape(3, 1)).shape == (3,)  # shaped like w as given, whatever D's shape
    np.testing.assert_allclose(H(a.reshape(3, 1)), H(a), rtol=1e-15)


def test_at_a_point_bad_input_is_one_line():
    r = matcalc.hvp("||T - U V^T||_F^2", wrt="U")
    values = draw({"U": (4, 2), "V": (3, 2), "T": (4, 3)})
    H = r.at(values)
    with pytest.raises(ValueError, match=r"dU has shape \(2, 4\): expected a matrix: shape \(n, p\) with n = 4 \(from T\), p = 2") as info:
        H(np.ones((2, 4)))
    assert "\n" not in str(info.value)
    for call, error, message in [
        (lambda: r.at({"U": values["U"], "V": values["V"]}), matcalc.MatcalcError, "missing values for T"),
        (lambda: r.at(values | {"V": np.ones((5, 2))}), matcalc.ShapeError, r"V has shape \(5, 2\)"),
        (lambda: r.at(values | {"T": np.ones((4, 3), dtype=int)}), matcalc.MatcalcError, "T has dtype int64"),
        (lambda: matcalc.gradient("x^T A x", wrt="x").at({}), matcalc.MatcalcError, "only a Hessian applied"),
    ]:
        with pytest.raises(error, match=message) as info:
            call()
        assert "\n" not in str(info.value)


# ------------------------------------------------------------------ symmetric variables


def test_symmetric_variable_is_sym_of_the_hessian_on_symmetric_directions():
    """D -> sym(H[D]) on symmetric D: for f = logdet(S) + (x - mu)^T S^-1 (x - mu) the gradient is
    S^-1 - S^-1 r r^T S^-1 (r = x - mu), so H[D] = -S^-1 D S^-1 + S^-1 D S^-1 r r^T S^-1 + S^-1 r r^T S^-1 D S^-1."""
    r = matcalc.hvp("logdet(S) + (x - mu)^T inv(S) (x - mu)", wrt="S", declare={"S": "symmetric", "mu": "vector"})
    assert r.direction.kind == "symmetric"
    assert str(r) == "S^-1 (dS S^-1 (x - mu) (x - mu)^T + (x - mu) (x - mu)^T S^-1 dS - dS) S^-1"
    S, x, mu = spd(rng, 3), rng.standard_normal((3, 1)), rng.standard_normal((3, 1))
    D = rng.standard_normal((3, 3))
    D = D + D.T
    Si, res = np.linalg.inv(S), x - mu
    expected = -Si @ D @ Si + Si @ D @ Si @ res @ res.T @ Si + Si @ res @ res.T @ Si @ D @ Si
    got = r.evaluate({"S": S, "x": x, "mu": mu, "dS": D})
    assert np.allclose(got, expected) and np.allclose(got, got.T)
    report = r.check()
    assert report.ok, report
    assert any("symmetric" in note for note in report.notes)


def test_symmetric_variable_without_symmetric_terms():
    r = matcalc.hvp("tr(S A S B)", wrt="S", declare={"S": "symmetric"})
    assert r.check().ok
    S, A, B, D = spd(rng, 3), rng.standard_normal((3, 3)), rng.standard_normal((3, 3)), rng.standard_normal((3, 3))
    D = D + D.T
    G = lambda s: (A.T @ s.T @ B.T + B.T @ s.T @ A.T)  # noqa: E731  the gradient on all matrices
    expected = (G(D) + G(D).T) / 2
    assert np.allclose(r.evaluate({"S": S, "A": A, "B": B, "dS": D}), expected)


# ------------------------------------------------------------------ derivations


def test_derivation_shows_the_second_differential_and_h_of_d():
    d = matcalc.derive("||T - U V^T||_F^2", wrt="U", order=2, hvp=True)
    lines = str(d).splitlines()
    assert any(line.startswith("d(grad_U f) = ") for line in lines)
    assert any(line.startswith("d^2 f = 2 tr(dU^T dU V^T V)") for line in lines)
    assert lines[-1].startswith("hess_U f[dU] = 2 dU V^T V")
    assert str(d.result) == "2 dU V^T V"
    named = matcalc.derive("logdet(X)", wrt="X", order=2, direction="D")
    assert str(named).splitlines()[-1].startswith("hess_X f[D] = -X^-T D^T X^-T")


def test_derivation_of_order_one_refuses_a_direction():
    with pytest.raises(matcalc.DerivativeError, match="order 2"):
        matcalc.derive("x^T x", wrt="x", hvp=True)


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize("kwargs, error, message", [
    ({"expr": "U V", "wrt": "U"}, matcalc.DerivativeError, "not a scalar"),
    ({"expr": "x^T A x", "wrt": "x", "direction": "A"}, matcalc.DeclarationError, "clashes with the name A"),
    ({"expr": "H = A x; H^T x", "wrt": "x", "direction": "H"}, matcalc.DeclarationError, "clashes"),
    ({"expr": "x^T A x", "wrt": "x", "direction": "1x"}, matcalc.DeclarationError, "cannot name the direction"),
    ({"expr": "x^T A x", "wrt": "x", "direction": "ones"}, matcalc.DeclarationError, "cannot name the direction"),
    ({"expr": "x^T A x", "wrt": ["x", "A"]}, matcalc.DerivativeError, "one variable"),
    ({"expr": "x^T A x", "wrt": "y"}, matcalc.DerivativeError, "does not occur"),
])
def test_bad_input_is_one_line(kwargs, error, message):
    with pytest.raises(error, match=message) as info:
        matcalc.hvp(**kwargs)
    assert "\n" not in str(info.value)


def test_a_direction_of_the_wrong_shape():
    r = matcalc.hvp("||T - U V^T||_F^2", wrt="U")
    values = draw({"U": (4, 2), "V": (3, 2), "T": (4, 3)})
    with pytest.raises(matcalc.ShapeError, match="dU") as info:
        r.evaluate({**values, "dU": np.ones((2, 4))})
    assert "\n" not in str(info.value)
    with pytest.raises(matcalc.MatcalcError, match="missing values for dU"):
        r.evaluate(values)


# ------------------------------------------------------------------ command line


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_prints_h_of_d_and_checks(capsys):
    code, out, _ = run(capsys, "hvp", "||T - U V^T||_F^2", "--wrt", "U", "--check")
    assert code == 0
    assert out.splitlines()[0] == "hess_U f[dU] = 2 dU V^T V"
    assert out.splitlines()[1].startswith("check: ok")


def test_cli_direction_and_emit(capsys):
    code, out, _ = run(capsys, "hvp", "logdet(X)", "--wrt", "X", "--direction", "D")
    assert (code, out.strip()) == (0, "hess_X f[D] = -X^-T D^T X^-T")
    code, out, _ = run(capsys, "hvp", "x^T A x", "--wrt", "x", "--emit", "numpy")
    assert code == 0 and "def hvp(A, dx, x):" in out and "_args['dx']" in out


def test_cli_derive_hvp(capsys):
    code, out, _ = run(capsys, "derive", "x^T A x", "--wrt", "x", "--order", "2", "--hvp")
    assert code == 0 and out.splitlines()[-1].startswith("hess_x f[dx] = (A + A^T) dx")


@pytest.mark.parametrize("argv", [
    ("hvp", "U V", "--wrt", "U"),
    ("hvp", "x^T A x", "--wrt", "x", "--direction", "A"),
    ("hvp", "x^T A x", "--wrt", "x,A", "--direction", "D"),
])
def test_cli_bad_input_exits_2_with_one_line(capsys, argv):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1
