/* SPDX-License-Identifier: MIT */
/* cgroup_v2.c: the v2 backend: one directory in the unified hierarchy,
 * controllers enabled in every ancestor's cgroup.subtree_control; device
 * rules are an eBPF program attached to it (devbpf.c). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cgroup.h"
#include "common/err.h"
#include "common/file.h"
#include "devbpf.h"
#include "state.h"
#include "spec.h"

static void dir_of(struct cgroup *cg, char *out, size_t size)
{
	xsnprintf(out, size, "%s%s", cg->hier[0].mnt, cg->path);
}

static bool available(struct cgroup *cg, const char *ctrl)
{
	char buf[1024];
	size_t n = strlen(ctrl);

	if (cg_read(cg->hier[0].mnt, "cgroup.controllers", buf, sizeof(buf)) < 0)
		return false;
	for (const char *p = buf; (p = strstr(p, ctrl)) != NULL; p += n)
		if ((p == buf || p[-1] == ' ') && (p[n] == '\0' || p[n] == ' '))
			return true;
	return false;
}

static bool v2_has_controller(struct cgroup *cg, const char *ctrl)
{
	/* device rules are an eBPF program on v2, not a controller */
	return strcmp(ctrl, "devices") == 0 || available(cg, ctrl);
}

static int v2_create(struct cgroup *cg, struct err *err)
{
	static const char *const ctrls[] = { "cpu", "cpuset", "memory", "pids", "rdma",
					     "hugetlb", "io" };
	char dir[PATH_MAX], cur[PATH_MAX];
	int r;

	dir_of(cg, dir, sizeof(dir));
	if ((r = file_mkdir_p(dir, 0755, &cg->made[0])) < 0)
		return err_setsys(err, -r, "cgroup: %s", dir);
	/* enable the available controllers from the root down to our parent */
	xsnprintf(cur, sizeof(cur), "%s", cg->hier[0].mnt);
	for (const char *p = cg->path; *p;) {
		const char *slash = strchr(p + 1, '/');
		for (size_t i = 0; i < ARRAY_SIZE(ctrls); i++) {
			char v[32];
			if (!available(cg, ctrls[i]))
				continue;
			xsnprintf(v, sizeof(v), "+%s", ctrls[i]);
			cg_write(cur, "cgroup.subtree_control", v, NULL);
		}
		if (slash == NULL)
			break;
		size_t l = strlen(cur);
		xsnprintf(cur + l, sizeof(cur) - l, "%.*s", (int)(slash - p), p);
		p = slash;
	}
	return 0;
}

static int v2_set(struct cgroup *cg, const struct oci_resources *res, struct err *err)
{
	char dir[PATH_MAX], v[96];
	int r;

	dir_of(cg, dir, sizeof(dir));
	if (res->mem_limit != OCI_UNSET) {
		if (res->mem_limit > 0)
			xsnprintf(v, sizeof(v), "%" PRId64, res->mem_limit);
		else
			strcpy(v, "max");
		if ((r = cg_write(dir, "memory.max", v, err)))
			return r;
	}
	if (res->mem_reservation != OCI_UNSET && res->mem_reservation > 0) {
		xsnprintf(v, sizeof(v), "%" PRId64, res->mem_reservation);
		if ((r = cg_write(dir, "memory.low", v, err)))
			return r;
	}
	if (res->mem_swap != OCI_UNSET) {
		/* OCI's swap is memory+swap; v2 limits swap alone */
		if (res->mem_swap > 0 && res->mem_limit > 0 && res->mem_swap >= res->mem_limit)
			xsnprintf(v, sizeof(v), "%" PRId64, res->mem_swap - res->mem_limit);
		else
			strcpy(v, "max");
		if (cg_read(dir, "memory.swap.max", (char[64]){ 0 }, 64) >= 0 &&
		    (r = cg_write(dir, "memory.swap.max", v, err)))
			return r;
	}
	if (res->cpu_shares != OCI_UNSET && res->cpu_shares > 0) {
		xsnprintf(v, sizeof(v), "%lu", cgroup_v2_weight((unsigned long)res->cpu_shares));
		if ((r = cg_write(dir, "cpu.weight", v, err)))
			return r;
	}
	if (res->cpu_quota != OCI_UNSET || res->cpu_period != OCI_UNSET) {
		int64_t period = res->cpu_period != OCI_UNSET && res->cpu_period > 0
					 ? res->cpu_period : 100000;
		if (res->cpu_quota != OCI_UNSET && res->cpu_quota > 0)
			xsnprintf(v, sizeof(v), "%" PRId64 " %" PRId64, res->cpu_quota, period);
		else
			xsnprintf(v, sizeof(v), "max %" PRId64, period);
		if ((r = cg_write(dir, "cpu.max", v, err)))
			return r;
	}
	if (res->cpus && res->cpus[0] && (r = cg_write(dir, "cpuset.cpus", res->cpus, err)))
		return r;
	if (res->mems && res->mems[0] && (r = cg_write(dir, "cpuset.mems", res->mems, err)))
		return r;
	if (res->pids_limit != OCI_UNSET) {
		if (res->pids_limit > 0)
			xsnprintf(v, sizeof(v), "%" PRId64, res->pids_limit);
		else
			strcpy(v, "max");
		if ((r = cg_write(dir, "pids.max", v, err)))
			return r;
	}
	for (size_t i = 0; res->rdma && res->rdma[i]; i++)
		if ((r = cg_write(dir, "rdma.max", res->rdma[i], err)))
			return r;
	if (res->n_dev_rules) {
		size_t max = 16 + (res->n_dev_rules + cgroup_n_default_devices) * 8;
		struct bpf_insn *prog = calloc(max, sizeof(*prog));
		int n, fd;

		if (prog == NULL)
			return err_set(err, ENOMEM, "out of memory");
		n = devbpf_build(res->dev_rules, res->n_dev_rules, cgroup_default_devices,
				 cgroup_n_default_devices, prog, max);
		fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (n < 0 || fd < 0)
			r = err_setsys(err, n < 0 ? -n : errno, "cgroup v2 device rules for %s", dir);
		else
			r = devbpf_attach(fd, prog, (size_t)n, err);
		if (fd >= 0)
			close(fd);
		free(prog);
		if (r)
			return r;
	}
	return 0;
}

static int v2_enter(struct cgroup *cg, pid_t pid, struct err *err)
{
	char dir[PATH_MAX], v[24];

	dir_of(cg, dir, sizeof(dir));
	xsnprintf(v, sizeof(v), "%d", (int)pid);
	return cg_write(dir, "cgroup.procs", v, err);
}

static int v2_procs(struct cgroup *cg, pid_t **pids, size_t *n)
{
	char dir[PATH_MAX];

	dir_of(cg, dir, sizeof(dir));
	return cg_read_procs(dir, pids, n);
}

static int v2_destroy(struct cgroup *cg)
{
	char dir[PATH_MAX];

	dir_of(cg, dir, sizeof(dir));
	if (rmdir(dir) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

static int v2_dir(struct cgroup *cg, size_t i, char *out, size_t size, char *name,
		  size_t name_size)
{
	if (i > 0)
		return -ENOENT;
	dir_of(cg, out, size);
	name[0] = '\0';
	(void)name_size;
	return 0;
}

const struct cgroup_ops cgroup_v2_ops = {
	.name = "v2",
	.has_controller = v2_has_controller,
	.create = v2_create,
	.set = v2_set,
	.enter = v2_enter,
	.procs = v2_procs,
	.destroy = v2_destroy,
	.dir = v2_dir,
};
