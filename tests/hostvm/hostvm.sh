#!/bin/bash
# SPDX-License-Identifier: MIT
# hostvm.sh: run a script inside the nested test host ("L1"): a QEMU TCG
# virtual machine with an emulated AMD SVM CPU, in which the Debian kernel
# loads kvm-amd, so /dev/kvm inside is a real (nested) KVM.
#
#   tests/hostvm/hostvm.sh [options] SCRIPT      run SCRIPT as /hv/run.sh in L1
#   tests/hostvm/hostvm.sh [options] -c 'CMDS'   the same with an inline script
#   tests/hostvm/hostvm.sh --interactive [...]   a root shell in L1 ("hostvm# ")
#
# Options:
#   --with-qemu        put qemu-system-x86_64 (+ libraries, firmware) in the payload
#   --with-fio         put fio, bench/fiobench and the guest's initrd-fio.img in the
#                      payload (from GUEST/fio, made by tools/mkguest.sh --fio)
#   --scratch SIZE     a second disk for L1, backed by a sparse file of SIZE (e.g.
#                      4G) in the run directory: L1 formats it ext4 and mounts it
#                      read-write at /scratch (QEMU cache=none, aio=io_uring if
#                      QEMU and this kernel have it, else threads)
#   --need-domus       skip (77) if the domus binary is missing
#   --no-domus         leave domus out of the payload even if it exists
#                      (default: include it if it exists; skip if it is missing and
#                      the script calls "domus")
#   --add SRC[:DEST]   copy SRC (file or dir) to /hv/DEST (default /hv/bin/<name>
#                      for executables, /hv/<name> otherwise); dynamic ELF
#                      executables get their libraries in /hv/lib (repeatable)
#   --timeout SEC      power L1 off after SEC seconds (default 900 for scripts,
#                      none for --interactive; 0 = none)
#   --memory MIB       L1 memory (default 3072)
#   --smp N            L1 vCPUs (default 1; N > 1 turns on multi-threaded TCG)
#   --append ARGS      more L1 kernel command line
#   --guest DIR        guest kernel/initramfs/modules (default build/guest)
#   --quiet            don't stream the console (it is still in the log)
#   --keep             keep the run directory (payload image, console log)
#
# Environment: DOMUS_BIN (default build/domus), HOSTVM_MODULES (more L1 modules).
#
# Exit status: the script's exit status; 77 = skipped (prerequisite missing, the
# reason on stdout as "SKIP: ..."); 124 = timeout; 125 = L1 failed (QEMU error,
# L1 setup failure, L1 died before reporting a status); 2 = usage error.
# The console of the last run is kept in build/hostvm/last-console.log.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
out=$top/build/hostvm
guest=${HOSTVM_GUEST:-$top/build/guest}
domus_bin=${DOMUS_BIN:-$top/build/domus}

with_qemu=0 with_fio=0 scratch='' interactive=0 domus_mode=auto timeout='' memory=3072 smp=1 append='' quiet=0 keep=0
script='' inline=''
adds=()

help() { sed -n '3,/^set /{/^#/s/^# \{0,1\}//p}' "$0"; }
usage() { help >&2; exit 2; }
skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "hostvm: $*" >&2; exit 125; }

while [ $# -gt 0 ]; do
	case $1 in
	--with-qemu) with_qemu=1 ;;
	--with-fio) with_fio=1 ;;
	--scratch) [ $# -ge 2 ] || usage; scratch=$2; shift ;;
	--interactive|-i) interactive=1 ;;
	--need-domus) domus_mode=need ;;
	--no-domus) domus_mode=no ;;
	--add) [ $# -ge 2 ] || usage; adds+=("$2"); shift ;;
	--timeout) [ $# -ge 2 ] || usage; timeout=$2; shift ;;
	--memory|-m) [ $# -ge 2 ] || usage; memory=$2; shift ;;
	--smp) [ $# -ge 2 ] || usage; smp=$2; shift ;;
	--append) [ $# -ge 2 ] || usage; append="$append $2"; shift ;;
	--guest) [ $# -ge 2 ] || usage; guest=$2; shift ;;
	--quiet|-q) quiet=1 ;;
	--keep) keep=1 ;;
	-c) [ $# -ge 2 ] || usage; inline=$2; shift ;;
	-h|--help) help; exit 0 ;;
	--) shift; break ;;
	-*) echo "hostvm: unknown option $1" >&2; usage ;;
	*) break ;;
	esac
	shift
