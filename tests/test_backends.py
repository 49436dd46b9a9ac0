"""One generated source on every array library that is installed: the values of ``evaluate``
on the benchmark corpus, the arguments' dtype and library kept, JAX's transformations, Dask
lazy, and one-line errors for what a function cannot take."""

import functools
import importlib.util
import sys

import numpy as np
import pytest
from conftest import point_for
from test_codegen import BENCHMARK_CASES, CASES, HVP_CASES

import matcalc
from matcalc.verify import domain_points

pytestmark = pytest.mark.threaded_libraries  # JAX and PyTorch start threads: run after every test that forks


def _installed(*modules: str) -> bool:
    return all(importlib.util.find_spec(m) is not None for m in modules)


def _needs(*modules: str):
    missing = [m for m in modules if not _installed(m)]
    return pytest.mark.skipif(bool(missing), reason=f"{', '.join(missing)} not installed (pip install 'matcalc[backends]')")


def _torch():
    import torch

    return (lambda a: torch.asarray(a)), (lambda out: out.numpy(force=True)), torch.Tensor


def _jax():
    import jax

    jax.config.update("jax_enable_x64", True)  # float64 as the other libraries; float32 tested apart
    import jax.numpy as jnp

    return jnp.asarray, np.asarray, jax.Array


def _dask():
    import dask
    import dask.array as da

    def chunked(a):  # chunked by rows, two rows a chunk, so that every product crosses chunks
        a = np.asarray(a)
        return da.from_array(a, chunks=(2,) + a.shape[1:]) if a.ndim else da.from_array(a)

    def computed(out):
        with dask.config.set(scheduler="synchronous"):
            return np.asarray(out.compute())

    return chunked, computed, da.Array


def _strict():
    import array_api_strict as xs

    return xs.asarray, np.asarray, type(xs.asarray(0.0))


def _numpy():
    return np.asarray, np.asarray, np.ndarray


# name -> (modules it needs, () -> (to the library, back to NumPy, array type))
BACKENDS = {
    "numpy": ((), _numpy),
    "torch": (("torch", "array_api_compat"), _torch),
    "jax": (("jax", "array_api_compat"), _jax),
    "dask": (("dask", "array_api_compat"), _dask),
    "array_api_strict": (("array_api_strict", "array_api_compat"), _strict),
}


def backend_params():
    return [pytest.param(name, marks=_needs(*modules), id=name) for name, (modules, _) in BACKENDS.items()]


@functools.cache
def _library(name):
    return BACKENDS[name][1]()


_RESULTS: dict = {}


def _benchmark_result(case):
    if case.name not in _RESULTS:
        _RESULTS[case.name] = _derive(case)
    return _RESULTS[case.name]


def _derive(case):
    try:
        return getattr(matcalc, case.kind)(case.text, wrt=case.wrt, declare=case.declare)
    except matcalc.MatcalcError as err:
        return err


@functools.cache
def _codegen_result(kind, text, wrt, declare):
    return getattr(matcalc, kind)(text, wrt=wrt, declare=dict(declare))


def _check(backend, r, values, rtol=1e-10):
    to, back, array_type = _library(backend)
    fn = r.compile()
    out = fn(**{name: to(v) for name, v in values.items() if name in fn.parameters})
    assert isinstance(out, array_type), f"{type(out)} is not a {backend} array"
    computed = back(out)
    assert computed.dtype == np.float64
    np.testing.assert_allclose(computed, r.evaluate(values), rtol=rtol, atol=1e-12, err_msg=r.source())


@pytest.mark.parametrize("backend", backend_params())
@pytest.mark.parametrize("case", BENCHMARK_CASES, ids=[f"{c.kind} {c.text} wrt {c.wrt}" for c in BENCHMARK_CASES])
def test_benchmark_corpus_on_every_backend(backend, case):
    r = _benchmark_result(case)
    if isinstance(r, matcalc.MatcalcError):  # the corpus holds a case matcalc refuses, as its report says
        pytest.skip(f"matcalc does not support it: {r}")
    values, _ = point_for(r.function, seed=3)
    _check(backend, r, values)


