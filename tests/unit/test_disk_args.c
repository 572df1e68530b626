/* SPDX-License-Identifier: MIT */
/* test_disk_args.c: parsing of --disk PATH[,option...], every option and every error. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "cli/disk_args.h"
#include "common/err.h"

static struct disk_opts o;

static int parse(const char *spec, struct err *e)
{
	memset(e, 0, sizeof(*e));
	return disk_args_parse(spec, &o, e);
}

static void ok(const char *spec)
{
	struct err e;

	if (parse(spec, &e) != 0)
		fail_msg("'%s': %s", spec, e.msg);
	assert_int_equal(e.code, 0);
}

/* Parsing (spec) fails with EINVAL and a message containing (needle). */
static void bad(const char *spec, const char *needle)
{
	struct err e;

	assert_int_equal(parse(spec, &e), -EINVAL);
	assert_int_equal(e.code, EINVAL);
	if (strstr(e.msg, needle) == NULL)
		fail_msg("'%s': message '%s' lacks '%s'", spec, e.msg, needle);
	assert_null(strchr(e.msg, '\n'));
}

static void test_path_only(void **state)
{
	(void)state;
	ok("disk.img");
	assert_string_equal(o.path, "disk.img");
	assert_false(o.readonly);
	assert_false(o.direct);
	assert_false(o.size_given);
	assert_string_equal(o.serial, "");
	ok("/dev/vg0/root");
	assert_string_equal(o.path, "/dev/vg0/root");
	/* an '=' in a path is fine: options start after the first comma */
	ok("dir/a=b.img");
	assert_string_equal(o.path, "dir/a=b.img");
}

static void test_each_option(void **state)
{
	(void)state;
	ok("d.img,readonly");
	assert_true(o.readonly);
	assert_false(o.direct);
	ok("d.img,direct");
	assert_true(o.direct);
	assert_false(o.readonly);
	ok("d.img,size=10G");
	assert_true(o.size_given);
	assert_true(o.size == 10ULL << 30);
	ok("d.img,size=512");
	assert_true(o.size == 512);
	ok("d.img,size=1MiB");
	assert_true(o.size == 1ULL << 20);
	ok("d.img,size=2t");
	assert_true(o.size == 2ULL << 40);
	ok("d.img,serial=abc-123_X");
	assert_string_equal(o.serial, "abc-123_X");
	ok("d.img,serial=12345678901234567890");
	assert_string_equal(o.serial, "12345678901234567890");
}

static void test_combinations(void **state)
{
	(void)state;
	ok("disk.img,readonly,size=10G,serial=abc,direct");
	assert_string_equal(o.path, "disk.img");
	assert_true(o.readonly);
	assert_true(o.direct);
	assert_true(o.size_given);
	assert_true(o.size == 10ULL << 30);
	assert_string_equal(o.serial, "abc");
	ok("x,direct,serial=s1,size=4K");
	assert_true(o.direct);
	assert_false(o.readonly);
	assert_true(o.size == 4096);
	assert_string_equal(o.serial, "s1");
	/* a second parse starts from scratch */
	ok("y");
	assert_false(o.direct);
	assert_false(o.size_given);
	assert_string_equal(o.serial, "");
}

static void test_shared(void **state)
{
	(void)state;
	ok("d.img");
	assert_false(o.shared);
	ok("d.img,shared");
	assert_true(o.shared);
	assert_false(o.readonly);
	ok("d.img,readonly,shared");
	assert_true(o.shared && o.readonly);
	bad("d.img,shared=1", "option 'shared' takes no value");
	bad("d.img,shared,shared", "option 'shared' given twice");
}

static void test_comma_in_path(void **state)
{
	(void)state;
	ok("a,,b.img");
	assert_string_equal(o.path, "a,b.img");
	ok("a,,b,,c.img,readonly");
	assert_string_equal(o.path, "a,b,c.img");
	assert_true(o.readonly);
	ok("x,,,readonly");	/* "x," then ",readonly" */
	assert_string_equal(o.path, "x,");
	assert_true(o.readonly);
}

static void test_bad_path(void **state)
{
	char big[DISK_PATH_MAX + 8];

	(void)state;
	bad("", "empty value");
	bad(",readonly", "empty path");
	bad(",", "empty path");
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	bad(big, "path longer than 4095 bytes");
	/* exactly the maximum fits */
	big[DISK_PATH_MAX - 1] = '\0';
	ok(big);
	assert_int_equal(strlen(o.path), DISK_PATH_MAX - 1);
}

static void test_bad_options(void **state)
{
	(void)state;
	bad("d.img,ro", "unknown option 'ro'");
	bad("d.img,ro", "expected readonly, direct, size=SIZE, serial=ID");
	bad("d.img,readonly,bogus=1", "unknown option 'bogus=1'");
	bad("d.img,Readonly", "unknown option 'Readonly'");
	bad("d.img,", "empty option");
	bad("d.img,readonly,", "empty option");
	bad("d.img,readonly,,direct", "empty option");
	bad("d.img,readonly=on", "option 'readonly' takes no value");
	bad("d.img,direct=1", "option 'direct' takes no value");
	bad("d.img,readonly,readonly", "option 'readonly' given twice");
	bad("d.img,size=1G,size=2G", "option 'size' given twice");
	bad("d.img,serial=a,serial=b", "option 'serial' given twice");
	/* the whole spec is quoted in the message */
	bad("d.img,ro", "--disk 'd.img,ro'");
}

static void test_bad_size(void **state)
{
	(void)state;
	bad("d.img,size=ten", "size 'ten': expected a size such as 10G");
	bad("d.img,size", "size needs a value");
	bad("d.img,size=", "size needs a value");
	bad("d.img,size=1.5G", "size '1.5G': expected");
	bad("d.img,size=-1G", "size '-1G': expected");
	bad("d.img,size=10Q", "size '10Q': expected");
	bad("d.img,size=0", "size must not be 0");
	bad("d.img,size=1000", "size '1000' is not a multiple of 512 bytes");
	bad("d.img,size=99999999999T", "size '99999999999T' is too large");
	bad("d.img,size=8E", "expected");	/* no exa suffix */
	bad("d.img,size=8388608T", "is too large");	/* 2^63: beyond off_t */
	bad("d.img,size=00000000000000000000000000000000000000000000000000000000000000000001G",
	    "expected a size");	/* longer than any size we'd parse */
}

static void test_bad_serial(void **state)
{
	(void)state;
	bad("d.img,serial=123456789012345678901", "serial '123456789012345678901' is longer "
	    "than 20 characters");
	bad("d.img,serial", "serial needs a value");
	bad("d.img,serial=", "serial needs a value");
	bad("d.img,serial=a b", "only printable ASCII");
	bad("d.img,serial=a\tb", "only printable ASCII");
	bad("d.img,serial=caf\xc3\xa9", "only printable ASCII");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path_only),   cmocka_unit_test(test_each_option),
		cmocka_unit_test(test_combinations), cmocka_unit_test(test_comma_in_path),
		cmocka_unit_test(test_bad_path),    cmocka_unit_test(test_bad_options),
		cmocka_unit_test(test_bad_size),    cmocka_unit_test(test_bad_serial),
		cmocka_unit_test(test_shared),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
