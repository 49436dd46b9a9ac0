"""NumPy references shared by the tests: written out here, independently of matcalc."""

import numpy as np

inv = np.linalg.inv
det = np.linalg.det


def vec(a) -> np.ndarray:
    """Columns stacked: vec(A) = A.reshape(-1, order="F")."""
    return np.asarray(a, dtype=float).reshape(-1, order="F")


def unvec(v, shape) -> np.ndarray:
    return np.asarray(v, dtype=float).reshape(shape, order="F")


def commutation(m: int, n: int) -> np.ndarray:
    """K with K vec(A) = vec(A^T) for A of shape (m, n)."""
    k = np.zeros((m * n, m * n))
    for i in range(m):
        for j in range(n):
            # A[i, j] sits at j*m + i in vec(A) and at i*n + j in vec(A^T)
            k[i * n + j, j * m + i] = 1.0
    return k


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


def logsumexp(z):
    m = z.max()
    return m + np.log(np.exp(z - m).sum())


def softplus(z):
    return np.logaddexp(0.0, z)


def relu_step(z):
    return (z > 0).astype(float)


def colsum(m):
    """Column sums of m as a column vector (the bias gradient of a batched layer)."""
    return m.sum(axis=0).reshape(-1, 1)


def spd(rng, n):
    m = rng.standard_normal((n, n))
    return m @ m.T / n + np.eye(n)


def invertible(rng, n):
    """Well conditioned with a positive determinant (for logdet)."""
    while True:
        x = 2 * np.eye(n) + 0.3 * rng.standard_normal((n, n))
        if det(x) > 0:
            return x


def derive_each(cases, derive) -> dict:
    """Each case's result computed once (case = (id, text, wrt, declare, ...)), or the
    exception it raised, which ``result`` raises again in the tests of that case."""
    out = {}
    for case_id, text, wrt, declare, *_ in cases:
        try:
            out[case_id] = derive(text, wrt=wrt, declare=declare)
        except Exception as err:  # reported by the tests of that case
            out[case_id] = err
    return out


def result(results: dict, case_id: str):
    r = results[case_id]
    if isinstance(r, Exception):
        raise r
    return r
