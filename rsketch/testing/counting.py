"""A communicator that counts the collectives called on it: an independent reduction count."""

from mpi4py import MPI

__all__ = ["CountingComm"]

# Collectives that synchronize all ranks (what the solvers count as reductions).
_COLLECTIVES = ("Allreduce", "allreduce", "Allgather", "allgather", "Allgatherv", "bcast",
                "Bcast", "Reduce", "reduce", "Iallreduce")

class CountingComm(MPI.Intracomm):
    """``COMM_WORLD`` (same handle) that counts every global collective called on it.

    An independent count of what a solver does, to compare with its ``reductions``.
    """

    def __new__(cls, comm=None):
        self = super().__new__(cls, MPI.COMM_WORLD if comm is None else comm)
        self.calls = []
        return self

def _counted(name):
    def method(self, *args, **kwargs):
        self.calls.append(name)
        return getattr(MPI.Intracomm, name)(self, *args, **kwargs)

    method.__name__ = name
    return method


for _name in _COLLECTIVES:
    setattr(CountingComm, _name, _counted(_name))
