"""sampler.smallalg against NumPy's BLAS/LAPACK results (to rounding)."""

import numpy as np
import pytest

from bayesfm.sampler import smallalg


@pytest.fixture
def spd():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(6, 6))
    return A @ A.T + 6 * np.eye(6), rng


def test_products(spd):
    A, rng = spd
    B, x = rng.normal(size=(6, 3)), rng.normal(size=6)
    np.testing.assert_allclose(smallalg.matmul(A, B), A @ B, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(smallalg.matvec(A, x), A @ x, rtol=1e-13, atol=1e-13)
    assert smallalg.dot(x, x) == pytest.approx(float(x @ x), rel=1e-13)


def test_cholesky_and_solves(spd):
    A, rng = spd
    b = rng.normal(size=6)
    L = smallalg.cholesky(A)
    np.testing.assert_allclose(L, np.linalg.cholesky(A), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(smallalg.solve_spd(L, b), np.linalg.solve(A, b), rtol=1e-11)
    np.testing.assert_allclose(L @ smallalg.solve_lower(L, b), b, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(L.T @ smallalg.solve_upper(L.T, b), b, rtol=1e-12, atol=1e-12)


def test_cholesky_refuses_what_is_not_positive_definite(spd):
    A, _ = spd
    assert smallalg.cholesky(-A) is None
    assert smallalg.cholesky(np.diag([1.0, 1e-12]), min_pivot=1e-8) is None
    assert smallalg.cholesky(np.array([[np.nan]])) is None


def test_exp_and_log():
    x = np.array([[-3.0, 0.0], [0.5, 700.0]])
    np.testing.assert_allclose(smallalg.exp(x), np.exp(x), rtol=1e-15)
    np.testing.assert_allclose(smallalg.log(np.exp(x[:, :1])), x[:, :1], rtol=1e-15)
    assert smallalg.exp(x).shape == x.shape
