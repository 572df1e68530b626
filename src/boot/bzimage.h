/* SPDX-License-Identifier: MIT */
/* bzimage.h: the Linux x86 boot protocol: checking a bzImage, placing its parts, the zero page. */
#ifndef DOMUS_BOOT_BZIMAGE_H
#define DOMUS_BOOT_BZIMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "boot/e820.h"
#include "common/err.h"

/* Written from Linux's Documentation/arch/x86/boot.rst and zero-page.rst.
 * All fields are little endian; domus runs on x86 hosts only. */
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the boot protocol structures are little endian"
#endif

#define BZ_MIN_PROTOCOL		0x020c	/* 2.12 (Linux 3.8): xloadflags, 64-bit entry */
#define BZ_ZERO_PAGE_SIZE	4096	/* sizeof(struct boot_params) */
#define BZ_E820_MAX		128	/* entries in boot_params.e820_table */
#define BZ_INITRD_ALIGN		4096ULL	/* bzimage_place_initrd() aligns to this */
#define BZ_HEADER_MAGIC		0x53726448	/* "HdrS" at 0x202 */
#define BZ_BOOT_FLAG		0xaa55		/* at 0x1fe */
#define BZ_LOADER_UNDEFINED	0xff		/* type_of_loader: no assigned id */
#define BZ_HEAP_END_PTR		0xde00		/* 0xe000 - 0x200: the documented sample */

/* loadflags (0x211) */
#define BZ_LOADED_HIGH		0x01
#define BZ_KASLR_FLAG		0x02
#define BZ_QUIET_FLAG		0x20
#define BZ_CAN_USE_HEAP		0x80
/* xloadflags (0x236) */
#define XLF_KERNEL_64			0x01	/* 64-bit entry point at load address + 0x200 */
#define XLF_CAN_BE_LOADED_ABOVE_4G	0x02	/* kernel, boot_params, cmdline, initrd above 4G */
#define XLF_EFI_HANDOVER_32		0x04
#define XLF_EFI_HANDOVER_64		0x08
#define XLF_EFI_KEXEC			0x10

/* The setup header: file offset 0x1f1 of the image, and of struct boot_params. */
#define BZ_HDR_OFFSET		0x1f1
struct __attribute__((packed)) bz_setup_header {
	uint8_t setup_sects;		/* 0x1f1 */
	uint16_t root_flags;		/* 0x1f2 */
	uint32_t syssize;		/* 0x1f4: protected-mode code in 16-byte units */
	uint16_t ram_size;		/* 0x1f8 */
	uint16_t vid_mode;		/* 0x1fa */
	uint16_t root_dev;		/* 0x1fc */
	uint16_t boot_flag;		/* 0x1fe: 0xaa55 */
	uint8_t jump[2];		/* 0x200: 0xeb, length of the header from 0x202 */
	uint32_t header;		/* 0x202: "HdrS" */
	uint16_t version;		/* 0x206 */
	uint32_t realmode_swtch;	/* 0x208 */
	uint16_t start_sys_seg;		/* 0x20c */
	uint16_t kernel_version;	/* 0x20e */
	uint8_t type_of_loader;		/* 0x210 */
	uint8_t loadflags;		/* 0x211 */
	uint16_t setup_move_size;	/* 0x212 */
	uint32_t code32_start;		/* 0x214 */
	uint32_t ramdisk_image;		/* 0x218 */
	uint32_t ramdisk_size;		/* 0x21c */
	uint32_t bootsect_kludge;	/* 0x220 */
	uint16_t heap_end_ptr;		/* 0x224 */
	uint8_t ext_loader_ver;		/* 0x226 */
	uint8_t ext_loader_type;	/* 0x227 */
	uint32_t cmd_line_ptr;		/* 0x228 */
	uint32_t initrd_addr_max;	/* 0x22c */
	uint32_t kernel_alignment;	/* 0x230 */
	uint8_t relocatable_kernel;	/* 0x234 */
	uint8_t min_alignment;		/* 0x235 */
	uint16_t xloadflags;		/* 0x236 */
	uint32_t cmdline_size;		/* 0x238 */
	uint32_t hardware_subarch;	/* 0x23c */
	uint64_t hardware_subarch_data;	/* 0x240 */
	uint32_t payload_offset;	/* 0x248 */
	uint32_t payload_length;	/* 0x24c */
	uint64_t setup_data;		/* 0x250 */
	uint64_t pref_address;		/* 0x258 */
	uint32_t init_size;		/* 0x260 */
	uint32_t handover_offset;	/* 0x264 */
	uint32_t kernel_info_offset;	/* 0x268 */
};

