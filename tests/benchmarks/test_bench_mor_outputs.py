"""The primal–dual output benchmark at a tiny size: JSON and PNG written, bounds hold."""

import json

from benchmarks.mor import outputs_pd


def test_outputs_pd_smoke(tmp_path):
    summ = outputs_pd.main(["--n", "10", "--snapshots", "6", "--test", "5", "--two-step", "2",
                            "--out", str(tmp_path)])
    data = json.loads((tmp_path / "mor_outputs_pd.json").read_text())
    assert (tmp_path / "mor_outputs_pd.png").stat().st_size > 0
    assert len(data["rows"]) == 5 and data["setup"]["r"] == 6
    for name in ("exact", "two_step", "sketched"):
        assert summ[name]["bounded"] and data["summary"][name]["bounded"]