@pytest.mark.parametrize("backend", backend_params())
@pytest.mark.parametrize("kind, text, wrt, declare", CASES)
def test_gradients_hessians_jacobians_on_every_backend(backend, kind, text, wrt, declare):
    r = _codegen_result(kind, text, wrt, tuple(declare.items()))
    values, _ = point_for(r.function, seed=11)
    _check(backend, r, values)


@pytest.mark.parametrize("backend", backend_params())
@pytest.mark.parametrize("text, wrt, declare", HVP_CASES)
def test_hessian_vector_products_on_every_backend(backend, text, wrt, declare):
    r = matcalc.hvp(text, wrt=wrt, declare=declare)
    values, _ = domain_points(r.function, 1, 11, extra=(r.expr,))[0]
    _check(backend, r, values)


@pytest.mark.parametrize("backend", backend_params())
@pytest.mark.parametrize("text, wrt, declare", HVP_CASES)
def test_hessians_at_a_point_on_every_backend(backend, text, wrt, declare):
    """compile(at_point=True): the function of the point returns the function of the direction."""
    r = matcalc.hvp(text, wrt=wrt, declare=declare)
    values, _ = domain_points(r.function, 1, 11, extra=(r.expr,))[0]
    to, back, array_type = _library(backend)
    at = r.compile(at_point=True)
    H = at(**{name: to(v) for name, v in values.items() if name in at.parameters})
    out = H(to(values[r.direction.name]))
    assert isinstance(out, array_type), f"{type(out)} is not a {backend} array"
    np.testing.assert_allclose(back(out), r.evaluate(values), rtol=1e-10, atol=1e-12, err_msg=r.source(at_point=True))


@pytest.mark.parametrize("backend", backend_params())
def test_products_side_by_side_on_every_backend(backend):
    """The network's X W1 and X dW1 made by one product (Dask: two, its shapes may be unknown)."""
    from test_codegen import _two_layer_point

    r = matcalc.hvp("||sigmoid(X W1 + b1^T) W2 + b2^T - Y||_F^2", wrt="W1")
    _check(backend, r, _two_layer_point(40, 12, 2))


@pytest.mark.parametrize("backend", backend_params())
def test_hessian_blocks_on_every_backend(backend):
    blocks = matcalc.hessian("||sigmoid(X W1) W2 - Y||_F^2", wrt=["W1", "W2"])
    values, _ = point_for(blocks[("W1", "W2")].function, seed=5)
    for r in blocks.values():
        _check(backend, r, values)


DTYPE_CASES = [
    ("gradient", "sum(log(1 + exp(-y .* (X w))))", "w"),
    ("hessian", "sum(log(1 + exp(-y .* (X w))))", "w"),
    ("gradient", "logdet(X) + tr(A X)", "X"),
    ("jacobian", "softmax(W x)", "x"),
    ("hvp", "x^T A x", "x"),
]


@pytest.mark.parametrize("backend", backend_params())
@pytest.mark.parametrize("kind, text, wrt", DTYPE_CASES)
def test_float32_in_float32_out(backend, kind, text, wrt):
    r = getattr(matcalc, kind)(text, wrt=wrt)
    values, _ = domain_points(r.function, 1, 2, extra=(r.expr,))[0]
    to, back, _ = _library(backend)
    out = back(r.compile()(**{n: to(np.asarray(v, dtype=np.float32)) for n, v in values.items()}))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, r.evaluate(values), rtol=2e-3, atol=2e-4)


