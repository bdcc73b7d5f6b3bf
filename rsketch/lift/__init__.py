"""LIFT mask selection on checkpoints: Principal Weights from randomized low-rank analysis.

Read a checkpoint one tensor at a time (:mod:`.checkpoint`), choose its linear-layer
weights (:mod:`.select`), compute each matrix's Principal-Weight mask (:mod:`.masks`,
selection in :mod:`.topk`) with diagnostics (:mod:`.diagnostics`), spread the matrices
over MPI ranks (:mod:`.distribute`, :mod:`.driver`) and write one mask file (:mod:`.io`)
and the state from which the next checkpoint's masks are refreshed (:mod:`.state`).
When a training loop refreshes its masks, :mod:`.transition` carries the optimizer state.
``rsketch lift`` is the command-line driver (:mod:`.cli`), ``rsketch lift --watch`` its
service mode (:mod:`.watch`). See ``docs/lift.md``.
"""

from . import checkpoint, diagnostics, distribute, driver, io, masks, select, state, transition
from .checkpoint import *  # noqa: F401,F403 - each module's __all__ is the public API
from .diagnostics import *  # noqa: F401,F403
from .distribute import *  # noqa: F401,F403
from .driver import *  # noqa: F401,F403
from .io import *  # noqa: F401,F403
from .masks import *  # noqa: F401,F403
from .select import *  # noqa: F401,F403
from .state import *  # noqa: F401,F403
from .transition import *  # noqa: F401,F403

__all__ = [*checkpoint.__all__, *select.__all__, *masks.__all__, *diagnostics.__all__, *io.__all__,
           *distribute.__all__, *driver.__all__, *state.__all__, *transition.__all__]
