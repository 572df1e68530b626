/* SPDX-License-Identifier: MIT */
/* test_buf.c: growable buffer and its bounds-checked reader. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/buf.h"

static void test_roundtrip(void **state)
{
	struct buf b;
	struct buf_reader r;
	uint8_t u8;
	uint16_t u16;
	uint32_t u32;
	uint64_t u64;
	(void)state;

	buf_init(&b);
	buf_put_u8(&b, 0xab);
	buf_put_u16(&b, 0x1234);
	buf_put_u32(&b, 0xdeadbeef);
	buf_put_u64(&b, 0x0102030405060708ULL);
	for (int i = 0; i < 1000; i++)
		buf_put_u32(&b, (uint32_t)i);
	assert_false(b.failed);
	assert_int_equal(b.len, 1 + 2 + 4 + 8 + 4000);
	assert_int_equal(b.data[1], 0x34);	/* little endian */

	buf_reader_init(&r, b.data, b.len);
	assert_true(buf_get_u8(&r, &u8) && u8 == 0xab);
	assert_true(buf_get_u16(&r, &u16) && u16 == 0x1234);
	assert_true(buf_get_u32(&r, &u32) && u32 == 0xdeadbeef);
	assert_true(buf_get_u64(&r, &u64) && u64 == 0x0102030405060708ULL);
	for (uint32_t i = 0; i < 1000; i++)
		assert_true(buf_get_u32(&r, &u32) && u32 == i);
	/* past the end: refused, value untouched */
	u32 = 77;
	assert_false(buf_get_u32(&r, &u32));
	assert_int_equal(u32, 77);
	buf_free(&b);
}

static void test_short(void **state)
{
	uint8_t three[3] = { 1, 2, 3 };
	struct buf_reader r;
	uint32_t v = 5;
	uint16_t w;
	(void)state;

	buf_reader_init(&r, three, sizeof(three));
	assert_false(buf_get_u32(&r, &v));
	assert_int_equal(v, 5);
	assert_int_equal(r.off, 0);	/* a failed read consumes nothing */
	assert_true(buf_get_u16(&r, &w));
	assert_false(buf_get_u16(&r, &w));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_short),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
