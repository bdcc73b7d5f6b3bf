"""Randomized SVD and Nyström against numpy.linalg.svd / eigh."""

import numpy as np
import pytest
import scipy.sparse as sp
from mpi4py import MPI

import rsketch as rs

SELF = MPI.COMM_SELF


def decaying(n, d, decay, seed=0, dtype=np.float64):
    g = np.random.default_rng(seed)
    r = min(n, d)
    U, _ = np.linalg.qr(g.standard_normal((n, r)))
    V, _ = np.linalg.qr(g.standard_normal((d, r)))
    s = decay ** np.arange(r)
    A = (U * s) @ V.T
    if np.dtype(dtype).kind == "c":
        A = A + 1j * (U * s) @ np.linalg.qr(g.standard_normal((d, r)))[0].T
    return A.astype(dtype), s


@pytest.mark.parametrize("shape", [(800, 60), (60, 500)])
@pytest.mark.parametrize("orth", ["tsqr", "rcholqr"])
def test_rsvd_matches_numpy_svd(shape, orth):
    A, _ = decaying(*shape, decay=0.7)
    U, s, Vt = rs.rsvd(A, 8, comm=SELF, orth=orth)
    Ur, sr, Vtr = np.linalg.svd(A, full_matrices=False)
    # gap sigma_9 / sigma_8 = 0.7 with l = 18, q = 2: error ~ (sigma_19/sigma_8)^5-ish, far below 1e-10
    np.testing.assert_allclose(s, sr[:8], rtol=1e-10)
    np.testing.assert_allclose(np.abs(np.sum(U * Ur[:, :8], axis=0)), 1.0, atol=1e-8)
    np.testing.assert_allclose(np.abs(np.sum(Vt * Vtr[:8], axis=1)), 1.0, atol=1e-8)
    np.testing.assert_allclose(U.T @ U, np.eye(8), atol=1e-12)


def test_rsvd_error_follows_the_spectrum_gap():
    """Slow decay (flat spectrum): the singular values are accurate only to the gap,
    and the approximation error is close to the optimal sigma_{k+1}."""
    A, s_true = decaying(1000, 200, decay=0.99)
    k = 10
    U, s, Vt = rs.rsvd(A, k, oversample=10, power_iters=3, comm=SELF)
    err = np.linalg.norm(A - (U * s) @ Vt, 2)
    assert err < 1.5 * s_true[k]
    assert np.all(s <= s_true[:k] * (1 + 1e-12))
    assert np.all(s >= s_true[:k] * 0.95)


def test_rsvd_complex_and_any_sketch():
    A, _ = decaying(400, 50, decay=0.5, dtype=np.complex128)
    sr = np.linalg.svd(A, compute_uv=False)
    for S in (rs.SparseSign(16, seed=2), rs.Rademacher(16, seed=2), rs.SRHT(16, seed=1)):
        U, s, Vt = rs.rsvd(A, 6, sketch=S, comm=SELF)
        np.testing.assert_allclose(s, sr[:6], rtol=1e-9)
        np.testing.assert_allclose((U * s) @ Vt, (U * s) @ Vt, atol=0)
        assert np.linalg.norm(A - (U * s) @ Vt, 2) < 1.01 * sr[6]


def numerically_low_rank(n, d, r, seed=0):
    """Rank r to working precision: singular values 1 ... 0.1, then 1e-20 relative."""
    g = np.random.default_rng(seed)
    U, _ = np.linalg.qr(g.standard_normal((n, d)))
    V, _ = np.linalg.qr(g.standard_normal((d, d)))
    sigma = np.concatenate([np.logspace(0, -1, r), 1e-20 * np.ones(d - r)])
    return (U * sigma) @ V.T


@pytest.mark.parametrize("orth", ["tsqr", "rcholqr"])
@pytest.mark.parametrize("n, d, r, rank", [(300, 40, 3, 5), (300, 40, 5, 10), (500, 60, 21, 30),
                                           (300, 40, 0, 5)])
