/* SPDX-License-Identifier: MIT */
/* test_e820.c: the guest memory map and the RAM slots behind it. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "arch/x86/layout.h"
#include "boot/e820.h"

/* What the map leaves out of RAM below 1 MiB: [LAYOUT_EBDA, LAYOUT_HIGH_MEM). */
#define CARVED (LAYOUT_HIGH_MEM - LAYOUT_EBDA)

static bool in_slot(const struct e820_entry *e, unsigned nslots, const uint64_t *base,
		    const uint64_t *size)
{
	for (unsigned i = 0; i < nslots; i++)
		if (e->addr >= base[i] && e->addr + e->size <= base[i] + size[i])
			return true;
	return false;
}

/* The invariants every map must keep. */
static void check_map(uint64_t ram)
{
	struct e820_entry map[E820_MAX_ENTRIES];
	uint64_t base[2], size[2], ram_total = 0, slot_total = 0;
	int n = e820_build(ram, map, E820_MAX_ENTRIES);
	unsigned nslots = e820_ram_slots(ram, base, size);

	assert_true(n >= 4 && n <= E820_MAX_ENTRIES);
	assert_int_equal(nslots, ram > LAYOUT_MMIO_HOLE ? 2 : 1);
	for (int i = 0; i < n; i++) {
		assert_true(map[i].size > 0);
		assert_true(map[i].type == E820_RAM || map[i].type == E820_RESERVED);
		if (i > 0)	/* sorted, not overlapping */
			assert_true(map[i - 1].addr + map[i - 1].size <= map[i].addr);
		/* nothing in the 32-bit MMIO hole */
		assert_true(map[i].addr + map[i].size <= LAYOUT_MMIO_HOLE ||
			    map[i].addr >= LAYOUT_MMIO_HOLE_END);
		if (map[i].type == E820_RAM) {
			ram_total += map[i].size;
			assert_true(in_slot(&map[i], nslots, base, size));
		}
	}
	assert_int_equal(ram_total, ram - CARVED);

	/* The slots: RAM in order, low then high, adding up to ram_size. */
	assert_int_equal(base[0], 0);
	assert_int_equal(size[0], e820_low_ram_end(ram));
	slot_total = size[0];
	if (nslots == 2) {
		assert_int_equal(base[1], LAYOUT_MMIO_HOLE_END);
		slot_total += size[1];
	}
	assert_int_equal(slot_total, ram);

	/* The last RAM entry ends where the last slot does. */
	assert_int_equal(map[n - 1].addr + map[n - 1].size, base[nslots - 1] + size[nslots - 1]);
}

static void test_low_entries(void **state)
{
	struct e820_entry map[E820_MAX_ENTRIES];
	int n = e820_build(16 * MiB, map, E820_MAX_ENTRIES);

	(void)state;
	assert_int_equal(n, 4);
	assert_int_equal(map[0].addr, 0);
	assert_int_equal(map[0].size, LAYOUT_EBDA);
	assert_int_equal(map[0].type, E820_RAM);
	assert_int_equal(map[1].addr, LAYOUT_EBDA);
	assert_int_equal(map[1].size, 0xa0000 - LAYOUT_EBDA);
	assert_int_equal(map[1].type, E820_RESERVED);
	assert_int_equal(map[2].addr, LAYOUT_ACPI);
	assert_int_equal(map[2].size, LAYOUT_ACPI_SIZE);
	assert_int_equal(map[2].type, E820_RESERVED);
	assert_int_equal(map[3].addr, LAYOUT_HIGH_MEM);
	assert_int_equal(map[3].size, 15 * MiB);
	assert_int_equal(map[3].type, E820_RAM);
	check_map(16 * MiB);
}

static void test_256m(void **state)
{
	(void)state;
	check_map(256 * MiB);
}

static void test_3g_exactly(void **state)
{
	struct e820_entry map[E820_MAX_ENTRIES];
	int n = e820_build(3 * GiB, map, E820_MAX_ENTRIES);

	(void)state;
	assert_int_equal(n, 4);
	assert_int_equal(map[3].addr + map[3].size, LAYOUT_MMIO_HOLE);
	check_map(3 * GiB);
}

static void test_3g_plus_1m(void **state)
{
	struct e820_entry map[E820_MAX_ENTRIES];
	uint64_t base[2], size[2];
	int n = e820_build(3 * GiB + MiB, map, E820_MAX_ENTRIES);

	(void)state;
	assert_int_equal(n, 5);
	assert_int_equal(map[3].addr + map[3].size, LAYOUT_MMIO_HOLE);
	assert_int_equal(map[4].addr, 4 * GiB);
	assert_int_equal(map[4].size, MiB);
	assert_int_equal(map[4].type, E820_RAM);
	assert_int_equal(e820_ram_slots(3 * GiB + MiB, base, size), 2);
	assert_int_equal(base[1], 4 * GiB);
	assert_int_equal(size[1], MiB);
	check_map(3 * GiB + MiB);
}

static void test_64g(void **state)
{
	struct e820_entry map[E820_MAX_ENTRIES];
	int n = e820_build(64 * GiB, map, E820_MAX_ENTRIES);

	(void)state;
	assert_int_equal(n, 5);
	assert_int_equal(map[4].addr, 4 * GiB);
	assert_int_equal(map[4].size, 61 * GiB);
	check_map(64 * GiB);
}

static void test_invalid_sizes(void **state)
{
	struct e820_entry map[E820_MAX_ENTRIES];
	uint64_t base[2], size[2];
	struct err e = { 0 };
	const uint64_t bad[] = { 0, 16 * MiB - 4096, 16 * MiB + 1, E820_RAM_MAX + 4096,
				 UINT64_MAX };

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		assert_int_equal(e820_build(bad[i], map, E820_MAX_ENTRIES), -EINVAL);
		assert_int_equal(e820_ram_slots(bad[i], base, size), 0);
		assert_true(e820_check_ram_size(bad[i], NULL) < 0);
	}
	assert_int_equal(e820_check_ram_size(8 * MiB, &e), -EINVAL);
	assert_string_equal(e.msg, "memory size 8192 KiB is below the minimum of 16 MiB");
	assert_int_equal(e820_check_ram_size(16 * MiB, NULL), 0);
	assert_int_equal(e820_check_ram_size(E820_RAM_MAX, NULL), 0);
}

static void test_no_space(void **state)
{
	struct e820_entry map[E820_MAX_ENTRIES];

	(void)state;
	assert_int_equal(e820_build(256 * MiB, map, 3), -ENOSPC);
	assert_int_equal(e820_build(256 * MiB, map, 4), 4);
	assert_int_equal(e820_build(4 * GiB, map, 4), -ENOSPC);
	assert_int_equal(e820_build(4 * GiB, map, 5), 5);
	assert_int_equal(e820_build(4 * GiB, NULL, 0), -ENOSPC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_low_entries),
		cmocka_unit_test(test_256m),
		cmocka_unit_test(test_3g_exactly),
		cmocka_unit_test(test_3g_plus_1m),
		cmocka_unit_test(test_64g),
		cmocka_unit_test(test_invalid_sizes),
		cmocka_unit_test(test_no_space),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
