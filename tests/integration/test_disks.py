# SPDX-License-Identifier: MIT
"""Virtual block devices with the real guest, on both engines (the kvm engine
inside the nested test host): ext4 made in the guest survives power-off and
reboot; data the guest flushed survives kill -9 of domus; fstrim makes the
sparse image smaller; read-only disks stay untouched; a block device (loop)
as the disk. Bad --disk values are in test_disk_errors.py."""
import re
import shlex

import pytest

from guestconsole import INIT_MARKER
from runners import boot


def host_ok(runner, script, timeout=300):
    out, rc = runner.host(script, timeout=timeout)
    assert rc == 0, f"{script!r} failed ({rc}): {out}"
    return out


def du_kib(runner, path):
    return int(host_ok(runner, f"du -k {shlex.quote(path)}").split()[0])


@pytest.fixture
def img(runner, request):
    """A path for this test's image where domus runs, removed afterwards."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", request.node.name)
    path = f"{runner.workdir}/{name}.img"
    runner.host(f"rm -f {path}")
    yield path
    runner.host(f"rm -f {path} {path}.*")


def sums_of(text):
    """{file: sha256} from sha256sum's output."""
    return dict((m.group(2), m.group(1))
                for m in re.finditer(r"^([0-9a-f]{64})\s+\*?(\S+)$", text, re.M))


def poweroff(runner, con):
    con.child.sendline("poweroff")
    assert runner.wait_exit(con.child) == 0


def test_ext4_survives_poweroff_and_reboot_and_fstrim_shrinks(runner, img):
    con = boot(runner, ["--disk", f"{img},size=256M,serial=data-1"])
    assert con.cmd("cat /sys/block/vda/serial") == "data-1"
    assert con.cmd("cat /sys/block/vda/size") == str(256 * 2048)
    out = con.cmd("mkfs.ext4 -q -F /dev/vda && mount /dev/vda /mnt && echo MOUNTED", timeout=120)
    assert out.endswith("MOUNTED"), out
    out = con.cmd("dd if=/dev/urandom of=/mnt/big bs=1M count=64 2>/dev/null;"
                  " for i in 1 2 3; do head -c 300000 /dev/urandom > /mnt/f$i; done;"
                  " cd /mnt && sha256sum big f1 f2 f3 | tee SUMS; cd /; sync", timeout=180)
    sums = sums_of(out)
    assert set(sums) == {"big", "f1", "f2", "f3"}, out
    assert con.cmd("umount /mnt && echo UNMOUNTED") == "UNMOUNTED"
    poweroff(runner, con)

    # the image: sparse, its size as asked, the data on it
    assert host_ok(runner, f"stat -c %s {img}").strip() == str(256 << 20)
    full = du_kib(runner, img)
    assert full >= 64 * 1024, full

    # boot again: the same files, bit for bit
    con = boot(runner, ["--disk", img])
    assert con.cmd("mount /dev/vda /mnt && echo MOUNTED").endswith("MOUNTED")
    assert sums_of(con.cmd("cd /mnt && sha256sum big f1 f2 f3; cd /", timeout=120)) == sums
    # delete the big file and trim: the guest's discards punch holes
    out = con.cmd("rm /mnt/big && sync && fstrim -v /mnt", timeout=120)
    assert "trimmed" in out, out
    assert con.cmd("umount /mnt && echo UNMOUNTED") == "UNMOUNTED"
    # a reboot (the kvm engine rebuilds the VM in the same process, the
    # disk stays open): the small files are still there
    con.child.sendline("reboot")
    con.wait_boot()
    assert con.cmd("mount -o ro /dev/vda /mnt && echo MOUNTED").endswith("MOUNTED")
    after = sums_of(con.cmd("cd /mnt && sha256sum f1 f2 f3; ls; cd /"))
    assert after == {k: v for k, v in sums.items() if k != "big"}
    assert con.cmd("ls /mnt/big 2>&1 || true").endswith("No such file or directory")
    con.cmd("umount /mnt")
    poweroff(runner, con)
    trimmed = du_kib(runner, img)
    assert trimmed < full - 48 * 1024, (full, trimmed)