done
if [ $# -gt 0 ]; then script=$1; shift; fi
[ $# -eq 0 ] || usage
[ -n "$script" ] && [ -n "$inline" ] && usage
[ -n "$script$inline" ] || [ $interactive = 1 ] || usage
[ -z "$script" ] || [ -f "$script" ] || { echo "hostvm: no such script: $script" >&2; exit 2; }
case $memory$smp in *[!0-9]*) usage ;; esac
[ -z "$timeout" ] && { if [ $interactive = 1 ]; then timeout=0; else timeout=900; fi; }
case $timeout in *[!0-9]*|'') usage ;; esac
# truncate's sizes, kept to what QEMU and people agree on: bytes or K/M/G/T.
if [ -n "$scratch" ] && ! [[ $scratch =~ ^[1-9][0-9]*[KMGT]?$ ]]; then
	echo "hostvm: --scratch: bad size '$scratch' (e.g. 512M, 4G)" >&2; exit 2
fi

# --- prerequisites ----------------------------------------------------------------
qemu=$(command -v qemu-system-x86_64) || skip "qemu-system-x86_64 is not installed"
command -v mke2fs >/dev/null || [ -x /sbin/mke2fs ] || skip "mke2fs (e2fsprogs) is not installed"
PATH=$PATH:/sbin:/usr/sbin
for f in vmlinuz initrd.img release modules/modules.dep; do
	[ -e "$guest/$f" ] || skip "no $guest/$f (run tools/mkguest.sh $guest)"
done
[ -x /bin/busybox ] || command -v busybox >/dev/null || skip "busybox-static is not installed"
if [ $with_fio = 1 ]; then
	for f in fio/usr/bin/fio fio/bin/fiobench initrd-fio.img; do
		[ -e "$guest/$f" ] || skip "no $guest/$f (run tools/mkguest.sh --fio $guest)"
	done
fi
mke2fs=$(command -v mke2fs)
qboot=/usr/share/qemu/qboot.rom
[ -f $qboot ] || qboot=

script_text=$inline
[ -n "$script" ] && script_text=$(cat "$script")
case $domus_mode in
auto)
	if [ ! -x "$domus_bin" ] && printf '%s\n' "$script_text" |
		grep -Eq '(^|[[:space:];&|(`$])domus([[:space:]]|$)'; then
		skip "the script runs domus, but $domus_bin is not built"
	fi ;;
need) [ -x "$domus_bin" ] || skip "$domus_bin is not built" ;;
esac

mkdir -p "$out"

# --- the L1 initramfs (cached) ----------------------------------------------------
key=$( { cat "$here/mkhostinit.sh" "$top/tools/modorder.sh" 2>/dev/null; cat "$guest/release"; stat -c '%Y %s' "$guest/modules/modules.dep";
	echo "${HOSTVM_MODULES:-}"; } | sha256sum | cut -c1-16)
hostinit=$out/hostinit-$key.img
if [ ! -f "$hostinit" ]; then
	(
		flock 9
		if [ ! -f "$hostinit" ]; then
			tmp=$(mktemp -d "$out/.hostinit.XXXXXX")
			"$here/mkhostinit.sh" -g "$guest" "$tmp" >/dev/null 2>"$tmp/log" ||
				{ cat "$tmp/log" >&2; rm -rf "$tmp"; exit 1; }
			mv "$tmp/hostinit.img" "$hostinit"
			rm -rf "$tmp"
			# Old cache entries go.
			find "$out" -maxdepth 1 -name 'hostinit-*.img' ! -name "${hostinit##*/}" -delete
		fi
	) 9>"$out/.lock" || fail "building the L1 initramfs failed"
