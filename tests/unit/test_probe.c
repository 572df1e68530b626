/* SPDX-License-Identifier: MIT */
/* test_probe.c: the KVM speed probe's cache file: format, parse, store, load, default path. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine/probe.h"

static const struct kvm_probe_key key = {
	.boot_id = "65e36329-1883-48ba-8506-6d149cca0253",
	.kernel = "6.1.0-56-cloud-amd64",
};

static const char good[] =
	"domus-kvm-probe 1\n"
	"boot_id 65e36329-1883-48ba-8506-6d149cca0253\n"
	"kernel 6.1.0-56-cloud-amd64\n"
	"native 0\n"
	"iterations 1000\n"
	"guest_ps 409142000\n"
	"host_ps 278641\n"
	"exit_ps 8472000\n"
	"reason /dev/kvm runs guest kernel code 1468x slower than native (emulated, e.g. PVM)\n";

static struct kvm_probe sample(void)
{
	struct kvm_probe p = {
		.native = true, .guest_ns = 517406.25, .host_ns = 527196.5, .iterations = 239484,
		.exit_ns = 40897,
	};

	p.ratio = p.guest_ns / p.host_ns;
	snprintf(p.reason, sizeof(p.reason), "/dev/kvm runs guest kernel code at native speed "
		 "(ratio %.1f)", p.ratio);
	return p;
}

static int parse(const char *text, struct kvm_probe *out)
{
	return kvm_probe_cache_parse(text, strlen(text), &key, out);
}

/* edit: (good) with the first occurrence of (from) replaced by (to). */
static int parse_edited(const char *from, const char *to, struct kvm_probe *out)
{
	char buf[1024];
	const char *at = strstr(good, from);

	assert_non_null(at);
	snprintf(buf, sizeof(buf), "%.*s%s%s", (int)(at - good), good, to, at + strlen(from));
	return parse(buf, out);
}

static void test_parse_good(void **state)
{
	struct kvm_probe p;

	(void)state;
	assert_int_equal(parse(good, &p), 0);
	assert_false(p.native);
	assert_true(p.cached);
	assert_int_equal(p.iterations, 1000);
	assert_true(p.guest_ns == 409142.0);
	assert_true(p.host_ns == 278.641);
	assert_true(p.exit_ns == 8472.0);
	assert_true(p.ratio > 1468 && p.ratio < 1469);
	assert_string_equal(p.reason, "/dev/kvm runs guest kernel code 1468x slower than native "
			    "(emulated, e.g. PVM)");
}

static void test_round_trip(void **state)
{
	struct kvm_probe in = sample(), out;
	char buf[1024];
	int n;

	(void)state;
	n = kvm_probe_cache_format(&key, &in, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal((size_t)n, strlen(buf));
	assert_int_equal(kvm_probe_cache_parse(buf, (size_t)n, &key, &out), 0);
	assert_true(out.native);
	assert_true(out.cached);
	assert_int_equal(out.iterations, in.iterations);
	assert_true(out.guest_ns == in.guest_ns);
	assert_true(out.host_ns == in.host_ns);
	assert_true(out.exit_ns == in.exit_ns);
	assert_true(out.ratio > in.ratio * 0.999999 && out.ratio < in.ratio * 1.000001);
	assert_string_equal(out.reason, in.reason);
}

static void test_stale(void **state)
{
	struct kvm_probe p = { 0 };
	struct kvm_probe_key other = key;

	(void)state;
	other.boot_id[0] = '7';
	assert_int_equal(kvm_probe_cache_parse(good, strlen(good), &other, &p), -ESTALE);
	other = key;
	snprintf(other.kernel, sizeof(other.kernel), "6.1.0-57-cloud-amd64");
	assert_int_equal(kvm_probe_cache_parse(good, strlen(good), &other, &p), -ESTALE);
	assert_int_equal(parse_edited("domus-kvm-probe 1\n", "domus-kvm-probe 2\n", &p), -ESTALE);
	assert_int_equal(parse_edited("domus-kvm-probe 1\n", "domus-kvm-probe 0\n", &p), -ESTALE);
	assert_false(p.cached);	/* untouched on failure */
}

static void test_malformed(void **state)
{
	static const char *const edits[][2] = {
		{ "domus-kvm-probe 1\n", "domus-kvm-probe\n" },
		{ "domus-kvm-probe 1\n", "domus-kvm-prob 1\n" },
		{ "domus-kvm-probe 1\n", "domus-kvm-probe x\n" },
		{ "native 0\n", "" },
		{ "native 0\n", "native 2\n" },
		{ "native 0\n", "native 0\nnative 0\n" },
		{ "native 0\n", "native  0\n" },
		{ "native 0\n", "native -0\n" },
		{ "native 0\n", "native 0\nextra 1\n" },
		{ "native 0\n", "native 0\n\n" },
		{ "native 0\n", "native\n" },
		{ "native 0\n", "native 1\n" },		/* native with a ratio of 1468 */
		{ "iterations 1000\n", "iterations 0\n" },
		{ "iterations 1000\n", "iterations 4294967296\n" },
		{ "guest_ps 409142000\n", "guest_ps 4.09e8\n" },
		{ "guest_ps 409142000\n", "guest_ps 99999999999999999999999\n" },
		{ "host_ps 278641\n", "host_ps 0\n" },
		{ "host_ps 278641\n", "host_ps \n" },
		{ "reason /dev/kvm runs guest kernel code 1468x slower than native (emulated, "
		  "e.g. PVM)\n", "reason \n" },
	};
	struct kvm_probe p = { 0 };
	char big[400];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(edits); i++) {
		int r = parse_edited(edits[i][0], edits[i][1], &p);

		if (r != -EINVAL)
			fail_msg("edit %zu (%s): %d", i, edits[i][1], r);
	}
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(parse_edited("/dev/kvm runs", big, &p), -EINVAL);

	/* Truncated, empty, NUL inside. */
	assert_int_equal(kvm_probe_cache_parse(good, strlen(good) - 1, &key, &p), -EINVAL);
	assert_int_equal(kvm_probe_cache_parse(good, 40, &key, &p), -EINVAL);
	assert_int_equal(kvm_probe_cache_parse(good, 0, &key, &p), -EINVAL);
	assert_int_equal(kvm_probe_cache_parse("domus-kvm-probe 1\n\0", 19, &key, &p), -EINVAL);
	assert_int_equal(parse("\n", &p), -EINVAL);
	assert_false(p.cached);
}

