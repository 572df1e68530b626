# SPDX-License-Identifier: MIT
"""Booting domains from what they carry: the chef config of the Xen chapter
with bootloader = "/usr/bin/pygrub" on a disk whose /boot holds grub.cfg, a
kernel and an initrd (made with mke2fs -d, whole disk and partitioned); and
`domus install` from a netboot-style tree, in a directory and over HTTP
(python3 -m http.server on 127.0.0.1), with the console attached."""
import io
import os
import shutil
import socket
import subprocess
import sys

import pexpect
import pytest

from conftest import GUEST
from domhelp import Domus

CHEF = """name = "chef"
uuid = "f4e2e3b4-7f3d-4b1b-8b3b-3b4b1b7f3d4b"
maxmem = 1024
memory = 1024
vcpus = 1
bootloader = "/usr/bin/pygrub"
on_poweroff = "destroy"
on_reboot = "restart"
on_crash = "restart"
vfb = [ ]
disk = [ "file:/vm/chef.dsk,xvda,w" ]
vif = [ "mac=00:16:3e:2b:2b:2b,bridge=xenbr0" ]
"""

GRUB = """set default="1"
set timeout=5
menuentry 'Debian GNU/Linux, rescue' {
	linux	/boot/vmlinuz-rescue root=/dev/vda ro single
}
menuentry 'Debian GNU/Linux' --class debian $menuentry_id_option 'gnulinux-simple' {
	load_video
	insmod ext2
	echo	'Loading Linux ...'
	linux	/boot/vmlinuz-6.1.0-test root=/dev/vda ro quiet no_timer_check $vt_handoff domus.chef=grub
	initrd	/boot/initrd.img-6.1.0-test
}
"""


@pytest.fixture
def dm(domus, guest, qemu):
    require_tools()
    d = Domus("qemu")
    yield d
    d.cleanup()


def require_tools():
    if not shutil.which("mke2fs"):
        pytest.skip("mke2fs not installed (e2fsprogs)")


