/* SPDX-License-Identifier: MIT */
/* test_oci_spec.c: config.json parsing: what is read, and errors that name
 * the JSON path. */
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <cmocka.h>

#include "common/err.h"
#include "container/spec.h"

static struct oci_spec *parse_ok(const char *text)
{
	struct oci_spec *s = NULL;
	struct err e = { 0 };

	if (spec_parse(text, strlen(text), "config.json", &s, &e) != 0)
		fail_msg("unexpected error: %s", e.msg);
	return s;
}

static void expect_error(const char *text, const char *msg)
{
	struct oci_spec *s = NULL;
	struct err e = { 0 };
	int r = spec_parse(text, strlen(text), "config.json", &s, &e);

	assert_true(r < 0);
	assert_null(s);
	if (strcmp(e.msg, msg) != 0)
		fail_msg("got '%s', want '%s'", e.msg, msg);
}

#define MIN "\"ociVersion\": \"1.0.2\", \"root\": {\"path\": \"rootfs\"}"
#define PROC "\"process\": {\"user\": {\"uid\": 0, \"gid\": 0}, \"cwd\": \"/\", \"args\": [\"sh\"]}"

static void test_default_spec_parses(void **state)
{
	char *text = spec_default_json(false);
	struct oci_spec *s;

	(void)state;
	s = parse_ok(text);
	assert_string_equal(s->process.args[0], "sh");
	assert_true(s->process.terminal);
	assert_true(s->process.no_new_privs);
	assert_true(s->root_readonly);
	assert_string_equal(s->hostname, "domus");
	assert_int_equal(s->n_mounts, 7);
	assert_string_equal(s->mounts[6].type, "cgroup");
	assert_non_null(spec_ns(s, CLONE_NEWPID));
	assert_null(spec_ns(s, CLONE_NEWUSER));
	assert_true(s->process.caps.bounding == ((1ULL << 29) | (1ULL << 5) | (1ULL << 10)));
	assert_int_equal(s->process.n_rlimits, 1);
	assert_int_equal(s->process.rlimits[0].resource, RLIMIT_NOFILE);
	assert_int_equal(s->resources.n_dev_rules, 1);
	assert_false(s->resources.dev_rules[0].allow);
	assert_int_equal(s->resources.dev_rules[0].type, 'a');
	spec_free(s);
	free(text);

	text = spec_default_json(true);
	s = parse_ok(text);
	assert_non_null(spec_ns(s, CLONE_NEWUSER));
	assert_int_equal(s->n_uid_maps, 1);
	assert_int_equal(s->uid_maps[0].size, 1);
	spec_free(s);
	free(text);
}

