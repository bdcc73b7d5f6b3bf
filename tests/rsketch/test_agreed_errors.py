"""Errors agreed across ranks: ``rsketch.mpi.raise_collectively`` never hangs, never garbles.

Each test launches 3 ranks with a timeout (:func:`rsketch.testing.launch.run_mpi`), so a
rank left waiting in a collective is a failure, not a hang. Rank 1 alone raises.
"""

import pytest

from rsketch.testing.launch import run_mpi

pytestmark = pytest.mark.mpi

AGREE = r"""
import sys
from mpi4py import MPI
from rsketch.mpi import raise_collectively
comm = MPI.COMM_WORLD


def say(line):                    # one write per line: lines of different ranks do not mix
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class Local(ValueError):          # defined in a function's scope elsewhere: not picklable by name
    pass


def local_class():
    class Hidden(TypeError):
        pass
    return Hidden("hidden message")


class Unprintable(Exception):
    def __str__(self):
        raise RuntimeError("no str")


class TwoArgs(ValueError):
    def __init__(self, a, b):
        super().__init__(f"{a}/{b}")


def make(case):
    if case == "local":
        return local_class()
    if case == "unicode":
        try:
            b"\xff".decode("utf-8")
        except UnicodeDecodeError as exc:
            return exc
    if case == "unprintable":
        return Unprintable()
    if case == "twoargs":
        return TwoArgs("x", "y")
    if case == "keyerror":
        return KeyError("missing key")
    if case == "oserror":
        return FileNotFoundError("no such file: 'a.mtx'")


for case in ("local", "unicode", "unprintable", "twoargs", "keyerror", "oserror"):
    err = make(case) if comm.rank == 1 else None
    try:
        raise_collectively(err, comm)
        say(f"{case} rank {comm.rank} returned")
    except Exception as exc:
        kinds = ",".join(c.__name__ for c in type(exc).__mro__)
        try:
            text = str(exc)
        except RuntimeError:
            text = "(unprintable)"
        say(f"{case} rank {comm.rank} raised [{kinds}] {text}")
"""


def _lines(out, case):
    return {int(line.split()[2]): line for line in out.splitlines() if line.startswith(case + " rank")}


def test_unpicklable_and_odd_exceptions_are_agreed_on_3_ranks():
    res = run_mpi(3, ["-c", AGREE], timeout=60)
    out = res.stdout
    assert res.returncode == 0, res.stderr[-3000:]
    for case in ("local", "unicode", "unprintable", "twoargs", "keyerror", "oserror"):
        lines = _lines(out, case)
        assert sorted(lines) == [0, 1, 2], out
        assert not any("returned" in v for v in lines.values()), out
    # a class defined in a function: rebuilt as its nearest importable base, named in the message
    for r in (0, 2):
        assert "[TypeError," in _lines(out, "local")[r] and "Hidden: hidden message" in _lines(out, "local")[r]
        assert "(raised on rank 1)" in _lines(out, "local")[r]
        # UnicodeDecodeError needs five arguments: a UnicodeError (a ValueError), not a TypeError
        uni = _lines(out, "unicode")[r]
        assert "ValueError" in uni and "UnicodeDecodeError: 'utf-8' codec can't decode" in uni, uni
        assert "TwoArgs: x/y" in _lines(out, "twoargs")[r] and "ValueError" in _lines(out, "twoargs")[r]
        assert "Unprintable" in _lines(out, "unprintable")[r]
        assert "[KeyError," in _lines(out, "keyerror")[r] and "missing key" in _lines(out, "keyerror")[r]
        assert "[FileNotFoundError," in _lines(out, "oserror")[r]
    assert "[Hidden," in _lines(out, "local")[1]       # the failing rank raises its own error