static void test_format_limits(void **state)
{
	struct kvm_probe p = sample(), out;
	struct kvm_probe_key bad = key;
	char buf[1024];
	int n;

	(void)state;
	/* A reason is one line whatever it holds. */
	snprintf(p.reason, sizeof(p.reason), "two\nlines\tand\r");
	n = kvm_probe_cache_format(&key, &p, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal(kvm_probe_cache_parse(buf, (size_t)n, &key, &out), 0);
	assert_string_equal(out.reason, "two?lines?and?");

	assert_int_equal(kvm_probe_cache_format(&key, &p, buf, 40), -ENOSPC);
	snprintf(bad.kernel, sizeof(bad.kernel), "6.1 custom");
	assert_int_equal(kvm_probe_cache_format(&bad, &p, buf, sizeof(buf)), -EINVAL);
	bad.kernel[0] = '\0';
	assert_int_equal(kvm_probe_cache_format(&bad, &p, buf, sizeof(buf)), -EINVAL);
}

static void test_store_load(void **state)
{
	char dir[] = "/tmp/test_probe.XXXXXX", path[256], cmd[300];
	struct kvm_probe in = sample(), out;
	struct stat st;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/a/b/kvm-probe", dir);
	assert_int_equal(kvm_probe_cache_load(path, &key, &out), -ENOENT);

	assert_int_equal(kvm_probe_cache_store(path, &key, &in), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
	snprintf(cmd, sizeof(cmd), "%s/a/b", dir);
	assert_int_equal(stat(cmd, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(kvm_probe_cache_load(path, &key, &out), 0);
	assert_true(out.cached && out.native);
	assert_int_equal(out.iterations, in.iterations);

	/* Replaced in place; no temporary file left behind. */
	in.native = false;
	in.ratio = in.guest_ns / in.host_ns;
	assert_int_equal(kvm_probe_cache_store(path, &key, &in), 0);
	assert_int_equal(kvm_probe_cache_load(path, &key, &out), 0);
	assert_false(out.native);
	snprintf(cmd, sizeof(cmd), "test $(ls -A %s/a/b | wc -l) = 1", dir);
	assert_int_equal(system(cmd), 0);

	/* Not a regular file: ignored. */
	snprintf(path, sizeof(path), "%s/a", dir);
	assert_int_equal(kvm_probe_cache_load(path, &key, &out), -EPERM);

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

static void test_key_get(void **state)
{
	struct kvm_probe_key k;

	(void)state;
	if (access("/proc/sys/kernel/random/boot_id", R_OK) != 0)
		skip();
	assert_int_equal(kvm_probe_key_get(&k), 0);
	assert_int_equal(strlen(k.boot_id), 36);
	assert_true(strlen(k.kernel) > 0);
	assert_null(strchr(k.kernel, '\n'));
}

static void test_default_path(void **state)
{
	char buf[256];
	const char *p;

	(void)state;
	setenv("XDG_RUNTIME_DIR", "/run/user/1000", 1);
	setenv("HOME", "/home/someone", 1);
	unsetenv("XDG_CACHE_HOME");
	p = kvm_probe_default_cache_path(buf, sizeof(buf));
	assert_non_null(p);
	if (geteuid() == 0) {
		assert_string_equal(p, "/run/domus/kvm-probe");
	} else {
		assert_string_equal(p, "/run/user/1000/domus/kvm-probe");
		setenv("XDG_RUNTIME_DIR", "relative", 1);
		assert_string_equal(kvm_probe_default_cache_path(buf, sizeof(buf)),
				    "/home/someone/.cache/domus/kvm-probe");
		unsetenv("XDG_RUNTIME_DIR");
		unsetenv("HOME");
		assert_null(kvm_probe_default_cache_path(buf, sizeof(buf)));
	}
	assert_null(kvm_probe_default_cache_path(buf, 10));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_good),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_stale),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_format_limits),
		cmocka_unit_test(test_store_load),
		cmocka_unit_test(test_key_get),
		cmocka_unit_test(test_default_path),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