def make_boot_disk(dm, partitioned=False):
    tree = dm.root / "tree"
    (tree / "boot/grub").mkdir(parents=True)
    shutil.copy(GUEST / "vmlinuz", tree / "boot/vmlinuz-6.1.0-test")
    shutil.copy(GUEST / "initrd.img", tree / "boot/initrd.img-6.1.0-test")
    (tree / "boot/grub/grub.cfg").write_text(GRUB)
    disk = dm.root / "chef.dsk"
    if not partitioned:
        subprocess.run(["mke2fs", "-q", "-t", "ext4", "-d", str(tree), str(disk), "64M"],
                       check=True)
        return disk
    # an MBR with one partition at 1 MiB, the file system made apart and put there
    fs = dm.root / "part.img"
    subprocess.run(["mke2fs", "-q", "-t", "ext4", "-d", str(tree), str(fs), "64M"], check=True)
    with open(disk, "wb") as f:
        mbr = bytearray(512)
        entry = bytes([0x80, 0, 0, 0, 0x83, 0, 0, 0]) + (2048).to_bytes(4, "little") + \
            ((64 << 20) // 512).to_bytes(4, "little")
        mbr[446:462] = entry
        mbr[510:512] = b"\x55\xaa"
        f.write(mbr)
        f.seek(1 << 20)
        f.write(fs.read_bytes())
    return disk


@pytest.fixture
def xenbr0():
    """A network namespace with the chef config's bridge xenbr0 in it; the
    domain is started there (its monitor makes a TAP on the bridge)."""
    if os.geteuid() != 0:
        pytest.skip("the chef config's bridge xenbr0 needs root (a network namespace)")
    ns = f"domus-chef-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "-n", ns, "link", "add", "xenbr0", "type", "bridge"], check=True)
        subprocess.run(["ip", "-n", ns, "link", "set", "xenbr0", "up"], check=True)
        yield ns
    finally:
        pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout
        for pid in pids.split():
            subprocess.run(["kill", "-9", pid])
        subprocess.run(["ip", "netns", "del", ns])


@pytest.mark.parametrize("partitioned", [False, True], ids=["whole-disk", "mbr-partition"])
def test_chef_config_boots_through_the_bootloader(dm, xenbr0, partitioned):
    disk = make_boot_disk(dm, partitioned)
    cfg = dm.root / "chef.cfg"
    # the config as written in the Xen chapter; only where the disk lives differs
    cfg.write_text(CHEF.replace("/vm/chef.dsk", str(disk)))
    out = dm.run("define", str(cfg), check=True)
    assert "vfb: ignored" in out.stderr, out.stderr
    # without the bridge: one clear error, nothing running
    err = dm.fails("start", "chef")
    assert "xenbr0" in err, err
    assert dm.state("chef") == "shut off"
    p = subprocess.run(["ip", "netns", "exec", xenbr0, dm.bin, "start", "chef"], env=dm.env,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "Domain 'chef' started" in p.stdout, p.stdout + p.stderr
    dm.wait_console("chef", "domus-guest: init ready")
    # the vif: eth0 with the config's MAC, its TAP on xenbr0
    out = dm.console_cmd("chef", "cat /sys/class/net/eth0/address; echo NIC$((5+5))", r"NIC10")
    assert "00:16:3e:2b:2b:2b" in out, out
    br = subprocess.run(["ip", "-n", xenbr0, "link", "show", "master", "xenbr0"],
                        capture_output=True, text=True).stdout
    assert br.strip(), "no TAP on xenbr0"
    out = dm.console_cmd("chef", "cat /proc/cmdline; echo CMD$((1+1))", r"CMD2")
    # the second menuentry (set default="1"), its arguments, grub's variables dropped
    assert "domus.chef=grub" in out and "single" not in out and "vt_handoff" not in out, out
    assert "root=/dev/vda ro quiet" in out
    dev = "/dev/vda1" if partitioned else "/dev/vda"
    out = dm.console_cmd("chef", f"mount {dev} /mnt && mount | grep vda; echo M$((2+2))", r"M4")
    assert "ext4" in out, out
    info = dm.ok("dominfo", "chef")
    assert "f4e2e3b4-7f3d-4b1b-8b3b-3b4b1b7f3d4b" in info
    assert "Used memory:    1048576 KiB" in info


def test_bootloader_without_a_kernel_names_the_disk(dm):
    tree = dm.root / "empty"
    (tree / "etc").mkdir(parents=True)
    disk = dm.root / "nokernel.img"
    subprocess.run(["mke2fs", "-q", "-t", "ext4", "-d", str(tree), str(disk), "16M"], check=True)
    dm.ok("define", dm.cfg("nok", f'bootloader = "pygrub"\ndisk = [ "{disk},xvda,w" ]\n',
                           kernel=False))
    err = dm.fails("start", "nok")
    assert f"disk {disk}: no kernel found" in err, err
    assert dm.state("nok") == "shut off"
    raw = dm.root / "raw.img"
    raw.write_bytes(b"\0" * (1 << 20))
    dm.ok("define", dm.cfg("raw", f'bootloader = "pygrub"\ndisk = [ "{raw},xvda,w" ]\n',
                           kernel=False))
    err = dm.fails("start", "raw")
    assert f"no ext2/3/4 file system on disk {raw}" in err, err


def netboot_tree(dm):
    tree = dm.root / "netboot"
    d = tree / "debian-installer/amd64"
    d.mkdir(parents=True)
    shutil.copy(GUEST / "vmlinuz", d / "linux")
    shutil.copy(GUEST / "initrd.img", d / "initrd.gz")
    return tree


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def run_install(dm, location, name):
    disk = dm.root / f"{name}.img"
    child = pexpect.spawn(dm.bin, ["install", "-n", name, "-r", "256", "--vcpus", "1",
                                   "-f", str(disk), "-s", "2", "-l", location,
                                   "--extra-args", "quiet no_timer_check domus.installer=yes", "--nographics",
                                   "--network", "nat",
                                   "--engine", "qemu"],
                          env=dm.env, encoding="utf-8", codec_errors="replace", timeout=120)
    seen = io.StringIO()
    child.logfile_read = seen
    try:
        child.expect_exact("Escape character is ^]")
        child.expect_exact("domus-guest: init ready")
        child.expect_exact("domus-guest:/# ")
        child.sendline("cat /proc/cmdline /sys/class/net/eth0/address; echo I$((3*3))")
        child.expect("I9")
        assert "domus.installer=yes" in child.before
        assert "00:16:3e:" in child.before      # --network nat: a NIC, Xen's OUI
        child.send("\x1d")      # detach; the domain keeps running
        child.expect(pexpect.EOF, timeout=10)
    finally:
        child.close(force=True)
    assert dm.state(name) == "running"
    st = os.stat(disk)
    assert st.st_size == 2 << 30 and st.st_blocks * 512 < (1 << 20)   # sparse, 2 GiB
    cfg = (dm.root / f"etc/domus/{name}.cfg").read_text()
    assert f'name = "{name}"' in cfg and "memory = 256" in cfg
    assert f'"file:{disk},xvda,w"' in cfg and 'vif = [ "type=nat" ]' in cfg
    assert (dm.root / f"var/lib/domus/boot/{name}/linux").read_bytes() == \
        (GUEST / "vmlinuz").read_bytes()
    return seen.getvalue()


def test_install_from_a_local_tree(dm):
    run_install(dm, str(netboot_tree(dm)), "inst")


def test_install_over_http_with_progress(dm):
    tree = netboot_tree(dm)
    port = free_port()
    srv = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                            "--directory", str(tree)], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                import time
                time.sleep(0.1)
        out = run_install(dm, f"http://127.0.0.1:{port}/", "webinst")
        assert "100%" in out and "kernel" in out and "initrd" in out, out
        # a location with no installer: one error, nothing left behind
        err = dm.fails("install", "-n", "broken", "-r", "256", "-f", str(dm.root / "b.img"),
                       "-s", "1", "-l", f"http://127.0.0.1:{port}/nothing/", "--engine", "qemu")
        assert "no installer kernel found" in err, err
        assert not (dm.root / "b.img").exists()
        assert not (dm.root / "etc/domus/broken.cfg").exists()
        assert dm.state("broken") is None
    finally:
        srv.kill()
        srv.wait()
