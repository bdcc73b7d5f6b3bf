"""The model reduction benchmark on several ranks (run by tests/test_parallel_runs.py): words counted.

The word counter is checked against the reductors' own reduction counters (an independent
count of the same collectives) and the reductors' collective words must not depend on ``n``.
"""

import numpy as np
from mpi4py import MPI

from benchmarks.mor import bench_mor


def _greedy_collective_words(run, method):
    return sum(r["words"] for r in run["words_detail"]
               if r["method"] == method and r["phase"] == "greedy" and r["kind"] == "collective")


def test_bench_mor_words_on_ranks(tmp_path):
    comm = MPI.COMM_WORLD
    out = comm.bcast(str(tmp_path), root=0)
    r = 3
    payload = bench_mor.main(["--problem", "thermal_block", "--grid", "10", "--r", str(r), "--train", "6",
                              "--test", "1", "--online-repeat", "1", "--words-grids", "6", "10",
                              "--out", out])
    assert payload["ranks"] == comm.size
    runs = payload["words_runs"]
    assert [w["n"] for w in runs] == [85, 221]
    if comm.size == 1:
        # one rank hands nothing to MPI: the counter must say so (tests/test_parallel_runs.py
        # runs this file on 2 and 3 ranks, where the counts below are checked)
        for run in runs:
            for method in ("sketched", "classical"):
                assert run["words"][method]["greedy_collective_calls"] == 0
                assert run["words"][method]["reductor_collective_words"] == 0
        assert np.isfinite(payload["ratios"]["offline_speedup"])
        return
    for run in runs:
        for method, per_ext in (("sketched", 2), ("classical", 4)):
            w = run["words"][method]
            m = run["methods"][method]
            # counted MPI calls of the greedy = the reductor's counter less its setup reduction
            assert w["greedy_collective_calls"] == per_ext * r == m["reductions"] - 1
            assert w["reductor_collective_words"] > 0 and w["solve_collective_words"] > 0
    # flat in n: the greedy's reductions carry k x columns and r x r blocks only
    for method in ("sketched", "classical"):
        lo, hi = (_greedy_collective_words(run, method) for run in runs)
        assert lo == hi > 0
    # the sketched words: one Allreduce of (k + k_phi)(m_A + 1) + n_o numbers per extension
    m = runs[0]["methods"]["sketched"]
    allreduce = sum(x["words_max_rank"] for x in runs[0]["words_detail"] if x["method"] == "sketched"
                    and x["phase"] == "greedy" and x["op"] == "Allreduce")
    terms = runs[0]["terms"]
    assert allreduce == r * ((m["k"] + m["k_phi"]) * (terms + 1) + runs[0]["outputs"])
    assert np.isfinite(payload["ratios"]["offline_speedup"])
