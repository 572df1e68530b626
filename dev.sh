#!/bin/bash
# SPDX-License-Identifier: MIT
# dev.sh: everything a fresh Debian 12 machine needs, in one place.
#
#   ./dev.sh run [domus run flags]   install what is missing, build, make the
#                                    default guest, and boot it
#   ./dev.sh test                    the same set-up, then the whole test suite
#   ./dev.sh build                   set-up and build only
#   ./dev.sh fuzz [SECONDS]          build the libFuzzer targets and run each
set -euo pipefail
cd "$(dirname "$0")"

# Debian packages: build tools, libraries we link, what the default guest and
# the QEMU engine need, and the test tools.
PKGS=(
	meson ninja-build gcc clang pkg-config file
	libcmocka-dev libjson-c-dev liburing-dev libzstd-dev libclang-rt-14-dev
	qemu-system-x86 busybox-static cpio kmod e2fsprogs fio
	python3 python3-pytest python3-pexpect acpica-tools socat
	libseccomp-dev libcap-dev podman crun runc
	libedit-dev libext2fs-dev comerr-dev libcurl4-openssl-dev
	libslirp-dev libglib2.0-dev iperf3
)

log() { printf 'dev.sh: %s\n' "$*" >&2; }

install_missing() {
	local missing=() p
	for p in "${PKGS[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
			missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		log "missing Debian packages: ${missing[*]} (run as root, or apt-get install them)"
		exit 1
	fi
	log "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q >/dev/null || log "apt-get update failed; trying the cached lists"
	apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

build() {
	[ -f build/build.ninja ] || meson setup build >/dev/null
	ninja -C build >/dev/null || { ninja -C build | grep -E -A5 'error|FAILED' >&2; exit 1; }
	# The ASan+UBSan build the unit tests use.
	if [ ! -f build-asan/build.ninja ]; then
		meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false \
			-Dbuildtype=debug >/dev/null
	fi
	ninja -C build-asan >/dev/null || { ninja -C build-asan | grep -E -A5 'error|FAILED' >&2; exit 1; }
	# The default guest: made again when it is missing or the scripts that
	# make it changed (mkguest.sh reuses the kernel while apt's is the same).
	local want have=
	want=$(cat tools/mkguest.sh tools/modorder.sh | sha256sum | cut -c1-16)
	[ -f build/guest/.made-by ] && have=$(cat build/guest/.made-by)
	if [ ! -f build/guest/vmlinuz ] || [ ! -f build/guest/initrd-fio.img ] || [ "$want" != "$have" ]; then
		# --fio: also the benchmark guest (bench/disk, and a test of fio in the guest)
		tools/mkguest.sh --fio build/guest
		echo "$want" > build/guest/.made-by
	fi
}

cmd=${1:-build}
[ $# -gt 0 ] && shift
case "$cmd" in
run)
	install_missing
	build
	exec build/domus run "$@"
	;;
test)
	install_missing
	build
	exec tests/run "$@"
	;;
build)
	install_missing
	build
	;;
fuzz)
	install_missing
	build
	exec tools/fuzz.sh "$@"
	;;
*)
	echo "usage: ./dev.sh run|test|build|fuzz" >&2
	exit 2
	;;
esac