fi

# --- the payload ------------------------------------------------------------------
run=$(mktemp -d "$out/run.XXXXXX")
qpid=
# shellcheck disable=SC2317 # called by trap
cleanup() {
	trap '' INT TERM HUP
	[ -n "${wpid:-}" ] && kill "$wpid" 2>/dev/null
	[ -f "$run/console.log" ] && cp "$run/console.log" "$out/last-console.log"
	# The directory first (QEMU keeps its open image): a SIGKILL may follow.
	if [ "$keep" = 1 ]; then echo "hostvm: kept $run" >&2; else rm -rf "$run"; fi
	if [ -n "$qpid" ] && kill -0 "$qpid" 2>/dev/null; then
		kill -TERM "$qpid" 2>/dev/null
		for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$qpid" 2>/dev/null || return 0; sleep 0.1; done
		kill -KILL "$qpid" 2>/dev/null
	fi
	return 0
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
p=$run/payload
mkdir -p "$p/bin" "$p/lib" "$p/guest" "$p/share/qemu"

is_elf() { [ "$(head -c4 "$1" 2>/dev/null | od -An -tx1 | tr -d ' ')" = 7f454c46 ]; }
# Copy the shared libraries of ELF $1 (and the loader) to $p/lib.
add_libs() {
	local line name path
	ldd "$1" 2>/dev/null | while read -r line; do
		case $line in
		*'=> not found'*) echo "hostvm: warning: $1: ${line%% *} not found" >&2 ;;
		*'=> /'*)
			name=${line%% =>*}; path=${line#*=> }; path=${path%% (*}
			[ -e "$p/lib/$name" ] || cp -L "$path" "$p/lib/$name" ;;
		/*ld-linux*)
			path=${line%% (*}
			[ -e "$p/lib/ld-linux-x86-64.so.2" ] || cp -L "$path" "$p/lib/ld-linux-x86-64.so.2" ;;
		esac
	done
}
add_exe() { # src dest-relative
	mkdir -p "$(dirname "$p/$2")"
	cp -L "$1" "$p/$2" || fail "cannot copy $1"
	if is_elf "$1" && ! file -L "$1" | grep -q 'statically linked'; then add_libs "$1"; fi
}

cp -L "$guest/vmlinuz" "$guest/initrd.img" "$p/guest/"
ln -s ../guest "$p/bin/guest" # domus looks for guest/ next to its binary
if [ $domus_mode != no ] && [ -x "$domus_bin" ]; then
	add_exe "$domus_bin" bin/domus
fi
if [ $with_qemu = 1 ]; then
	add_exe "$qemu" bin/qemu-system-x86_64
	# Firmware for -M microvm (qboot) and -M pc/q35 (SeaBIOS), the option ROMs
	# QEMU loads for -kernel, and kvmvapic.bin (pc/q35 with KVM).
	for f in /usr/share/qemu/{bios-microvm.bin,qboot.rom,linuxboot.bin,linuxboot_dma.bin,kvmvapic.bin,pvh.bin,multiboot.bin,multiboot_dma.bin} \
		/usr/share/seabios/{bios-256k.bin,bios.bin}; do
		[ -e "$f" ] && cp -L "$f" "$p/share/qemu/"
	done
	# TCG as a module, so "-accel tcg" works in L1 too.
	m=/usr/lib/x86_64-linux-gnu/qemu/accel-tcg-x86_64.so
	if [ -e "$m" ]; then mkdir -p "$p/lib/qemu"; cp -L "$m" "$p/lib/qemu/"; add_libs "$m"; fi
fi
if [ -n "$scratch" ]; then
	# L1 formats the scratch disk itself (its initramfs is busybox only).
	add_exe "$mke2fs" bin/mkfs.ext4
	[ -f /etc/mke2fs.conf ] && mkdir -p "$p/etc" && cp /etc/mke2fs.conf "$p/etc/"
fi
if [ $with_fio = 1 ]; then
	cp "$guest/fio/usr/bin/fio" "$guest/fio/bin/fiobench" "$p/bin/"
	cp "$guest/initrd-fio.img" "$p/guest/"
	# Last and without overwriting: fio's stub libraries (tools/mkguest.sh) must
	# not replace real ones QEMU needs (it links librdmacm and libibverbs).
	cp -n "$guest"/fio/lib/x86_64-linux-gnu/* "$guest/fio/lib64/ld-linux-x86-64.so.2" "$p/lib/"
fi
for a in "${adds[@]}"; do
	src=${a%%:*} dest=
	[ "$src" != "$a" ] && dest=${a#*:}
	[ -e "$src" ] || fail "--add: no such file: $src"
	if [ -z "$dest" ]; then
		if [ -f "$src" ] && [ -x "$src" ]; then dest=bin/${src##*/}; else dest=${src##*/}; fi
	fi
	if [ -d "$src" ]; then
		mkdir -p "$(dirname "$p/$dest")"; cp -rL "$src" "$p/$dest"
	else
		add_exe "$src" "$dest"
	fi
done
if [ -n "$script" ]; then cp "$script" "$p/run.sh"; elif [ -n "$inline" ]; then printf '%s\n' "$inline" > "$p/run.sh"; fi

# ext4 image, sized from the content (+25% and 8 MiB for metadata).
kib=$(du -sk --apparent-size "$p" | cut -f1)
kib=$(( kib + kib / 4 + 8192 ))
mke2fs -q -F -t ext4 -O ^has_journal -m 0 -E root_owner=0:0 -d "$p" "$run/payload.img" "${kib}k" >/dev/null ||
	fail "mke2fs failed"
rm -rf "$p"

# The scratch disk: sparse, so SIZE costs only what L1 writes. L1 finds it by
# its serial number, not by its name (vdb), which depends on probe order.
scratch_args=()
if [ -n "$scratch" ]; then
	img=$run/scratch.img
	truncate -s "$scratch" "$img" || fail "cannot create the scratch file $img"
	cache=none
	if ! dd if=/dev/zero of="$img" bs=4096 count=1 conv=notrunc oflag=direct 2>/dev/null; then
		echo "hostvm: warning: $run does not support O_DIRECT; the scratch disk uses the page cache" >&2
		cache=writeback
	fi
	# io_uring needs a QEMU built with liburing and a kernel that allows it:
	# ask QEMU itself, with an empty machine that quits at once.
	aio=threads
	echo quit | "$qemu" -M none -nodefaults -display none -monitor stdio \
		-drive "file=$img,format=raw,if=none,id=probe,cache=$cache,aio=io_uring" >/dev/null 2>&1 &&
		aio=io_uring
	scratch_args=(-drive "file=$img,format=raw,if=none,id=scratch,cache=$cache,aio=$aio,discard=unmap"
		-device virtio-blk-pci,drive=scratch,serial=hostvm-scratch)
	append="$append hostvm.scratch"
fi

# --- boot L1 -----------------------------------------------------------------------
# EPYC minus the features TCG cannot emulate (that would only print warnings).
cpu=EPYC,+svm,-rdseed,-sha-ni,-fxsr-opt,-misalignsse,-3dnowprefetch,-osvw,-topoext,-nrip-save,-xsavec
accel=tcg
[ "$smp" -gt 1 ] && accel=tcg,thread=multi
# idle=poll: L1 never halts its TCG vCPU. Several times (once in CI, in a
# 4-vCPU boot) a halted L1 stopped making progress until a byte arrived on its
# console; a vCPU that never halts can't miss its wake-up. It costs nothing
# that matters: L1 exists to run the guests, and its CPU is busy then anyway.
cmdline="console=ttyS0 quiet panic=-1 idle=poll$append"
[ $interactive = 1 ] && cmdline="$cmdline hostvm.interactive"
q=("$qemu" -M q35 -accel "$accel" -cpu "$cpu" -m "$memory" -smp "$smp"
	${qboot:+-bios "$qboot"}
	-nographic -nodefaults -no-user-config -no-reboot
	-kernel "$guest/vmlinuz" -initrd "$hostinit" -append "$cmdline"
	-drive "file=$run/payload.img,format=raw,if=none,id=payload,readonly=on"
	-device virtio-blk-pci,drive=payload,serial=hostvm-payload
	-pidfile "$run/qemu.pid" "${scratch_args[@]}")

# After $timeout seconds: mark the run as timed out and stop QEMU ($qpid).
# Nothing of it may keep our stdout open (a reader waits for its end).
wpid=
watchdog() {
	[ "$timeout" -gt 0 ] || return 0
	(
		spid=
		trap 'kill $spid 2>/dev/null; exit 0' TERM
		sleep "$timeout" &
		spid=$!
		wait $spid
		touch "$run/timeout"
		[ -n "$qpid" ] && kill -TERM "$qpid" 2>/dev/null
	) </dev/null >/dev/null 2>&1 &
	wpid=$!
}

if [ $interactive = 1 ]; then
	# The console on this terminal, not multiplexed (Ctrl-A belongs to L1's
	# programs, e.g. domus) and without signals (Ctrl-C goes to L1's shell).
	# Leave with "exit" in L1 (powers it off), or end this script (SIGHUP,
	# SIGTERM: L1 goes too).
	q+=(-chardev "stdio,id=con,signal=off" -serial chardev:con)
	exec 3<&0
	"${q[@]}" 0<&3 3<&- &
	qpid=$!
	exec 3<&-
	trap 'exit 129' HUP
	watchdog
	wait "$qpid"
	qrc=$?
	qpid=
	if [ -f "$run/timeout" ]; then
		echo "hostvm: timeout: L1 killed after ${timeout}s" >&2
		exit 124
	fi
	exit $qrc
fi

q+=(-serial stdio)
start=$(date +%s.%N)
if [ $quiet = 1 ]; then
	"${q[@]}" </dev/null >"$run/console.log" 2>&1 &
else
	"${q[@]}" </dev/null 2>&1 | tee "$run/console.log" &
fi
bgpid=$!
for _ in $(seq 50); do [ -s "$run/qemu.pid" ] && break; kill -0 $bgpid 2>/dev/null || break; sleep 0.1; done
qpid=$(cat "$run/qemu.pid" 2>/dev/null)
watchdog
wait $bgpid
qrc=$?
[ -n "$wpid" ] && kill "$wpid" 2>/dev/null && wait "$wpid" 2>/dev/null
wpid=
end=$(date +%s.%N)

status=$(tr -d '\r' < "$run/console.log" | grep -aoE 'HOSTVM-STATUS=([0-9]+|setup-failed)' | tail -n1)
status=${status#HOSTVM-STATUS=}
secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
if [ -f "$run/timeout" ]; then
	echo "hostvm: timeout: L1 killed after ${timeout}s (console: $out/last-console.log)" >&2
	exit 124
fi
case $status in
'') echo "hostvm: L1 ended (qemu status $qrc) without reporting a status (console: $out/last-console.log)" >&2; exit 125 ;;
setup-failed) echo "hostvm: L1 setup failed (console: $out/last-console.log)" >&2; exit 125 ;;
esac
echo "hostvm: script exit status $status (L1 ran ${secs}s)" >&2
exit "$status"
