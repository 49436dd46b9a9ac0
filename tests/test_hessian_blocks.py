"""Every block of a Hessian with respect to several variables together: ``hessian(wrt=[...])``
keyed by pairs of names, each block d vec(grad_x f) / d vec(y)^T.  The full Hessian of a
two-layer network is assembled from its blocks and compared with second differences of f
(and with jax where it is installed)."""

from __future__ import annotations

import numpy as np
import pytest
from reference import sigmoid, vec

import matcalc
from matcalc.cli import main

NETWORK = "||sigmoid(X W1 + b1^T) W2 + b2^T - Y||_F^2"
NAMES = ["W1", "b1", "W2"]


def network(v: dict) -> float:
    r = sigmoid(v["X"] @ v["W1"] + v["b1"].T) @ v["W2"] + v["b2"].T - v["Y"]
    return float(np.sum(r * r))


def values(rng) -> dict:
    return {"X": rng.standard_normal((5, 3)), "W1": rng.standard_normal((3, 4)), "b1": rng.standard_normal((4, 1)),
            "W2": rng.standard_normal((4, 2)), "b2": rng.standard_normal((2, 1)), "Y": rng.standard_normal((5, 2))}


def joint_fd_hessian(f, v: dict, names: list[str], h: float = 1e-4) -> np.ndarray:
    """Second central differences of f along pairs of entries of (vec(v[n]) for n in names), stacked."""
    sizes = [v[n].size for n in names]
    total = sum(sizes)

    def at(step: np.ndarray) -> float:
        moved, start = dict(v), 0
        for n, size in zip(names, sizes, strict=True):
            moved[n] = v[n] + step[start:start + size].reshape(v[n].shape, order="F")
            start += size
        return f(moved)

    out = np.empty((total, total))
    for k in range(total):
        for j in range(k, total):
            a, b = np.eye(total)[k] * h, np.eye(total)[j] * h
            out[k, j] = out[j, k] = (at(a + b) - at(a - b) - at(b - a) + at(-a - b)) / (4 * h * h)
    return out


@pytest.fixture(scope="module")
def blocks():
    return matcalc.hessian(NETWORK, wrt=NAMES)


def assemble(blocks, v: dict, names: list[str]) -> np.ndarray:
    return np.block([[blocks[(a, b)].evaluate(v) for b in names] for a in names])


def test_every_pair_is_a_block(blocks):
    assert set(blocks) == {(a, b) for a in NAMES for b in NAMES}
    assert blocks[("W1", "W2")].label == "hess_W1,W2 f"
    assert blocks[("W2", "W2")].label == "hess_W2 f"
    assert str(blocks[("W2", "W2")]) == "2 kron(I, sigmoid(X W1 + b1^T)^T sigmoid(X W1 + b1^T))"
    for r in blocks.values():
        assert r.check().ok


def test_the_assembled_hessian_matches_second_differences(blocks):
    v = values(np.random.default_rng(3))
    full = assemble(blocks, v, NAMES)
    assert full.shape == (12 + 4 + 8, 12 + 4 + 8)
    assert np.allclose(full, full.T, atol=1e-10)
    assert np.allclose(full, joint_fd_hessian(network, v, NAMES), rtol=1e-4, atol=1e-5)


def test_off_diagonal_blocks_are_transposes(blocks):
    v = values(np.random.default_rng(4))
    for a in NAMES:
        for b in NAMES:
            assert np.allclose(blocks[(a, b)].evaluate(v), blocks[(b, a)].evaluate(v).T)


@pytest.mark.threaded_libraries
def test_the_assembled_hessian_matches_jax(blocks):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    v = values(np.random.default_rng(5))
    shapes = [v[n].shape for n in NAMES]

    def f(flat):
        parts, start = {}, 0
        for n, shape in zip(NAMES, shapes, strict=True):
            size = int(np.prod(shape))
            parts[n] = jnp.reshape(flat[start:start + size], shape[::-1]).T  # vec order: columns stacked
            start += size
        z = 1 / (1 + jnp.exp(-(v["X"] @ parts["W1"] + parts["b1"].T)))
        r = z @ parts["W2"] + v["b2"].T - v["Y"]
        return jnp.sum(r * r)

    flat = np.concatenate([vec(v[n]) for n in NAMES])
    assert np.allclose(assemble(blocks, v, NAMES), np.asarray(jax.hessian(f)(flat)), rtol=1e-8, atol=1e-10)


def test_textbook_mixed_block():
    """d^2(x^T A y) / dx dy^T = A (Magnus & Neudecker): the block and its transpose."""
    hs = matcalc.hessian("x^T A y", wrt=["x", "y"])
    assert (str(hs[("x", "y")]), str(hs[("y", "x")])) == ("A", "A^T")
    assert hs[("x", "y")].check().ok


def test_one_name_is_one_result_and_a_list_of_one_is_one_block():
    assert isinstance(matcalc.hessian("||x||^3", wrt="x"), matcalc.Result)
    assert list(matcalc.hessian("||x||^3", wrt=["x"])) == [("x", "x")]


def test_a_symmetric_variable_among_them_is_refused():
    with pytest.raises(matcalc.DerivativeError, match="symmetric matrix S is not supported"):
        matcalc.hessian("x^T S x", wrt=["x", "S"], declare={"S": "symmetric"})


def test_cli_prints_every_block(capsys):
    assert main(["hess", "x^T A y", "--wrt", "x,y"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == ["hess_x f = 0 ones ones^T", "hess_x,y f = A", "hess_y,x f = A^T", "hess_y f = 0 ones ones^T"]
