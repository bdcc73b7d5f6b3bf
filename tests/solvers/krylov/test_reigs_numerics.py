"""reigs on nonnormal matrices, against ``scipy.linalg.eig`` of the dense matrix.

A highly nonnormal matrix has eigenvalues whose condition number
``κ(λ) = ‖l‖‖r‖/|lᴴr|`` (left and right eigenvectors) is huge: a small residual
``‖Ax − λx‖`` then only says that ``λ`` is an eigenvalue of a nearby matrix (a
pseudo-eigenvalue), possibly far from every eigenvalue of ``A``. reigs must report that,
and its restarts must not fail on the rounding such eigenvalues suffer when the Schur form
is reordered.
"""

import json
import textwrap

import numpy as np
import pytest
import scipy.linalg as sla
import scipy.sparse as sp
from mpi4py import MPI

from rsketch.testing.launch import run_mpi
from solvers import reigs
from tests.solvers.cases import system

SELF = MPI.COMM_SELF


def leslie(n, fertility, survival=0.9):
    """Leslie matrix: fertilities of the ages ``n // 2`` and ``n − 1`` in the first row,
    survival rates on the subdiagonal. Small fertilities make it close to a Jordan block:
    its eigenvalues (``≈ fertility^(1/n)``) have condition numbers up to 1e10."""
    A = np.zeros((n, n))
    A[0, n // 2] = A[0, n - 1] = fertility
    A[np.arange(1, n), np.arange(n - 1)] = survival
    return A


def dense_eig(A):
    """Eigenvalues and their condition numbers, from LAPACK's left and right eigenvectors."""
    w, vl, vr = sla.eig(A, left=True, right=True)
    cond = np.linalg.norm(vl, axis=0) * np.linalg.norm(vr, axis=0) / np.abs(np.sum(vl.conj() * vr, axis=0))
    return w, cond


def nearest(ev, lam):
    i = np.argmin(np.abs(ev - lam))
    return i, abs(ev[i] - lam) / abs(lam)


def test_pseudo_eigenvalues_of_a_leslie_matrix_are_reported():
    A = leslie(12, 1e-12)
    ev, cond = dense_eig(A)
    res = reigs(sp.csr_matrix(A), 2, m=11, comm=SELF)
    # the premise: residuals at tol, eigenvalues 10-25 % away from the true ones
    assert (res.residual_norms <= 1e-8).all()
    errors = np.array([nearest(ev, lam)[1] for lam in res.eigenvalues])
    assert errors.max() > 0.05
    # what the result says: condition estimates of the right size (here 1e9 against 7.6e9),
    # error bounds of the size of the actual errors (first order: an estimate, not a
    # guarantee), and a warning naming the ill-conditioned eigenvalues
    true_cond = np.array([cond[nearest(ev, lam)[0]] for lam in res.eigenvalues])
    assert (res.condition >= true_cond / 100).all() and (res.condition <= true_cond * 1.5).all()
    assert (res.error_bounds >= errors / 100).all() and (res.error_bounds > 1e3 * 1e-8).all()
    np.testing.assert_allclose(res.error_bounds, res.condition * res.residual_norms)
    assert any("ill-conditioned" in w for w in res.warnings), res.warnings


def test_well_conditioned_eigenvalues_have_no_warning():
    A, _ = system("poisson2d", 14)                 # symmetric: κ(λ) = 1
    res = reigs(A, 3, which="LM", m=30, comm=SELF)
    assert res.converged and not res.warnings
    # 1 up to the distortion of the sketched inner product the Ritz problem lives in
    assert (res.condition >= 1.0 - 1e-12).all() and (res.condition <= 1.5).all()
    assert (res.error_bounds <= 1e-8).all()


@pytest.mark.parametrize("n,fertility,k,m", [(30, 1e-8, 2, 20), (16, 1e-4, 4, 15)])
def test_restart_of_ill_conditioned_ritz_values_does_not_fail(n, fertility, k, m):
    """These failed with SciPy's "Leading eigenvalues do not satisfy sort condition": the
    Schur reordering moved an ill-conditioned Ritz value across the selection threshold."""
    A = leslie(n, fertility)
    ev, _ = dense_eig(A)
    res = reigs(sp.csr_matrix(A), k, m=m, comm=SELF)
    for lam, bound in zip(res.eigenvalues, res.error_bounds):
        assert nearest(ev, lam)[1] <= max(bound, 1e-8) or not res.converged


SR_ON_THREE_RANKS = textwrap.dedent("""
    import json
    import numpy as np, scipy.sparse as sp
    from mpi4py import MPI
    from solvers import DistCSR, reigs
    comm = MPI.COMM_WORLD
    n = 40      # Grcar matrix: -1 below the diagonal, 1 on it and on three above
    A = sp.diags([-np.ones(n - 1)] + [np.ones(n - j) for j in range(4)], [-1, 0, 1, 2, 3], format="csr")
    res = reigs(DistCSR.from_global(A, comm), 1, which="SR", m=12, comm=comm)
    out = {"eigenvalues": [[complex(z).real, complex(z).imag] for z in res.eigenvalues],
           "converged": res.converged, "reason": res.reason, "warnings": res.warnings}
    every = comm.gather(json.dumps(out, sort_keys=True), root=0)
    if comm.rank == 0:
        print("same on every rank:", len(set(every)) == 1)
        print("result:", every[0], flush=True)
""")


@pytest.mark.mpi
def test_smallest_real_part_without_shift_on_three_ranks():
    """which="SR" on 3 ranks used to abort with SciPy's raw sort-condition error."""
    res = run_mpi(3, ["-c", SR_ON_THREE_RANKS], timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "sort condition" not in res.stderr
    assert "same on every rank: True" in res.stdout, res.stdout
    out = json.loads(res.stdout.split("result:", 1)[1])
    n = 40
    A = sp.diags([-np.ones(n - 1)] + [np.ones(n - j) for j in range(4)], [-1, 0, 1, 2, 3]).toarray()
    ev, cond = dense_eig(A)
    sr = ev[np.argmin(ev.real)]                  # a conjugate pair of condition 6.7e4
    assert out["converged"], out
    lam = complex(*out["eigenvalues"][0])
    assert abs(lam.real - sr.real) <= 1e-4 * abs(sr) and abs(abs(lam.imag) - abs(sr.imag)) <= 1e-4 * abs(sr)
    assert any("ill-conditioned" in w for w in out["warnings"])