def test_rsvd_returns_rank_triplets_when_the_range_is_exhausted(orth, n, d, r, rank):
    """rank(A) = r < rank: both paths return `rank` triplets, the last numerically zero
    (orth='rcholqr' returned r of them: 5 of 10, 21 of 30; and failed on A = 0)."""
    A = numerically_low_rank(n, d, r) if r else np.zeros((n, d))
    U, s, Vt = rs.rsvd(A, rank, comm=SELF, orth=orth)
    assert U.shape == (n, rank) and s.shape == (rank,) and Vt.shape == (rank, d)
    sr = np.linalg.svd(A, compute_uv=False)
    np.testing.assert_allclose(s[:r], sr[:r], rtol=1e-10)
    scale = max(sr[0], 1.0)
    assert np.all(s[r:] <= 1e-13 * scale) and np.all(np.diff(s) <= 0) and np.all(s >= 0)
    np.testing.assert_allclose(U.T @ U, np.eye(rank), atol=1e-12)
    np.testing.assert_allclose(Vt @ Vt.T, np.eye(rank), atol=1e-12)
    assert np.linalg.norm(A - (U * s) @ Vt, 2) <= 1e-12 * scale
    if r == 0:
        assert np.all(s == 0.0)


def test_rsvd_bad_inputs():
    A = np.ones((50, 10))
    with pytest.raises(ValueError, match="rank"):
        rs.rsvd(A, 11, comm=SELF)
    with pytest.raises(ValueError, match="oversample"):
        rs.rsvd(A, 2, oversample=-1, comm=SELF)
    with pytest.raises(ValueError, match="power_iters"):
        rs.rsvd(A, 2, power_iters=-1, comm=SELF)
    with pytest.raises(ValueError, match="orth"):
        rs.rsvd(A, 2, comm=SELF, orth="qr")
    with pytest.raises(ValueError, match="fewer than rank"):
        rs.rsvd(A, 5, sketch=rs.Gaussian(3), comm=SELF)
    A[3, 3] = np.nan
    with pytest.raises(ValueError, match="NaN or Inf"):
        rs.rsvd(A, 2, comm=SELF)


def spd(n, decay, seed=0):
    g = np.random.default_rng(seed)
    V, _ = np.linalg.qr(g.standard_normal((n, n)))
    lam = decay ** np.arange(n)
    return (V * lam) @ V.T, lam


class MatvecOnly:
    """An operator known only by its matvec (and its layout)."""

    def __init__(self, A):
        self.A = A
        self.layout = rs.Layout(A.shape[0], SELF)
        self.calls = 0

    def matvec(self, x):
        self.calls += 1
        return self.A @ x


@pytest.mark.parametrize("kind", ["ndarray", "sparse", "matvec"])
@pytest.mark.parametrize("sketch", [None, rs.SparseSign(30, seed=3), rs.BlockSRHT(30, seed=3)])
def test_nystrom_matches_eigh(kind, sketch):
    A, lam_true = spd(300, 0.6)
    op = {"ndarray": A, "sparse": sp.csr_matrix(A), "matvec": MatvecOnly(A)}[kind]
    U, lam = rs.nystrom(op, 6, oversample=24, sketch=sketch, comm=SELF)
    w, V = np.linalg.eigh(A)
    w, V = w[::-1], V[:, ::-1]
    # Nystrom with l = 30 test vectors: errors of the order of the tail lambda_31 = 0.6^30
    assert np.all(np.abs(lam - w[:6]) <= 50 * w[30])
    np.testing.assert_allclose(np.abs(np.sum(U * V[:, :6], axis=0)), 1.0, atol=1e-4)
    np.testing.assert_allclose(U.T @ U, np.eye(6), atol=1e-12)
    assert np.all(np.diff(lam) <= 0) and np.all(lam >= 0)


