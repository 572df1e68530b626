# SPDX-License-Identifier: MIT
"""Domain management on this host with the QEMU engine (fast: TCG boots the
default guest in ~2 s): config files, virsh's verbs, three domains at once,
kill -9 of one domain's monitor, lifecycle policies, shared disks, the
shell through a pseudo-terminal. The bootloader and `domus install` are in
test_domains_boot.py; the KVM engine in test_domains_kvm.py."""
import os
import re
import signal
import time

import pexpect
import pytest

from domhelp import Domus


@pytest.fixture
def dm(domus, guest, qemu):
    d = Domus("qemu")
    yield d
    d.cleanup()


def test_define_list_undefine_and_bad_input(dm):
    path = dm.cfg("alpha")
    out = dm.ok("define", path)
    assert "Domain 'alpha' defined" in out
    assert dm.list("--all") == {"alpha": ("-", "shut off")}
    assert dm.list() == {}
    stored = (dm.root / "etc/domus/alpha.cfg").read_text()
    assert "# alpha: a test domain" in stored            # the file as written...
    uuid = re.search(r'uuid = "([0-9a-f-]{36})"', stored).group(1)   # ...plus its uuid
    # defining again (same name, same uuid) updates it; the uuid stays
    dm.ok("define", str(dm.root / "etc/domus/alpha.cfg"))
    assert uuid in (dm.root / "etc/domus/alpha.cfg").read_text()
    # another name with alpha's uuid: refused
    err = dm.fails("define", dm.cfg("beta", f'uuid = "{uuid}"\n'))
    assert f"already has uuid {uuid}" in err
    # alpha's name with another uuid: refused
    bad = dm.root / "dup.cfg"
    bad.write_text((dm.root / "alpha.cfg").read_text()
                   + 'uuid = "00000000-0000-0000-0000-000000000001"\n')
    err = dm.fails("define", str(bad))
    assert "domain 'alpha' already exists with uuid" in err
    # a bad value: file:line:col and what was expected; nothing written
    before = sorted(os.listdir(dm.root / "etc/domus"))
    bad.write_text('name = "gamma"\nmemory = 256\nvcpus = "two"\nkernel = "/k"\n')
    err = dm.fails("define", str(bad))
    assert f"{bad}:3:9: vcpus: expected a number" in err, err
    assert len(err.strip().splitlines()) == 1
    bad.write_text('name = "gamma"\nkernel = "/k"\ndisk = [ "file:/x.img,xvda,w",\n'
                   '         "file:/y.img,xvdz9,w" ]\n')
    err = dm.fails("define", str(bad))
    assert f"{bad}:4:10: disk: vdev 'xvdz9'" in err, err
    bad.write_text('name = "gamma"\nkernel = "/k"\non_crash = "explode"\n')
    err = dm.fails("define", str(bad))
    assert f"{bad}:3:12: on_crash: 'explode': expected destroy, restart, preserve" in err, err
    assert sorted(os.listdir(dm.root / "etc/domus")) == before
    # unknown domains
    for verb in ("start", "dominfo", "destroy", "undefine", "shutdown", "console"):
        err = dm.fails(verb, "nosuch")
        assert "nosuch" in err, (verb, err)
    assert "is not running" in dm.fails("shutdown", "alpha")
    # undefine
    assert "has been undefined" in dm.ok("undefine", "alpha")
    assert dm.list("--all") == {}


def test_unwritable_config_dir(dm):
    (dm.root / "etc").mkdir()
    (dm.root / "etc/domus").write_text("a file where the directory should be\n")
    err = dm.fails("define", dm.cfg("alpha"))
    assert "config directory" in err and "not writable" in err, err
    assert (dm.root / "etc/domus").read_text().startswith("a file")


