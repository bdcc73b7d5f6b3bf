"""POD and sketched POD against dense SVDs, pyMOR's pod and explicit sketch matrices (one rank)."""

import numpy as np
import pytest
import scipy.sparse as sp
from mpi4py import MPI

import rsketch as rs
from rsketch.testing.distributed import gathered
from solvers import DistCSR
from solvers.mor.pod import SketchedPOD, pod, select_modes, sketched_pod

SELF = MPI.COMM_SELF


class DenseFactor:
    """A factor Q (s x n, Q^H Q = R_U) given explicitly: the factor protocol, for tests."""

    def __init__(self, Q, comm):
        self.Q, self.comm = Q, comm
        self.layout_out = rs.Layout(Q.shape[0], comm)

    def apply(self, X_local):
        Y = self.Q @ gathered(np.ascontiguousarray(X_local), self.comm)
        return Y[self.layout_out.start:self.layout_out.stop]


def problem(n=80, m=8, decay=0.2, seed=0):
    """Snapshots with known R_U-singular values, the product R_U = Q^T Q and its factor Q."""
    rng = np.random.default_rng(seed)
    L = (sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n)) * n).tocsr()
    Q = np.vstack([np.linalg.cholesky(L.toarray()).T, 0.3 * np.eye(n)])
    R = (L + 0.09 * sp.eye(n)).tocsr()
    # U = C^{-T} Y0 diag(s) Z0^T with R = C C^T: R-singular values s
    C = np.linalg.cholesky(R.toarray())
    Y0 = np.linalg.qr(rng.standard_normal((n, m)))[0]
    Z0 = np.linalg.qr(rng.standard_normal((m, m)))[0]
    s = decay ** np.arange(m)
    U = np.linalg.solve(C.T, Y0 * s) @ Z0.T
    return U, R, Q, s


def weighted_svd(U, Rd):
    """Dense reference: the SVD of C^T U (R = C C^T); modes U Z S^-1."""
    C = np.linalg.cholesky(Rd)
    _, s, Zh = np.linalg.svd(C.T @ U, full_matrices=False)
    return U @ Zh.T / s, s


def assert_modes_equal(P, Pref, tol):
    assert P.shape == Pref.shape
    for j in range(P.shape[1]):
        sign = np.sign(np.vdot(Pref[:, j], P[:, j]).real)
        assert np.linalg.norm(sign * P[:, j] - Pref[:, j]) <= tol[j] * np.linalg.norm(Pref[:, j]), j


def test_pod_equals_dense_weighted_svd():
    U, R, Q, s_true = problem()
    P, s = pod(U, product=DistCSR.from_global(R, SELF), comm=SELF)
    Pref, sref = weighted_svd(U, R.toarray())
    assert len(s) == U.shape[1]
    # the method of snapshots resolves s_j to ~ u s_1^2 / s_j
    assert np.linalg.norm(s - sref) <= 1e-10 * np.linalg.norm(sref)
    np.testing.assert_allclose(sref, s_true, rtol=1e-10)
    # the method of snapshots resolves mode j to ~ u (s_1/s_j)^2
    assert_modes_equal(P, Pref, 1e-13 * (s[0] / s) ** 2 + 1e-12)
    assert np.abs(P.T @ R @ P - np.eye(len(s))).max() <= 1e-12