def test_nystrom_low_rank_psd_is_exact_and_nonnegative():
    g = np.random.default_rng(1)
    B = g.standard_normal((200, 4))
    A = B @ B.T                                             # rank 4, PSD
    U, lam = rs.nystrom(A, 6, comm=SELF)
    w = np.linalg.eigvalsh(A)[::-1]
    np.testing.assert_allclose(lam[:4], w[:4], rtol=1e-10)
    assert np.all(lam[4:] >= 0) and np.all(lam[4:] < 1e-10 * lam[0])
    np.testing.assert_allclose((U * lam) @ U.T, A, atol=1e-9 * lam[0])


def nonsymmetric_cases():
    g = np.random.default_rng(4)
    A, _ = spd(300, 0.9)
    B = g.standard_normal((300, 300))
    K = (B - B.T) / 2
    conv = sp.diags([-1.2, 2.0, -0.8], [-1, 0, 1], shape=(2000, 2000), format="csr")   # convection
    return {"upper triangle": np.triu(A), "random": B, "convection-diffusion": conv,
            "1e-4 skew": A + 1e-4 * K * np.linalg.norm(A) / np.linalg.norm(K)}


@pytest.mark.parametrize("case", ["upper triangle", "random", "convection-diffusion", "1e-4 skew"])
@pytest.mark.parametrize("kind", ["ndarray", "sparse", "matvec"])
def test_nystrom_refuses_a_nonsymmetric_operator(case, kind):
    """It accepted them silently. The probe measures ||A - A^T||_F / ||A + A^T||_F."""
    A = nonsymmetric_cases()[case]
    dense = A.toarray() if sp.issparse(A) else A
    ref = np.linalg.norm(dense - dense.T) / np.linalg.norm(dense + dense.T)
    op = {"ndarray": dense, "sparse": sp.csr_matrix(A), "matvec": MatvecOnly(dense)}[kind]
    with pytest.raises(ValueError, match="not symmetric") as info:
        rs.nystrom(op, 4, comm=SELF)
    measured = float(str(info.value).split("test vectors is ")[1].split(" times")[0])
    assert ref / 5 < measured < 5 * ref


def test_nystrom_accepts_rounding_level_asymmetry():
    A, lam_true = spd(300, 0.6)
    K = np.triu(np.random.default_rng(2).standard_normal((300, 300)), 1)
    U, lam = rs.nystrom(A + 1e-10 * (K - K.T), 4, oversample=20, comm=SELF)
    assert np.all(np.abs(lam - lam_true[:4]) <= 50 * lam_true[24])


def test_nystrom_rejects_indefinite_and_bad_operators():
    A, _ = spd(100, 0.8)
    with pytest.raises(ValueError, match="positive semi-definite"):
        rs.nystrom(-A, 3, comm=SELF)
    with pytest.raises(ValueError, match="square"):
        rs.nystrom(np.ones((10, 7)), 2, comm=SELF)
    with pytest.raises(TypeError, match="matvec"):
        rs.nystrom("A", 2, comm=SELF)

    class NoLayout:
        def matvec(self, x):
            return x

    with pytest.raises(TypeError, match="n_local"):
        rs.nystrom(NoLayout(), 2, comm=SELF)
    U, lam = rs.nystrom(NoLayout(), 2, comm=SELF, n_local=20)       # the identity
    np.testing.assert_allclose(lam, 1.0, rtol=1e-12)
    B = A.copy()
    B[2, 2] = np.inf
    with pytest.raises(ValueError, match="NaN or Inf"):
        rs.nystrom(B, 2, comm=SELF)


# ------------------------------------------------------------ block Krylov and float32


def flat(n, d, seed=0):
    """A flat spectrum like weight matrices: sigma_i = (1 + i)^(-1/2), gaps near 1."""
    g = np.random.default_rng(seed)
    r = min(n, d)
    U, _ = np.linalg.qr(g.standard_normal((n, r)))
    V, _ = np.linalg.qr(g.standard_normal((d, r)))
    s = (1.0 + np.arange(r)) ** -0.5
    return (U * s) @ V.T, s


