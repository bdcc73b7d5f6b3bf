"""The errors of model reduction, raised identically on every rank."""

__all__ = ["ExtensionError", "SolveError"]


class ExtensionError(ValueError):
    """A basis extension added nothing: the new vector is (numerically) in the span of the
    basis, or the basis is full. A greedy stops on it, like pyMOR's ``ExtensionError``.
    Decided from replicated quantities (sketches, Gram matrices), so raised on every rank."""


class SolveError(RuntimeError):
    """A full-order solve did not reach its tolerance (raised on every rank: the
    convergence flag of a Krylov solve is replicated)."""