#define BZ_HDR_FIELD(f) (BZ_HDR_OFFSET + offsetof(struct bz_setup_header, f))
_Static_assert(BZ_HDR_FIELD(syssize) == 0x1f4, "syssize");
_Static_assert(BZ_HDR_FIELD(boot_flag) == 0x1fe, "boot_flag");
_Static_assert(BZ_HDR_FIELD(header) == 0x202, "header");
_Static_assert(BZ_HDR_FIELD(type_of_loader) == 0x210, "type_of_loader");
_Static_assert(BZ_HDR_FIELD(code32_start) == 0x214, "code32_start");
_Static_assert(BZ_HDR_FIELD(ramdisk_image) == 0x218, "ramdisk_image");
_Static_assert(BZ_HDR_FIELD(heap_end_ptr) == 0x224, "heap_end_ptr");
_Static_assert(BZ_HDR_FIELD(cmd_line_ptr) == 0x228, "cmd_line_ptr");
_Static_assert(BZ_HDR_FIELD(initrd_addr_max) == 0x22c, "initrd_addr_max");
_Static_assert(BZ_HDR_FIELD(relocatable_kernel) == 0x234, "relocatable_kernel");
_Static_assert(BZ_HDR_FIELD(xloadflags) == 0x236, "xloadflags");
_Static_assert(BZ_HDR_FIELD(cmdline_size) == 0x238, "cmdline_size");
_Static_assert(BZ_HDR_FIELD(setup_data) == 0x250, "setup_data");
_Static_assert(BZ_HDR_FIELD(pref_address) == 0x258, "pref_address");
_Static_assert(BZ_HDR_FIELD(init_size) == 0x260, "init_size");
_Static_assert(BZ_HDR_FIELD(kernel_info_offset) == 0x268, "kernel_info_offset");
_Static_assert(sizeof(struct bz_setup_header) == 0x26c - BZ_HDR_OFFSET, "setup header size");

/* The header ends at 0x202 + the byte at 0x201 (a signed jump: at most 0x281).
 * bzimage_parse() needs it to reach past init_size (protocol 2.10+). */
#define BZ_HDR_END_MIN		(BZ_HDR_FIELD(init_size) + 4)
#define BZ_HDR_END_MAX		(0x202 + 0x7f)

/* One entry of boot_params.e820_table: packed, 20 bytes. */
struct __attribute__((packed)) bz_e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
};

/* struct boot_params, the "zero page" (zero-page.rst). Fields domus does
 * not use are kept as opaque bytes. */
struct __attribute__((packed)) bz_boot_params {
	uint8_t screen_info[0x40];		/* 0x000 */
	uint8_t apm_bios_info[0x14];		/* 0x040 */
	uint8_t _pad1[4];			/* 0x054 */
	uint64_t tboot_addr;			/* 0x058 */
	uint8_t ist_info[0x10];			/* 0x060 */
	uint64_t acpi_rsdp_addr;		/* 0x070 */
	uint8_t _pad2[8];			/* 0x078 */
	uint8_t hd0_info[0x10];			/* 0x080 */
	uint8_t hd1_info[0x10];			/* 0x090 */
	uint8_t sys_desc_table[0x10];		/* 0x0a0 */
	uint8_t olpc_ofw_header[0x10];		/* 0x0b0 */
	uint32_t ext_ramdisk_image;		/* 0x0c0 */
	uint32_t ext_ramdisk_size;		/* 0x0c4 */
	uint32_t ext_cmd_line_ptr;		/* 0x0c8 */
	uint8_t _pad3[0x13c - 0xcc];		/* 0x0cc */
	uint32_t cc_blob_address;		/* 0x13c */
	uint8_t edid_info[0x80];		/* 0x140 */
	uint8_t efi_info[0x20];			/* 0x1c0 */
	uint32_t alt_mem_k;			/* 0x1e0 */
	uint32_t scratch;			/* 0x1e4 */
	uint8_t e820_entries;			/* 0x1e8 */
	uint8_t eddbuf_entries;			/* 0x1e9 */
	uint8_t edd_mbr_sig_buf_entries;	/* 0x1ea */
	uint8_t kbd_status;			/* 0x1eb */
	uint8_t secure_boot;			/* 0x1ec */
	uint8_t _pad4[2];			/* 0x1ed */
	uint8_t sentinel;			/* 0x1ef: must stay 0 */
	uint8_t _pad5;				/* 0x1f0 */
	struct bz_setup_header hdr;		/* 0x1f1 */
	uint8_t _pad6[0x290 - 0x26c];		/* 0x26c: room for the header to grow */
	uint32_t edd_mbr_sig_buffer[16];	/* 0x290 */
	struct bz_e820_entry e820_table[BZ_E820_MAX];	/* 0x2d0 */
	uint8_t _pad7[0xd00 - 0xcd0];		/* 0xcd0 */
	uint8_t eddbuf[0x1ec];			/* 0xd00 */
	uint8_t _pad8[0x1000 - 0xeec];		/* 0xeec */
};