def test_pod_euclidean_and_truncation_equal_pymor():
    from pymor.algorithms.pod import pod as pymor_pod
    from pymor.core.logger import set_log_levels
    from pymor.operators.numpy import NumpyMatrixOperator
    from pymor.vectorarrays.numpy import NumpyVectorSpace
    set_log_levels({"pymor": "WARN"})
    U, R, _, _ = problem(m=10, decay=0.05)
    V = NumpyVectorSpace(U.shape[0]).from_numpy(U)
    prod = NumpyMatrixOperator(R.tocsc())
    for kw in ({}, {"modes": 3}, {"rtol": 1e-4}, {"atol": 1e-6}, {"l2_err": 1e-3}, {"rtol": 0.0}):
        for ours, theirs in ((None, None), (DistCSR.from_global(R, SELF), prod)):
            ref = {"rtol": 4e-8, **kw}
            Pm, sm = pymor_pod(V, product=theirs, **ref)
            P, s = pod(U, product=ours, comm=SELF, **kw)
            assert len(s) == len(sm), (kw, len(s), len(sm))
            assert np.linalg.norm(s - sm) <= 1e-9 * np.linalg.norm(sm)
            Pm = Pm.to_numpy()
            assert_modes_equal(P[:, :3], Pm[:, :3], [1e-9] * 3)
    assert select_modes(np.array([1.0, 0.5, 0.1]), l2_err=0.2) == 2


def test_pod_reorthonormalizes_modes_of_small_singular_values():
    U, R, _, _ = problem(m=8, decay=0.05)                     # s down to 8e-10: beyond sqrt(u)
    Rd = DistCSR.from_global(R, SELF)
    P, s = pod(U, product=Rd, comm=SELF, rtol=1e-10)
    assert np.abs(P.T @ R @ P - np.eye(len(s))).max() <= 1e-12
    P2, s2 = pod(U, product=Rd, comm=SELF, rtol=1e-10, orth_tol=np.inf)     # no second pass
    assert np.abs(P2.T @ R @ P2 - np.eye(len(s2))).max() > 1e-6


@pytest.mark.parametrize("kind", [rs.Gaussian(40, seed=3), rs.SparseSign(40, seed=4)])
@pytest.mark.parametrize("with_factor", [False, True])
def test_sketched_pod_equals_dense_reference(kind, with_factor):
    U, R, Q, _ = problem(m=8, decay=0.3)
    factor = DenseFactor(Q, SELF) if with_factor else None
    P, s = sketched_pod(U, sketch=kind, factor=factor, comm=SELF, modes=5)
    Qd = Q if with_factor else np.eye(U.shape[0])
    Y = kind.to_dense(Qd.shape[0], SELF) @ Qd @ U
    _, sref, Zh = np.linalg.svd(Y, full_matrices=False)
    assert np.linalg.norm(s - sref[:5]) <= 1e-12 * np.linalg.norm(sref[:5])
    assert_modes_equal(P, U @ Zh[:5].T / sref[:5], [1e-10] * 5)
    # Theta P is orthonormal
    ThP = kind.to_dense(Qd.shape[0], SELF) @ Qd @ P
    assert np.abs(ThP.T @ ThP - np.eye(5)).max() <= 1e-12


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sketched_pod_error_is_quasi_optimal(seed):
    """sum ||u_i - Pi u_i||_U^2 <= (1+eps)/(1-eps) sum_{i>r} s_i^2, eps measured on span(U)."""
    U, R, Q, _ = problem(m=10, decay=0.5, seed=seed)
    Rd = R.toarray()
    S = rs.Gaussian(150, seed=seed)
    Om = S.to_dense(Q.shape[0], SELF)
    Yq, _ = np.linalg.qr(Q @ U)                         # Q U R^-1: an R_U-orthonormal basis, sketched
    sv = np.linalg.svd(Om @ Yq, compute_uv=False)
    eps = max(abs(1 - sv.max() ** 2), abs(1 - sv.min() ** 2))
    assert eps < 0.9
    _, s_exact = weighted_svd(U, Rd)
    for r in (2, 4, 6):
        P, _ = sketched_pod(U, sketch=S, factor=DenseFactor(Q, SELF), modes=r, comm=SELF)
        coef = np.linalg.solve(P.T @ Rd @ P, P.T @ Rd @ U)
        E = U - P @ coef
        err = np.einsum("ij,ij->", E, Rd @ E)
        opt = np.sum(s_exact[r:] ** 2)
        assert opt <= err * (1 + 1e-8)
        assert err <= (1 + eps) / (1 - eps) * opt * (1 + 1e-8), (r, err / opt, eps)


