"""``rsketch mor build`` and ``rsketch mor eval``: files, reports, CSV input, refusals, MPI runs.

The reduced outputs written by ``eval`` are checked against full-order solves of the same
problem: the thermal block's output is compliant (:math:`s = b^T u`, :math:`A(\\mu)`
symmetric), so a Galerkin reduced model satisfies
:math:`0 \\le s - s_r = a(e, e) \\le \\max_i \\mu_i \\, \\|e\\|^2 \\le \\max_i \\mu_i \\, \\Delta^2`
with :math:`\\Delta` the estimate of the error in the ``h1_0_semi`` norm (a bound with the
coercivity bound :math:`\\min_i \\mu_i`).
"""

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from mpi4py import MPI

from rsketch.cli import main
from rsketch.testing.launch import ROOT, mpiexec_path, run_mpi
from solvers.mor import load_reduced_model, thermal_block
from solvers.mor.pymor_bridge import export_pymor

SELF = MPI.COMM_SELF
SMALL = ["--problem", "thermal_block", "--blocks", "2", "2", "--n", "8", "--training", "30",
         "--max-extensions", "8"]


def build(tmp, name, *extra, method="classical"):
    out = tmp / f"{name}.npz"
    assert main(["mor", "build", *SMALL, "--method", method, "--out", str(out), *extra]) == 0
    return out


