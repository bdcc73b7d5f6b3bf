"""User code that fails on one rank only: every rank raises the same error, none waits.

A user operator, preconditioner or callback that raises, or returns the wrong size or
dtype, on rank 1 alone, at some call: the failure rides in the solver's next reduction
(no extra communication) and every rank raises it, naming rank 1 and what failed. Each
run has a timeout (:func:`rsketch.testing.launch.run_mpi`): before the fix, ranks 0 and 2
waited forever in the next collective.
"""

import pytest

from rsketch.testing.launch import CASE_HELPERS, parse_cases, run_mpi

pytestmark = pytest.mark.mpi

SCRIPT = CASE_HELPERS + r"""
import sys
import numpy as np
from mpi4py import MPI
import rsketch as rs
from solvers import block_rgmres, gmres, rarnoldi, reigs, rfom, rgmres
comm = MPI.COMM_WORLD
lay = rs.Layout(40, comm)
d = np.linspace(1.0, 3.0, lay.n)[lay.start:lay.stop]
b = np.cos(np.arange(lay.start, lay.stop, dtype=float))


class UserError(Exception):
    pass


def failing(y, how):
    if how == "raise":
        raise UserError("user code failed")
    if how == "size":
        return y[:-1]
    return y * (1 + 1j)                  # complex values for a real vector: wrong dtype


class Diag:
    # a local (communication-free) operator failing on rank 1 at call `at`
    def __init__(self, values, at=None, how="raise"):
        self.values, self.at, self.how, self.calls = values, at, how, 0

    def matvec(self, x):
        self.calls += 1
        y = self.values * x if x.ndim == 1 else self.values[:, None] * x
        if comm.rank == 1 and self.calls == self.at:
            return failing(y, self.how)
        return y


class Callback:
    def __init__(self, at, how="raise"):
        self.at, self.how, self.calls = at, how, 0

    def __call__(self, rk):
        self.calls += 1
        if comm.rank == 1 and self.calls == self.at:
            raise UserError("callback failed")


class Adapter:                           # as_operator() of a user type fails on rank 1
    def as_operator(self):
        if comm.rank == 1:
            raise UserError("adapter failed")
        from solvers.operators import Operator
        return Operator(Diag(d).matvec, lay)


B = np.column_stack([b, b + 1])
for how in ("raise", "size", "dtype"):
    case(f"rgmres A {how}", lambda: rgmres(Diag(d, 3, how), b, comm=comm, restart=5))
    case(f"rgmres M {how}", lambda: rgmres(Diag(d), b, M=Diag(1 / np.sqrt(d), 4, how), comm=comm, restart=5))
    case(f"rgmres left M {how}", lambda: rgmres(Diag(d), b, M=Diag(1 / np.sqrt(d), 4, how), side="left",
                                              comm=comm, restart=5))
    for ortho in ("cgs", "cgs2", "mgs"):
        case(f"gmres {ortho} A {how}", lambda: gmres(Diag(d, 3, how), b, ortho=ortho, comm=comm, restart=5))
    case(f"rfom A {how}", lambda: rfom(Diag(d, 7, how), b, comm=comm, restart=5))
    case(f"block_rgmres A {how}", lambda: block_rgmres(Diag(d, 5, how), B, comm=comm, restart=4))
    case(f"rarnoldi A {how}", lambda: rarnoldi(Diag(d, 3, how), b, 6, comm=comm))
    case(f"reigs A {how}", lambda: reigs(Diag(d, 12, how), 2, m=8, v0=b, comm=comm))
    case(f"reigs sigma A {how}", lambda: reigs(Diag(d, 9, how), 2, m=8, sigma=0.5, v0=b, comm=comm))
    case(f"nystrom A {how}", lambda: rs.nystrom(Diag(d, 2, how), 3, comm=comm, n_local=lay.local_size))
case("rgmres callback", lambda: rgmres(Diag(d), b, callback=Callback(2), comm=comm, restart=5))
its = rgmres(Diag(d), b, comm=comm, restart=50).iterations           # the callback of the last iteration
case("rgmres last callback", lambda: rgmres(Diag(d), b, callback=Callback(its), comm=comm, restart=50))
case("gmres callback", lambda: gmres(Diag(d), b, callback=Callback(3), comm=comm, restart=5))
case("block_rgmres callback", lambda: block_rgmres(Diag(d), B, callback=Callback(2), comm=comm))
# setup phase: products before the solver's first reduction
case("setup x0 A", lambda: rgmres(Diag(d, 1), b, x0=b, comm=comm))
case("setup pnorm M", lambda: rgmres(Diag(d), b, x0=b, M=Diag(1 / d, 1), side="left",
                                     norm="preconditioned", comm=comm))
case("setup adapter", lambda: rgmres(Adapter(), b, comm=comm))
case("ok", lambda: rgmres(Diag(d), b, comm=comm))
"""

WHAT = {"A": "A", "M": "the preconditioner M", "callback": "the callback", "adapter": "A"}



def test_failure_on_one_rank_is_raised_on_every_rank():
    res = run_mpi(3, ["-c", SCRIPT], timeout=120)
    out = res.stdout
    assert res.returncode == 0, (out + res.stderr)[-6000:]
    cases = parse_cases(out)
    assert len(cases) == 3 * 12 + 8, sorted(cases)
    for name, ranks in cases.items():
        assert sorted(ranks) == [0, 1, 2], (name, ranks)
        if name == "ok":
            assert set(ranks.values()) == {"returned"}
            continue
        kinds = {r: v.split(" | ")[0] for r, v in ranks.items()}
        assert "returned" not in kinds.values(), (name, ranks)
        assert kinds[0] == kinds[1] == kinds[2], (name, ranks)          # the same error everywhere
        key = name.split()[-2] if name.split()[-1] in ("raise", "size", "dtype") else name.split()[-1]
        for r, v in ranks.items():
            assert "rank 1" in v, (name, r, v)
            assert WHAT.get(key, "") in v, (name, r, v)
            if "raise" in name or "callback" in name or "adapter" in name:
                assert kinds[r] == "UserError" and "failed" in v, (name, r, v)
            elif "size" in name:
                assert kinds[r] == "ValueError" and "shape" in v, (name, r, v)
            elif "dtype" in name:
                assert kinds[r] == "TypeError" and "complex" in v, (name, r, v)