def test_three_domains_lifecycle(dm):
    names = ["alpha", "beta", "gamma"]
    for n in names:
        dm.ok("define", dm.cfg(n, 'on_reboot = "restart"\n'))
    for n in names:
        assert f"Domain '{n}' started" in dm.ok("start", n)
    rows = dm.list()
    assert set(rows) == set(names)
    assert all(s == "running" for _, s in rows.values()), rows
    ids = {n: int(rows[n][0]) for n in names}
    assert len(set(ids.values())) == 3
    assert "already running" in dm.fails("start", "beta")
    # one process tree per domain
    sups = {n: dm.statefile(n)["supervisor"] for n in names}
    mons = {n: dm.statefile(n)["monitor"] for n in names}
    assert len(set(sups.values()) | set(mons.values())) == 6
    for n in names:
        dm.wait_console(n, "domus-guest: init ready")

    # suspend / resume
    assert "suspended" in dm.ok("suspend", "beta")
    assert dm.state("beta") == "paused"
    assert dm.state("alpha") == "running"
    info = dm.ok("dominfo", "beta")
    assert re.search(r"State:\s+paused", info), info
    assert "resumed" in dm.ok("resume", "beta")
    assert dm.state("beta") == "running"
    out = dm.console_cmd("beta", "echo BETA$((40+2))", r"BETA42")
    assert "BETA42" in out

    # dominfo / domstats / an id works as a name
    info = dm.ok("dominfo", str(ids["alpha"]))
    assert re.search(r"Name:\s+alpha", info) and re.search(r"CPU\(s\):\s+1", info), info
    assert re.search(r"Used memory:\s+262144 KiB", info), info
    assert re.search(r"CPU time:\s+[0-9.]+s", info), info
    assert re.search(r"Uptime:\s+\d+s", info), info
    stats = dm.ok("domstats", "gamma")
    assert "Domain: 'gamma'" in stats and "state.state=1" in stats
    assert re.search(r"cpu\.time=[1-9]\d*", stats), stats

    # reboot: power button, the guest powers off, the domain boots again
    assert "is being rebooted" in dm.ok("reboot", "gamma")
    end = time.time() + 60
    while time.time() < end:
        rows = dm.list()
        if rows.get("gamma", ("0",))[0] not in (str(ids["gamma"]), "0", "-"):
            break
        time.sleep(0.3)
    assert rows["gamma"][1] == "running" and int(rows["gamma"][0]) > max(ids.values()), rows
    assert dm.statefile("gamma")["restarts"] == 1

    # graceful shutdown (ACPI power button), destroy, destroy
    assert "is shut down" in dm.ok("shutdown", "alpha", "--timeout", "60")
    assert dm.state("alpha") == "shut off"
    assert dm.state("beta") == "running"
    assert "destroyed" in dm.ok("destroy", "beta")
    assert "destroyed" in dm.ok("destroy", "gamma")
    assert dm.list() == {}
    assert all(s == "shut off" for _, s in dm.list("--all").values())
    # nothing of theirs is left running
    for pid in list(sups.values()) + list(mons.values()):
        assert not os.path.exists(f"/proc/{pid}") or \
            open(f"/proc/{pid}/stat").read().split()[2] == "Z"
    # and they start again
    dm.ok("start", "alpha")
    assert dm.state("alpha") == "running"


def test_kill9_of_one_domain(dm):
    dm.ok("define", dm.cfg("keep", 'on_crash = "preserve"\n'))
    dm.ok("define", dm.cfg("phoenix", 'on_crash = "restart"\n'))
    dm.ok("define", dm.cfg("bystander"))
    for n in ("keep", "phoenix", "bystander"):
        dm.ok("start", n)
    dm.wait_console("bystander", "domus-guest: init ready")
    old_id = dm.list()["phoenix"][0]

    os.kill(dm.statefile("keep")["monitor"], signal.SIGKILL)
    dm.wait_state("keep", "crashed")
    info = dm.ok("dominfo", "keep")
    assert "killed by signal 9" in info, info
    assert "destroy it first" in dm.fails("start", "keep")

    os.kill(dm.statefile("phoenix")["monitor"], signal.SIGKILL)
    end = time.time() + 30
    while time.time() < end and dm.list().get("phoenix", (old_id,))[0] == old_id:
        time.sleep(0.2)
    assert dm.list()["phoenix"][1] == "running"
    assert dm.list()["phoenix"][0] != old_id
    assert dm.statefile("phoenix")["restarts"] == 1
    assert "restarting (on_crash)" in dm.log("phoenix")
    dm.wait_console("phoenix", "domus-guest: init ready")

    # the bystander never noticed
    assert dm.state("bystander") == "running"
    assert "BY7" in dm.console_cmd("bystander", "echo BY$((3+4))", r"BY7")
    # a crashed domain is cleared by destroy and can start again
    dm.ok("destroy", "keep")
    assert dm.state("keep") == "shut off"
    dm.ok("start", "keep")
    assert dm.state("keep") == "running"


