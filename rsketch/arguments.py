"""Pure argument checkers: integers, real numbers, choices and registry look-ups.

Each checker returns the normalized value or raises an :class:`ArgumentTypeError` (wrong
type) or a ``ValueError`` (wrong value) with a message that names the argument. They never
communicate: this is the lowest layer of the package, below :mod:`rsketch.mpi` (whose
:class:`~rsketch.Layout` checks its sizes with :func:`check_int`). A caller whose
arguments are the same on every rank turns the errors into agreed ones with
:func:`rsketch.validation.replicated`; :mod:`rsketch.validation` re-exports the checkers.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = ["ArgumentTypeError", "check_int", "check_number", "check_choice", "lookup"]


class ArgumentTypeError(TypeError, ValueError):
    """An argument of the wrong type (a float for a size, an int32 dtype for a basis).

    A ``TypeError``, as Python raises for a wrong type, and also a ``ValueError``: before
    the checks of the suite were unified, several of them (Krylov ``restart``/``maxiter``,
    the problem generators' ``n``, ``basis_dtype``) raised ``ValueError`` for these, and
    code that catches either keeps working.
    """


def _int_range(minimum, maximum):
    """The phrase after "must be" for an integer in ``[minimum, maximum]``."""
    if maximum is None:
        if minimum is None:
            return "an integer"
        if minimum == 1:
            return "a positive integer"
        if minimum == 0:
            return "a non-negative integer"
        return f"an integer >= {minimum}"
    if minimum is None:
        return f"an integer <= {maximum}"
    return f"an integer in [{minimum}, {maximum}]"


def check_int(value, name, *, minimum=None, maximum=None, allow_none=False):
    """Check an integer argument and return it as a Python ``int``.

    Parameters
    ----------
    value : object
        The argument. Python and NumPy integers are accepted; ``bool`` is not (``True``
        is an integer to Python, but never a meaningful size).
    name : str
        Argument name used in the messages.
    minimum, maximum : int, optional
        Inclusive bounds.
    allow_none : bool
        Accept ``None`` and return it.

    Returns
    -------
    int or None

    Raises
    ------
    ArgumentTypeError
        ``value`` is not an integer (a ``TypeError`` and a ``ValueError``).
    ValueError
        ``value`` is out of range.

    Both say what is expected: ``"{name} must be a positive integer, got 0"``
    (``minimum=1``), ``"... a non-negative integer ..."`` (``minimum=0``), ``"... an
    integer in [lo, hi] ..."`` (both bounds), ``"... an integer ..."`` (no bound).

    Examples
    --------
    >>> import numpy as np
    >>> check_int(np.int64(3), "k", minimum=1)
    3
    >>> check_int(0, "k", minimum=1)
    Traceback (most recent call last):
    ...
    ValueError: k must be a positive integer, got 0
    >>> check_int(2.0, "block_size", minimum=1)
    Traceback (most recent call last):
    ...
    rsketch.arguments.ArgumentTypeError: block_size must be a positive integer, got 2.0 (float)
    """
    if value is None and allow_none:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        also = " or None" if allow_none else ""
        raise ArgumentTypeError(f"{name} must be {_int_range(minimum, maximum)}{also}, "
                                f"got {value!r} ({type(value).__name__})")
    v = int(value)
    if (minimum is not None and v < minimum) or (maximum is not None and v > maximum):
        raise ValueError(f"{name} must be {_int_range(minimum, maximum)}, got {v!r}")
    return v


def check_number(value, name, *, minimum=None, maximum=None, open_low=False, finite=True):
    """Check a real-number argument and return it as a Python ``float``.

    Parameters
    ----------
    value : object
        A Python or NumPy integer or float (not ``bool``, not complex).
    name : str
        Argument name used in the messages.
    minimum, maximum : float, optional
        Bounds; ``maximum`` is inclusive, ``minimum`` too unless ``open_low``.
    open_low : bool
        Exclude ``minimum`` itself (e.g. a density in ``(0, 1]``).
    finite : bool
        Reject ``inf``. NaN is rejected always: it satisfies no bound.

    Returns
    -------
    float

    Raises
    ------
    ArgumentTypeError
        ``value`` is not a real number (a ``TypeError`` and a ``ValueError``).
    ValueError
        ``value`` is NaN, infinite (with ``finite=True``) or out of range.

    Examples
    --------
    >>> check_number(0.05, "density", minimum=0, open_low=True, maximum=1)
    0.05
    >>> check_number(0, "density", minimum=0, open_low=True, maximum=1)
    Traceback (most recent call last):
    ...
    ValueError: density must be in (0, 1], got 0.0
    >>> check_number(True, "tol")
    Traceback (most recent call last):
    ...
    rsketch.arguments.ArgumentTypeError: tol must be a real number, got bool
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ArgumentTypeError(f"{name} must be a real number, got {type(value).__name__}")
    v = float(value)
    if math.isnan(v) or (finite and math.isinf(v)):
        raise ValueError(f"{name} must be {'finite' if finite else 'a number'}, got {v!r}")
    low_ok = minimum is None or (v > minimum if open_low else v >= minimum)
    high_ok = maximum is None or v <= maximum
    if not (low_ok and high_ok):
        if minimum is not None and maximum is not None:
            rule = f"in {'(' if open_low else '['}{minimum}, {maximum}]"
        elif minimum is not None:
            rule = f"{'>' if open_low else '>='} {minimum}"
        else:
            rule = f"<= {maximum}"
        raise ValueError(f"{name} must be {rule}, got {v!r}")
    return v


def _quoted_list(choices):
    """``'a', 'b' or 'c'``."""
    items = [repr(c) for c in choices]
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} or {items[-1]}"


def check_choice(value, name, choices):
    """Check that an argument is one of a few allowed values; return it.

    Parameters
    ----------
    value : object
    name : str
        Argument name used in the message.
    choices : sequence
        The allowed values, in the order the message lists them.

    Returns
    -------
    object
        ``value`` itself.

    Raises
    ------
    ValueError
        ``"{name} must be 'a', 'b' or 'c', got {value!r}"``.

    Examples
    --------
    >>> check_choice("tsqr", "orth", ("tsqr", "rcholqr"))
    'tsqr'
    >>> check_choice("qr", "orth", ("tsqr", "rcholqr"))
    Traceback (most recent call last):
    ...
    ValueError: orth must be 'tsqr' or 'rcholqr', got 'qr'
    """
    try:
        ok = value in choices
    except (TypeError, ValueError):  # an array or an unhashable value is no choice
        ok = False
    if not ok:
        raise ValueError(f"{name} must be {_quoted_list(choices)}, got {value!r}")
    return value


def lookup(registry, key, what):
    """``registry[key]``, or a ``ValueError`` that lists the known keys.

    Parameters
    ----------
    registry : mapping
        Name to object (sketch kinds, problems, preconditioners, ...).
    key : hashable
    what : str
        What the keys name, for the message: ``"unknown {what} {key!r}; choose from [...]"``.

    Examples
    --------
    >>> lookup({"a": 1, "b": 2}, "b", "letter")
    2
    >>> lookup({"a": 1, "b": 2}, "z", "letter")
    Traceback (most recent call last):
    ...
    ValueError: unknown letter 'z'; choose from ['a', 'b']
    """
    try:
        return registry[key]
    except (KeyError, TypeError):  # TypeError: an unhashable key is unknown too
        raise ValueError(f"unknown {what} {key!r}; choose from {sorted(registry, key=str)}") from None
