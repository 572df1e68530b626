/* SPDX-License-Identifier: MIT */
/* bootloader.h: what pygrub does for Xen, for our domains: find the kernel
 * and initrd inside the domain's first disk and copy them out, so the VM is
 * booted from the guest's own /boot. */
#ifndef DOMUS_BOOTLOADER_H
#define DOMUS_BOOTLOADER_H

#include <stdbool.h>
#include <stddef.h>

struct err;

/* bootloader_extract: open the ext2/3/4 file system on (disk) (a whole-disk
 * file system, or partition 1 of an MBR or GPT partition table) read-only with
 * libext2fs; take the default entry of /boot/grub/grub.cfg (or
 * /grub/grub.cfg on a separate /boot) - `set default=N` or the first
 * menuentry - and its linux and initrd lines; without a grub.cfg, /vmlinuz
 * and /initrd.img (or /boot/vmlinuz, /boot/initrd.img), symlinks followed
 * inside the file system. Writes the kernel to (kernel_out) and the initrd
 * to (initrd_out) (*have_initrd false when there is none) and the linux
 * line's arguments to (cmdline). Returns 0, or -errno with one line naming
 * the disk. */
int bootloader_extract(const char *disk, const char *kernel_out, const char *initrd_out,
		       bool *have_initrd, char *cmdline, size_t cmdline_size, struct err *err);

/* bootloader_grub_default: pure part, for tests and the fuzzer: from the
 * grub.cfg text, the default entry's kernel path, initrd path ("" if none)
 * and arguments. 0, or -ENOENT if there is no usable entry. */
int bootloader_grub_default(const char *cfg, char *kernel, size_t ksize, char *initrd,
			    size_t isize, char *args, size_t asize);

#endif