@pytest.mark.parametrize("shape", [(800, 60), (60, 500)])
@pytest.mark.parametrize("work_dtype", [None, np.float32])
def test_krylov_matches_numpy_svd_on_a_decaying_spectrum(shape, work_dtype):
    A, _ = decaying(*shape, decay=0.7)
    U, s, Vt = rs.rsvd(A, 8, comm=SELF, method="krylov", work_dtype=work_dtype)
    Ur, sr, Vtr = np.linalg.svd(A, full_matrices=False)
    # float32: products and local QRs round at u32 ~ 6e-8 relative to ||A|| = 1
    tol, vtol, otol = (1e-10, 1e-8, 1e-12) if work_dtype is None else (1e-5, 1e-4, 1e-6)
    np.testing.assert_allclose(s, sr[:8], rtol=tol)
    np.testing.assert_allclose(np.abs(np.sum(U * Ur[:, :8], axis=0)), 1.0, atol=vtol)
    np.testing.assert_allclose(np.abs(np.sum(Vt * Vtr[:8], axis=1)), 1.0, atol=vtol)
    np.testing.assert_allclose(U.T @ U, np.eye(8), atol=otol)
    assert U.dtype == np.float64 and s.dtype == np.float64 and Vt.dtype == np.float64


@pytest.mark.parametrize("work_dtype", [None, np.float32])
def test_krylov_beats_subspace_iteration_on_a_flat_spectrum(work_dtype):
    """Same l and q (the same number of products with A and A^T): the Krylov space
    holds the Chebyshev polynomial, so its rank-k approximation is closer to optimal."""
    A, s_true = flat(1500, 400)
    k, l, q = 20, 30, 3
    errs = {}
    for method in ("subspace", "krylov"):
        U, s, Vt = rs.rsvd(A, k, oversample=l - k, power_iters=q, comm=SELF, method=method,
                           work_dtype=work_dtype)
        errs[method] = np.linalg.norm(A - (U * s) @ Vt, 2) / s_true[k] - 1
        assert np.all(s <= s_true[:k] * (1 + 1e-5))
    assert errs["krylov"] < 0.01 and errs["krylov"] < errs["subspace"] / 3, errs


@pytest.mark.parametrize("work_dtype", [None, np.float32])
def test_krylov_depth_is_capped_by_the_smaller_dimension(work_dtype):
    """l = 18 and q = 10 would need 198 columns of a 300 x 40 matrix: the basis stops at
    40 columns (18 + 18 + 4), which span range(A), so the result is exact to rounding."""
    A, _ = flat(300, 40)
    U, s, Vt = rs.rsvd(A, 8, power_iters=10, comm=SELF, method="krylov", work_dtype=work_dtype)
    sr = np.linalg.svd(A, compute_uv=False)
    np.testing.assert_allclose(s, sr[:8], rtol=1e-10 if work_dtype is None else 1e-5)


@pytest.mark.parametrize("work_dtype", [None, np.float32])
@pytest.mark.parametrize("n, d, r, rank", [(300, 40, 3, 5), (500, 60, 21, 30), (300, 40, 0, 5)])
def test_krylov_returns_rank_triplets_when_the_range_is_exhausted(work_dtype, n, d, r, rank):
    """The Krylov space of a rank-r matrix stops growing: the blocks after it would be
    directions already in the basis (for A = 0 exactly the same ones)."""
    A = numerically_low_rank(n, d, r) if r else np.zeros((n, d))
    U, s, Vt = rs.rsvd(A, rank, comm=SELF, method="krylov", work_dtype=work_dtype)
    assert U.shape == (n, rank) and s.shape == (rank,) and Vt.shape == (rank, d)
    sr = np.linalg.svd(A, compute_uv=False)
    u = 1e-13 if work_dtype is None else 1e-6
    np.testing.assert_allclose(s[:r], sr[:r], rtol=100 * u)
    scale = max(sr[0], 1.0)
    assert np.all(s[r:] <= u * scale) and np.all(np.diff(s) <= 0) and np.all(s >= 0)
    np.testing.assert_allclose(U.T @ U, np.eye(rank), atol=10 * u)
    np.testing.assert_allclose(Vt @ Vt.T, np.eye(rank), atol=10 * u)
    assert np.linalg.norm(A - (U * s) @ Vt, 2) <= 10 * u * scale
    if r == 0:
        assert np.all(s == 0.0)


