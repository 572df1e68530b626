/* SPDX-License-Identifier: MIT */
/* e820.c: the guest's physical memory map and the RAM slots behind it. */
#include "e820.h"

#include <errno.h>

#include "arch/x86/layout.h"

_Static_assert(LAYOUT_EBDA < 0xa0000 && 0xa0000 <= LAYOUT_ACPI, "low memory layout");
_Static_assert(LAYOUT_ACPI + LAYOUT_ACPI_SIZE == LAYOUT_HIGH_MEM, "ACPI area ends at 1 MiB");
_Static_assert(E820_RAM_MIN > LAYOUT_HIGH_MEM && E820_RAM_MIN <= LAYOUT_MMIO_HOLE, "RAM min");
_Static_assert(LAYOUT_MMIO_HOLE % E820_RAM_ALIGN == 0, "hole is page aligned");

int e820_check_ram_size(uint64_t ram_size, struct err *err)
{
	if (ram_size < E820_RAM_MIN)
		return err_set(err, EINVAL, "memory size %llu KiB is below the minimum of %llu MiB",
			       (unsigned long long)(ram_size >> 10),
			       (unsigned long long)(E820_RAM_MIN >> 20));
	if (ram_size > E820_RAM_MAX)
		return err_set(err, EINVAL, "memory size %llu GiB is above the maximum of %llu GiB",
			       (unsigned long long)(ram_size >> 30),
			       (unsigned long long)(E820_RAM_MAX >> 30));
	if (ram_size % E820_RAM_ALIGN != 0)
		return err_set(err, EINVAL, "memory size %llu bytes is not a multiple of 4 KiB",
			       (unsigned long long)ram_size);
	return 0;
}

uint64_t e820_low_ram_end(uint64_t ram_size)
{
	return ram_size < LAYOUT_MMIO_HOLE ? ram_size : LAYOUT_MMIO_HOLE;
}

static void put(struct e820_entry *out, unsigned *n, uint64_t addr, uint64_t end, uint32_t type)
{
	out[*n] = (struct e820_entry){ .addr = addr, .size = end - addr, .type = type };
	(*n)++;
}

int e820_build(uint64_t ram_size, struct e820_entry *out, unsigned max)
{
	uint64_t base[2], size[2];
	unsigned slots = e820_ram_slots(ram_size, base, size);
	unsigned need = 3 + slots, n = 0;

	if (slots == 0)
		return -EINVAL;
	if (max < need || out == NULL)
		return -ENOSPC;
	put(out, &n, 0, LAYOUT_EBDA, E820_RAM);
	put(out, &n, LAYOUT_EBDA, 0xa0000, E820_RESERVED);
	put(out, &n, LAYOUT_ACPI, LAYOUT_HIGH_MEM, E820_RESERVED);
	put(out, &n, LAYOUT_HIGH_MEM, base[0] + size[0], E820_RAM);
	if (slots == 2)
		put(out, &n, base[1], base[1] + size[1], E820_RAM);
	return (int)n;
}

unsigned e820_ram_slots(uint64_t ram_size, uint64_t base[2], uint64_t size[2])
{
	uint64_t low = e820_low_ram_end(ram_size);

	if (e820_check_ram_size(ram_size, NULL) != 0)
		return 0;
	base[0] = 0;
	size[0] = low;
	if (ram_size == low)
		return 1;
	base[1] = LAYOUT_MMIO_HOLE_END;
	size[1] = ram_size - low;
	return 2;
}
