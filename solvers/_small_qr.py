"""The small replicated QR of the randomized Krylov methods: rsketch's incremental QR.

The randomized Krylov methods solve least-squares problems with the ``k × j`` sketched
matrices ``ΘV`` and ``ΘAV``, one column more each iteration. :class:`IncrementalQR` is
:class:`rsketch.orth.SketchedBasis` (CGS2 with explicit ``U``, ``T``; ``add``, ``solve``,
``project``, ``reset``, ``min_diag``), under the name the solvers use.
"""

from __future__ import annotations

from rsketch.orth.sketched_basis import SketchedBasis as IncrementalQR

__all__ = ["IncrementalQR"]