@pytest.mark.parametrize("backend", backend_params())
def test_one_output_shape_on_every_backend(backend):
    """A gradient is shaped like its variable as given, (n,) or (n, 1), a Hessian (n, n), everywhere."""
    to, back, _ = _library(backend)
    rng = np.random.default_rng(0)
    a, x = rng.standard_normal((4, 4)), rng.standard_normal(4)
    grad, hess = matcalc.gradient("x^T A x", wrt="x").compile(), matcalc.hessian("x^T A x", wrt="x").compile()
    assert back(grad(to(a), to(x))).shape == (4,)
    assert back(grad(to(a), to(x[:, None]))).shape == (4, 1)
    assert back(hess(to(a), to(x))).shape == (4, 4)
    np.testing.assert_allclose(back(grad(A=to(a), x=to(x))), (a + a.T) @ x, rtol=1e-12)


@_needs("jax", "array_api_compat")
def test_jax_jit_vmap_and_to_jax():
    import jax
    import jax.numpy as jnp

    _jax()
    r = matcalc.gradient("sum(log(1 + exp(-y .* (X w))))", wrt="w")
    rng = np.random.default_rng(1)
    x, y, w = rng.standard_normal((6, 3)), np.sign(rng.standard_normal(6)), rng.standard_normal((5, 3))
    expected = np.stack([r.evaluate({"X": x, "y": y, "w": wi}) for wi in w])
    fn = r.compile()
    np.testing.assert_allclose(jax.jit(fn)(jnp.asarray(x), jnp.asarray(w[0]), jnp.asarray(y)), expected[0], rtol=1e-10)
    batched = jax.jit(jax.vmap(fn, in_axes=(None, 0, None)))(jnp.asarray(x), jnp.asarray(w), jnp.asarray(y))
    assert isinstance(batched, jax.Array) and batched.shape == (5, 3)
    np.testing.assert_allclose(batched, expected, rtol=1e-10)
    same = r.to_jax()(X=x, w=w[0], y=y)  # NumPy values taken as JAX arrays, the shape of every backend
    assert isinstance(same, jax.Array) and same.shape == (3,)
    np.testing.assert_allclose(same, r.to_numpy()(X=x, w=w[0], y=y), rtol=1e-12)


@_needs("jax", "array_api_compat")
def test_jax_jit_and_vmap_of_a_hessian_at_a_point():
    """The function of the direction alone, jitted and mapped over a batch of directions."""
    import jax
    import jax.numpy as jnp

    _jax()
    r = matcalc.hvp("sum(log(1 + exp(-y .* (X w))))", wrt="w")
    rng = np.random.default_rng(3)
    x, y, w, d = rng.standard_normal((6, 3)), np.sign(rng.standard_normal(6)), rng.standard_normal(3), rng.standard_normal((5, 3))
    H = r.compile(at_point=True)(jnp.asarray(x), jnp.asarray(w), jnp.asarray(y))
    batched = jax.jit(jax.vmap(H))(jnp.asarray(d))
    assert isinstance(batched, jax.Array) and batched.shape == (5, 3)
    expected = np.stack([r.evaluate({"X": x, "y": y, "w": w, "dw": di}) for di in d])
    np.testing.assert_allclose(batched, expected, rtol=1e-10)


@_needs("dask", "array_api_compat")
@_needs("jax", "array_api_compat")
@pytest.mark.parametrize("kind, text, wrt", [("gradient", "sum(log(1 + exp(-y .* (X w))))", "w"),
                                             ("hvp", "sum(log(1 + exp(-y .* (X w))))", "w"),
                                             ("gradient", "||X w - y||^2", "w"), ("hvp", "x^T X x", "x")])
