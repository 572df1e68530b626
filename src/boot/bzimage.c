/* SPDX-License-Identifier: MIT */
/* bzimage.c: the Linux x86 boot protocol: checking a bzImage, placing its parts, the zero page. */
#include "bzimage.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "arch/x86/layout.h"

#define SECTOR		512u
#define ENTRY64_OFFSET	0x200u
#define FIRST_RSDP_PROTOCOL	0x020e	/* acpi_rsdp_addr is read by kernels from 2.14 on */
#define FOUR_GIB	0x100000000ULL

_Static_assert(LAYOUT_CMDLINE + LAYOUT_CMDLINE_MAX <= LAYOUT_EBDA, "cmdline below the EBDA");
_Static_assert(LAYOUT_ZERO_PAGE + BZ_ZERO_PAGE_SIZE <= LAYOUT_CMDLINE, "zero page below cmdline");

static unsigned long long kib_up(uint64_t v)
{
	return (unsigned long long)(v / 1024 + (v % 1024 != 0));
}

static unsigned long long mib_up(uint64_t v)
{
	return (unsigned long long)(v / MiB + (v % MiB != 0));
}

/* A hint for the usual wrong files when "HdrS" is missing. */
static const char *not_bzimage_hint(const uint8_t *p, size_t len)
{
	if (len >= 4 && memcmp(p, "\x7f" "ELF", 4) == 0)
		return "an ELF file: pass the compressed bzImage (vmlinuz), not vmlinux";
	if (len >= 6 && (memcmp(p, "070701", 6) == 0 || memcmp(p, "070702", 6) == 0))
		return "a cpio archive: is this the initramfs?";
	if (len >= 2 && p[0] == 0x1f && (p[1] == 0x8b || p[1] == 0x9e))
		return "gzip data: is this the initramfs?";
	if (len >= 4 && memcmp(p, "\x28\xb5\x2f\xfd", 4) == 0)
		return "zstd data: is this the initramfs?";
	if (len >= 6 && memcmp(p, "\xfd" "7zXZ", 5) == 0)
		return "xz data: is this the initramfs?";
	return "no HdrS signature";
}

