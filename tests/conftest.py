# SPDX-License-Identifier: MIT
"""Shared pytest fixtures: where the build, the binary and the default guest are."""
import os
import pathlib
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
BUILD = pathlib.Path(os.environ.get("DOMUS_BUILD", ROOT / "build"))
BUILD_ASAN = pathlib.Path(os.environ.get("DOMUS_BUILD_ASAN", ROOT / "build-asan"))
GUEST = BUILD / "guest"


def domus_bin():
    return BUILD / "domus"


def require(cond, why):
    """Skip (visibly, with the reason) when a prerequisite is missing."""
    if not cond:
        pytest.skip(why)


@pytest.fixture(scope="session")
def domus():
    path = domus_bin()
    require(path.exists(), f"{path} not built (run ./dev.sh build)")
    return str(path)


@pytest.fixture(scope="session")
def guest():
    require((GUEST / "vmlinuz").exists() and (GUEST / "initrd.img").exists(),
            f"default guest missing in {GUEST} (run ./dev.sh build)")
    return {
        "kernel": str(GUEST / "vmlinuz"),
        "initrd": str(GUEST / "initrd.img"),
        "release": (GUEST / "release").read_text().strip(),
    }


@pytest.fixture(scope="session")
def qemu():
    require(shutil.which("qemu-system-x86_64"), "qemu-system-x86_64 not installed")
    return shutil.which("qemu-system-x86_64")


@pytest.fixture(scope="module", params=["qemu", "kvm"])
def runner(request, domus, guest):
    """Where a test's guests run: the qemu engine on this host; the kvm engine
    inside the nested test host (or here with DOMUS_KVM_LOCAL=1, on a host
    whose /dev/kvm runs guest kernels natively). One per test module."""
    from runners import LocalRunner, NestedRunner  # tests/integration/runners.py
    engine = request.param
    if engine == "qemu" or os.environ.get("DOMUS_KVM_LOCAL") == "1":
        r = LocalRunner(engine)
        yield r
        r.close()
        return
    try:
        r = NestedRunner("kvm")
    except RuntimeError as e:
        pytest.skip(f"nested test host unavailable: {e}")
    yield r
    r.close()


def pytest_terminal_summary(terminalreporter):
    stats = terminalreporter.stats
    n = {k: len([r for r in stats.get(k, []) if getattr(r, "when", "call") in ("call", "setup")])
         for k in ("passed", "failed", "skipped", "error")}
    terminalreporter.write_line(
        f"{n['passed']} passed, {n['failed'] + n['error']} failed, {n['skipped']} skipped")
