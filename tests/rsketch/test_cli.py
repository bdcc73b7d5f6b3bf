"""The rsketch command on one rank."""

import subprocess
import sys

import pytest

from rsketch.cli import build_parser, main


def test_info_lists_versions_and_mpi(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    for key in ("rsketch", "numpy", "numba", "mpi4py", "MPI library", "ranks", "petsc4py"):
        assert key in out


def test_console_script_and_module_entry_point():
    out = subprocess.run([sys.executable, "-m", "rsketch", "info"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0 and "MPI library" in out.stdout


def test_demo_prints_distortion_of_every_kind(capsys):
    assert main(["demo", "--n", "2048", "--d", "6", "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line.split() and line.split()[0] in
            ("gaussian", "rademacher", "sparse", "block_srht", "srht")]
    assert len(rows) == 5
    for row in rows:
        assert 0 < float(row[1]) < 3          # k = 4d: distortion about 1.25 for a Gaussian


def test_unknown_command_and_agreed_error(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["frobnicate"])
    assert main(["demo", "--n", "64", "--d", "4", "--k", "0"]) == 1
    assert "k (sketch size) must be a positive integer" in capsys.readouterr().err