def test_krylov_complex():
    A, _ = decaying(400, 50, decay=0.5, dtype=np.complex128)
    sr = np.linalg.svd(A, compute_uv=False)
    for wd, tol in ((None, 1e-9), (np.float32, 1e-5)):
        U, s, Vt = rs.rsvd(A, 6, comm=SELF, method="krylov", work_dtype=wd)
        np.testing.assert_allclose(s, sr[:6], rtol=tol)
        assert U.dtype == np.complex128


@pytest.mark.parametrize("orth", ["tsqr", "rcholqr"])
def test_subspace_iteration_in_float32(orth):
    A, _ = decaying(800, 60, decay=0.7)
    U, s, Vt = rs.rsvd(A.astype(np.float32), 8, comm=SELF, orth=orth, work_dtype=np.float32)
    np.testing.assert_allclose(s, np.linalg.svd(A, compute_uv=False)[:8], rtol=1e-5)
    np.testing.assert_allclose(U.T @ U, np.eye(8), atol=1e-6)


@pytest.mark.parametrize("method", ["subspace", "krylov"])
def test_float32_work_makes_no_copy_of_a_float32_matrix(method):
    """Peak of the allocations during the call (tracemalloc sees NumPy's buffers): with
    work_dtype=float32 only the thin iterates, with the default a float64 copy of A."""
    import tracemalloc

    A = flat(3000, 1000)[0].astype(np.float32)
    rs.rsvd(A[:100, :50], 4, comm=SELF)                     # imports and caches outside the count
    peaks = {}
    for wd in (None, np.float32):
        tracemalloc.start()
        rs.rsvd(A, 16, power_iters=4, comm=SELF, method=method, work_dtype=wd)
        peaks[wd] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peaks[None] > 2 * A.nbytes                  # the float64 copy of A
    assert peaks[np.float32] < 0.5 * A.nbytes, peaks


def test_krylov_and_work_dtype_bad_inputs():
    A = np.ones((50, 10))
    with pytest.raises(ValueError, match="method"):
        rs.rsvd(A, 2, comm=SELF, method="lanczos")
    with pytest.raises(ValueError, match="orth='rcholqr' applies to method='subspace'"):
        rs.rsvd(A, 2, comm=SELF, method="krylov", orth="rcholqr")
    with pytest.raises(TypeError, match="work_dtype"):
        rs.rsvd(A, 2, comm=SELF, work_dtype=np.int32)
    with np.errstate(over="ignore", invalid="ignore"):
        with pytest.raises(ValueError, match="overflowed in work_dtype=float32"):
            rs.rsvd(A * 1e39, 2, comm=SELF, method="krylov", work_dtype=np.float32)   # beyond float32


# ------------------------------------------------------------------ warm-started rsvd


def _flat(m, n, seed=0, p=None):
    """Slowly decaying spectrum plus a noise bulk (the hard case of LIFT's weights)."""
    g = np.random.default_rng(seed)
    p = p or min(m, n)
    U, _ = np.linalg.qr(g.standard_normal((m, p)))
    V, _ = np.linalg.qr(g.standard_normal((n, p)))
    return (U * (1.0 + np.arange(p)) ** -0.5) @ V.T + 0.01 * g.standard_normal((m, n)) / np.sqrt(n)


