/* SPDX-License-Identifier: MIT */
/* e820.h: the guest's physical memory map (BIOS e820 table) and the RAM slots behind it. */
#ifndef DOMUS_BOOT_E820_H
#define DOMUS_BOOT_E820_H

#include <stdint.h>

#include "common/err.h"

enum { E820_RAM = 1, E820_RESERVED = 2, E820_ACPI = 3 };

/* Limits on the guest's RAM size: at least 16 MiB, a whole number of 4 KiB
 * pages, at most 64 TiB (well inside any x86 physical address width KVM
 * offers, and far from 64-bit overflow). */
#define E820_RAM_MIN		(16ULL << 20)
#define E820_RAM_MAX		(64ULL << 40)
#define E820_RAM_ALIGN		4096ULL

/* The most entries e820_build() writes. */
#define E820_MAX_ENTRIES	5

struct e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;		/* E820_* */
};

/* e820_check_ram_size: 0 if (ram_size) bytes of guest RAM is a size the map
 * supports (see the limits above), else a negative errno and a message for
 * the user, e.g. "memory size 8192 KiB is below the minimum of 16 MiB". */
int e820_check_ram_size(uint64_t ram_size, struct err *err);

/* e820_low_ram_end: the end of RAM below 4 GiB, min(ram_size, LAYOUT_MMIO_HOLE).
 * RAM below 1 MiB is not all usable: see e820_build(). */
uint64_t e820_low_ram_end(uint64_t ram_size);

/* e820_build: write the guest's memory map for (ram_size) bytes of RAM into
 * (out), sorted by address, entries not overlapping:
 *   [0, LAYOUT_EBDA)                     RAM       (639 KiB)
 *   [LAYOUT_EBDA, 0xa0000)               reserved  (EBDA, 1 KiB)
 *   [LAYOUT_ACPI, LAYOUT_HIGH_MEM)       reserved  (ACPI tables + BIOS area, 128 KiB)
 *   [LAYOUT_HIGH_MEM, low_end)           RAM       (low_end = min(ram_size, 3 GiB))
 *   [4 GiB, 4 GiB + ram_size - 3 GiB)    RAM       (only if ram_size > 3 GiB)
 * [0xa0000, LAYOUT_ACPI) (legacy VGA/ROM window) is in no entry. The RAM slots
 * still back all of [0, low_end), so the RAM the map reports is exactly
 * ram_size - (LAYOUT_HIGH_MEM - LAYOUT_EBDA) = ram_size - 385 KiB.
 * Returns the number of entries written (4 or 5, <= max), -EINVAL if
 * (ram_size) fails e820_check_ram_size(), -ENOSPC if (max) is too small. */
int e820_build(uint64_t ram_size, struct e820_entry *out, unsigned max);

/* e820_ram_slots: the guest-physical ranges that KVM memory slots must back
 * for (ram_size) bytes of RAM: [0, min(ram_size, 3 GiB)) and, if ram_size >
 * 3 GiB, [4 GiB, 4 GiB + ram_size - 3 GiB). Guest RAM is laid out in that
 * order: the high slot's first byte is RAM byte 3 GiB. Returns the number of
 * slots (1 or 2), or 0 if (ram_size) fails e820_check_ram_size(). */
unsigned e820_ram_slots(uint64_t ram_size, uint64_t base[2], uint64_t size[2]);

#endif
