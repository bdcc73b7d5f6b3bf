"""Helpers for rsketch's tests and benchmarks: test matrices, references, launchers.

The library never imports this package, and this package never imports pytest, so a
benchmark or a user's own test suite can use it too:

=================  ========================================================================
module             holds
=================  ========================================================================
``matrices``       test matrices with a prescribed condition number, decay, adversarial
                   scaling; the partition-invariant global matrix of the multi-rank tests
``distributed``    a rank's rows of a global array; norm-relative comparison across ranks
``counting``       :class:`~.counting.CountingComm`: counts the collectives called on it
``krylov``         dense Krylov references (power basis, Arnoldi, sketched iterates)
``lift``           where the real checkpoints are; top-k and low-rank references
``launch``         ``mpiexec`` with a timeout (multi-rank runs from a test or a script)
=================  ========================================================================
"""
