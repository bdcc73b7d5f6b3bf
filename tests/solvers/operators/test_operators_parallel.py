"""DistCSR, halo exchange, generators and preconditioners on any number of ranks.

Each test compares the distributed result with SciPy on the global matrix (or with the
serial build on COMM_SELF), and the error tests give bad input to one rank only.
"""

import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp
from mpi4py import MPI

import rsketch as rs
from rsketch.testing.distributed import assert_close_global, local_rows
from solvers import BlockJacobi, DistCSR, Jacobi, as_operator, load_matrix_market, make_problem


def random_sparse(n, density, seed, dtype=np.float64):
    A = sp.random(n, n, density=density, format="csr", random_state=seed)
    if np.dtype(dtype).kind == "c":
        A = A + 1j * sp.random(n, n, density=density, format="csr", random_state=seed + 1)
    return (A + 4 * sp.eye(n)).astype(dtype).tocsr()


def last_rank(comm):
    return comm.Get_size() - 1


@pytest.fixture
def shared_dir(comm):
    """A directory every rank sees (the ranks' tmp_path differ)."""
    path = comm.bcast(tempfile.mkdtemp(prefix="rsketch-ops-") if comm.rank == 0 else None, root=0)
    yield Path(path)
    comm.Barrier()
    if comm.rank == 0:
        shutil.rmtree(path, ignore_errors=True)


MATRICES = {
    "random": lambda: random_sparse(97, 0.05, 1),
    "dense_rows": lambda: (random_sparse(64, 0.02, 2) + sp.csr_matrix(
        (np.ones(64), (np.full(64, 5), np.arange(64))), shape=(64, 64))).tocsr(),
    "banded": lambda: sp.diags([np.ones(79), 3 * np.ones(80), -np.ones(77)], [-1, 0, 3], format="csr"),
    "complex": lambda: random_sparse(50, 0.1, 3, np.complex128),
    "tiny": lambda: random_sparse(2, 1.0, 4),     # fewer rows than ranks on 3 ranks
}


