/* SPDX-License-Identifier: MIT */
/* fuzz_bzimage.c: libFuzzer target: any bytes as a kernel, through parse, placement, zero page. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "arch/x86/layout.h"
#include "boot/bzimage.h"
#include "boot/e820.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { if (!(c)) __builtin_trap(); } while (0)

static uint64_t tail64(const uint8_t *data, size_t size, size_t from_end)
{
	uint64_t v = 0;

	if (size >= from_end)
		memcpy(&v, data + size - from_end, sizeof(v) <= from_end ? sizeof(v) : from_end);
	return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint64_t rams[] = { 16 * MiB, 64 * MiB, 256 * MiB, 3 * GiB,
					 3 * GiB + MiB, 8 * GiB, 16 * MiB + 4096 };
	static uint8_t zp[BZ_ZERO_PAGE_SIZE];
	struct e820_entry map[E820_MAX_ENTRIES];
	struct bzimage_info bi;
	struct err e = { 0 };
	uint64_t ram, initrd_size, load, gpa = 0, kend = 0;
	int n, r;

	if (bzimage_parse(data, size, "fuzz", &bi, &e) != 0) {
		CHECK(e.code != 0 && e.msg[0] != '\0' && strchr(e.msg, '\n') == NULL);
		return 0;
	}
	CHECK(e.code == 0);
	CHECK(bi.protocol >= BZ_MIN_PROTOCOL);
	CHECK(bi.xloadflags & XLF_KERNEL_64);
	CHECK(bi.kernel_offset == bi.setup_size && bi.setup_size % 512 == 0);
	CHECK(bi.kernel_offset + bi.kernel_size == size);
	CHECK(bi.syssize_bytes > 0 && bi.syssize_bytes <= bi.kernel_size);
	CHECK(bi.hdr_end >= BZ_HDR_END_MIN && bi.hdr_end <= BZ_HDR_END_MAX);

	/* Inputs for the rest come from the file's last bytes. */
	ram = rams[tail64(data, size, 1) % (sizeof(rams) / sizeof(rams[0]))];
	initrd_size = tail64(data, size, 9) >> (tail64(data, size, 2) & 63);
	load = (tail64(data, size, 3) & 1) ? LAYOUT_HIGH_MEM : bi.pref_address;

	r = bzimage_place_initrd(&bi, ram, load, initrd_size, &gpa, &e);
	if (r == 0) {
		CHECK(bzimage_check_ram(&bi, ram, load, &kend, NULL) == 0);
		CHECK(kend >= load + bi.kernel_size && kend <= e820_low_ram_end(ram));
		if (initrd_size) {
			CHECK(gpa % BZ_INITRD_ALIGN == 0 && gpa >= kend);
			CHECK(gpa + initrd_size <= e820_low_ram_end(ram));
			CHECK(gpa + initrd_size - 1 <= bi.initrd_addr_max);
		} else {
			CHECK(gpa == 0);
		}
	} else {
		CHECK(e.code != 0 && e.msg[0] != '\0');
		gpa = 0;
		initrd_size = 0;
		load = LAYOUT_HIGH_MEM;
	}

	n = e820_build(ram, map, E820_MAX_ENTRIES);
	CHECK(n >= 4);
	struct boot_setup bs = {
		.kernel_gpa = load,
		.cmdline_gpa = LAYOUT_CMDLINE,
		.cmdline_len = bzimage_cmdline_max(&bi),
		.initrd_gpa = gpa,
		.initrd_size = initrd_size,
		.rsdp_gpa = LAYOUT_ACPI,
		.e820 = map,
		.e820_nr = (unsigned)n,
	};
	memset(&e, 0, sizeof(e));
	/* Everything is below 4 GiB and consistent: this must not fail. */
	r = bzimage_fill_zero_page(data, size, &bi, &bs, zp, &e);
	CHECK(r == 0);
	CHECK(memcmp(zp + 0x1f1, data + 0x1f1, 0x1fa - 0x1f1) == 0);
	CHECK(zp[0x210] == 0xff && (zp[0x211] & BZ_CAN_USE_HEAP) && zp[0x1e8] == n);
	CHECK(zp[0x1ef] == 0);
	for (size_t i = bi.hdr_end; i < 0x2d0; i++)
		CHECK(zp[i] == 0);
	return 0;
}
