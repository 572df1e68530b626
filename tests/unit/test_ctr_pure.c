/* SPDX-License-Identifier: MIT */
/* test_ctr_pure.c: the container runtime's pure helpers: cgroup mountinfo
 * parsing and cpu weights, mount options, path resolution inside a rootfs,
 * container ids, state files. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/err.h"
#include "container/cgroup.h"
#include "container/ctr.h"
#include "container/state.h"

static void test_mountinfo_hybrid(void **state)
{
	const char *text =
		"31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
		"32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct\n"
		"33 31 0:30 / /sys/fs/cgroup/memory rw,relatime shared:9 - cgroup cgroup rw,memory\n"
		"34 31 0:31 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd\n"
		"35 31 0:32 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
	struct cgroup cg;
	char unified[64];

	(void)state;
	cgroup_parse_mountinfo(text, &cg, unified, sizeof(unified));
	assert_int_equal(cg.n_hier, 3);
	assert_string_equal(cg.hier[0].mnt, "/sys/fs/cgroup/cpu,cpuacct");
	assert_string_equal(cg.hier[0].opts, "cpu,cpuacct");
	assert_string_equal(cg.hier[1].opts, "memory");
	assert_string_equal(cg.hier[2].opts, "name=systemd");
	assert_string_equal(unified, "/sys/fs/cgroup/unified");

	cgroup_parse_mountinfo("40 1 0:40 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n",
			       &cg, unified, sizeof(unified));
	assert_int_equal(cg.n_hier, 0);
	assert_string_equal(unified, "/sys/fs/cgroup");
	cgroup_parse_mountinfo("garbage\n\n - \n", &cg, unified, sizeof(unified));
	assert_int_equal(cg.n_hier, 0);
	assert_string_equal(unified, "");
}

static void test_weight(void **state)
{
	(void)state;
	assert_int_equal(cgroup_v2_weight(2), 1);
	assert_int_equal(cgroup_v2_weight(1024), 39);
	assert_int_equal(cgroup_v2_weight(262144), 10000);
	assert_int_equal(cgroup_v2_weight(0), 1);
	assert_int_equal(cgroup_v2_weight(1000000), 10000);
}

static void test_cgroup_init_refuses(void **state)
{
	struct cgroup cg;
	struct err e = { 0 };

	(void)state;
	assert_int_equal(cgroup_init(&cg, "/a/../../etc", &e), -EINVAL);
	memset(&e, 0, sizeof(e));
	assert_int_equal(cgroup_init(&cg, "system.slice:libpod:x", &e), -ENOTSUP);
	assert_non_null(strstr(e.msg, "systemd cgroup manager is not supported"));
}

static void test_mount_options(void **state)
{
	char *opts[] = { "nosuid", "ro", "rw", "noexec", "mode=755", "rbind", "rslave",
			 "size=65536k", "tmpcopyup", NULL };
	unsigned long flags, prop;
	char data[64];
	bool bind;

	(void)state;
	assert_int_equal(mounts_parse_options(opts, &flags, &prop, &bind, data, sizeof(data)), 0);
	assert_true(flags == (MS_NOSUID | MS_NOEXEC | MS_BIND | MS_REC));
	assert_true(prop == (MS_SLAVE | MS_REC));
	assert_true(bind);
	assert_string_equal(data, "mode=755,size=65536k");
	assert_int_equal(mounts_parse_options(opts, &flags, &prop, &bind, data, 8), -E2BIG);
	assert_int_equal(mounts_parse_options(NULL, &flags, &prop, &bind, data, sizeof(data)), 0);
	assert_true(flags == 0 && !bind && data[0] == '\0');
}

static void test_resolve(void **state)
{
	char root[] = "/tmp/domus-resolve-XXXXXX", p[512], out[512];

	(void)state;
	assert_non_null(mkdtemp(root));
	snprintf(p, sizeof(p), "%s/etc", root);
	assert_int_equal(mkdir(p, 0755), 0);
	/* an absolute symlink and an escaping relative one both stay inside */
	snprintf(p, sizeof(p), "%s/abs", root);
	assert_int_equal(symlink("/etc", p), 0);
	snprintf(p, sizeof(p), "%s/etc/up", root);
	assert_int_equal(symlink("../../../../..", p), 0);
	snprintf(p, sizeof(p), "%s/loop", root);
	assert_int_equal(symlink("loop", p), 0);

	assert_int_equal(mounts_resolve(root, "/abs/passwd", out, sizeof(out)), 0);
	snprintf(p, sizeof(p), "%s/etc/passwd", root);
	assert_string_equal(out, p);
	assert_int_equal(mounts_resolve(root, "/etc/up/proc", out, sizeof(out)), 0);
	snprintf(p, sizeof(p), "%s/proc", root);
	assert_string_equal(out, p);
	assert_int_equal(mounts_resolve(root, "/../../x/./y", out, sizeof(out)), 0);
	snprintf(p, sizeof(p), "%s/x/y", root);
	assert_string_equal(out, p);
	assert_int_equal(mounts_resolve(root, "/", out, sizeof(out)), 0);
	assert_string_equal(out, root);
	assert_int_equal(mounts_resolve(root, "/loop/x", out, sizeof(out)), -ELOOP);
	assert_int_equal(rm_tree(root), 0);
	assert_int_equal(access(root, F_OK), -1);
}

