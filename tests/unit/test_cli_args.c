/* SPDX-License-Identifier: MIT */
/* test_cli_args.c: `domus run` flags: defaults, both flag spellings, and one
 * clear error per kind of bad input. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "cli/run_args.h"
#include "common/err.h"

#define HOST_MIB 24000ULL

static int parse(struct run_args *a, struct err *e, int argc, const char **argv)
{
	memset(e, 0, sizeof(*e));
	return run_args_parse(argc, (char **)argv, HOST_MIB, a, e);
}

static void test_defaults(void **state)
{
	const char *argv[] = { "run" };
	struct run_args a;
	struct err e;
	(void)state;
	assert_int_equal(parse(&a, &e, 1, argv), 0);
	assert_int_equal(a.cfg.memory_mib, RUN_DEFAULT_MEMORY_MIB);
	assert_int_equal(a.cfg.vcpus, 1);
	assert_int_equal(a.cfg.engine, ENGINE_AUTO);
	assert_string_equal(a.cfg.cmdline, RUN_DEFAULT_CMDLINE);
	assert_false(a.kernel_given);
}

static void test_all_flags(void **state)
{
	const char *argv[] = { "run", "--kernel", "/k", "--initrd=/i", "--cmdline", "a b",
			       "--memory", "2G", "--vcpus=4", "--engine", "qemu" };
	struct run_args a;
	struct err e;
	(void)state;
	assert_int_equal(parse(&a, &e, 11, argv), 0);
	assert_string_equal(a.cfg.kernel, "/k");
	assert_string_equal(a.cfg.initrd, "/i");
	assert_string_equal(a.cfg.cmdline, "a b");
	assert_int_equal(a.cfg.memory_mib, 2048);
	assert_int_equal(a.cfg.vcpus, 4);
	assert_int_equal(a.cfg.engine, ENGINE_QEMU);
	assert_true(a.kernel_given && a.initrd_given);
}

static void expect_error(const char *flag, const char *val, const char *needle)
{
	const char *argv[] = { "run", flag, val };
	struct run_args a;
	struct err e;
	int argc = val ? 3 : 2;

	assert_int_equal(parse(&a, &e, argc, argv), -EINVAL);
	if (strstr(e.msg, needle) == NULL)
		fail_msg("'%s %s': message '%s' lacks '%s'", flag, val ? val : "", e.msg, needle);
	assert_null(strchr(e.msg, '\n'));	/* one line */
}

static void test_errors(void **state)
{
	(void)state;
	expect_error("--bogus", NULL, "unknown option '--bogus'");
	expect_error("--memory", "12", "too little memory");
	expect_error("--memory", "1T", "too much memory");
	expect_error("--memory", "lots", "expected a size");
	expect_error("--memory", "1.5G", "expected a size");
	expect_error("--vcpus", "0", "out of range");
	expect_error("--vcpus", "255", "out of range");
	expect_error("--vcpus", "-1", "expected a number");
	expect_error("--vcpus", "two", "expected a number");
	expect_error("--engine", "xen", "expected kvm, qemu or auto");
	expect_error("--kernel", "", "empty path");
	expect_error("--kernel", NULL, "needs a value");
	expect_error("--help=yes", NULL, "takes no value");
	expect_error("stray", NULL, "unexpected argument");
}

static void test_limits(void **state)
{
	const char *min[] = { "run", "--memory", "32" };
	const char *max[] = { "run", "--vcpus", "254" };
	struct run_args a;
	struct err e;
	(void)state;
	assert_int_equal(parse(&a, &e, 3, min), 0);
	assert_int_equal(a.cfg.memory_mib, VM_MEMORY_MIN_MIB);
	assert_int_equal(parse(&a, &e, 3, max), 0);
	assert_int_equal(a.cfg.vcpus, VM_VCPUS_MAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_all_flags),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
