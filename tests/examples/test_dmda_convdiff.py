"""The petsc4py DMDA example (docs/examples/dmda_convdiff.py): its matrix and both KSPs."""

import importlib.util
import re

import numpy as np
import pytest
import scipy.sparse as sp

from rsketch.testing.launch import ROOT, run_mpi

pytest.importorskip("petsc4py")
EXAMPLE = ROOT / "docs" / "examples" / "dmda_convdiff.py"


def _example():
    spec = importlib.util.spec_from_file_location("dmda_convdiff", EXAMPLE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def reference(n, dim, peclet):
    """The same operator from Kronecker products (natural ordering, x fastest)."""
    h = 1.0 / (n + 1)
    beta = peclet * np.array([1.0, 0.5, 1.0 / 3.0])[:dim]
    eye = sp.identity(n, format="csr")
    lap = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n))
    back = sp.diags([1.0, -1.0], [0, -1], shape=(n, n))          # u_i - u_{i-1}
    terms = []
    for d in range(dim):
        T = lap + h * beta[d] * back
        factors = [eye] * dim
        factors[d] = T
        K = factors[-1]
        for f in factors[-2::-1]:
            K = sp.kron(K, f)
        terms.append(K)
    return sum(terms).tocsr()


@pytest.mark.parametrize("n, dim", [(5, 3), (7, 2)])
def test_assembled_matrix_equals_kronecker_reference(n, dim):
    from petsc4py import PETSc

    mod = _example()
    da = mod.create_dmda(n, dim, comm=PETSc.COMM_SELF)
    A = mod.assemble(da, peclet=30.0)
    indptr, indices, data = A.getValuesCSR()
    ours = sp.csr_matrix((data, indices, indptr), shape=A.getSize())
    ref = reference(n, dim, 30.0)
    assert sp.linalg.norm(ours - ref) <= 1e-14 * sp.linalg.norm(ref)


CHECK_ROWS = """
import importlib.util, sys
import numpy as np, scipy.sparse as sp
sys.argv = sys.argv[:1]
spec = importlib.util.spec_from_file_location("ex", {path!r}); ex = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ex)
from tests.examples.test_dmda_convdiff import reference
from petsc4py import PETSc
n, dim = 6, 3
da = ex.create_dmda(n, dim)
A = ex.assemble(da, 30.0)
lo, hi = A.getOwnershipRange()
ao = da.getAO()
indptr, indices, data = A.getValuesCSR()
rows_nat = ao.petsc2app(np.arange(lo, hi, dtype=PETSc.IntType))
cols_nat = ao.petsc2app(indices.astype(PETSc.IntType))
mine = sp.csr_matrix((data, cols_nat, indptr), shape=(hi - lo, n ** dim)).toarray()
ref = reference(n, dim, 30.0).toarray()[rows_nat]
# one printer: lines of several ranks on one stdout can interleave mid-line
diffs = PETSc.COMM_WORLD.tompi4py().gather(float(np.abs(mine - ref).max()), root=0)
for r, d in enumerate(diffs or []):
    print("rank", r, "diff", d, flush=True)
"""


@pytest.mark.mpi
@pytest.mark.parametrize("nprocs", [2, 3])
def test_distributed_rows_equal_the_reference(nprocs):
    script = CHECK_ROWS.format(path=str(EXAMPLE))
    res = run_mpi(nprocs, ["-c", script], timeout=180)
    assert res.returncode == 0, res.stderr[-3000:]
    diffs = [float(v) for v in re.findall(r"diff (\S+)", res.stdout)]
    # entries are O(1): the rows agree to rounding (the diagonal sums h·β in another order)
    assert len(diffs) == nprocs and max(diffs) <= 1e-13, res.stdout


@pytest.mark.mpi
@pytest.mark.parametrize("nprocs", [1, 2, 3])
def test_gmres_and_rgmres_switched_by_options(nprocs):
    common = [str(EXAMPLE), "-n", "12", "-dim", "3", "-peclet", "50", "-pc_type", "bjacobi",
              "-ksp_gmres_restart", "40", "-ksp_rtol", "1e-9", "-ksp_converged_reason",
              "-ksp_pc_side", "right"]          # the true residual is what both test
    its = {}
    for name, ksp in (("gmres", ["-ksp_type", "gmres"]),
                      ("rgmres", ["-ksp_type", "python", "-ksp_python_type",
                                  "solvers.ksp_python.RGMRES", "-ksp_view"])):
        res = run_mpi(nprocs, [*common, *ksp], timeout=300)
        assert res.returncode == 0, res.stderr[-3000:]
        out = res.stdout
        assert "Linear solve converged due to CONVERGED_RTOL" in out, out
        m = re.search(r"(\d+) iterations, reason (\d+), true relres (\S+),", out)
        assert m and float(m.group(3).rstrip(",")) <= 1e-9, out
        its[name] = int(m.group(1))
        if name == "rgmres":
            assert "randomized GMRES (rsketch): restart=40" in out
    assert abs(its["rgmres"] - its["gmres"]) <= max(5, 0.25 * its["gmres"]), its