def test_guest_panic_applies_on_crash(dm):
    # a guest kernel panic (pvpanic) with on_crash = "preserve": crashed
    dm.ok("define", dm.cfg("panicky", 'on_crash = "preserve"\n'))
    dm.ok("start", "panicky")
    dm.wait_console("panicky", "domus-guest: init ready")
    dm.console_cmd("panicky", "echo c > /proc/sysrq-trigger", r"sysrq|Kernel panic|crash")
    dm.wait_state("panicky", "crashed")
    assert "the guest crashed" in dm.ok("dominfo", "panicky")


def test_on_poweroff_preserve_and_restart(dm):
    dm.ok("define", dm.cfg("kept", 'on_poweroff = "preserve"\n'))
    dm.ok("define", dm.cfg("again", 'on_poweroff = "restart"\n'))
    dm.ok("start", "kept")
    dm.ok("start", "again")
    for n in ("kept", "again"):
        dm.wait_console(n, "domus-guest: init ready")
    first = dm.list()["again"][0]
    for n in ("kept", "again"):
        dm.console_cmd(n, "poweroff", r"poweroff|Power down|reboot: Power")
    dm.wait_state("kept", "shut off")
    assert os.path.exists(f"/proc/{dm.statefile('kept')['supervisor']}")   # still there
    end = time.time() + 30
    while time.time() < end and dm.list().get("again", (first,))[0] == first:
        time.sleep(0.2)
    assert dm.list()["again"][1] == "running", dm.list()


def test_one_writable_disk_two_domains(dm):
    img = dm.root / "shared.img"
    with open(img, "wb") as f:
        f.truncate(16 << 20)
    dm.ok("define", dm.cfg("one", f'disk = [ "file:{img},xvda,w" ]\n'))
    dm.ok("define", dm.cfg("two", f'disk = [ "format=raw, vdev=xvdb, access=rw, target={img}" ]\n'))
    dm.ok("start", "one")
    err = dm.fails("start", "two")
    assert f"disk {img} is in use by running domain 'one'" in err, err
    assert dm.state("two") == "shut off"
    assert not (dm.root / "run/domus/two/state").exists()
    # read-only in the second: still refused while the first writes it
    dm.ok("define", dm.cfg("two", f'disk = [ "file:{img},xvda,r" ]\n'))
    assert "in use" in dm.fails("start", "two")
    dm.ok("destroy", "one")
    # both marked shareable: allowed (QEMU still locks its images, so the
    # second is a read-only user here)
    dm.ok("define", dm.cfg("one", f'disk = [ "file:{img},xvda,w!" ]\n'))
    dm.ok("define", dm.cfg("two", f'disk = [ "{img},xvda,r", "shareable" ]\n'.replace(
        '", "shareable"', ',shareable"')))
    dm.ok("start", "one")
    dm.ok("start", "two")
    assert dm.state("two") == "running"


def test_shell_through_a_pty(dm):
    dm.ok("define", dm.cfg("alpha"))
    dm.ok("define", dm.cfg("albatross"))
    sh = pexpect.spawn(dm.bin, [], env=dm.env, encoding="utf-8", codec_errors="replace",
                       timeout=30, dimensions=(40, 160))
    try:
        sh.expect_exact("domus # ")
        sh.sendline("list --all")
        sh.expect(r"-\s+albatross\s+shut off")
        sh.expect_exact("domus # ")
        # completion of a verb
        # (libedit redraws: what it adds is what we look for)
        sh.send("domin\t")
        sh.expect_exact("fo ")
        # of a domain name: "alp" is unique, "al" is not
        sh.send("alp\t")
        sh.expect_exact("ha")
        sh.sendline("")
        sh.expect(r"Name:\s+alpha")
        sh.expect(r"State:\s+shut off")
        sh.expect_exact("domus # ")
        # history: the previous line comes back with the up arrow
        sh.send("\x1b[A")
        sh.expect_exact("dominfo alpha")
        sh.sendline("")
        sh.expect(r"Name:\s+alpha")
        sh.expect_exact("domus # ")
        # errors are one line and the shell goes on
        sh.sendline("start nosuch")
        sh.expect("nosuch")
        sh.expect_exact("domus # ")
        sh.sendline("start alpha")
        sh.expect_exact("Domain 'alpha' started")
        sh.expect_exact("domus # ")
        sh.sendline("quit")
        sh.expect(pexpect.EOF)
    finally:
        sh.close(force=True)
    assert dm.state("alpha") == "running"
    # libedit keeps it across sessions (its own encoding: \\040 is a space)
    assert "dominfo\\040alpha" in (dm.root / "var/lib/domus/history").read_text()


