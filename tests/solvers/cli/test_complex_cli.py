"""``rsketch solve`` / ``rsketch eigs`` with complex Matrix Market input: read as complex, solved
as complex, never cast to real (a ``ComplexWarning`` fails these tests)."""

import json
import warnings

import numpy as np
import pytest
import scipy.io
import scipy.linalg as sla
from mpi4py import MPI

from rsketch.cli import main
from rsketch.testing.launch import run_mpi
from solvers import DistCSR
from solvers.cli.common import true_residual_norms
from tests.solvers.cases import complex_system, system


@pytest.fixture(autouse=True)
def no_silent_casts():
    with warnings.catch_warnings():
        warnings.simplefilter("error", np.exceptions.ComplexWarning)
        yield


@pytest.fixture
def files(tmp_path):
    A, b = complex_system(12)
    K, _ = system("convdiff2d", 12, peclet=20.0)
    paths = {name: tmp_path / f"{name}.mtx" for name in ("A", "b", "K")}
    scipy.io.mmwrite(str(paths["A"]), A)
    scipy.io.mmwrite(str(paths["b"]), b.reshape(-1, 1))
    scipy.io.mmwrite(str(paths["K"]), K)
    return A, b, K, paths


def _table(out):
    return {line.split()[0]: line.split() for line in out.splitlines()
            if line.startswith(("rgmres ", "gmres(", "rfom "))}


@pytest.mark.parametrize("method", [["--method", "rgmres"], ["--method", "gmres", "--ortho", "mgs"],
                                    ["--method", "rfom", "--monitor"], ["--compare"],
                                    ["--basis-dtype", "float32", "--pc", "bjacobi"]])
def test_complex_matrix_and_rhs_are_solved(files, tmp_path, capsys, method):
    A, b, _, paths = files
    hist = tmp_path / "h.json"
    assert main(["solve", str(paths["A"]), "--rhs", str(paths["b"]), "--restart", "40",
                 "--rtol", "1e-10", "--history", str(hist), *method]) == 0
    out = capsys.readouterr().out
    for run in json.loads(hist.read_text()):
        assert run["converged"] and run["relative_true_residual"] <= 1e-10
        assert run["residual_norms"][0] == pytest.approx(np.linalg.norm(b))     # the complex b
    for row in _table(out).values():
        assert row[1] == "True" and 0.0 < float(row[-1]) <= 1e-10


def test_complex_matrix_default_rhs_is_a_times_ones(files, tmp_path):
    A, _, _, paths = files
    hist = tmp_path / "h.json"
    assert main(["solve", str(paths["A"]), "--restart", "40", "--history", str(hist)]) == 0
    run = json.loads(hist.read_text())[0]
    assert run["converged"] and run["relative_true_residual"] <= 1e-8
    assert run["residual_norms"][0] == pytest.approx(np.linalg.norm(A @ np.ones(A.shape[0])))


def test_real_matrix_complex_rhs(files, tmp_path):
    _, b, K, paths = files
    hist = tmp_path / "h.json"
    assert main(["solve", str(paths["K"]), "--rhs", str(paths["b"]), "--restart", "40",
                 "--history", str(hist)]) == 0
    run = json.loads(hist.read_text())[0]
    assert run["converged"] and run["relative_true_residual"] <= 1e-8
    assert run["residual_norms"][0] == pytest.approx(np.linalg.norm(b))


def test_true_residual_norms_of_complex_vectors():
    A, b = complex_system(8)
    x = np.linspace(0, 1, b.size) * (1 - 2j)
    rn, bn = true_residual_norms(DistCSR.from_global(A, MPI.COMM_SELF), b, x, MPI.COMM_SELF)
    assert rn == pytest.approx(np.linalg.norm(b - A @ x)) and bn == pytest.approx(np.linalg.norm(b))


def test_eigs_of_a_complex_matrix_against_dense(files, tmp_path, capsys):
    A, _, _, paths = files
    hist = tmp_path / "e.json"
    assert main(["eigs", str(paths["A"]), "--k", "3", "--which", "LM", "--m", "40",
                 "--history", str(hist)]) == 0
    data = json.loads(hist.read_text())
    found = np.array([complex(*v) for v in data["eigenvalues"]])
    ev = sla.eigvals(A.toarray())
    want = ev[np.argsort(-np.abs(ev))[:3]]
    for lam in found:
        assert np.min(np.abs(want - lam)) <= 1e-8 * abs(lam)
    assert data["converged"]


def test_eigs_complex_shift(files, tmp_path):
    _, _, K, paths = files
    hist = tmp_path / "e.json"
    sigma = 1.0 + 0.25j
    assert main(["eigs", str(paths["K"]), "--k", "2", "--sigma", "1+0.25j", "--m", "25",
                 "--history", str(hist)]) == 0
    data = json.loads(hist.read_text())
    found = np.array([complex(*v) if isinstance(v, list) else complex(v) for v in data["eigenvalues"]])
    ev = sla.eigvals(K.toarray())
    want = ev[np.argsort(np.abs(ev - sigma))[:2]]
    for lam in found:
        assert np.min(np.abs(want - lam)) <= 1e-8 * abs(lam)
    assert data["sigma"] == [1.0, 0.25]


@pytest.mark.mpi
def test_complex_files_on_two_ranks(files, tmp_path):
    _, b, _, paths = files
    hist = tmp_path / "h.json"
    strict = {"PYTHONWARNINGS": "error::numpy.exceptions.ComplexWarning"}
    res = run_mpi(2, ["-m", "rsketch", "solve", str(paths["A"]), "--rhs", str(paths["b"]),
                      "--compare", "--restart", "40", "--history", str(hist)], timeout=300, env=strict)
    assert res.returncode == 0, res.stderr
    for run in json.loads(hist.read_text()):
        assert run["converged"] and run["relative_true_residual"] <= 1e-8 and run["ranks"] == 2
        assert run["residual_norms"][0] == pytest.approx(np.linalg.norm(b))
    res = run_mpi(2, ["-m", "rsketch", "eigs", str(paths["A"]), "--k", "2", "--m", "30"],
                  timeout=300, env=strict)
    assert res.returncode == 0, res.stderr
    assert "converged (converged)" in res.stdout


def test_eigs_prints_condition_and_error_bounds(tmp_path, capsys):
    """Ill-conditioned eigenvalues of a nonnormal matrix are flagged on the command line and
    in the history file."""
    n = 12
    A = np.zeros((n, n))
    A[0, n // 2] = A[0, n - 1] = 1e-12
    A[np.arange(1, n), np.arange(n - 1)] = 0.9          # Leslie: condition numbers ~1e10
    path, hist = tmp_path / "leslie.mtx", tmp_path / "e.json"
    scipy.io.mmwrite(str(path), A)
    main(["eigs", str(path), "--k", "2", "--m", "11", "--history", str(hist)])
    out = capsys.readouterr().out
    assert "error bound" in out and "warning:" in out and "ill-conditioned" in out
    data = json.loads(hist.read_text())
    assert len(data["error_bounds"]) == 2 and min(data["error_bounds"]) > 1e-4 and data["warnings"]
