"""Fixtures of the LIFT tests."""

import shutil
import tempfile
from pathlib import Path

import pytest


@pytest.fixture
def shared_dir(comm):
    """A directory every rank sees (rank 0 creates it, then removes it)."""
    path = comm.bcast(tempfile.mkdtemp(prefix="rsketch-lift-") if comm.rank == 0 else None)
    yield Path(path)
    comm.Barrier()
    if comm.rank == 0:
        shutil.rmtree(path, ignore_errors=True)