def test_a_transposed_matrix_times_a_column_forms_no_transpose_on_jax(kind, text, wrt):
    """X^T r as (r^T X)^T: XLA on a CPU copies X into its transpose for X.T @ r (ten times the
    time of the product); the lowered program transposes no matrix, only columns and rows."""
    import re

    import jax

    _library("jax")  # float64
    r = getattr(matcalc, kind)(text, wrt=wrt)
    rows = 7 if text.startswith("x^T") else 12
    shapes = {"X": (rows, 7), "y": (rows,), "w": (7,), "dw": (7,), "x": (7,), "dx": (7,)}
    fn = r.compile()
    rng = np.random.default_rng(0)
    args = [jax.numpy.asarray(rng.standard_normal(shapes[name])) for name in fn.parameters]
    program = jax.jit(fn).lower(*args).as_text()
    transposed = re.findall(r"stablehlo\.transpose [^\n]*: \(tensor<(\d+)x(\d+)x", program)
    assert all(min(int(a), int(b)) == 1 for a, b in transposed), program


def test_dask_stays_lazy_until_computed():
    import dask
    import dask.array as da

    rng = np.random.default_rng(2)
    x, y, w = rng.standard_normal((400, 5)), np.sign(rng.standard_normal(400)), rng.standard_normal(5)
    loss = "sum(log(1 + exp(-y .* (X w))))"
    X, Y = da.from_array(x, chunks=(100, 5)), da.from_array(y, chunks=100)
    for kind in ("gradient", "hessian"):
        r = getattr(matcalc, kind)(loss, wrt="w")
        with dask.config.set(scheduler=_no_compute):  # building the graph computes nothing
            out = r.compile()(X, da.from_array(w), Y)
        assert isinstance(out, da.Array) and len(out.__dask_graph__()) > 4
        np.testing.assert_allclose(out.compute(scheduler="synchronous"), r.evaluate({"X": x, "y": y, "w": w}), rtol=1e-10)


def _no_compute(*args, **kwargs):
    raise AssertionError("the generated code computed a Dask array")


@_needs("dask", "distributed", "array_api_compat")
def test_dask_gradient_and_hessian_on_a_two_worker_cluster():
    import dask.array as da
    from distributed import Client, LocalCluster

    rng = np.random.default_rng(3)
    x, y, w = rng.standard_normal((2000, 8)), np.sign(rng.standard_normal(2000)), rng.standard_normal(8)
    loss = "sum(log(1 + exp(-y .* (X w))))"
    grad, hess = (getattr(matcalc, k)(loss, wrt="w") for k in ("gradient", "hessian"))
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        assert len(client.scheduler_info()["workers"]) == 2
        X, Y, W = da.from_array(x, chunks=(250, 8)), da.from_array(y, chunks=250), da.from_array(w)
        g, h = client.compute([grad.compile()(X, W, Y), hess.compile()(X, W, Y)], sync=True)
    values = {"X": x, "y": y, "w": w}
    np.testing.assert_allclose(g, grad.evaluate(values), rtol=1e-10)
    np.testing.assert_allclose(h, hess.evaluate(values), rtol=1e-10)


def _gpu():
    if _installed("torch"):
        import torch

        if torch.cuda.is_available():
            return "torch"
    if _installed("cupy"):
        try:
            import cupy

            if cupy.cuda.runtime.getDeviceCount() > 0:
                return "cupy"
        except Exception:
            pass
    return None


