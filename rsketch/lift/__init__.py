"""LIFT mask selection on checkpoints: Principal Weights from randomized low-rank analysis.

Read a checkpoint one tensor at a time (:mod:`.checkpoint`), choose its linear-layer
weights (:mod:`.select`), compute each matrix's Principal-Weight mask with diagnostics
(:mod:`.masks`), spread the matrices over MPI ranks (:mod:`.distribute`) and write one
mask file (:mod:`.io`). ``rsketch lift`` is the command-line driver. See ``docs/lift.md``.
"""

from .checkpoint import Checkpoint, TensorInfo, open_checkpoint, upcast
from .masks import (
    DEFAULT_MIN_OVERSAMPLE,
    DEFAULT_POWER_ITERS,
    METHODS,
    MatrixReport,
    analyze_matrix,
    indices_to_mask,
    jaccard,
    low_rank_factors,
    magnitude_indices,
    mask_from_factors,
    principal_indices,
    principal_weights,
    random_indices,
    resolve_k,
)
from .select import DEFAULT_EXCLUDE, select_matrices
from .io import MASK_FORMATS, MaskDrift, load_masks, mask_drift, save_masks, write_json_atomic
from .distribute import WorkPlan, assign_by_cost, plan_work
from .driver import LiftResult, compute_masks

__all__ = [
    "Checkpoint",
    "TensorInfo",
    "open_checkpoint",
    "upcast",
    "DEFAULT_EXCLUDE",
    "select_matrices",
    "METHODS",
    "DEFAULT_POWER_ITERS",
    "DEFAULT_MIN_OVERSAMPLE",
    "resolve_k",
    "low_rank_factors",
    "principal_weights",
    "principal_indices",
    "mask_from_factors",
    "magnitude_indices",
    "random_indices",
    "jaccard",
    "indices_to_mask",
    "MatrixReport",
    "analyze_matrix",
    "MASK_FORMATS",
    "save_masks",
    "load_masks",
    "mask_drift",
    "MaskDrift",
    "write_json_atomic",
    "assign_by_cost",
    "plan_work",
    "WorkPlan",
    "compute_masks",
    "LiftResult",
]
