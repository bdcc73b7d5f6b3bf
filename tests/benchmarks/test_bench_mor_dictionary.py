"""The dictionary-width benchmark at a tiny size: JSON and plot in a private directory."""

import json

from benchmarks.mor import dictionary_width


def test_dictionary_width_smoke(tmp_path):
    dictionary_width.main(["--n", "10", "--K", "30", "--k", "80", "--rmax", "4", "--ntest", "4",
                           "--out", str(tmp_path)])
    data = json.loads((tmp_path / "mor_dictionary_width.json").read_text())
    assert [row["r"] for row in data["rows"]] == [1, 2, 3, 4]
    for row in data["rows"]:
        for key in ("minres", "dictionary"):
            assert 0 <= row[key]["mean"] <= row[key]["max"]
            assert row[key]["online_seconds"] > 0
    assert data["problem"]["unknowns"] == 100 and data["K"] == 30
    assert (tmp_path / "mor_dictionary_width.png").stat().st_size > 0