@_needs("array_api_compat")
def test_on_a_gpu():
    library = _gpu()  # looked for here, not at collection: importing torch starts its threads
    if library is None:
        pytest.skip("no GPU here: no CUDA device through torch or cupy")
    if library == "torch":
        import torch

        to, back = (lambda a: torch.asarray(a, device="cuda")), (lambda t: t.cpu().numpy())
    else:
        import cupy

        to, back = cupy.asarray, cupy.asnumpy
    for kind, text, wrt, declare in CASES:
        r = _codegen_result(kind, text, wrt, tuple(declare.items()))
        values, _ = point_for(r.function, seed=11)
        out = r.compile()(**{n: to(v) for n, v in values.items()})
        assert str(getattr(out, "device", "cuda")).startswith("cuda")
        np.testing.assert_allclose(back(out), r.evaluate(values), rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------------ what a function cannot take

def _logistic():
    return matcalc.gradient("sum(log(1 + exp(-y .* (X w))))", wrt="w").compile()


@pytest.mark.parametrize("args, message", [
    ({"X": np.ones((4, 3)), "w": np.ones(2), "y": np.ones(4)}, "w has shape (2,): expected a vector: shape (m,) or (m, 1) with m = 3 (from X)"),
    ({"X": np.ones((4, 3)), "w": np.ones((3, 2)), "y": np.ones(4)}, "w has shape (3, 2): expected a vector: shape (m,) or (m, 1)"),
    ({"X": np.ones(4), "w": np.ones(3), "y": np.ones(4)}, "X has shape (4,): expected a matrix: shape (n, m)"),
    ({"X": np.ones((4, 3)), "w": np.ones(3, dtype=int), "y": np.ones(4)}, "w has dtype int64: expected floating-point values"),
    ({"X": np.ones((4, 3)), "w": np.ones(3), "y": np.ones(4, dtype=bool)}, "y has dtype bool: expected floating-point values"),
    ({"X": np.ones((4, 3)), "w": "1 2 3", "y": np.ones(4)}, "w is a str: expected an array or a number"),
])
def test_bad_arguments_are_one_line_errors_naming_them(args, message):
    with pytest.raises((TypeError, ValueError)) as err:
        _logistic()(**args)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


@_needs("torch", "array_api_compat")
def test_arrays_of_two_libraries_are_refused():
    import torch

    with pytest.raises(TypeError, match=r"^X is a torch array and w a numpy array: give every argument as an array of one library$"):
        _logistic()(X=torch.ones((4, 3), dtype=torch.float64), w=np.ones(3), y=torch.ones(4, dtype=torch.float64))
    with pytest.raises(TypeError, match=r"^w has dtype torch.int64: expected floating-point values"):
        _logistic()(X=torch.ones((4, 3)), w=torch.ones(3, dtype=torch.int64), y=torch.ones(4))


def test_a_library_without_the_compat_layer_is_named(monkeypatch):
    class Tensor:  # an array of some other library
        dtype, shape = np.dtype(float), (3,)
        __module__ = "somelib.core"

    monkeypatch.setitem(sys.modules, "array_api_compat", None)  # as if not installed
    with pytest.raises(TypeError, match=r"^w is a somelib array: arrays of libraries other than NumPy need array-api-compat"):
        _logistic()(X=np.ones((4, 3)), w=Tensor(), y=np.ones(4))


def test_to_jax_without_jax_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "jax", None)
    monkeypatch.setitem(sys.modules, "jax.numpy", None)
    with pytest.raises(matcalc.MatcalcError, match=r"^jax is not installed: pip install 'matcalc\[backends\]'$"):
        matcalc.gradient("x^T x", wrt="x").to_jax()


def test_arguments_by_position_and_by_name():
    fn = _logistic()
    assert fn.parameters == ("X", "w", "y")
    assert "X: a matrix, shape (n, m)" in fn.__doc__ and "shaped like w" in fn.__doc__
    rng = np.random.default_rng(4)
    x, w, y = rng.standard_normal((5, 3)), rng.standard_normal(3), np.sign(rng.standard_normal(5))
    expected = -x.T @ (y / (1 + np.exp(y * (x @ w))))  # the logistic loss's gradient, by hand
    np.testing.assert_allclose(fn(x, w, y), expected, rtol=1e-12)
    np.testing.assert_allclose(fn(x, y=y, w=w), expected, rtol=1e-12)
    np.testing.assert_allclose(fn(x, w.tolist(), y), expected, rtol=1e-12)  # a list is taken as numbers
    with pytest.raises(TypeError, match="missing 1 required positional argument: 'y'"):
        fn(x, w)


