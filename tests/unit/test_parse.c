/* SPDX-License-Identifier: MIT */
/* test_parse.c: strict number and size parsing. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/parse.h"

static void test_u64(void **state)
{
	uint64_t v = 7;
	(void)state;
	assert_int_equal(parse_u64("0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(parse_u64("18446744073709551615", &v), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(parse_u64("18446744073709551616", &v), -ERANGE);
	assert_int_equal(parse_u64("", &v), -EINVAL);
	assert_int_equal(parse_u64("-1", &v), -EINVAL);
	assert_int_equal(parse_u64(" 1", &v), -EINVAL);
	assert_int_equal(parse_u64("1 ", &v), -EINVAL);
	assert_int_equal(parse_u64("0x10", &v), -EINVAL);
	assert_int_equal(parse_u64(NULL, &v), -EINVAL);
}

static void test_size(void **state)
{
	uint64_t v;
	(void)state;
	assert_int_equal(parse_size("512", 1 << 20, &v), 0);
	assert_true(v == 512ULL << 20);
	assert_int_equal(parse_size("2G", 1 << 20, &v), 0);
	assert_true(v == 2ULL << 30);
	assert_int_equal(parse_size("2GiB", 1, &v), 0);
	assert_true(v == 2ULL << 30);
	assert_int_equal(parse_size("10k", 1, &v), 0);
	assert_true(v == 10240);
	assert_int_equal(parse_size("1T", 1, &v), 0);
	assert_true(v == 1ULL << 40);
	assert_int_equal(parse_size("1X", 1, &v), -EINVAL);
	assert_int_equal(parse_size("1Gx", 1, &v), -EINVAL);
	assert_int_equal(parse_size("G", 1, &v), -EINVAL);
	assert_int_equal(parse_size("1.5G", 1, &v), -EINVAL);
	assert_int_equal(parse_size("99999999999T", 1, &v), -ERANGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_u64),
		cmocka_unit_test(test_size),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