_Static_assert(sizeof(struct bz_e820_entry) == 20, "e820 entry");
_Static_assert(offsetof(struct bz_boot_params, acpi_rsdp_addr) == 0x070, "acpi_rsdp_addr");
_Static_assert(offsetof(struct bz_boot_params, ext_ramdisk_image) == 0x0c0, "ext_ramdisk_image");
_Static_assert(offsetof(struct bz_boot_params, ext_ramdisk_size) == 0x0c4, "ext_ramdisk_size");
_Static_assert(offsetof(struct bz_boot_params, ext_cmd_line_ptr) == 0x0c8, "ext_cmd_line_ptr");
_Static_assert(offsetof(struct bz_boot_params, cc_blob_address) == 0x13c, "cc_blob_address");
_Static_assert(offsetof(struct bz_boot_params, e820_entries) == 0x1e8, "e820_entries");
_Static_assert(offsetof(struct bz_boot_params, sentinel) == 0x1ef, "sentinel");
_Static_assert(offsetof(struct bz_boot_params, hdr) == BZ_HDR_OFFSET, "hdr");
_Static_assert(offsetof(struct bz_boot_params, edd_mbr_sig_buffer) == 0x290, "edd_mbr_sig");
_Static_assert(offsetof(struct bz_boot_params, e820_table) == 0x2d0, "e820_table");
_Static_assert(offsetof(struct bz_boot_params, eddbuf) == 0xd00, "eddbuf");
_Static_assert(sizeof(struct bz_boot_params) == BZ_ZERO_PAGE_SIZE, "boot_params is 4 KiB");
_Static_assert(BZ_HDR_END_MAX <= 0x290, "the header fits its hole in boot_params");

/* What bzimage_parse() learned from an image. */
struct bzimage_info {
	uint16_t protocol;		/* boot protocol version, >= BZ_MIN_PROTOCOL */
	uint8_t loadflags;		/* as in the image (LOADED_HIGH set) */
	uint16_t xloadflags;		/* XLF_KERNEL_64 set */
	bool relocatable;		/* relocatable_kernel != 0 */
	size_t hdr_end;			/* file offset just past the setup header */
	size_t setup_size;		/* real-mode part: ((setup_sects ?: 4) + 1) * 512 */
	size_t kernel_offset;		/* protected-mode part: file offset (== setup_size) */
	size_t kernel_size;		/* ... and length: the rest of the file; copy all of it */
	uint64_t syssize_bytes;		/* syssize * 16 <= kernel_size; the rest is a trailer
					 * (Debian's signed kernels carry a PE signature) */
	uint32_t initrd_addr_max;	/* highest byte an initrd may occupy */
	uint32_t cmdline_size;		/* max command line length without NUL (255 before 2.06) */
	uint32_t kernel_alignment;	/* a power of two when relocatable */
	uint8_t min_alignment;		/* log2, 0 if not given */
	uint32_t init_size;		/* memory the kernel needs from its runtime start */
	uint64_t pref_address;		/* preferred / non-relocatable runtime address */
};

/* bzimage_parse: check that (img, len) is a bzImage domus can boot through
 * the 64-bit entry point and describe it in (out). (name) names the file in
 * messages (NULL: "kernel"). Every field is checked against (len), so any
 * bytes are safe to pass. Errors (all -ENOEXEC), each with
 * its own message: shorter than 1 KiB; no "HdrS" signature (with a hint for
 * ELF vmlinux, initramfs and compressed files); no 0xAA55 boot flag; a bad
 * header length; protocol older than 2.12; not LOADED_HIGH (zImage); no
 * XLF_KERNEL_64; setup_sects or syssize past the end of the file; a
 * zero syssize, init_size or a kernel_alignment that is not a power of 2.
 * (out) is written only on success. */
int bzimage_parse(const void *img, size_t len, const char *name, struct bzimage_info *out,
		  struct err *err);

/* bzimage_entry64: the 64-bit entry point when the protected-mode part
 * (kernel_offset..) is loaded at guest-physical (load_gpa): load_gpa + 0x200. */
uint64_t bzimage_entry64(uint64_t load_gpa);

/* bzimage_kernel_end: the end (exclusive) of the memory the kernel uses while
 * it boots when loaded at (load_gpa): the larger of the end of the copied file
 * (load_gpa + kernel_size) and of the decompression buffer [start, start +
 * init_size), where start is, conservatively, max(align_up(load_gpa,
 * kernel_alignment), pref_address) for a relocatable kernel (Linux never
 * decompresses below its LOAD_PHYSICAL_ADDR, which pref_address reports) and
 * pref_address otherwise. Debian 6.1: 16 MiB + 51.5 MiB. 0 on overflow or a
 * kernel_alignment that is not a power of two. */
