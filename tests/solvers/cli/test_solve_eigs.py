"""``rsketch solve`` / ``rsketch eigs`` on one and two ranks, and the local job script."""

import csv
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import scipy.io
import scipy.sparse.linalg as spla

from rsketch.cli import main
from rsketch.testing.launch import ROOT, mpiexec_path, run_mpi
from tests.solvers.cases import system

MONITOR = re.compile(r"^\s*(\d+) KSP Residual norm (\d\.\d{12}e[+-]\d\d)$")


def test_solve_monitor_history_and_plot(tmp_path, capsys):
    hist, png = tmp_path / "h.json", tmp_path / "h.png"
    assert main(["solve", "--problem", "convdiff2d", "--n", "20", "--restart", "30", "--monitor",
                 "--history", str(hist), "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    lines = [MONITOR.match(line) for line in out.splitlines()]
    its = [int(m.group(1)) for m in lines if m]
    run = json.loads(hist.read_text())[0]
    assert its == list(range(run["iterations"] + 1))          # PETSc-style, from 0
    assert "CONVERGED" in out and run["converged"]
    assert len(run["residual_norms"]) == run["iterations"] + 1
    A, b = system("convdiff2d", 20, peclet=100.0)
    assert run["residual_norms"][0] == pytest.approx(np.linalg.norm(b))
    assert run["relative_true_residual"] <= 1e-8
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_solve_compare_table_and_csv(tmp_path, capsys):
    hist = tmp_path / "h.csv"
    assert main(["solve", "--compare", "--problem", "convdiff3d", "--n", "10", "--restart", "20",
                 "--history", str(hist)]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split() for line in out.splitlines()
            if line.startswith(("rgmres ", "gmres(cgs2) "))}
    assert set(rows) == {"rgmres", "gmres(cgs2)"}
    assert float(rows["rgmres"][4]) < 1.1 and float(rows["gmres(cgs2)"][4]) >= 2.0   # red/it
    assert all(float(r[-1]) <= 1e-8 for r in rows.values())
    assert "speed-up of rgmres over gmres(cgs2)" in out
    with open(hist) as fh:
        methods = {row["method"] for row in csv.DictReader(fh)}
    assert methods == {"rgmres", "gmres(cgs2)"}


def test_solve_matrix_market_file(tmp_path, capsys):
    A, _ = system("convdiff2d", 12, peclet=30.0)
    path = tmp_path / "a.mtx"
    scipy.io.mmwrite(str(path), A)
    hist = tmp_path / "h.json"
    assert main(["solve", str(path), "--method", "gmres", "--ortho", "mgs", "--pc", "bjacobi",
                 "--rtol", "1e-10", "--history", str(hist)]) == 0
    run = json.loads(hist.read_text())[0]
    assert run["method"] == "gmres(mgs)" and run["relative_true_residual"] <= 1e-10
    b = A @ np.ones(A.shape[0])
    assert run["residual_norms"][0] == pytest.approx(np.linalg.norm(b))


def test_solve_float32_basis_and_bad_options(capsys):
    assert main(["solve", "--problem", "convdiff3d", "--n", "10", "--restart", "30",
                 "--basis-dtype", "float32", "--rtol", "1e-10"]) == 0
    row = [line.split() for line in capsys.readouterr().out.splitlines() if line.startswith("rgmres")]
    assert float(row[0][-1]) <= 1e-10
    assert main(["solve", "--problem", "poisson2d", "--n", "8", "--restart", "0"]) == 1
    assert "--restart must be a positive integer" in capsys.readouterr().err
    assert main(["solve", "--problem", "poisson2d", "--n", "8", "--sketch-size", "0"]) == 1
    assert "sketch size" in capsys.readouterr().err


def test_eigs_against_scipy(tmp_path, capsys):
    hist = tmp_path / "e.json"
    assert main(["eigs", "--problem", "convdiff2d", "--n", "16", "--peclet", "8", "--k", "3",
                 "--wind", "1,0.37", "--which", "LR", "--m", "30", "--history", str(hist)]) == 0
    data = json.loads(hist.read_text())
    A, _ = system("convdiff2d", 16, peclet=8.0, wind=(1.0, 0.37))
    ref = np.sort(spla.eigs(A, 3, which="LR", return_eigenvectors=False).real)[::-1]
    np.testing.assert_allclose(data["eigenvalues"], ref, rtol=1e-7)
    assert data["converged"] and max(data["residual_norms"]) <= 1e-8
    assert "converged" in capsys.readouterr().out


@pytest.mark.mpi
def test_solve_and_eigs_on_two_ranks(tmp_path):
    hist = tmp_path / "h.json"
    res = run_mpi(2, ["-m", "rsketch", "solve", "--compare", "--problem", "convdiff3d", "--n", "12",
                      "--restart", "20", "--history", str(hist)], timeout=300)
    assert res.returncode == 0, res.stderr
    assert res.stdout.count("rsketch solve:") == 1 and res.stdout.count("speed-up") == 1
    runs = json.loads(hist.read_text())
    assert [r["ranks"] for r in runs] == [2, 2]
    assert all(r["converged"] and r["relative_true_residual"] <= 1e-8 for r in runs)
    res = run_mpi(2, ["-m", "rsketch", "eigs", "--problem", "convdiff2d", "--n", "16", "--peclet",
                      "8", "--k", "2", "--which", "LR"], timeout=300)
    assert res.returncode == 0, res.stderr
    assert res.stdout.count("rsketch eigs:") == 1 and "converged (converged)" in res.stdout
    bad = run_mpi(2, ["-m", "rsketch", "solve", "--problem", "poisson2d", "--n", "8",
                      "--restart", "-3"], timeout=120)
    assert bad.returncode != 0
    assert bad.stderr.count("rsketch: error: --restart must be a positive integer") == 1


@pytest.mark.mpi
def test_local_job_script_runs(tmp_path):
    if mpiexec_path() is None:
        pytest.fail("mpiexec not found")
    env = dict(os.environ, PYTHON=sys.executable, MPIEXEC=mpiexec_path(), NP="2", N="12",
               RESTART="20", OUT=str(tmp_path / "job"),
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    res = subprocess.run(["bash", str(ROOT / "jobs" / "solve_local.sh")], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "gmres(cgs2)" in res.stdout
    assert (tmp_path / "job.json").exists() and (tmp_path / "job.png").exists()


def test_deflate_option_reaches_rgmres_and_is_refused_elsewhere(tmp_path, capsys):
    """--deflate 0 gives plain restarts (more iterations here); with gmres it is an error."""
    its = {}
    for p in ("0", "8"):
        out = tmp_path / f"h{p}.json"
        assert main(["solve", "--problem", "convdiff2d", "--n", "40", "--restart", "40",
                     "--deflate", p, "--history", str(out)]) == 0
        its[p] = json.loads(out.read_text())[0]["iterations"]
    assert its["8"] < its["0"], its
    assert main(["solve", "--problem", "convdiff2d", "--n", "16", "--method", "gmres",
                 "--deflate", "2"]) != 0
    assert "--deflate applies to rgmres" in capsys.readouterr().err


# ---------------------------------------------------------------- outputs and odd options


def _mtx(tmp_path, name="a.mtx"):
    A, _ = system("convdiff2d", 8, peclet=10.0)
    path = tmp_path / name
    scipy.io.mmwrite(str(path), A)
    return path


def test_outputs_equal_to_an_input_or_to_each_other_are_refused(tmp_path, capsys):
    """`solve A.mtx --history A.mtx` once replaced the matrix: refused before any work."""
    a = _mtx(tmp_path)
    scipy.io.mmwrite(str(tmp_path / "b.mtx"), np.ones((64, 1)))
    (tmp_path / "link.mtx").symlink_to(a)
    h = str(tmp_path / "h.json")
    cases = [(["solve", str(a), "--history", str(a)], "--history"),
             (["solve", str(a), "--plot", str(tmp_path / "link.mtx")], "--plot"),
             (["solve", str(a), "--rhs", str(tmp_path / "b.mtx"), "--history", str(tmp_path / "b.mtx")],
              "--history"),
             (["solve", "--matrix", str(a), "--history", str(a)], "--history"),
             (["eigs", str(a), "--k", "2", "--history", str(a)], "--history"),
             (["solve", "--problem", "poisson2d", "--n", "8", "--history", h, "--plot", h],
              "--history and --plot")]
    for argv, label in cases:
        before = {p: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
        assert main(argv) == 1, argv
        captured = capsys.readouterr()
        assert captured.err.startswith(f"rsketch: error: {label}"), (argv, captured.err)
        assert "rsketch solve:" not in captured.out and "rsketch eigs:" not in captured.out
        assert {p: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before
    assert main(["solve", "--problem", "poisson2d", "--n", "8", "--history", "/sys/rsketch-h.json"]) == 1
    captured = capsys.readouterr()
    assert "--history /sys/rsketch-h.json" in captured.err and "rsketch solve:" not in captured.out


def test_plot_is_written_in_the_format_of_its_suffix(tmp_path, capsys):
    """`--plot x.pdf` wrote PNG bytes: the suffix decides, an unknown one is refused up front."""
    common = ["solve", "--problem", "poisson2d", "--n", "8", "--restart", "20"]
    for name, magic in (("h.pdf", b"%PDF"), ("h.svg", b"<?xml"), ("h.png", b"\x89PNG")):
        assert main([*common, "--plot", str(tmp_path / name)]) == 0
        assert (tmp_path / name).read_bytes().startswith(magic), name
    capsys.readouterr()
    assert main([*common, "--plot", str(tmp_path / "h.xyz")]) == 1
    captured = capsys.readouterr()
    assert "--plot" in captured.err and "'.xyz'" in captured.err and "pdf" in captured.err
    assert "rsketch solve:" not in captured.out and not (tmp_path / "h.xyz").exists()


def test_matrix_option_and_rhs_with_a_built_in_problem(tmp_path, capsys):
    a = _mtx(tmp_path)
    hist = tmp_path / "h.json"
    assert main(["solve", "--matrix", str(a), "--history", str(hist)]) == 0   # the obvious spelling
    assert json.loads(hist.read_text())[0]["system"].startswith("a.mtx")
    assert main(["solve", str(a), "--matrix", str(tmp_path / "other.mtx")]) == 1
    assert "MATRIX" in capsys.readouterr().err
    scipy.io.mmwrite(str(tmp_path / "b.mtx"), np.ones((64, 1)))
    # --rhs was silently ignored with a built-in problem
    assert main(["solve", "--problem", "poisson2d", "--n", "8", "--rhs", str(tmp_path / "b.mtx")]) == 1
    assert "--rhs" in capsys.readouterr().err
    assert main(["solve", str(a), "--problem", "poisson2d"]) == 1                 # silently ignored too
    assert "--problem" in capsys.readouterr().err


SOLVE_FULL_DISK = """
import resource, signal, sys
from rsketch.cli import main
argv = sys.argv[1:]
assert main(argv) == 0                      # the old files (and a warm numba cache)
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (1000, resource.RLIM_INFINITY))   # a full disk
print(f"status {main(argv)}", flush=True)
"""


@pytest.mark.mpi
def test_three_ranks_agree_on_write_failures_and_bad_outputs(tmp_path):
    hist, png = tmp_path / "h.json", tmp_path / "h.png"
    common = ["solve", "--problem", "poisson2d", "--n", "16", "--restart", "20"]
    res = run_mpi(3, ["-c", SOLVE_FULL_DISK, *common, "--history", str(hist), "--plot", str(png)],
                  timeout=300)
    assert res.stdout.count("status 1") == 3, res.stdout + res.stderr
    assert res.stderr.count("rsketch: error: cannot write output") == 1, res.stderr
    assert "Traceback" not in res.stderr and "File too large" in res.stderr
    assert json.loads(hist.read_text())[0]["ranks"] == 3 and png.read_bytes()[:4] == b"\x89PNG"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["h.json", "h.png"]
    res = run_mpi(3, ["-m", "rsketch", *common, "--history", str(hist), "--plot", str(hist)],
                  timeout=120)
    assert res.returncode != 0 and "rsketch solve:" not in res.stdout
    assert res.stderr.count("rsketch: error: --history and --plot") == 1, res.stderr
