"""The argument checkers (rsketch.arguments) and the replicated-argument helpers of
rsketch.validation: types, ranges, messages, agreement."""

import re

import numpy as np
import pytest
from mpi4py import MPI

import rsketch.validation as validation
from rsketch.arguments import check_choice, check_int, check_number, lookup
from rsketch.validation import check_tall_matrix, check_work_dtype, replicated, require_finite


@pytest.mark.parametrize("value", [3, np.int64(3), np.uint8(3), np.int32(3)])
def test_check_int_accepts_python_and_numpy_integers(value):
    out = check_int(value, "n", minimum=1)
    assert out == 3 and type(out) is int


@pytest.mark.parametrize("value", [2.0, 2.5, "3", None, True, np.bool_(False), np.float64(3), [3]])
def test_check_int_rejects_non_integers(value):
    expected = re.escape(f"n must be an integer, got {value!r} ({type(value).__name__})")
    with pytest.raises(TypeError, match=f"^{expected}$") as info:
        check_int(value, "n")
    assert isinstance(info.value, ValueError)        # what the 0.1 checks raised


@pytest.mark.parametrize("kwargs,value,phrase", [
    ({"minimum": 1}, 0, "a positive integer"),
    ({"minimum": 0}, -1, "a non-negative integer"),
    ({"minimum": 0, "maximum": 9}, 10, r"an integer in \[0, 9\]"),
    ({"minimum": 2}, 1, "an integer >= 2"),
    ({"maximum": 4}, 5, "an integer <= 4"),
])
def test_check_int_range_messages(kwargs, value, phrase):
    with pytest.raises(ValueError, match=f"^n must be {phrase}, got {value}$"):
        check_int(value, "n", **kwargs)
    bound = kwargs.get("minimum", kwargs.get("maximum"))
    assert check_int(bound, "n", **kwargs) == bound          # bounds are inclusive


def test_check_int_none():
    assert check_int(None, "maxiter", minimum=1, allow_none=True) is None
    with pytest.raises(TypeError, match=r"maxiter must be a positive integer or None, got 1.5 \(float\)"):
        check_int(1.5, "maxiter", minimum=1, allow_none=True)


def test_check_int_message_shows_a_python_int():
    with pytest.raises(ValueError, match=r"got -2$"):         # not "np.int64(-2)"
        check_int(np.int64(-2), "k", minimum=0)


def test_check_number():
    assert check_number(1, "tol") == 1.0 and type(check_number(1, "tol")) is float
    assert check_number(np.float32(0.5), "density", minimum=0, open_low=True, maximum=1) == 0.5
    assert check_number(1.0, "density", minimum=0, open_low=True, maximum=1) == 1.0
    assert check_number(0.0, "tol", minimum=0) == 0.0
    assert check_number(np.inf, "x", finite=False) == np.inf
    for value in (True, "1", None, 1j, np.complex128(1)):
        with pytest.raises(TypeError, match="tol must be a real number"):
            check_number(value, "tol")
    for value, match in [(0.0, r"density must be in \(0, 1\], got 0.0"),
                         (1.5, r"density must be in \(0, 1\], got 1.5")]:
        with pytest.raises(ValueError, match=match):
            check_number(value, "density", minimum=0, open_low=True, maximum=1)
    with pytest.raises(ValueError, match="tol must be >= 0, got -1.0"):
        check_number(-1, "tol", minimum=0)
    with pytest.raises(ValueError, match="x must be > 0"):
        check_number(0, "x", minimum=0, open_low=True)
    with pytest.raises(ValueError, match="x must be <= 2"):
        check_number(3, "x", maximum=2)
    with pytest.raises(ValueError, match="tol must be finite, got inf"):
        check_number(np.inf, "tol", minimum=0)
    for finite in (True, False):                                # NaN satisfies no rule
        with pytest.raises(ValueError, match="nan"):
            check_number(np.nan, "x", finite=finite)