static void test_full(void **state)
{
	const char *text = "{" MIN ", \"process\": {\"terminal\": false, \"user\": {\"uid\": 1000, "
		"\"gid\": 1001, \"additionalGids\": [5, 7], \"umask\": 18}, \"cwd\": \"/tmp\", "
		"\"args\": [\"a\", \"b\"], \"env\": [\"X=1\"], \"rlimits\": [{\"type\": "
		"\"RLIMIT_NOFILE\", \"soft\": 18446744073709551615, \"hard\": 10}], "
		"\"oomScoreAdj\": -500, \"consoleSize\": {\"height\": 24, \"width\": 80}},"
		"\"hostname\": \"h\", \"mounts\": [{\"destination\": \"/x\", \"type\": \"bind\", "
		"\"source\": \"/y\", \"options\": [\"rbind\", \"ro\"]}],"
		"\"hooks\": {\"poststop\": [{\"path\": \"/bin/true\", \"args\": [\"true\"], "
		"\"timeout\": 5}]},"
		"\"linux\": {\"namespaces\": [{\"type\": \"network\", \"path\": \"/run/netns/a\"}, "
		"{\"type\": \"user\"}], \"uidMappings\": [{\"containerID\": 0, \"hostID\": 1000, "
		"\"size\": 10}], \"gidMappings\": [{\"containerID\": 0, \"hostID\": 1000, "
		"\"size\": 10}], \"resources\": {\"memory\": {\"limit\": 1048576, \"swap\": -1}, "
		"\"cpu\": {\"shares\": 512, \"quota\": 50000, \"period\": 100000, \"cpus\": \"0-1\"}, "
		"\"pids\": {\"limit\": 20}, \"devices\": [{\"allow\": true, \"type\": \"c\", "
		"\"major\": 1, \"minor\": 3, \"access\": \"rw\"}]}, \"cgroupsPath\": \"/a/b\", "
		"\"devices\": [{\"path\": \"/dev/fuse\", \"type\": \"c\", \"major\": 10, \"minor\": "
		"229, \"fileMode\": 438}], \"sysctl\": {\"net.ipv4.ip_forward\": \"1\"}, "
		"\"seccomp\": {\"defaultAction\": \"SCMP_ACT_ERRNO\", \"defaultErrnoRet\": 38, "
		"\"architectures\": [\"SCMP_ARCH_X86_64\"], \"syscalls\": [{\"names\": [\"read\"], "
		"\"action\": \"SCMP_ACT_ALLOW\", \"args\": [{\"index\": 0, \"value\": 1, \"op\": "
		"\"SCMP_CMP_EQ\"}]}]}, \"maskedPaths\": [\"/proc/kcore\"], "
		"\"readonlyPaths\": [\"/proc/sys\"]}}";
	struct oci_spec *s = parse_ok(text);

	(void)state;
	assert_int_equal(s->process.uid, 1000);
	assert_int_equal(s->process.n_gids, 2);
	assert_int_equal(s->process.gids[1], 7);
	assert_true(s->process.has_umask);
	assert_int_equal(s->process.umask, 18);
	assert_true(s->process.rlimits[0].soft == UINT64_MAX);
	assert_int_equal(s->process.oom_score_adj, -500);
	assert_int_equal(s->process.console.cols, 80);
	assert_string_equal(s->process.env[0], "X=1");
	assert_string_equal(s->mounts[0].options[1], "ro");
	assert_int_equal(s->hooks[HOOK_POSTSTOP].n, 1);
	assert_int_equal(s->hooks[HOOK_POSTSTOP].list[0].timeout, 5);
	assert_string_equal(spec_ns(s, CLONE_NEWNET)->path, "/run/netns/a");
	assert_int_equal(s->uid_maps[0].host_id, 1000);
	assert_true(s->resources.mem_limit == 1048576);
	assert_true(s->resources.mem_swap == -1);
	assert_true(s->resources.mem_reservation == OCI_UNSET);
	assert_true(s->resources.cpu_shares == 512);
	assert_string_equal(s->resources.cpus, "0-1");
	assert_true(s->resources.pids_limit == 20);
	assert_string_equal(s->resources.dev_rules[0].access, "rw");
	assert_string_equal(s->cgroups_path, "/a/b");
	assert_int_equal(s->devices[0].mode, 0666);
	assert_string_equal(s->sysctl_keys[0], "net.ipv4.ip_forward");
	assert_int_equal(s->seccomp->default_action, SECCOMP_ACT_ERRNO);
	assert_int_equal(s->seccomp->default_errno, 38);
	assert_string_equal(s->seccomp->archs[0], "x86_64");
	assert_int_equal(s->seccomp->rules[0].n_args, 1);
	assert_int_equal(s->seccomp->rules[0].args[0].op, 4);
	assert_string_equal(s->masked_paths[0], "/proc/kcore");
	spec_free(s);
}

