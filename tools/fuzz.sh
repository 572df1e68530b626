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
targets="fuzz_bzimage fuzz_cmdline fuzz_virtqueue fuzz_virtio_blk fuzz_virtio_console fuzz_oci_config fuzz_stream"
for t in $targets; do mkdir -p "$corpus/$t"; done
if [ -f build/guest/vmlinuz ] && [ ! -f "$corpus/fuzz_bzimage/vmlinuz-head" ]; then
	head -c 65536 build/guest/vmlinuz > "$corpus/fuzz_bzimage/vmlinuz-head"
fi
printf 'console=ttyS0 quiet' > "$corpus/fuzz_cmdline/default"
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