def test_numerically_stable_forms():
    """log det from slogdet, shifted log-sum-exp, the stable softplus: finite where the plain forms overflow."""
    from matcalc import codegen, pipeline

    f = pipeline.read("logdet(X) + logsumexp(x)").function  # the functions' own values, generated
    text = codegen.source({"f": f}, sorted(matcalc.verify.symbols_of(f), key=lambda s: s.name))
    assert "slogdet" in text
    big, x = 300.0 * np.eye(200), np.array([1000.0, 999.0, -1000.0])  # det(big) = 300^200 overflows
    value = codegen.compile_source(text)(big, x)
    np.testing.assert_allclose(value, [[200 * np.log(300.0) + 1000.0 + np.log1p(np.exp(-1.0))]], rtol=1e-12)
    r = matcalc.gradient("logsumexp(x) + sum(log(1 + exp(x)))", wrt="x").compile()
    x = np.array([1000.0, 999.0, -1000.0])
    softmax = np.exp(x - x.max()) / np.exp(x - x.max()).sum()
    np.testing.assert_allclose(r(x), softmax + np.exp(-np.logaddexp(0, -x)), rtol=1e-12)  # + sigmoid(x)
    f = matcalc.hessian("logsumexp(x)", wrt="x").compile()(x)
    assert np.all(np.isfinite(f))


def test_softplus_log_sigmoid_and_sigmoid_never_overflow():
    from matcalc import codegen, pipeline

    f = pipeline.read("sum(log(1 + exp(x))) + sum(log(sigmoid(y)))").function
    text = codegen.source({"f": f}, sorted(matcalc.verify.symbols_of(f), key=lambda s: s.name))
    x, y = np.array([1000.0, -1000.0, 0.5]), np.array([-1000.0, 1000.0, 0.5])
    with np.errstate(over="raise", under="ignore"):
        value = codegen.compile_source(text)(x, y)
        # log(1 + e^1000) = 1000, log(1 + e^-1000) = 0, log(sigmoid(-1000)) = -1000, log(sigmoid(1000)) = 0
        expected = 1000.0 + np.log1p(np.exp(0.5)) - 1000.0 - np.log1p(np.exp(-0.5))
        np.testing.assert_allclose(value, [[expected]], rtol=1e-12)
        grad = matcalc.gradient("sum(log(1 + exp(x)))", wrt="x").compile()(x)
    np.testing.assert_allclose(grad, [1.0, 0.0, 1 / (1 + np.exp(-0.5))], rtol=1e-12, atol=1e-300)


def test_generated_source_is_standalone_and_array_api_only():
    """The source imports NumPy only; every call on the namespace is the standard's (checked on
    array_api_strict above); no user text is ever in it but validated names."""
    src = matcalc.hessian("sum(log(1 + exp(-y .* (X w))))", wrt="w").source()
    imports = [line for line in src.splitlines() if line.startswith(("import", "from"))]
    assert imports == ["import numpy as _numpy"]
    assert "eval(" not in src and "exec(" not in src


def test_readme_shows_the_generated_function_as_it_is():
    from pathlib import Path

    from matcalc.cli import main

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    shown = readme.split('--wrt X --emit numpy`\nends with\n\n```python\n', 1)[1].split("```", 1)[0]
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["grad", "det(AXB)", "--wrt", "X", "--emit", "numpy"]) == 0
    assert out.getvalue().rstrip("\n").endswith(shown.rstrip("\n")) and shown.startswith("def grad(A, B, X):")


@pytest.mark.parametrize("backend", backend_params())
def test_every_elementwise_function_on_every_backend(backend):
    """Each row of the function table, its value and its derivative's, in the standard's calls only
    (array_api_strict refuses any other): a row added with a NumPy-only body fails here."""
    from matcalc.functions import FUNCTIONS

    x = np.array([0.3, 1.7, 2.9, 0.05])  # in every row's domain, away from kinks
    for name in FUNCTIONS:
        r = matcalc.gradient(f"sum(exp({name}(x)))", wrt="x")  # exp(f(x)) .* f'(x): both f and f'
        _check(backend, r, {"x": x})
