"""The job scripts in jobs/: no predictable path in a world-writable temporary directory.

numba loads the index files of its on-disk cache with pickle. A cache directory whose name
another user can guess (``/tmp/rsketch-numba-$SLURM_JOB_ID``) can be created by that user
first and filled with files that run code in the job. Each script's own assignment of
``NUMBA_CACHE_DIR`` is evaluated twice here: two jobs with the same id must get different
names, and the directory must be created private (mode 0700) by a command that fails if
the name already exists.
"""

import re
import subprocess

import pytest

from rsketch.testing.launch import ROOT

SCRIPTS = sorted((ROOT / "jobs").glob("*.slurm")) + sorted((ROOT / "jobs").glob("*.sh"))
# a fixed name under /tmp or $TMPDIR: `${TMPDIR:-/tmp}/name`, `/tmp/name`, `$TMPDIR/name`
FIXED_TMP = re.compile(r"(\$\{(SLURM_)?TMPDIR:-/tmp\}|/tmp|\$\{?TMPDIR\}?)/")


def test_scripts_are_found():
    assert len(SCRIPTS) >= 8, SCRIPTS


def _assignment(text):
    lines = [ln for ln in text.splitlines() if re.match(r"\s*(export\s+)?NUMBA_CACHE_DIR=", ln)]
    assert len(lines) == 1, lines
    return lines[0].strip().removeprefix("export ").strip()


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_numba_cache_is_private_and_unpredictable(script, tmp_path):
    text = script.read_text()
    if "NUMBA_CACHE_DIR" not in text:
        return          # numba's default: __pycache__ next to the installed sources
    assign = _assignment(text)
    env = {"PATH": "/usr/bin:/bin", "TMPDIR": str(tmp_path), "SLURM_JOB_ID": "1234"}
    names = [subprocess.run(["bash", "-c", f"set -eu; {assign}; echo \"$NUMBA_CACHE_DIR\""],
                            env=env, capture_output=True, text=True, check=True).stdout.strip()
             for _ in range(2)]
    assert names[0] != names[1], f"{script.name}: predictable NUMBA_CACHE_DIR {names[0]}"
    assert all(n.startswith(str(tmp_path) + "/") for n in names), names
    # created private, failing if it exists: `mktemp -d` or `mkdir -m 0700` (no -p)
    assert re.search(r"mktemp -d|mkdir -m 0?700 (?!-p)", text), script.name


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_no_fixed_names_in_temporary_directories(script):
    for line in script.read_text().splitlines():
        code = line.split("#", 1)[0]
        for m in FIXED_TMP.finditer(code):
            assert "mktemp" in code or "urandom" in code, f"{script.name}: {line.strip()}"