static void test_ids(void **state)
{
	struct err e = { 0 };

	(void)state;
	assert_int_equal(state_check_id("abc-1.2_3", &e), 0);
	assert_int_equal(state_check_id("", &e), -EINVAL);
	assert_int_equal(state_check_id("../x", NULL), -EINVAL);
	assert_int_equal(state_check_id(".hidden", NULL), -EINVAL);
	assert_int_equal(state_check_id("a/b", NULL), -EINVAL);
	assert_non_null(strstr(e.msg, "invalid container id"));
}

static void test_state_roundtrip(void **state)
{
	char root[] = "/tmp/domus-state-XXXXXX";
	struct ctr_state st = { 0 }, back;
	struct err e = { 0 };
	char *json;

	(void)state;
	assert_non_null(mkdtemp(root));
	assert_int_equal(state_mkdir(root, "c1", &e), 0);
	assert_int_equal(state_mkdir(root, "c1", &e), -EEXIST);
	assert_string_equal(e.msg, "container c1 already exists");
	strcpy(st.id, "c1");
	strcpy(st.bundle, "/b");
	strcpy(st.cgroup, "/domus-oci/c1");
	st.status = CTR_CREATED;
	st.pid = getpid();
	st.start_time = proc_start_time(getpid());
	assert_true(st.start_time > 0);
	assert_int_equal(state_write(root, &st, NULL), 0);
	assert_int_equal(state_read(root, "c1", &back, NULL), 0);
	assert_string_equal(back.cgroup, "/domus-oci/c1");
	assert_int_equal(back.pid, getpid());
	assert_int_equal(state_status(&back), CTR_CREATED);
	/* another process's start time: the pid was reused, the container is gone */
	back.start_time++;
	assert_int_equal(state_status(&back), CTR_STOPPED);
	json = state_json(&back, false);
	assert_non_null(strstr(json, "\"status\":\"stopped\""));
	assert_non_null(strstr(json, "\"pid\":0"));
	free(json);
	memset(&e, 0, sizeof(e));
	assert_int_equal(state_read(root, "c2", &back, &e), -ENOENT);
	assert_string_equal(e.msg, "container c2 does not exist");
	assert_int_equal(state_remove(root, "c1"), 0);
	assert_int_equal(rmdir(root), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mountinfo_hybrid),
		cmocka_unit_test(test_weight),
		cmocka_unit_test(test_cgroup_init_refuses),
		cmocka_unit_test(test_mount_options),
		cmocka_unit_test(test_resolve),
		cmocka_unit_test(test_ids),
		cmocka_unit_test(test_state_roundtrip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
