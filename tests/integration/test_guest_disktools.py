# SPDX-License-Identifier: MIT
"""The default guest's disk tools (tools/mkguest.sh): e2fsprogs' mkfs.ext4 and
fsck.ext4 with their libraries, busybox's fstrim/sync/sha256sum/blkdiscard, and
the domus.exec= command-line hook; initrd-fio.img's fio when it has been made.
On the qemu engine on this host: these test the initramfs, not a VMM."""
import re

import pytest

from conftest import GUEST
from guestconsole import GuestConsole
from runners import LocalRunner


def boot(args):
    runner = LocalRunner("qemu")
    con = GuestConsole(runner.spawn(args, timeout=180), boot_timeout=300)
    con.wait_boot()
    return runner, con


def test_mkfs_ext4_mount_trim_fsck(domus, guest, tmp_path):
    img = tmp_path / "disk.img"
    runner, con = boot(["--disk", f"{img},size=256M"])
    for tool in ("mkfs.ext4", "fsck.ext4", "fstrim", "sync", "sha256sum", "blkdiscard"):
        assert con.cmd(f"command -v {tool} >/dev/null && echo ok") == "ok", tool
    assert con.cmd("mkfs.ext4 -q /dev/vda && mount /dev/vda /mnt && echo ok") == "ok"
    assert "/dev/vda on /mnt type ext4" in con.cmd("mount")
    con.cmd("dd if=/dev/urandom of=/mnt/f bs=1M count=8 2>/dev/null; sync")
    before = con.cmd("sha256sum /mnt/f").split()[0]
    assert re.fullmatch(r"[0-9a-f]{64}", before)
    con.cmd("echo 3 > /proc/sys/vm/drop_caches")
    assert con.cmd("sha256sum /mnt/f").split()[0] == before
    assert "trimmed" in con.cmd("rm /mnt/f && fstrim -v /mnt", timeout=120)
    assert con.cmd("umount /mnt && fsck.ext4 -fn /dev/vda >/dev/null 2>&1; echo $?") == "0"
    con.child.sendline("poweroff")
    assert runner.wait_exit(con.child) == 0


def run_exec(guest, initrd, words, timeout=180):
    runner = LocalRunner("qemu")
    child = runner.spawn(["--initrd", initrd, "--cmdline",
                          "console=ttyS0 quiet domus.exec=" + ",".join(words)], timeout=timeout)
    child.expect(r"domus-guest: exec status (\d+)", timeout=timeout)
    out, status = child.before, int(child.match.group(1))
    assert runner.wait_exit(child) == 0  # the guest powered off by itself
    return out, status


def test_exec_hook_runs_a_command_and_powers_off(domus, guest):
    out, status = run_exec(guest, guest["initrd"], ["echo", "hello-from-exec"])
    assert "hello-from-exec" in out and status == 0


def test_fio_initrd_runs_fio(domus, guest):
    fio_initrd = GUEST / "initrd-fio.img"
    if not fio_initrd.exists():
        pytest.skip(f"no {fio_initrd} (run tools/mkguest.sh --fio {GUEST})")
    out, status = run_exec(guest, str(fio_initrd), ["fio", "--version"])
    assert "fio-" in out and status == 0