def test_streaming_equals_single_pass_and_keeps_only_the_sketch():
    U, R, Q, _ = problem(m=9)
    S = rs.SparseSign(30, seed=7)
    acc = SketchedPOD(S, factor=DenseFactor(Q, SELF), comm=SELF)
    for lo, hi in ((0, 4), (4, 5), (5, 9)):
        assert acc.add(U[:, lo:hi]) == hi
    assert acc.sketch_matrix.shape == (30, 9)
    assert acc.reductions == 3 + 1                    # three validations, one sum
    P, s = acc.modes(U, modes=4)
    P1, s1 = sketched_pod(U, sketch=S, factor=DenseFactor(Q, SELF), modes=4, comm=SELF)
    np.testing.assert_allclose(s, s1, rtol=1e-13)
    np.testing.assert_allclose(P, P1, rtol=0, atol=1e-12 * np.abs(P1).max())
    C, s2 = acc.coefficients(modes=4)
    np.testing.assert_allclose(U @ C, P, atol=1e-14 * np.abs(P).max())
    acc.add(U[:, :1])                                   # a later batch is summed on its own
    assert acc.sketch_matrix.shape == (30, 10)
    np.testing.assert_allclose(acc.sketch_matrix[:, 9], acc.sketch_matrix[:, 0], rtol=1e-14)


def test_bad_input():
    U, R, Q, _ = problem()
    with pytest.raises(TypeError, match="sketch"):
        sketched_pod(U, sketch="gaussian", comm=SELF)
    with pytest.raises(ValueError, match="NaN"):
        pod(np.full((10, 2), np.nan), comm=SELF)
    with pytest.raises(ValueError, match="modes"):
        pod(U, modes=-1, comm=SELF)
    with pytest.raises(TypeError, match="factor"):
        sketched_pod(U, sketch=rs.Gaussian(10), factor=object(), comm=SELF)
    with pytest.raises(ValueError, match="rows per rank"):
        pod(U[:-1], product=DistCSR.from_global(R, SELF), comm=SELF)
    with pytest.raises(ValueError, match="NaN"):
        U2 = U.copy()
        U2[3, 1] = np.inf
        sketched_pod(U2, sketch=rs.Gaussian(10), comm=SELF)
    acc = SketchedPOD(rs.Gaussian(10), comm=SELF)
    with pytest.raises(ValueError, match="add"):
        acc.modes(U)
    acc.add(U)
    with pytest.raises(ValueError, match="all 8 snapshots"):
        acc.modes(U[:, :3])
    P, s = pod(np.zeros((10, 0)), comm=SELF)
    assert P.shape == (10, 0) and s.size == 0


def test_sketched_pod_with_the_edge_factor_of_the_product():
    """The factor of solvers.operators.factor (Q^T Q = R_U exactly) against its explicit matrix."""
    from solvers.operators.factor import edge_factor
    U, R, _, _ = problem(m=8, decay=0.3)
    F = edge_factor(DistCSR.from_global(R, SELF))
    Qd = F.to_scipy().toarray()
    assert np.abs(Qd.T @ Qd - R.toarray()).max() <= 1e-13 * np.abs(R).max()
    S = rs.SparseSign(40, seed=5)
    P, s = sketched_pod(U, sketch=S, factor=F, modes=5, comm=SELF)
    Y = S.to_dense(Qd.shape[0], SELF) @ Qd @ U
    _, sref, Zh = np.linalg.svd(Y, full_matrices=False)
    assert np.linalg.norm(s - sref[:5]) <= 1e-12 * np.linalg.norm(sref[:5])
    assert_modes_equal(P, U @ Zh[:5].T / sref[:5], [1e-10] * 5)
