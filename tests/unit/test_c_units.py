# SPDX-License-Identifier: MIT
"""Runs every C unit test (cmocka, TAP output) from the ASan+UBSan build."""
import os
import re
import subprocess

import pytest

from conftest import BUILD_ASAN, ROOT


def unit_names():
    text = (ROOT / "tests/unit/meson.build").read_text()
    block = text.split("unit_tests = [", 1)[1].split("]", 1)[0]
    return re.findall(r"'(test_[a-z0-9_]+)'", block)


@pytest.mark.parametrize("name", unit_names())
def test_unit(name):
    exe = BUILD_ASAN / "tests/unit" / name
    if not exe.exists():
        pytest.skip(f"{exe} not built (run ./dev.sh build)")
    env = dict(os.environ, CMOCKA_MESSAGE_OUTPUT="TAP",
               ASAN_OPTIONS="detect_leaks=1:abort_on_error=1",
               UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1",
               DOMUS_GUEST_DIR=str(ROOT / "build/guest"))
    p = subprocess.run([str(exe)], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=300)
    out = p.stdout + p.stderr
    assert p.returncode == 0, f"{name} failed:\n{out}"
    assert re.search(r"^ok ", p.stdout, re.M), f"{name}: no passing TAP line:\n{out}"
    assert not re.search(r"^not ok ", p.stdout, re.M), out