static void test_errors(void **state)
{
	(void)state;
	expect_error("{" MIN ", \"process\": {\"user\": {\"uid\": 0, \"gid\": 0}, \"cwd\": \"/\", "
		     "\"args\": \"sh\"}}",
		     "config.json: process.args: expected array of strings, got string");
	expect_error("{" MIN ", \"process\": {\"user\": {\"uid\": 0, \"gid\": 0}, \"cwd\": \"/\"}}",
		     "config.json: process.args: missing");
	expect_error("{" MIN ", \"process\": {\"user\": {\"uid\": 0}, \"cwd\": \"/\", \"args\": "
		     "[\"sh\"]}}", "config.json: process.user.gid: missing");
	expect_error("{" MIN ", \"process\": {\"user\": {\"uid\": 4294967296, \"gid\": 0}, "
		     "\"cwd\": \"/\", \"args\": [\"sh\"]}}",
		     "config.json: process.user.uid: 4294967296 out of range [0, 4294967295]");
	expect_error("{" MIN ", \"process\": {\"user\": {\"uid\": 0, \"gid\": 0}, \"cwd\": \"x\", "
		     "\"args\": [\"sh\"]}}", "config.json: process.cwd: must be an absolute path");
	expect_error("{" MIN ", " PROC ", \"linux\": {\"namespaces\": [{\"type\": \"pid\"}, "
		     "{\"type\": \"nope\"}]}}",
		     "config.json: linux.namespaces[1].type: unknown namespace 'nope'");
	expect_error("{" MIN ", " PROC ", \"linux\": {\"namespaces\": [{\"type\": \"pid\"}, "
		     "{\"type\": \"pid\"}]}}",
		     "config.json: linux.namespaces[1].type: namespace 'pid' listed twice");
	expect_error("{" MIN ", " PROC ", \"linux\": {\"namespaces\": [{\"type\": \"user\"}]}}",
		     "config.json: linux.uidMappings: a new user namespace needs uidMappings and "
		     "gidMappings");
	expect_error("{" MIN ", " PROC ", \"linux\": {\"resources\": {\"devices\": [{\"allow\": "
		     "true, \"access\": \"rwx\"}]}}}",
		     "config.json: linux.resources.devices[0].access: expected letters of \"rwm\", "
		     "got 'rwx'");
	expect_error("{" MIN ", " PROC ", \"linux\": {\"seccomp\": {\"defaultAction\": "
		     "\"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"read\"], \"action\": "
		     "\"SCMP_ACT_ERRNO\", \"args\": [{\"index\": 9, \"value\": 0, \"op\": "
		     "\"SCMP_CMP_EQ\"}]}]}}}",
		     "config.json: linux.seccomp.syscalls[0].args[0].index: must be 0..5");
	expect_error("{" MIN ", " PROC ", \"linux\": {\"sysctl\": {\"../x\": \"1\"}}}",
		     "config.json: linux.sysctl.../x: not a sysctl name");
	expect_error("{" MIN ", " PROC ", \"mounts\": [{\"type\": \"tmpfs\"}]}",
		     "config.json: mounts[0].destination: missing");
	expect_error("{" MIN ", " PROC ", \"hooks\": {\"prestart\": [{\"path\": 1}]}}",
		     "config.json: hooks.prestart[0].path: expected a string, got int");
	expect_error("{\"ociVersion\": \"1.0.2\"}", "config.json: root: missing");
	expect_error("[1]", "config.json: (top): expected an object, got array");
	expect_error("{\"a\": ", "config.json: not valid JSON at offset 6: unexpected end");
	expect_error("{} x", "config.json: not valid JSON at offset 3: trailing data");
	expect_error("{" MIN ", \"hostname\": 5}", "config.json: hostname: expected a string, got int");
}

static void test_process_file(void **state)
{
	struct oci_process p;
	struct err e = { 0 };
	const char *ok = "{\"user\": {\"uid\": 1, \"gid\": 2}, \"cwd\": \"/\", \"args\": [\"ls\"], "
			 "\"terminal\": true}";

	(void)state;
	assert_int_equal(spec_parse_process(ok, strlen(ok), "p.json", &p, &e), 0);
	assert_true(p.terminal);
	assert_int_equal(p.gid, 2);
	spec_process_free(&p);
	assert_int_equal(spec_parse_process("{\"args\": []}", 12, "p.json", &p, &e), -EINVAL);
	assert_string_equal(e.msg, "p.json: process.user: missing");
}

static void test_names(void **state)
{
	(void)state;
	assert_int_equal(spec_cap_from_name("CAP_SYS_ADMIN"), 21);
	assert_int_equal(spec_cap_from_name("cap_chown"), 0);
	assert_int_equal(spec_cap_from_name("CAP_CHECKPOINT_RESTORE"), 40);
	assert_int_equal(spec_cap_from_name("CAP_NOPE"), -1);
	assert_int_equal(spec_rlimit_from_name("RLIMIT_NPROC"), RLIMIT_NPROC);
	assert_int_equal(spec_rlimit_from_name("NOFILE"), -1);
	assert_int_equal(spec_ns_type("network"), CLONE_NEWNET);
	assert_int_equal(spec_ns_type("net"), 0);
	assert_string_equal(spec_ns_name(CLONE_NEWNS), "mount");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_spec_parses),
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_process_file),
		cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
