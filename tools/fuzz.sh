#!/bin/bash
# SPDX-License-Identifier: MIT
# fuzz.sh [SECONDS]: build the libFuzzer targets with clang + ASan + UBSan in
# build-fuzz/ and run each for SECONDS (default 600), seeded from the default
# guest's kernel. A crash stops the run with the reproducer's path.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-600}
if [ ! -f build-fuzz/build.ninja ]; then
	CC=clang meson setup build-fuzz -Dfuzz=true -Db_sanitize=address,undefined \
		-Db_lundef=false -Dbuildtype=debug >/dev/null
fi
ninja -C build-fuzz >/dev/null || { ninja -C build-fuzz | grep -E 'error|FAILED' >&2; exit 1; }
corpus=build-fuzz/corpus
targets="fuzz_bzimage fuzz_cmdline fuzz_virtqueue fuzz_virtio_blk fuzz_virtio_console fuzz_virtio_net fuzz_oci_config fuzz_xlcfg fuzz_stream"
for t in $targets; do mkdir -p "$corpus/$t"; done
if [ -f build/guest/vmlinuz ] && [ ! -f "$corpus/fuzz_bzimage/vmlinuz-head" ]; then
	head -c 65536 build/guest/vmlinuz > "$corpus/fuzz_bzimage/vmlinuz-head"
fi
printf 'console=ttyS0 quiet' > "$corpus/fuzz_cmdline/default"
# the Xen chapter's config seeds the xl.cfg parser
cat > "$corpus/fuzz_xlcfg/chef" <<'XL'
name = "chef"
uuid = "f4e2e3b4-7f3d-4b1b-8b3b-3b4b1b7f3d4b"
maxmem = 1024
memory = 1024
vcpus = 1
bootloader = "/usr/bin/pygrub"
on_poweroff = "destroy"; on_reboot = "restart"; on_crash = "restart"
vfb = [ ]
disk = [ "file:/vm/chef.dsk,xvda,w", 'format=raw, vdev=xvdb, access=ro, target=/x' ]
vif = [ "mac=00:16:3e:2b:2b:2b,bridge=xenbr0", "type=nat,hostfwd=tcp::22-:22" ]
extra = "console=ttyS0 \"q\""
XL
# the default config.json seeds the OCI parser
if [ -x build/domus-oci ] && [ ! -f "$corpus/fuzz_oci_config/default" ]; then
	build/domus-oci spec --bundle "$corpus/fuzz_oci_config" &&
		mv "$corpus/fuzz_oci_config/config.json" "$corpus/fuzz_oci_config/default"
fi
status=0
for t in $targets; do
	echo "fuzz.sh: $t for ${secs}s"
	if ! UBSAN_OPTIONS=halt_on_error=1 build-fuzz/fuzz/$t -max_total_time="$secs" -timeout=20 \
		-artifact_prefix=build-fuzz/"$t"- -print_final_stats=1 "$corpus/$t" \
		> build-fuzz/"$t".log 2>&1; then
		echo "fuzz.sh: $t FAILED, see build-fuzz/$t.log"
		tail -20 build-fuzz/"$t".log
		status=1
	else
		grep -E 'stat::number_of_executed_units' build-fuzz/"$t".log || true
	fi
done
exit $status
