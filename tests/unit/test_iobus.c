/* SPDX-License-Identifier: MIT */
/* test_iobus.c: range registration and dispatch, including accesses that
 * straddle a range's end (which must not reach the device). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "vmm/iobus.h"

struct fake {
	uint64_t last_off;
	unsigned last_size;
	int reads, writes;
	uint8_t last_byte;
};

static void fake_read(void *opaque, uint64_t off, void *data, unsigned size)
{
	struct fake *f = opaque;
	f->reads++;
	f->last_off = off;
	f->last_size = size;
	memset(data, 0x5a, size);
}

static void fake_write(void *opaque, uint64_t off, const void *data, unsigned size)
{
	struct fake *f = opaque;
	f->writes++;
	f->last_off = off;
	f->last_size = size;
	f->last_byte = *(const uint8_t *)data;
}

static const struct io_ops fake_ops = { fake_read, fake_write };

static void test_register_overlap(void **state)
{
	struct iobus bus;
	struct fake a = { 0 };
	(void)state;

	iobus_init(&bus);
	assert_int_equal(iobus_register(&bus, 0x3f8, 8, &fake_ops, &a), 0);
	assert_int_equal(iobus_register(&bus, 0x60, 1, &fake_ops, &a), 0);
	assert_int_equal(iobus_register(&bus, 0x64, 1, &fake_ops, &a), 0);
	assert_int_equal(iobus_register(&bus, 0x3ff, 1, &fake_ops, &a), -EEXIST);
	assert_int_equal(iobus_register(&bus, 0x3f0, 9, &fake_ops, &a), -EEXIST);
	assert_int_equal(iobus_register(&bus, 0x3f0, 8, &fake_ops, &a), 0);
	assert_int_equal(iobus_register(&bus, 0x100, 0, &fake_ops, &a), -EINVAL);
	assert_int_equal(iobus_register(&bus, UINT64_MAX, 2, &fake_ops, &a), -EINVAL);
	for (unsigned i = 1; i < bus.nr; i++)
		assert_true(bus.ranges[i - 1].base < bus.ranges[i].base);
	iobus_free(&bus);
}

static void test_dispatch(void **state)
{
	struct iobus bus;
	struct fake a = { 0 }, b = { 0 };
	uint8_t v = 0x42;
	uint32_t d = 0;
	(void)state;

	iobus_init(&bus);
	assert_int_equal(iobus_register(&bus, 0x3f8, 8, &fake_ops, &a), 0);
	assert_int_equal(iobus_register(&bus, 0x600, 4, &fake_ops, &b), 0);
	assert_int_equal(iobus_write(&bus, 0x3fb, &v, 1), 1);
	assert_int_equal(a.writes, 1);
	assert_int_equal(a.last_off, 3);
	assert_int_equal(a.last_byte, 0x42);
	assert_int_equal(iobus_read(&bus, 0x600, &d, 4), 1);
	assert_int_equal(b.reads, 1);
	assert_int_equal(d, 0x5a5a5a5a);
	/* straddles the end of 0x600+4: nobody is called, reads are all ones */
	assert_int_equal(iobus_read(&bus, 0x602, &d, 4), 0);
	assert_int_equal(d, 0xffffffff);
	assert_int_equal(b.reads, 1);
	/* unmapped port */
	assert_int_equal(iobus_write(&bus, 0x80, &v, 1), 0);
	assert_int_equal(a.writes + b.writes, 1);
	iobus_free(&bus);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_register_overlap),
		cmocka_unit_test(test_dispatch),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
