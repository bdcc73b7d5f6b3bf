"""Dense references of the Krylov tests: explicit bases and sketched iterates (NumPy only)."""

import numpy as np
from mpi4py import MPI

__all__ = ["krylov_basis", "arnoldi_basis", "sketched_lstsq_iterate", "sketched_galerkin_iterate"]


def krylov_basis(A, b, m):
    """Orthonormal basis of span{b, Ab, ..., A^{m-1} b} (dense, by QR): an independent reference."""
    K = np.empty((b.size, m))
    v = b / np.linalg.norm(b)
    for i in range(m):
        K[:, i] = v
        v = A @ v
        v /= np.linalg.norm(v)
    return np.linalg.qr(K)[0]

def arnoldi_basis(A, b, m):
    """Orthonormal basis of span{b, ..., A^{m-1} b} by Arnoldi with full reorthogonalization
    (dense NumPy, two Gram-Schmidt passes): well conditioned for any ``m``, unlike the power
    basis of :func:`krylov_basis`."""
    V = np.zeros((b.size, m))
    V[:, 0] = b / np.linalg.norm(b)
    for j in range(1, m):
        w = A @ V[:, j - 1]
        for _ in range(2):
            w -= V[:, :j] @ (V[:, :j].T @ w)
        V[:, j] = w / np.linalg.norm(w)
    return V

def sketched_lstsq_iterate(A, b, m, sketch):
    """``x = K y``, ``y = argmin ‖Θ(b − A K y)‖`` with the explicit sketch matrix."""
    K = krylov_basis(A, b, m)
    T = sketch.to_dense(b.size, MPI.COMM_SELF)
    y = np.linalg.lstsq(T @ (A @ K), T @ b, rcond=None)[0]
    return K @ y

def sketched_galerkin_iterate(A, b, m, sketch):
    """``x = K y`` with ``(ΘK)ᵀ Θ(b − A K y) = 0`` (sketched Galerkin condition)."""
    K = krylov_basis(A, b, m)
    T = sketch.to_dense(b.size, MPI.COMM_SELF)
    SK = T @ K
    y = np.linalg.solve(SK.T @ (T @ (A @ K)), SK.T @ (T @ b))
    return K @ y
