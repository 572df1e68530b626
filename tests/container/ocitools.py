# SPDX-License-Identifier: MIT
"""Helpers for the container runtime's tests: a busybox rootfs from Debian's
busybox-static, bundles with a config.json built from `domus-oci spec`,
running domus-oci with a private --root, and checks that nothing is left."""
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
from conftest import BUILD, ROOT  # noqa: E402

OCI = BUILD / "domus-oci"
DOMUS = BUILD / "domus"
BUSYBOX = pathlib.Path("/bin/busybox")


def require_root():
    if os.geteuid() != 0:
        pytest.skip("container tests need root (namespaces, cgroups, mounts)")
    if not OCI.exists():
        pytest.skip(f"{OCI} not built (run ./dev.sh build)")
    if not BUSYBOX.exists():
        pytest.skip("busybox-static not installed (/bin/busybox)")


def make_rootfs(path):
    """A busybox rootfs: /bin/busybox and one symlink per applet."""
    path = pathlib.Path(path)
    for d in ("bin", "proc", "sys", "dev", "etc", "tmp", "root"):
        (path / d).mkdir(parents=True, exist_ok=True)
    shutil.copy2(BUSYBOX, path / "bin/busybox")
    applets = subprocess.run([str(BUSYBOX), "--list"], capture_output=True, text=True,
                             check=True).stdout.split()
    for a in applets:
        if a != "busybox" and not (path / "bin" / a).exists():
            os.symlink("busybox", path / "bin" / a)
    (path / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (path / "etc/group").write_text("root:x:0:\n")
    return path


def cgroup_dirs(cgpath):
    """Every place a cgroup (path) could exist on this host (v1 and v2)."""
    base = pathlib.Path("/sys/fs/cgroup")
    dirs = [base / cgpath.lstrip("/")]
    for h in base.iterdir():
        if h.is_dir():
            dirs.append(h / cgpath.lstrip("/"))
    return dirs


class Runtime:
    def __init__(self, tmp):
        self.tmp = pathlib.Path(tmp)
        self.root = self.tmp / "state"
        self.bundle = self.tmp / "bundle"
        self.bundle.mkdir()
        make_rootfs(self.bundle / "rootfs")
        subprocess.run([str(OCI), "spec", "--bundle", str(self.bundle)], check=True)
        self.config = json.loads((self.bundle / "config.json").read_text())
        self.config["process"]["terminal"] = False
        self.config["root"]["readonly"] = False

    def write_config(self, cfg=None):
        (self.bundle / "config.json").write_text(json.dumps(cfg or self.config))

    def cmd(self, *args):
        return [str(OCI), "--root", str(self.root), *args]

    def run(self, *args, timeout=60, check=False, **kw):
        """domus-oci (args). Output goes through files, not pipes: a detached
        container keeps its stdio open, and a pipe would never see EOF."""
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            r = subprocess.run(self.cmd(*args), stdout=out, stderr=err, text=True,
                               timeout=timeout, stdin=subprocess.DEVNULL, **kw)
            out.seek(0)
            err.seek(0)
            p = subprocess.CompletedProcess(r.args, r.returncode, out.read(), err.read())
        if check:
            assert p.returncode == 0, f"{args}: {p.returncode}\n{p.stdout}\n{p.stderr}"
        return p

    def state(self, cid):
        p = self.run("state", cid, check=True)
        return json.loads(p.stdout)

    def oci_run(self, args, cid="c1", timeout=60, **linux):
        """`domus-oci run` of (args) with the default config plus changes; returns the result."""
        self.config["process"]["args"] = args
        self.write_config()
        return self.run("run", "--bundle", str(self.bundle), cid, timeout=timeout)

    def assert_clean(self, cid):
        """Nothing left of container (cid): no state directory, no cgroup."""
        assert not (self.root / cid).exists(), f"state of {cid} left in {self.root}"
        cgpath = self.config.get("linux", {}).get("cgroupsPath") or f"/domus-oci/{cid}"
        left = [str(d) for d in cgroup_dirs(cgpath) if d.exists()]
        assert not left, f"cgroup left behind: {left}"

    def cleanup(self):
        if self.root.exists():
            for d in self.root.iterdir():
                subprocess.run(self.cmd("delete", "--force", d.name), capture_output=True)