def test_on_reboot_destroy_and_reset_in_place(dm):
    dm.ok("define", dm.cfg("once", 'on_reboot = "destroy"\n'))
    dm.ok("start", "once")
    dm.wait_console("once", "domus-guest: init ready")
    first = dm.list()["once"][0]
    # a reset from the administrator is done in place, whatever on_reboot says
    assert "was reset" in dm.ok("reset", "once")
    time_end = time.time() + 60
    boots = 1
    while time.time() < time_end and boots < 2:
        m = re.search(r"domus\.boots=(\d+)", dm.ok("domstats", "once"))
        boots = int(m.group(1)) if m else 0
        time.sleep(0.3)
    assert boots == 2
    assert dm.list()["once"] == (first, "running")
    dm.wait_console("once", "domus-guest: init ready")
    time.sleep(1)
    # the guest's own reboot: on_reboot = "destroy" ends the domain
    dm.console_cmd("once", "reboot", r"reboot|Restarting")
    dm.wait_state("once", "shut off")
    assert "the guest rebooted" in dm.log("once")


def test_create_autostart_console_busy_and_small_verbs(dm):
    # create: started from a file, not defined (transient)
    path = dm.cfg("tmp1")
    assert "Domain 'tmp1' created from" in dm.ok("create", path)
    assert dm.state("tmp1") == "running"
    assert not (dm.root / "etc/domus/tmp1.cfg").exists()
    assert re.search(r"Persistent:\s+no", dm.ok("dominfo", "tmp1"))
    uuid = dm.ok("domuuid", "tmp1").split()[0]
    assert re.fullmatch(r"[0-9a-f-]{36}", uuid)
    assert dm.ok("domid", "tmp1").split()[0] == dm.list()["tmp1"][0]
    assert dm.ok("domstate", uuid).split()[0] == "running"     # by uuid, as virsh
    # one console client at a time: the second gets one clear line
    import pexpect
    first = pexpect.spawn(dm.bin, ["console", "tmp1"], env=dm.env, encoding="utf-8", timeout=30)
    first.expect_exact("Escape character is ^]")
    err = dm.fails("console", "tmp1")
    assert "console busy" in err, err
    first.send("\x1d")
    first.expect(pexpect.EOF)
    first.close()
    dm.ok("destroy", "tmp1")
    assert "tmp1" not in dm.list("--all")      # gone with its process
    # autostart: only the marked ones start with start --autostart
    for n in ("auto1", "manual1"):
        dm.ok("define", dm.cfg(n))
    assert "marked as autostarted" in dm.ok("autostart", "auto1")
    assert (dm.root / "etc/domus/auto/auto1.cfg").is_symlink()
    dm.ok("start", "--autostart")
    assert dm.state("auto1") == "running" and dm.state("manual1") == "shut off"
    assert re.search(r"Autostart:\s+enable", dm.ok("dominfo", "auto1"))
    assert "unmarked" in dm.ok("autostart", "auto1", "--disable")
    assert not (dm.root / "etc/domus/auto/auto1.cfg").exists()
    assert dm.ok("domid", "manual1").split()[0] == "-"
    # --help of a verb, and bad flags
    assert "usage: domus shutdown DOMAIN [--timeout SECONDS]" in dm.ok("shutdown", "--help")
    assert "unknown option '--frob'" in dm.fails("list", "--frob")
    assert "--timeout 'soon'" in dm.fails("shutdown", "auto1", "--timeout", "soon")
