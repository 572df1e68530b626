# SPDX-License-Identifier: MIT
"""A short, bounded libFuzzer run of every fuzz target (clang, ASan, UBSan).
The long run is `./dev.sh fuzz` (10 minutes per target)."""
import os
import shutil
import subprocess

import pytest

from conftest import ROOT

SECONDS = int(os.environ.get("DOMUS_FUZZ_SECONDS", "20"))


def test_fuzz_targets_short_run():
    if not shutil.which("clang"):
        pytest.skip("clang not installed (needed for libFuzzer)")
    p = subprocess.run([str(ROOT / "tools/fuzz.sh"), str(SECONDS)], cwd=ROOT,
                       capture_output=True, text=True, timeout=SECONDS * 10 + 300)
    assert p.returncode == 0, p.stdout + p.stderr
    # each target must really have run inputs
    assert p.stdout.count("stat::number_of_executed_units") >= 2, p.stdout