uint64_t bzimage_kernel_end(const struct bzimage_info *bi, uint64_t load_gpa);

/* bzimage_check_ram: check that the kernel loaded at (load_gpa) fits in the
 * RAM below 4 GiB of a guest with (ram_size) bytes of RAM, i.e. load_gpa >=
 * 1 MiB and bzimage_kernel_end() <= e820_low_ram_end(ram_size). Sets
 * *kernel_end (may be NULL). -ENOMEM "kernel needs at least N MiB of memory
 * to boot (the VM has M MiB)"; -EINVAL for a bad ram_size or load_gpa. */
int bzimage_check_ram(const struct bzimage_info *bi, uint64_t ram_size, uint64_t load_gpa,
		      uint64_t *kernel_end, struct err *err);

/* bzimage_place_initrd: choose where an initrd of (initrd_size) bytes goes:
 * the highest BZ_INITRD_ALIGN-aligned gpa such that [gpa, gpa + initrd_size)
 * lies in RAM below min(ram_size, 3 GiB), ends at most at initrd_addr_max + 1
 * and starts at or above bzimage_kernel_end(bi, load_gpa). Runs
 * bzimage_check_ram() first, also when initrd_size is 0 (then *gpa = 0).
 * -ENOMEM "initrd too large for N MiB of memory (...)" if it does not fit. */
int bzimage_place_initrd(const struct bzimage_info *bi, uint64_t ram_size, uint64_t load_gpa,
			 uint64_t initrd_size, uint64_t *gpa, struct err *err);

/* bzimage_cmdline_max: the longest command line (without its NUL) that can be
 * passed: min(cmdline_size, LAYOUT_CMDLINE_MAX - 1). */
size_t bzimage_cmdline_max(const struct bzimage_info *bi);

/* bzimage_check_cmdline: check that the NUL-terminated (cmdline) fits:
 * strlen(cmdline) <= bzimage_cmdline_max(). -E2BIG "kernel command line is N
 * bytes, above this kernel's limit of M bytes (cmdline_size)" otherwise. */
int bzimage_check_cmdline(const struct bzimage_info *bi, const char *cmdline, struct err *err);

/* bzimage_check_cmdline_buf: the same for (len) bytes at (buf) that are not
 * NUL-terminated (e.g. read from a file); (len) excludes any terminator, and a
 * NUL byte inside is an error (-EINVAL), since the kernel would cut the line
 * there. */
int bzimage_check_cmdline_buf(const struct bzimage_info *bi, const char *buf, size_t len,
			      struct err *err);

/* Where the VMM put the boot inputs, for bzimage_fill_zero_page(). */
struct boot_setup {
	uint64_t kernel_gpa;		/* protected-mode part (-> code32_start); 0: leave the
					 * image's 0x100000 */
	uint64_t cmdline_gpa;		/* NUL-terminated command line; must not be 0 */
	size_t cmdline_len;		/* without the NUL, <= bzimage_cmdline_max() */
	uint64_t initrd_gpa;		/* 0 and 0 if none */
	uint64_t initrd_size;
	uint64_t rsdp_gpa;		/* ACPI RSDP; 0 if none. Written for protocol >= 2.14 */
	const struct e820_entry *e820;	/* the memory map, at most BZ_E820_MAX entries */
	unsigned e820_nr;
};

/* bzimage_fill_zero_page: write the BZ_ZERO_PAGE_SIZE-byte struct boot_params
 * for (bi) (from bzimage_parse() of the same img, len) into (zero_page): all
 * zero, then the setup header copied from the image (0x1f1 .. 0x202 + byte at
 * 0x201), then type_of_loader 0xff, loadflags |= CAN_USE_HEAP, heap_end_ptr,
 * vid_mode 0xffff ("normal"), code32_start, cmd_line_ptr/ext_cmd_line_ptr,
 * ramdisk_image/size and their ext_ high halves, the e820 table and
 * acpi_rsdp_addr; loader-written fields the image may carry (setup_data,
 * hardware_subarch, realmode_swtch, ext_loader_*) are cleared. Addresses at or
 * above 4 GiB need XLF_CAN_BE_LOADED_ABOVE_4G. (zero_page) is written only on
 * success. Errors mean the arguments are inconsistent: -E2BIG for a command
 * line over bzimage_cmdline_max(), else -EINVAL. */
int bzimage_fill_zero_page(const void *img, size_t len, const struct bzimage_info *bi,
			   const struct boot_setup *bs, void *zero_page, struct err *err);

#endif