def _rank_r(A, r):
    U, s, Vt = np.linalg.svd(A, full_matrices=False)
    return (U[:, :r] * s[:r]) @ Vt[:r]


@pytest.mark.parametrize("work_dtype", [None, np.float32])
def test_rsvd_warm_after_a_small_move_converges_in_two_blocks(work_dtype):
    A = _flat(400, 300, seed=1)
    r, l = 12, 24
    Vt0 = np.linalg.svd(A, full_matrices=False)[2]
    g = np.random.default_rng(2)
    A2 = A + 1e-4 * np.linalg.norm(A) * g.standard_normal(A.shape) / np.sqrt(A.size)
    U, s, Vt, info = rs.rsvd_warm(A2, r, Vt0[:l].T, work_dtype=work_dtype, tol=1e-3)
    assert info.converged and info.blocks == 2 and info.estimate <= 1e-3
    ref = _rank_r(A2, r)
    err = np.linalg.norm((U * s) @ Vt - ref) / np.linalg.norm(ref)
    assert err <= 1e-3                                    # the estimate's promise, against LAPACK
    np.testing.assert_allclose(s, np.linalg.svd(A2, compute_uv=False)[:r], rtol=2e-4)
    np.testing.assert_allclose(U.T @ U, np.eye(r), atol=1e-5)
    assert info.start.shape == (300, l) and U.dtype == np.float64


def test_rsvd_warm_estimate_tracks_the_true_change_and_refuses_a_far_start():
    A = _flat(300, 260, seed=3)
    r, l = 10, 20
    Vt0 = np.linalg.svd(A, full_matrices=False)[2]
    ref = _rank_r(A, r)
    # a start unrelated to A: not accepted after 2 blocks at a strict tol
    far = np.random.default_rng(5).standard_normal((260, l))
    U, s, Vt, info = rs.rsvd_warm(A, r, far, max_blocks=2, tol=1e-8)
    assert not info.converged and info.blocks == 2 and info.estimate > 1e-8
    # the exact subspace: the first Rayleigh-Ritz step is exact, the change is rounding
    U, s, Vt, info = rs.rsvd_warm(A, r, Vt0[:l].T, tol=1e-6)
    assert info.converged and info.change < 1e-10
    assert np.linalg.norm((U * s) @ Vt - ref) <= 1e-10 * np.linalg.norm(ref)
    # more blocks on a rough start: the estimate bounds the true error it reports on
    U, s, Vt, info = rs.rsvd_warm(A, r, far, max_blocks=8, tol=1e-4)
    err = np.linalg.norm((U * s) @ Vt - ref) / np.linalg.norm(ref)
    assert info.converged and err <= 10 * info.estimate + 1e-12


def test_rsvd_warm_exhausted_range_and_bad_inputs():
    g = np.random.default_rng(0)
    A = g.standard_normal((50, 4)) @ g.standard_normal((4, 30))      # rank 4
    U, s, Vt, info = rs.rsvd_warm(A, 3, g.standard_normal((30, 4)))
    assert info.converged
    np.testing.assert_allclose(s, np.linalg.svd(A, compute_uv=False)[:3], rtol=1e-10)
    S = g.standard_normal((30, 6))
    for kwargs, msg in (({"start": S[:, :2]}, "need rank = 3 <= l"),
                        ({"start": S[:20]}, r"start must have shape \(d, l\) = \(30, l\)"),
                        ({"start": np.full((30, 6), np.nan)}, "NaN or Inf"),
                        ({"start": S, "max_blocks": 1}, "max_blocks"),
                        ({"start": S, "tol": 0.0}, "tol")):
        with pytest.raises(ValueError, match=msg):
            rs.rsvd_warm(A, 3, **kwargs)
    with pytest.raises(ValueError, match="NaN"):
        rs.rsvd_warm(np.full((5, 30), np.nan), 3, S)
