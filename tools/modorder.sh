# SPDX-License-Identifier: MIT
# modorder.sh: kernel module load order from modules.dep, dependencies first.
# A file of bash functions, sourced by tools/mkguest.sh and tests/hostvm/mkhostinit.sh:
#
#   . tools/modorder.sh
#   moddir=/path/to/lib/modules/RELEASE        # holds modules.dep
#   p=$(mod_path_of NAME) && mod_visit "$p"    # for each wanted module, in order
#   mod_install ROOT RELEASE                   # copy them into an initramfs tree
#
# The order is collected in the array mod_order (paths relative to $moddir).
# shellcheck shell=bash disable=SC2154 # moddir: set by the caller

declare -gA mod_seen=()
mod_order=()

mod_name_re() { # module name -> regex matching it ("-" and "_" are the same)
	printf '%s' "$1" | sed 's/[-_]/[-_]/g'
}

mod_path_of() { # module name -> path relative to $moddir, empty if not there
	local n
	n=$(mod_name_re "$1")
	awk -F: -v re="/${n}\\.ko(\\.[a-z]+)?$" '$1 ~ re {print $1; exit}' "$moddir/modules.dep"
}

mod_visit() { # path: append its dependencies, then itself, to mod_order (once each)
	local p=$1 d
	[ -n "${mod_seen[$p]:-}" ] && return
	mod_seen[$p]=1
	for d in $(awk -F: -v m="$p" '$1 == m {print $2; exit}' "$moddir/modules.dep" |
		   tr ' ' '\n' | tac); do
		mod_visit "$d"
	done
	mod_order+=("$p")
}

# ROOT RELEASE: copy mod_order into ROOT/lib/modules/RELEASE, list it in ROOT/etc/modules.order
mod_install() {
	local root=$1 release=$2 p
	for p in "${mod_order[@]}"; do
		mkdir -p "$root/lib/modules/$release/$(dirname "$p")"
		cp "$moddir/$p" "$root/lib/modules/$release/$p"
		echo "$p" >> "$root/etc/modules.order"
	done
}
