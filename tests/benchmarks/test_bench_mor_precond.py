"""The preconditioned-estimator benchmark runs end to end at a tiny size and reports what its rows say."""

import json

import numpy as np

from benchmarks.mor import precond_effectivity


def test_precond_effectivity_quick(tmp_path):
    precond_effectivity.main(["--quick", "--out", str(tmp_path)])
    data = json.loads((tmp_path / "precond_effectivity.json").read_text())
    assert (tmp_path / "precond_effectivity.png").stat().st_size > 0
    rows = data["rows"]
    assert len(rows) == 9 and data["config"]["n"] == 64
    eff = np.array([r["effectivity_precond"] for r in rows])
    plain_lb = np.array([r["effectivity_plain_alpha_lb"] for r in rows])
    assert data["summary"]["effectivity_precond"] == [eff.min(), eff.max()]
    assert data["summary"]["precond_within_0.5_2"] == bool(0.5 <= eff.min() and eff.max() <= 2.0)
    assert 0.5 <= eff.min() and eff.max() <= 2.0
    assert plain_lb.min() >= 1.0 and plain_lb.max() > 10.0          # a rigorous bound, far off
    for r in rows:                                                   # alpha_LB is the minimum of the row values
        assert abs(r["effectivity_plain_alpha_lb"] * data["alpha_lb"] / r["effectivity_plain"] - 1) < 1e-12
    assert data["alpha_lb"] == min(r["inf_sup"] for r in rows)
    hs = [h["max_discrepancy"] for h in data["hs_vs_p"]]
    assert [h["p"] for h in data["hs_vs_p"]] == list(range(1, 7))
    assert hs[-1] < 1e-3 * hs[0]