@pytest.mark.parametrize("name", MATRICES)
def test_matvec_equals_global_scipy_product(name, comm):
    A = MATRICES[name]()
    n = A.shape[0]
    D = DistCSR.from_global(A, comm)
    g = np.random.default_rng(5)
    x = g.standard_normal(n)
    X = g.standard_normal((n, 3)) + (1j * g.standard_normal((n, 3)) if A.dtype.kind == "c" else 0)
    lay = D.layout
    np.testing.assert_allclose(D.matvec(local_rows(x, comm)), (A @ x)[lay.start:lay.stop], rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(D.matvec(local_rows(X, comm)), (A @ X)[lay.start:lay.stop], rtol=1e-13, atol=1e-13)
    op = as_operator(D, comm)
    np.testing.assert_allclose(op.matvec(local_rows(x, comm)), (A @ x)[lay.start:lay.stop], rtol=1e-13, atol=1e-13)
    np.testing.assert_array_equal(D.diagonal(), A.diagonal()[lay.start:lay.stop])
    assert abs(D.to_scipy() - A).max() == 0


def test_halo_sends_exactly_the_ghost_values(comm):
    """Values sent per product = distinct off-rank column indices, counted from the global matrix."""
    A = MATRICES["random"]()
    n, size, rank = A.shape[0], comm.Get_size(), comm.Get_rank()
    D = DistCSR.from_global(A, comm)
    lay = D.layout
    ghosts = []                                  # independent count, for every rank
    for r in range(size):
        lo, hi = lay.offsets[r], lay.offsets[r] + lay.counts[r]
        cols = np.unique(A[lo:hi].indices)
        ghosts.append(cols[(cols < lo) | (cols >= hi)])
    np.testing.assert_array_equal(D.halo.ghosts, ghosts[rank])
    # what this rank must send to each other rank: its rows among that rank's ghosts
    expected_send = {s: int(((ghosts[s] >= lay.start) & (ghosts[s] < lay.stop)).sum())
                     for s in range(size) if s != rank}
    expected_send = {s: c for s, c in expected_send.items() if c}
    assert dict(zip(D.halo.send_ranks.tolist(), D.halo.send_counts.tolist())) == expected_send
    D.matvec(local_rows(np.ones(n), comm))
    D.matvec(local_rows(np.ones((n, 2)), comm))
    assert D.halo.values_sent == 3 * sum(expected_send.values())
    assert D.halo.messages_sent == 2 * len(expected_send)
    total_sent = comm.allreduce(D.halo.values_sent)
    assert total_sent == 3 * sum(g.size for g in ghosts)
    if size > 1:
        assert D.halo.n_ghosts < n - lay.local_size or n - lay.local_size == 0


def test_tridiagonal_halo_is_two_values(comm):
    n = 60
    A = sp.diags([-np.ones(n - 1), 2 * np.ones(n), -np.ones(n - 1)], [-1, 0, 1], format="csr")
    D = DistCSR.from_global(A, comm)
    rank, size = comm.Get_rank(), comm.Get_size()
    assert D.halo.n_ghosts == (rank > 0) + (rank < size - 1)


def test_uneven_custom_layout(comm):
    rank, size = comm.Get_rank(), comm.Get_size()
    counts = [7 * (r + 1) for r in range(size)]
    n = sum(counts)
    A = random_sparse(n, 0.1, 6)
    lo = sum(counts[:rank])
    D = DistCSR.from_local_rows(A[lo:lo + counts[rank]], n, comm)
    assert D.layout.counts.tolist() == counts
    x = np.random.default_rng(2).standard_normal(n)
    np.testing.assert_allclose(D.matvec(x[lo:lo + counts[rank]]), (A @ x)[lo:lo + counts[rank]], rtol=1e-13)


@pytest.mark.parametrize("name,n,params", [
    ("convdiff3d", 5, {"peclet": 70.0, "scheme": "upwind"}),
    ("convdiff2d", 9, {"peclet": 30.0, "wind": (1.0, -0.5), "rhs": "exact"}),
    ("poisson3d", 4, {}),
    ("poisson2d", 1, {}),
])
def test_generators_build_exactly_the_serial_rows(name, n, params, comm):
    dist = make_problem(name, n, comm, **params)
    serial = make_problem(name, n, MPI.COMM_SELF, **params)
    lay = dist.layout
    assert lay == rs.Layout(n ** serial.params["dim"], comm)
    S = serial.A.to_scipy()[lay.start:lay.stop]
    L = dist.A.local
    np.testing.assert_array_equal(L.indptr, S.indptr)
    np.testing.assert_array_equal(L.indices, S.indices)
    np.testing.assert_array_equal(L.data, S.data)
    np.testing.assert_allclose(dist.b, serial.b[lay.start:lay.stop], rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(dist.A.matvec(local_rows(np.arange(lay.n, dtype=float), comm)),
                               serial.A.matvec(np.arange(lay.n, dtype=float))[lay.start:lay.stop], rtol=1e-14)


def test_block_jacobi_is_the_block_diagonal_inverse(comm):
    prob = make_problem("convdiff2d", 8, comm, peclet=50.0)
    A = make_problem("convdiff2d", 8, MPI.COMM_SELF, peclet=50.0).A.to_scipy().toarray()
    lay = prob.layout
    x = np.random.default_rng(3).standard_normal(lay.n)
    blocks = [slice(o, o + c) for o, c in zip(lay.offsets, lay.counts)]
    ref = np.concatenate([np.linalg.solve(A[s, s], x[s]) if s.stop > s.start else x[s] for s in blocks])
    np.testing.assert_allclose(BlockJacobi(prob.A, sub="lu").matvec(local_rows(x, comm)),
                               ref[lay.start:lay.stop], rtol=1e-10)
    np.testing.assert_allclose(Jacobi(prob.A).matvec(local_rows(x, comm)),
                               (x / np.diag(A))[lay.start:lay.stop], rtol=1e-15)


def test_matrix_market_on_p_ranks(shared_dir, comm):
    A = random_sparse(41, 0.1, 8)
    if comm.rank == 0:
        scipy.io.mmwrite(shared_dir / "a.mtx", A)
    comm.Barrier()
    D = load_matrix_market(shared_dir / "a.mtx", comm)
    assert D.layout == rs.Layout(41, comm)
    np.testing.assert_allclose(D.to_scipy().toarray(), A.toarray(), rtol=1e-15)


# --------------------------------------------------------- bad input on one rank raises everywhere


def test_nan_on_one_rank_raises_on_all(comm):
    A = random_sparse(30, 0.2, 9)
    lay = rs.Layout(30, comm)
    rows = A[lay.start:lay.stop].tolil()
    if comm.rank == last_rank(comm):
        rows[0, 0] = np.nan
    with pytest.raises(ValueError, match="csr_local contains NaN or Inf"):
        DistCSR.from_local_rows(rows.tocsr(), 30, comm)


def test_column_out_of_range_on_one_rank_raises_on_all(comm):
    lay = rs.Layout(12, comm)
    cols = np.arange(lay.start, lay.stop)
    if comm.rank == last_rank(comm):
        cols = cols.copy()
        cols[-1] = 40
    rows = sp.csr_matrix((np.ones(cols.size), cols, np.arange(cols.size + 1)), shape=(cols.size, 12))
    with pytest.raises(ValueError, match="column index 40 out of range"):
        DistCSR.from_local_rows(rows, 12, comm)


def test_wrong_local_sizes_raise_on_all(comm):
    lay = rs.Layout(12, comm)
    extra = 1 if comm.rank == last_rank(comm) else 0
    rows = sp.eye(lay.local_size + extra, 12, k=lay.start, format="csr")
    with pytest.raises(ValueError, match="add up to 13, but the matrix is 12 x 12"):
        DistCSR.from_local_rows(rows, 12, comm)


def test_matvec_check_on_one_bad_rank_raises_on_all(comm):
    D = DistCSR.from_global(random_sparse(20, 0.2, 10), comm)
    x = np.ones(D.layout.local_size)
    if comm.rank == last_rank(comm) and x.size:
        x[0] = np.inf
    with pytest.raises(ValueError, match="x_local contains NaN or Inf"):
        D.matvec(x, check=True)


def test_matvec_wrong_size_without_check_poisons_neighbours_and_never_hangs(comm):
    n = 30
    A = sp.diags([-np.ones(n - 1), 2 * np.ones(n), -np.ones(n - 1)], [-1, 0, 1], format="csr")
    D = DistCSR.from_global(A, comm)
    bad = last_rank(comm)
    x = np.ones(D.layout.local_size + (1 if comm.rank == bad else 0))
    if comm.rank == bad:
        with pytest.raises(ValueError, match="this rank owns"):
            D.matvec(x)
    else:
        y = D.matvec(x)
        if comm.rank == bad - 1:                 # the bad rank's neighbour got NaN, not garbage
            assert np.isnan(y[-1])
    comm.Barrier()


def test_singular_block_on_one_rank_raises_on_all(comm):
    n = 6 * comm.Get_size()
    lay = rs.Layout(n, comm)
    diag = np.full(n, 2.0)
    diag[lay.offsets[-1]] = 0.0              # a zero row and column in the last rank's block only
    A = sp.diags(diag, format="csr")
    with pytest.raises(ValueError, match=f"on rank {last_rank(comm)} failed"):
        BlockJacobi(A, comm=comm, sub="lu")
    with pytest.raises(ValueError, match=f"zero diagonal entries on rank {last_rank(comm)}"):
        Jacobi(A, comm=comm)


def test_malformed_matrix_market_raises_on_all(shared_dir, comm):
    if comm.rank == 0:
        (shared_dir / "bad.mtx").write_text("%%MatrixMarket matrix coordinate real general\n4 4 3\n1 1 1\n")
    comm.Barrier()
    with pytest.raises(ValueError, match="cannot read a matrix from Matrix Market file"):
        load_matrix_market(shared_dir / "bad.mtx", comm)


def test_distcsr_equals_petsc_matmult(comm):
    PETSc = pytest.importorskip("petsc4py.PETSc")
    from solvers.operators.petsc import distcsr_to_mat

    prob = make_problem("convdiff3d", 5, comm, peclet=40.0)
    mat = distcsr_to_mat(prob.A)
    x = np.random.default_rng(4).standard_normal(prob.layout.n)
    xv, yv = mat.createVecs()
    xv.getArray()[:] = local_rows(x, comm)
    mat.mult(xv, yv)
    np.testing.assert_allclose(yv.getArray(), prob.A.matvec(local_rows(x, comm)), rtol=1e-14)
    op = as_operator(mat, comm)
    assert op.layout == prob.layout
    np.testing.assert_allclose(op.matvec(local_rows(x, comm)), prob.A.matvec(local_rows(x, comm)), rtol=1e-14)
    assert PETSc.ScalarType == np.float64


def test_block_jacobi_lu_equals_petsc_bjacobi_and_ksp_equals_spsolve(comm):
    """Our blocks are PETSc's blocks (one per rank): M⁻¹x agrees with PCBJACOBI + LU / ILU(0)."""
    PETSc = pytest.importorskip("petsc4py.PETSc")
    import scipy.sparse.linalg as spla

    from solvers.operators.petsc import array_to_vec, distcsr_to_mat

    prob = make_problem("convdiff2d", 9, comm, peclet=60.0)
    mat = distcsr_to_mat(prob.A)
    x = np.random.default_rng(6).standard_normal(prob.layout.n)
    xv, yv = array_to_vec(local_rows(x, comm).copy(), comm, prob.layout), mat.createVecLeft()
    for sub in ("lu", "ilu"):                # PETSc's sub "ilu" is ILU(0), our default
        opts = PETSc.Options()
        opts["rsk_test_sub_pc_type"] = sub
        pc = PETSc.PC().create(comm=comm)
        pc.setOptionsPrefix("rsk_test_")
        pc.setOperators(mat)
        pc.setType("bjacobi")
        pc.setFromOptions()
        pc.setUp()
        pc.apply(xv, yv)
        del opts["rsk_test_sub_pc_type"]
        ours = BlockJacobi(prob.A, sub="lu" if sub == "lu" else "ilu0")
        # norm-relative: an entry far below the vector's norm may differ by 1e-12 relative
        # (LU pivot order), which says nothing about the preconditioner.
        assert_close_global(ours.matvec(local_rows(x, comm)), yv.getArray(), comm, rtol=1e-12)
        pc.destroy()
    ksp = PETSc.KSP().create(comm=comm)
    ksp.setOperators(mat)
    ksp.setType("gmres")
    ksp.setTolerances(rtol=1e-12, atol=0.0, max_it=1000)
    b = array_to_vec(prob.b.copy(), comm, prob.layout)
    sol = mat.createVecRight()
    ksp.solve(b, sol)
    assert ksp.getConvergedReason() > 0
    serial = make_problem("convdiff2d", 9, MPI.COMM_SELF, peclet=60.0)
    ref = spla.spsolve(serial.A.to_scipy().tocsc(), serial.b)
    assert_close_global(sol.getArray(), ref[prob.layout.start:prob.layout.stop], comm, rtol=1e-9)
    for obj in (ksp, mat, xv, yv, b, sol):
        obj.destroy()


def test_petsc_mat_on_another_communicator(comm):
    PETSc = pytest.importorskip("petsc4py.PETSc")
    from solvers.operators.petsc import operator_from_mat

    mat = PETSc.Mat().createAIJ(size=(2, 2), nnz=1, comm=MPI.COMM_SELF)
    mat.setValue(0, 0, 1.0)
    mat.setValue(1, 1, 1.0)
    mat.assemble()
    if comm.Get_size() == 1:                 # COMM_SELF and COMM_WORLD are congruent
        np.testing.assert_array_equal(operator_from_mat(mat, comm).matvec(np.ones(2)), np.ones(2))
    else:
        with pytest.raises(ValueError, match="another communicator"):
            operator_from_mat(mat, comm)
    mat.destroy()


def test_unstable_ilu0_factors_are_refused_on_every_rank(comm):
    """ILU(0) of convection-dominated blocks amplifies by 1e47 (1 rank) to 1e18 (3 ranks):
    refused on every rank (the decision rides in the setup's one reduction); the exact
    block solves are accepted, with the same growth on every rank."""
    prob = make_problem("convdiff2d", 90, comm, peclet=1e4)
    with pytest.raises(ValueError, match=r"ILU\(0\) of the diagonal block on rank \d is unstable"):
        BlockJacobi(prob.A)
    M = BlockJacobi(prob.A, sub="lu")
    assert M.growth < 1e4
    assert M.growth == comm.bcast(M.growth, root=0)