/* A parse error: "name: message", -ENOEXEC. */
static int __attribute__((format(printf, 3, 4)))
bad(struct err *err, const char *name, const char *fmt, ...)
{
	char msg[ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return err_set(err, ENOEXEC, "%s: %s", name ? name : "kernel", msg);
}

static bool pow2(uint64_t v)
{
	return v != 0 && (v & (v - 1)) == 0;
}

int bzimage_parse(const void *img, size_t len, const char *name, struct bzimage_info *out,
		  struct err *err)
{
	const uint8_t *p = img;
	struct bz_setup_header h;
	size_t hdr_end, setup_size, rest;
	uint64_t sys;

	if (img == NULL || len < 2 * SECTOR)
		return bad(err, name, "not a bzImage (only %zu bytes)", len);

	/* All of it is inside the first 1 KiB; fields past the header's end
	 * are cleared once that end is known to be sane. */
	memcpy(&h, p + BZ_HDR_OFFSET, sizeof(h));
	hdr_end = 0x202 + (size_t)p[0x201];

	if (h.header != BZ_HEADER_MAGIC)
		return bad(err, name, "not a bzImage (%s)", not_bzimage_hint(p, len));
	if (h.boot_flag != BZ_BOOT_FLAG)
		return bad(err, name, "not a bzImage (no 0xAA55 boot flag at 0x1fe)");
	if (h.version < BZ_MIN_PROTOCOL)
		return bad(err, name, "boot protocol %u.%02u is too old "
			   "(need 2.12 or later: Linux 3.8+)", h.version >> 8, h.version & 0xff);
	if (h.jump[0] != 0xeb || hdr_end > BZ_HDR_END_MAX || hdr_end < BZ_HDR_END_MIN)
		return bad(err, name, "corrupt setup header (jump %02x %02x at 0x200: "
			   "header of %zu bytes)", h.jump[0], h.jump[1], hdr_end - BZ_HDR_OFFSET);
	if (hdr_end < BZ_HDR_OFFSET + sizeof(h))
		memset((uint8_t *)&h + (hdr_end - BZ_HDR_OFFSET), 0,
		       BZ_HDR_OFFSET + sizeof(h) - hdr_end);
	if (!(h.loadflags & BZ_LOADED_HIGH))
		return bad(err, name, "a zImage (not loaded high): not supported");
	if (!(h.xloadflags & XLF_KERNEL_64))
		return bad(err, name, "kernel has no 64-bit entry point (XLF_KERNEL_64): "
			   "a 32-bit kernel?");

	setup_size = ((size_t)(h.setup_sects ? h.setup_sects : 4) + 1) * SECTOR;
	if (setup_size >= len)
		return bad(err, name, "truncated: setup code is %zu bytes (setup_sects %u), "
			   "file is %zu", setup_size, h.setup_sects, len);
	rest = len - setup_size;
	sys = (uint64_t)h.syssize * 16;
	if (sys == 0)
		return bad(err, name, "corrupt setup header (syssize is 0)");
	if (sys > rest)
		return bad(err, name, "truncated: kernel is %llu bytes (syssize), "
			   "file has %zu after setup", (unsigned long long)sys, rest);
	if (h.init_size == 0)
		return bad(err, name, "corrupt setup header (init_size is 0)");
	if (h.relocatable_kernel && !pow2(h.kernel_alignment))
		return bad(err, name, "corrupt setup header (kernel_alignment 0x%x "
			   "is not a power of 2)", h.kernel_alignment);

	*out = (struct bzimage_info){
		.protocol = h.version,
		.loadflags = h.loadflags,
		.xloadflags = h.xloadflags,
		.relocatable = h.relocatable_kernel != 0,
		.hdr_end = hdr_end,
		.setup_size = setup_size,
		.kernel_offset = setup_size,
		.kernel_size = rest,
		.syssize_bytes = sys,
		.initrd_addr_max = h.initrd_addr_max,
		.cmdline_size = h.version >= 0x0206 ? h.cmdline_size : 255,
		.kernel_alignment = h.kernel_alignment,
		.min_alignment = h.min_alignment,
		.init_size = h.init_size,
		.pref_address = h.pref_address,
	};
	return 0;
}

uint64_t bzimage_entry64(uint64_t load_gpa)
{
	return load_gpa + ENTRY64_OFFSET;
}

uint64_t bzimage_kernel_end(const struct bzimage_info *bi, uint64_t load_gpa)
{
	uint64_t file_end, start, end;

	if (ckd_add(&file_end, load_gpa, (uint64_t)bi->kernel_size))
		return 0;
	if (bi->relocatable) {
		uint64_t a = bi->kernel_alignment;

		if (!pow2(a) || ckd_add(&start, load_gpa, a - 1))
			return 0;
		start &= ~(a - 1);
		if (start < bi->pref_address)
			start = bi->pref_address;
	} else {
		start = bi->pref_address ? bi->pref_address : LAYOUT_HIGH_MEM;
	}
	if (ckd_add(&end, start, (uint64_t)bi->init_size))
		return 0;
	return end > file_end ? end : file_end;
}

int bzimage_check_ram(const struct bzimage_info *bi, uint64_t ram_size, uint64_t load_gpa,
		      uint64_t *kernel_end, struct err *err)
{
	uint64_t low_end = e820_low_ram_end(ram_size), end;
	int r = e820_check_ram_size(ram_size, err);

	if (r < 0)
		return r;
	if (load_gpa < LAYOUT_HIGH_MEM)
		return err_set(err, EINVAL, "kernel load address 0x%llx is below 1 MiB",
			       (unsigned long long)load_gpa);
	end = bzimage_kernel_end(bi, load_gpa);
	if (end == 0)
		return err_set(err, ENOMEM, "kernel does not fit in the address space at 0x%llx",
			       (unsigned long long)load_gpa);
	if (end > low_end) {
		if (ram_size <= LAYOUT_MMIO_HOLE)
			return err_set(err, ENOMEM, "kernel needs at least %llu MiB of memory "
				       "to boot (the VM has %llu MiB)",
				       mib_up(end), (unsigned long long)(ram_size / MiB));
		return err_set(err, ENOMEM, "kernel needs memory up to %llu MiB to boot, "
			       "past the RAM below 3 GiB", mib_up(end));
	}
	if (kernel_end)
		*kernel_end = end;
	return 0;
}

int bzimage_place_initrd(const struct bzimage_info *bi, uint64_t ram_size, uint64_t load_gpa,
			 uint64_t initrd_size, uint64_t *gpa, struct err *err)
{
	uint64_t kend, top, limit, addr, room;
	int r = bzimage_check_ram(bi, ram_size, load_gpa, &kend, err);

	if (r < 0)
		return r;
	if (initrd_size == 0) {
		*gpa = 0;
		return 0;
	}
	top = e820_low_ram_end(ram_size);
	limit = (uint64_t)bi->initrd_addr_max + 1;
	if (limit < top)
		top = limit;
	if (top >= kend && initrd_size <= top - kend) {
		addr = (top - initrd_size) & ~(BZ_INITRD_ALIGN - 1);
		if (addr >= kend) {
			*gpa = addr;
			return 0;
		}
	}
	room = top > kend ? (top - kend) / 1024 : 0;
	return err_set(err, ENOMEM, "initrd too large for %llu MiB of memory "
		       "(%llu KiB initrd, %llu KiB free between the kernel and %s0x%llx)",
		       (unsigned long long)(ram_size / MiB), kib_up(initrd_size),
		       (unsigned long long)room,
		       limit < e820_low_ram_end(ram_size) ? "its initrd limit " : "",
		       (unsigned long long)top);
}

size_t bzimage_cmdline_max(const struct bzimage_info *bi)
{
	uint64_t m = bi->cmdline_size;

	if (m > LAYOUT_CMDLINE_MAX - 1)
		m = LAYOUT_CMDLINE_MAX - 1;
	return (size_t)m;
}

static int cmdline_too_long(const struct bzimage_info *bi, size_t len, struct err *err)
{
	size_t max = bzimage_cmdline_max(bi);

	if (max < bi->cmdline_size)
		return err_set(err, E2BIG,
			       "kernel command line is %zu bytes, above the limit of %zu bytes",
			       len, max);
	return err_set(err, E2BIG, "kernel command line is %zu bytes, "
		       "above this kernel's limit of %zu bytes (cmdline_size)", len, max);
}

int bzimage_check_cmdline(const struct bzimage_info *bi, const char *cmdline, struct err *err)
{
	size_t max = bzimage_cmdline_max(bi), n;

	if (cmdline == NULL)
		return err_set(err, EINVAL, "no kernel command line");
	n = strnlen(cmdline, max + 1);
	if (n > max)
		return cmdline_too_long(bi, strlen(cmdline), err);
	return 0;
}

int bzimage_check_cmdline_buf(const struct bzimage_info *bi, const char *buf, size_t len,
			      struct err *err)
{
	const char *nul;

	if (buf == NULL && len != 0)
		return err_set(err, EINVAL, "no kernel command line");
	if (len > bzimage_cmdline_max(bi))
		return cmdline_too_long(bi, len, err);
	nul = len ? memchr(buf, '\0', len) : NULL;
	if (nul != NULL)
		return err_set(err, EINVAL, "kernel command line has a NUL byte at offset %zu",
			       (size_t)(nul - buf));
	return 0;
}

/* Check that [gpa, gpa + size) exists and is below 4 GiB unless the kernel
 * takes it above. */
static int check_range(const struct bzimage_info *bi, const char *what, uint64_t gpa,
		       uint64_t size, struct err *err)
{
	uint64_t end;

	if (ckd_add(&end, gpa, size))
		return err_set(err, EINVAL, "%s at 0x%llx + 0x%llx overflows", what,
			       (unsigned long long)gpa, (unsigned long long)size);
	if (end > FOUR_GIB && !(bi->xloadflags & XLF_CAN_BE_LOADED_ABOVE_4G))
		return err_set(err, EINVAL, "%s at 0x%llx reaches above 4 GiB, "
			       "which this kernel does not support", what, (unsigned long long)gpa);
	return 0;
}

int bzimage_fill_zero_page(const void *img, size_t len, const struct bzimage_info *bi,
			   const struct boot_setup *bs, void *zero_page, struct err *err)
{
	struct bz_boot_params bp;
	struct bz_setup_header *h = &bp.hdr;
	int r;

	if (img == NULL || bi->hdr_end < BZ_HDR_END_MIN || bi->hdr_end > BZ_HDR_END_MAX ||
	    bi->hdr_end > len)
		return err_set(err, EINVAL, "zero page: the setup header does not match the image");
	if (bs->cmdline_gpa == 0)
		return err_set(err, EINVAL, "zero page: no command line address");
	if (bs->cmdline_len > bzimage_cmdline_max(bi))
		return cmdline_too_long(bi, bs->cmdline_len, err);
	r = check_range(bi, "command line", bs->cmdline_gpa, (uint64_t)bs->cmdline_len + 1, err);
	if (r < 0)
		return r;
	if (bs->initrd_size) {
		r = check_range(bi, "initrd", bs->initrd_gpa, bs->initrd_size, err);
		if (r < 0)
			return r;
	}
	if (bs->kernel_gpa > UINT32_MAX && !(bi->xloadflags & XLF_CAN_BE_LOADED_ABOVE_4G))
		return err_set(err, EINVAL, "kernel at 0x%llx is above 4 GiB, "
			       "which this kernel does not support",
			       (unsigned long long)bs->kernel_gpa);
	if (bs->e820_nr > BZ_E820_MAX || (bs->e820_nr && bs->e820 == NULL))
		return err_set(err, EINVAL, "zero page: %u e820 entries (at most %u)", bs->e820_nr,
			       BZ_E820_MAX);

	memset(&bp, 0, sizeof(bp));
	/* The header may run past struct bz_setup_header into its hole. */
	memcpy((uint8_t *)&bp + BZ_HDR_OFFSET, (const uint8_t *)img + BZ_HDR_OFFSET,
	       bi->hdr_end - BZ_HDR_OFFSET);

	h->type_of_loader = BZ_LOADER_UNDEFINED;
	h->ext_loader_ver = 0;
	h->ext_loader_type = 0;
	h->loadflags |= BZ_CAN_USE_HEAP;
	h->heap_end_ptr = BZ_HEAP_END_PTR;
	h->vid_mode = 0xffff;
	h->realmode_swtch = 0;
	if (bs->kernel_gpa)
		h->code32_start = (uint32_t)bs->kernel_gpa;
	h->cmd_line_ptr = (uint32_t)bs->cmdline_gpa;
	bp.ext_cmd_line_ptr = (uint32_t)(bs->cmdline_gpa >> 32);
	if (bs->initrd_size) {
		h->ramdisk_image = (uint32_t)bs->initrd_gpa;
		bp.ext_ramdisk_image = (uint32_t)(bs->initrd_gpa >> 32);
		h->ramdisk_size = (uint32_t)bs->initrd_size;
		bp.ext_ramdisk_size = (uint32_t)(bs->initrd_size >> 32);
	} else {
		h->ramdisk_image = 0;
		h->ramdisk_size = 0;
	}
	h->hardware_subarch = 0;
	h->hardware_subarch_data = 0;
	h->setup_data = 0;

	for (unsigned i = 0; i < bs->e820_nr; i++) {
		bp.e820_table[i].addr = bs->e820[i].addr;
		bp.e820_table[i].size = bs->e820[i].size;
		bp.e820_table[i].type = bs->e820[i].type;
	}
	bp.e820_entries = (uint8_t)bs->e820_nr;
	if (bi->protocol >= FIRST_RSDP_PROTOCOL)
		bp.acpi_rsdp_addr = bs->rsdp_gpa;

	memcpy(zero_page, &bp, sizeof(bp));
	return 0;
}