@pytest.fixture(scope="module")
def rom_file(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rom")
    return build(tmp, "rom", "--report", str(tmp / "rom.json"))


@pytest.fixture(scope="module")
def fom():
    return thermal_block((2, 2), 8, comm=SELF)


def write_mus(path, mus, header=None):
    lines = ([",".join(header)] if header else []) + [",".join(repr(float(v)) for v in mu) for mu in mus]
    path.write_text("\n".join(lines) + "\n")
    return path


def read_csv(path):
    with open(path) as fh:
        return list(csv.DictReader(fh))


def assert_compliant_bounds(fom, mus, s_r, est, slack=1.0):
    """0 <= s - s_r <= max(mu) * est^2 (see the module docstring), from full solves."""
    for mu, sr, d in zip(mus, s_r, est):
        s = fom.output(fom.solve(mu))[0]
        gap = s - sr
        assert gap >= -1e-12 * abs(s), (mu, s, sr)
        assert gap <= slack * max(mu) * d ** 2 + 1e-12 * abs(s), (mu, gap, d)


# ---------------------------------------------------------------- the command


def test_help_lists_mor(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    assert " mor " in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["mor", "--help"])
    out = capsys.readouterr().out
    assert "build" in out and "eval" in out


# ---------------------------------------------------------------- build


def test_build_writes_model_report_and_plot(tmp_path, capsys, fom):
    out, rep, png = tmp_path / "rom.npz", tmp_path / "conv.json", tmp_path / "conv.png"
    assert main(["mor", "build", *SMALL, "--method", "classical", "--rtol", "1e-7", "--out", str(out),
                 "--report", str(rep), "--plot", str(png)]) == 0
    text = capsys.readouterr().out
    assert text.count("rsketch mor build:") == 1 and "greedy: r=" in text
    report = json.loads(rep.read_text())
    assert report["format"] == "rsketch-mor-build-report" and report["rsketch"]
    assert report["method"] == "classical" and report["options"]["training"] == 30
    assert report["model"]["n"] == fom.n and report["model"]["ranks"] == 1
    g = report["greedy"]
    assert len(g["max_errs"]) == len(g["basis_sizes"]) >= 2
    assert all(b <= a * (1 + 1e-12) for a, b in zip(g["max_errs"], g["max_errs"][1:])) or \
        g["max_errs"][-1] < g["max_errs"][0]
    assert g["stop_reason"] in ("rtol", "max_extensions", "extension_failed")
    for key in ("total", "model", "greedy", "greedy_phases", "reductor"):
        assert key in report["timings"]
    rom = load_reduced_model(out)
    assert rom.dim == report["rom"]["dim"] == g["extensions"] > 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    mus = fom.parameter_space.sample(5, seed=7)
    assert_compliant_bounds(fom, mus, [rom.output(mu)[0] for mu in mus],
                            [rom.estimate_error(mu) for mu in mus], slack=1 + 1e-6)


@pytest.mark.parametrize("projection", ["galerkin", "minres"])
def test_build_sketched(tmp_path, projection, fom):
    """|s - s_r| = |l^T e| <= ||l||_{U'} ||e||_U, and the sketched estimate bounds ||e||_U up to
    its (1 +- eps) distortion (a factor 2 covers it)."""
    rep = tmp_path / "r.json"
    out = build(tmp_path, "s", "--projection", projection, "--sketch", "gaussian", "--k", "200",
                "--seed", "3", "--report", str(rep), method="sketched")
    report = json.loads(rep.read_text())
    sk = report["sketch"]
    assert (sk["kind"], sk["k_initial"], sk["seed"]) == ("gaussian", 200, 3) and sk["k"] >= 200
    assert sk["certification_history"] and report["projection"] == projection
    rom = load_reduced_model(out)
    assert rom.dim == report["rom"]["dim"] == 8
    R = fom.product.local.toarray()
    lnorm = np.sqrt(fom.outputs[0] @ np.linalg.solve(R, fom.outputs[0]))
    for mu in fom.parameter_space.sample(4, seed=8):
        s = fom.output(fom.solve(mu))[0]
        assert abs(rom.output(mu)[0] - s) <= 2 * lnorm * rom.estimate_error(mu)
        assert abs(rom.output(mu)[0] - s) <= 1e-2 * abs(s)


def test_build_from_exported_pymor_matrices(tmp_path, capsys):
    """pyMOR's thermal block exported, then reduced: the same reduced model as our generator's
    (the same operator up to the order of the unknowns, the same training set)."""
    from pymor.basic import discretize_stationary_cg, set_log_levels, thermal_block_problem

    set_log_levels({"pymor": "ERROR"})
    pfom, _ = discretize_stationary_cg(thermal_block_problem((2, 2)), diameter=1 / 8)
    folder = tmp_path / "exported"
    export_pymor(pfom, folder, coercivity_estimator="min")          # no parameter ranges
    out = tmp_path / "rom.npz"
    args = ["mor", "build", "--matrices", str(folder), "--method", "classical", "--training", "30",
            "--max-extensions", "8", "--out", str(out)]
    assert main(args) == 1
    assert "--parameter-range LOW HIGH" in capsys.readouterr().err and not out.exists()
    assert main(args + ["--parameter-range", "0.1", "1"]) == 0
    rom = load_reduced_model(out)
    ours = load_reduced_model(build(tmp_path, "ours"))
    assert rom.dim == ours.dim == 8 and rom.parameter_space.labels == ours.parameter_space.labels
    for mu in ours.parameter_space.sample(5, seed=9):
        assert rom.estimate_error(mu) == pytest.approx(ours.estimate_error(mu), rel=1e-6)


def test_bad_build_options_are_refused(tmp_path, capsys):
    out = str(tmp_path / "r.npz")
    cases = [(["--method", "classical", "--projection", "minres"], "needs --method sketched"),
             (["--problem", "advection_diffusion", "--blocks", "2", "2"], "--blocks applies"),
             (["--parameter-range", "0", "1"], "--parameter-range applies to --matrices"),
             (["--matrices", str(tmp_path), "--problem", "thermal_block"], "not both"),
             (["--training", "0"], "--training must be a positive integer"),
             (["--plot", str(tmp_path / "c.xyz")], "unknown plot format")]
    for extra, message in cases:
        assert main(["mor", "build", "--n", "4", *extra, "--out", out]) == 1, extra
        err = capsys.readouterr().err
        assert message in err, (extra, err)
    assert not os.path.exists(out)


# ---------------------------------------------------------------- eval


@pytest.mark.parametrize("header", [None, "same", "permuted"])
def test_eval_csv_with_and_without_header(rom_file, tmp_path, fom, header):
    rom = load_reduced_model(rom_file)
    labels = rom.parameter_space.labels
    mus = fom.parameter_space.sample(6, seed=11)
    if header == "permuted":
        perm = [2, 0, 3, 1]
        write_mus(tmp_path / "mus.csv", mus[:, perm], [labels[i] for i in perm])
    else:
        write_mus(tmp_path / "mus.csv", mus, labels if header else None)
    out = tmp_path / "res.csv"
    assert main(["mor", "eval", "--rom", str(rom_file), "--params", str(tmp_path / "mus.csv"),
                 "--out", str(out)]) == 0
    rows = read_csv(out)
    assert list(rows[0]) == labels + ["s_0", "estimate", "residual_norm", "singular", "outside"]
    got = np.array([[float(r[k]) for k in labels] for r in rows])
    np.testing.assert_array_equal(got, mus)
    assert all(r["singular"] == "0" and r["outside"] == "0" for r in rows)
    s_r = [float(r["s_0"]) for r in rows]
    est = [float(r["estimate"]) for r in rows]
    assert_compliant_bounds(fom, mus, s_r, est, slack=1 + 1e-6)


def test_eval_json(rom_file, tmp_path, fom):
    mus = fom.parameter_space.sample(3, seed=12)
    write_mus(tmp_path / "mus.csv", mus)
    out = tmp_path / "res.json"
    assert main(["mor", "eval", "--rom", str(rom_file), "--params", str(tmp_path / "mus.csv"),
                 "--out", str(out)]) == 0
    records = json.loads(out.read_text())
    assert len(records) == 3 and set(records[0]) == {"mu", "outputs", "estimate", "residual_norm",
                                                    "singular", "outside"}
    assert list(records[1]["mu"].values()) == mus[1].tolist()
    assert_compliant_bounds(fom, mus, [r["outputs"][0] for r in records],
                            [r["estimate"] for r in records], slack=1 + 1e-6)


def test_eval_bad_rows_named_or_flagged(rom_file, tmp_path, capsys):
    mus = np.full((4, 4), 0.5)
    mus[2, 1] = 2.0                                   # outside [0.1, 1]
    params = write_mus(tmp_path / "mus.csv", mus, ["diffusion[0]", "diffusion[1]", "diffusion[2]",
                                                   "diffusion[3]"])
    out = tmp_path / "res.csv"
    args = ["mor", "eval", "--rom", str(rom_file), "--params", str(params), "--out", str(out)]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "row 3 (line 4)" in err and "diffusion[1]" in err and "--skip-bad" in err
    assert not out.exists()
    assert main(args + ["--skip-bad"]) == 0
    rows = read_csv(out)
    assert [r["outside"] for r in rows] == ["0", "0", "1", "0"]
    assert rows[2]["estimate"] == "nan" and float(rows[1]["estimate"]) >= 0
    for text, message in [("0.5,0.5,0.5\n", "line 1: 3 values, expected 4"),
                          ("0.5,0.5,x,0.5\n", "line 1: 'x' is not a number"),
                          ("a,b,c,d\n0.5,0.5,0.5,0.5\n", "does not name the reduced model's parameters"),
                          ("# nothing\n\n", "no parameter values")]:
        params.write_text(text)
        assert main(args) == 1
        assert message in capsys.readouterr().err, text


def test_outputs_equal_to_inputs_are_refused_before_any_work(rom_file, tmp_path, capsys):
    params = write_mus(tmp_path / "mus.csv", np.full((1, 4), 0.5))
    before = params.read_text()
    assert main(["mor", "eval", "--rom", str(rom_file), "--params", str(params), "--out",
                 str(params)]) == 1
    assert "is the input --params" in capsys.readouterr().err and params.read_text() == before
    assert main(["mor", "eval", "--rom", str(rom_file), "--params", str(params), "--out",
                 str(tmp_path / "res.txt")]) == 1
    assert ".csv or .json" in capsys.readouterr().err
    out = tmp_path / "same.npz"
    assert main(["mor", "build", *SMALL, "--out", str(out), "--report", str(out)]) == 1
    captured = capsys.readouterr()
    assert "name the same file" in captured.err and "rsketch mor build:" not in captured.out
    folder = tmp_path / "exported"
    folder.mkdir()
    (folder / "model.json").write_text("{}")
    assert main(["mor", "build", "--matrices", str(folder), "--out", str(folder / "model.json")]) == 1
    assert "is a file of the input folder --matrices" in capsys.readouterr().err
    assert (folder / "model.json").read_text() == "{}"


# ---------------------------------------------------------------- MPI


@pytest.mark.mpi
@pytest.mark.parametrize("method", ["classical", "sketched"])
def test_two_rank_build_then_eval_on_one_and_two_ranks(tmp_path, method):
    out = tmp_path / "rom2.npz"
    res = run_mpi(2, ["-m", "rsketch", "mor", "build", *SMALL, "--method", method,
                      "--out", str(out), "--report", str(tmp_path / "r.json")], timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.count("rsketch mor build:") == 1 and "2 rank(s)" in res.stdout
    assert json.loads((tmp_path / "r.json").read_text())["model"]["ranks"] == 2
    mus = load_reduced_model(out).parameter_space.sample(5, seed=13)
    params = write_mus(tmp_path / "mus.csv", mus)
    one = tmp_path / "one.csv"
    assert main(["mor", "eval", "--rom", str(out), "--params", str(params), "--out", str(one)]) == 0
    two = tmp_path / "two.csv"
    res = run_mpi(2, ["-m", "rsketch", "mor", "eval", "--rom", str(out), "--params", str(params),
                      "--out", str(two)], timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    assert two.read_text() == one.read_text()          # each value evaluated by one rank, same code
    # the model built on one rank: the same greedy (the default sketch is layout-invariant)
    ref = tmp_path / "ref.csv"
    assert main(["mor", "eval", "--rom", str(build(tmp_path, "serial", method=method)), "--params",
                 str(params), "--out", str(ref)]) == 0
    for key in ("s_0", "estimate"):
        np.testing.assert_allclose([float(r[key]) for r in read_csv(one)],
                                   [float(r[key]) for r in read_csv(ref)], rtol=1e-6)
    bad = run_mpi(2, ["-m", "rsketch", "mor", "eval", "--rom", str(out), "--params", str(params),
                      "--out", str(params)], timeout=120)
    assert bad.returncode != 0 and bad.stderr.count("rsketch: error:") == 1


@pytest.mark.mpi
def test_local_job_script_runs(tmp_path):
    if mpiexec_path() is None:
        pytest.fail("mpiexec not found")
    env = dict(os.environ, PYTHON=sys.executable, MPIEXEC=mpiexec_path(), NP="2", N="8",
               TRAINING="20", MAX_EXTENSIONS="4", EVAL="7", METHOD="classical", TIMEOUT="300",
               OUT=str(tmp_path / "job"),
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    res = subprocess.run(["bash", str(ROOT / "jobs" / "mor_local.sh")], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "rsketch mor eval: 7 parameter values" in res.stdout
    assert (tmp_path / "job.npz").exists() and (tmp_path / "job.json").exists()
    assert len(read_csv(tmp_path / "job-results.csv")) == 7
