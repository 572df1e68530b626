# SPDX-License-Identifier: MIT
"""Domain lifecycle with the KVM engine, inside the nested test host (where
/dev/kvm runs guest kernels): two domains, list, suspend/resume (vCPUs
parked), kill -9 of one monitor with on_crash = "restart", graceful shutdown
through our ACPI power button (PM1 PWRBTN_STS + SCI), destroy."""
import os
import subprocess

import pytest

from conftest import ROOT, domus_bin

SCRIPT = r'''
export DOMUS_ROOT=/tmp/dr
mkdir -p $DOMUS_ROOT
for n in k1 k2; do
cat > /tmp/$n.cfg <<EOF
name = "$n"
memory = 256
vcpus = 1
engine = "kvm"
kernel = "/hv/guest/vmlinuz"
ramdisk = "/hv/guest/initrd.img"
extra = "quiet no_timer_check"
on_crash = "restart"
EOF
domus define /tmp/$n.cfg || exit 10
done
domus start k1 || exit 11
domus start k2 || exit 12
# the console log (replayed on connect) tells when a guest is up
up() {
	for i in $(seq 1 90); do
		timeout 2 socat -u UNIX-CONNECT:$DOMUS_ROOT/run/domus/$1/console.sock - 2>/dev/null |
			grep -q "init ready" && return 0
		sleep 1
	done
	return 1
}
up k1 || exit 13
up k2 || exit 14
echo "== list"; domus list
domus suspend k1 && echo "== after suspend" && domus list
domus resume k1 && echo "== after resume" && domus list
domus dominfo k1
mon=$(sed -n 's/.*"monitor": *\([0-9]*\).*/\1/p' $DOMUS_ROOT/run/domus/k2/state)
kill -9 $mon
sleep 3
echo "== after kill"; domus list
grep -h "restarting (on_crash)" $DOMUS_ROOT/run/domus/k2/log && echo "KILL-RESTARTED"
domus shutdown k1 --timeout 120 && echo "== after shutdown" && domus list --all
grep -q "guest powered off" $DOMUS_ROOT/run/domus/k1/log && echo "POWERBUTTON-OK"
domus destroy k2
echo "== end"; domus list --all
'''


def test_domain_lifecycle_with_the_kvm_engine(domus, guest):
    if not os.access(ROOT / "tests/hostvm/hostvm.sh", os.X_OK):
        pytest.skip("tests/hostvm/hostvm.sh missing")
    p = subprocess.run([str(ROOT / "tests/hostvm/hostvm.sh"), "--need-domus",
                        "--add", "/usr/bin/socat", "--timeout", "900", "-c", SCRIPT],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       errors="replace", timeout=1000, cwd=str(ROOT),
                       env=dict(os.environ, DOMUS_BIN=str(domus_bin())))
    out = p.stdout
    if p.returncode == 77:
        pytest.skip("nested test host: " + out.strip().splitlines()[-1])
    assert p.returncode == 0, out[-4000:]
    sections = dict(s.split("\n", 1) for s in out.split("== ")[1:] if "\n" in s)
    assert "k1" in sections["list"] and "k2" in sections["list"], out
    assert sections["list"].count("running") == 2, out
    assert "paused" in sections["after suspend"], out
    assert "paused" not in sections["after resume"], out
    assert "Engine:         kvm" in out, out
    assert "KILL-RESTARTED" in out, out
    k2 = [line for line in sections["after kill"].splitlines() if " k2 " in line]
    assert k2 and "running" in k2[0], out
    assert "POWERBUTTON-OK" in out, out
    assert "shut off" in sections["end"] and "running" not in sections["end"], out