def test_check_choice():
    assert check_choice("svd", "method", ("rsvd", "svd")) == "svd"
    with pytest.raises(ValueError, match="^sub must be 'ilu', 'ilu0' or 'lu', got 'x'$"):
        check_choice("x", "sub", ("ilu", "ilu0", "lu"))
    with pytest.raises(ValueError, match="^side must be 'right', got 'left'$"):
        check_choice("left", "side", ("right",))
    with pytest.raises(ValueError, match="orth must be 'tsqr' or 'rcholqr'"):
        check_choice(np.array(["tsqr", "tsqr"]), "orth", ("tsqr", "rcholqr"))
    with pytest.raises(ValueError, match=r"got \['a'\]"):
        check_choice(["a"], "x", {"a", "b"})                   # unhashable in a set


def test_lookup():
    reg = {"b": 2, "a": 1}
    assert lookup(reg, "a", "kind") == 1
    with pytest.raises(ValueError, match=r"^unknown sketch kind 'z'; choose from \['a', 'b'\]$"):
        lookup(reg, "z", "sketch kind")
    with pytest.raises(ValueError, match="unknown kind"):
        lookup(reg, ["a"], "kind")


def test_validation_reexports_the_checkers():
    for name in ("check_int", "check_number", "check_choice", "lookup"):
        assert getattr(validation, name) is getattr(__import__("rsketch.arguments").arguments, name)
        assert name in validation.__all__


def test_replicated_marks_errors_as_agreed():
    with replicated():
        assert check_int(2, "k", minimum=1) == 2
    for exc_type, bad in [(ValueError, -1), (TypeError, 1.5)]:
        with pytest.raises(exc_type) as info:
            with replicated():
                check_int(bad, "k", minimum=0)
        assert info.value.rsketch_collective is True
    with pytest.raises(KeyError) as info:                      # only argument errors
        with replicated():
            raise KeyError("x")
    assert not hasattr(info.value, "rsketch_collective")


def test_check_work_dtype():
    assert check_work_dtype(None, np.float64) == np.float64
    assert check_work_dtype(None, np.complex128) == np.complex128
    assert check_work_dtype(np.float32, np.float64) == np.float32
    assert check_work_dtype("float32", np.complex128) == np.complex64
    assert check_work_dtype(np.float64, np.complex128) == np.complex128
    assert check_work_dtype(np.complex64, np.float64) == np.complex64
    assert check_work_dtype(np.float32, real_only=True, name="basis_dtype") == np.float32
    for bad, kwargs, match in [
        (np.int32, {}, r"work_dtype must be float32 or float64 \(or complex\), got int32"),
        (np.float16, {}, "got float16"),
        ("no-such-dtype", {}, "work_dtype must be a NumPy float dtype"),
        (np.complex128, {"real_only": True, "name": "basis_dtype"},
         "^basis_dtype must be float32 or float64, got complex128$"),
    ]:
        with pytest.raises(TypeError, match=match) as info:
            check_work_dtype(bad, np.float64, **kwargs)
        assert info.value.rsketch_collective


def test_check_tall_matrix_and_require_finite():
    X, layout, out_dtype = check_tall_matrix(np.ones((6, 3), np.complex64), MPI.COMM_SELF, "W")
    assert X.shape == (6, 3) and layout.n == 6 and out_dtype is np.complex128
    with pytest.raises(ValueError, match="at least as many rows"):
        check_tall_matrix(np.ones((2, 3)), MPI.COMM_SELF)
    assert check_tall_matrix(np.ones((2, 3)), MPI.COMM_SELF, tall=False)[1].n == 2
    with pytest.raises(ValueError, match="W has no columns"):
        check_tall_matrix(np.ones((4, 0)), MPI.COMM_SELF, "W")
    require_finite(np.ones(3), "the sketch")
    with pytest.raises(ValueError, match=r"X_local contains NaN or Inf .*\(the sketch is not finite\)") as info:
        require_finite(np.array([np.nan]), "the sketch")
    assert info.value.rsketch_collective