def test_flushed_data_survives_kill_9(runner, img):
    """The guest writes a pattern with fsync (a virtio-blk flush: fdatasync on
    the host) and says so; domus is killed with SIGKILL at once; the pattern
    is in the image."""
    # The marker is split in the command so the guest's echo of it can't match.
    guest_cmds = ("head -c 65536 /dev/urandom > /tmp/pat; sha256sum /tmp/pat;"
                  " dd if=/tmp/pat of=/dev/vda bs=4096 seek=100 conv=fsync 2>/dev/null"
                  " && echo FLUSHED''-OK; sleep 600\n")
    log, fifo = f"{img}.log", f"{img}.in"
    script = f"""
        rm -f {fifo}; mkfifo {fifo}
        domus run --engine {runner.engine} --disk {img},size=64M < {fifo} > {log} 2>&1 &
        pid=$!
        exec 3> {fifo}     # the guest's console input stays open: no EOF
        printf %s {shlex.quote(guest_cmds)} >&3
        for i in $(seq 1200); do grep -q FLUSHED-OK {log} && break; sleep 0.25; done
        grep -q FLUSHED-OK {log} || {{ echo "no FLUSHED-OK"; tail -20 {log}; kill -9 $pid; exit 1; }}
        kill -9 $pid
        wait $pid
        exec 3>&-
        dd if={img} bs=4096 skip=100 count=16 2>/dev/null | sha256sum
        cat {log}
    """
    out = host_ok(runner, script, timeout=400)
    on_disk = re.search(r"^([0-9a-f]{64})\s+-$", out, re.M)
    assert on_disk, out
    on_disk = on_disk.group(1)
    in_guest = re.search(r"^([0-9a-f]{64})\s+/tmp/pat", out, re.M)
    assert in_guest, out
    assert on_disk == in_guest.group(1), out


def test_readonly_disk_and_a_second_disk(runner, img):
    other = f"{img}.b"
    before = host_ok(runner, f"head -c 4194304 /dev/urandom > {img}; sha256sum < {img};"
                             f" stat -c %Y {img}")
    con = boot(runner, ["--disk", f"{img},readonly", "--disk", f"{other},size=16M"])
    assert con.cmd("ls /sys/block | grep vd | tr '\\n' ' '").split() == ["vda", "vdb"]
    assert con.cmd("cat /sys/block/vda/ro /sys/block/vdb/ro").split() == ["1", "0"]
    # the kernel refuses, and so does the device if the kernel is talked round
    out = con.cmd("dd if=/dev/zero of=/dev/vda bs=4096 count=1 conv=fsync 2>&1; echo rc=$?")
    assert not out.endswith("rc=0"), out
    out = con.cmd("blockdev --setrw /dev/vda; dd if=/dev/zero of=/dev/vda bs=4096 count=1"
                  " oflag=direct 2>&1; echo rc=$?")
    assert not out.endswith("rc=0"), out
    # reads work; the writable neighbour takes writes
    assert con.cmd("dd if=/dev/vda bs=1M count=4 2>/dev/null | sha256sum").split()[0] == \
        before.split()[0]
    out = con.cmd("echo hello-vdb | dd of=/dev/vdb conv=fsync 2>/dev/null; echo rc=$?")
    assert out.endswith("rc=0"), out
    poweroff(runner, con)
    assert host_ok(runner, f"sha256sum < {img}; stat -c %Y {img}") == before
    assert host_ok(runner, f"head -c 10 {other}") == "hello-vdb\n"


def test_block_device_disk_on_a_loop_device(runner, img):
    """The dedicated-resource VBD: a host block device (a loop device here,
    an LVM LV in real life) as the guest's disk."""
    # (busybox's losetup, in the test host, has no --show)
    dev = host_ok(runner, f"truncate -s 64M {img} && d=$(losetup -f) && losetup $d {img}"
                          f" && echo $d").strip()
    assert dev.startswith("/dev/loop"), dev
    try:
        con = boot(runner, ["--disk", dev])
        assert con.cmd("cat /sys/block/vda/size") == str(64 * 2048)
        out = con.cmd("printf 'on-the-loop-device' | dd of=/dev/vda bs=512 seek=1000"
                      " conv=sync,fsync 2>/dev/null; echo rc=$?")
        assert out.endswith("rc=0"), out
        poweroff(runner, con)
        out = host_ok(runner, f"dd if={dev} bs=512 skip=1000 count=1 2>/dev/null | head -c 18")
        assert out == "on-the-loop-device"
        # the same device twice, writable: refused before anything starts
        out, rc = runner.host(f"domus run --engine {runner.engine} --disk {dev}"
                              f" --disk {dev} </dev/null")
        assert rc == 1 and "the same device" in out, out
    finally:
        runner.host(f"losetup -d {dev}")
