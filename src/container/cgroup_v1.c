/* SPDX-License-Identifier: MIT */
/* cgroup_v1.c: the v1 backend: the container joins the same path in every
 * mounted v1 hierarchy (name=systemd included, as other runtimes do);
 * limits go to the hierarchy holding their controller. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cgroup.h"
#include "common/err.h"
#include "common/file.h"
#include "state.h"
#include "spec.h"

static bool has_ctrl(const struct cgroup_hier *h, const char *ctrl)
{
	size_t n = strlen(ctrl);

	for (const char *p = h->opts; (p = strstr(p, ctrl)) != NULL; p += n)
		if ((p == h->opts || p[-1] == ',') && (p[n] == '\0' || p[n] == ','))
			return true;
	return false;
}

static int find_hier(struct cgroup *cg, const char *ctrl)
{
	for (size_t i = 0; i < cg->n_hier; i++)
		if (has_ctrl(&cg->hier[i], ctrl))
			return (int)i;
	return -1;
}

static void hier_dir(struct cgroup *cg, size_t i, char *out, size_t size)
{
	xsnprintf(out, size, "%s%s", cg->hier[i].mnt, cg->path);
}

static bool v1_has_controller(struct cgroup *cg, const char *ctrl)
{
	return find_hier(cg, ctrl) >= 0;
}

/* a new cpuset cgroup starts with no CPUs and no memory nodes: inherit the
 * parent's, from the top down, so that processes can join */
static int cpuset_fill(const char *mnt, const char *path, struct err *err)
{
	char dir[PATH_MAX], parent[PATH_MAX], val[4096];
	const char *p = path;

	while (*p) {
		const char *slash = strchr(p + 1, '/');
		size_t len = slash ? (size_t)(slash - path) : strlen(path);
		xsnprintf(dir, sizeof(dir), "%s%.*s", mnt, (int)len, path);
		xsnprintf(parent, sizeof(parent), "%s", dir);
		*strrchr(parent, '/') = '\0';
		for (int f = 0; f < 2; f++) {
			const char *file = f ? "cpuset.mems" : "cpuset.cpus";
			if (cg_read(dir, file, val, sizeof(val)) == 0 &&
			    cg_read(parent, file, val, sizeof(val)) > 0) {
				int r = cg_write(dir, file, val, err);
				if (r)
					return r;
			}
		}
		p = slash ? slash : path + strlen(path);
	}
	return 0;
}

static int v1_create(struct cgroup *cg, struct err *err)
{
	char dir[PATH_MAX];
	int r;

	for (size_t i = 0; i < cg->n_hier; i++) {
		hier_dir(cg, i, dir, sizeof(dir));
		if ((r = file_mkdir_p(dir, 0755, &cg->made[i])) < 0) {
			err_setsys(err, -r, "cgroup: %s", dir);
			goto fail;
		}
		if (has_ctrl(&cg->hier[i], "cpuset") &&
		    (r = cpuset_fill(cg->hier[i].mnt, cg->path, err)))
			goto fail;
	}
	return 0;
fail:
	/* remove only what we made: a cgroup that was there stays */
	for (size_t i = 0; i < cg->n_hier; i++) {
		hier_dir(cg, i, dir, sizeof(dir));
		if (cg->made[i])
			rmdir(dir);
	}
	return r;
}

static int setf(struct cgroup *cg, const char *ctrl, const char *file, const char *val,
		struct err *err)
{
	char dir[PATH_MAX];
	int i = find_hier(cg, ctrl);

	if (i < 0)
		return err_set(err, ENOTSUP, "no cgroup controller '%s'", ctrl);
	hier_dir(cg, (size_t)i, dir, sizeof(dir));
	return cg_write(dir, file, val, err);
}

static void num(char *buf, size_t size, int64_t v)
{
	xsnprintf(buf, size, "%" PRId64, v);
}

static int v1_set(struct cgroup *cg, const struct oci_resources *res, struct err *err)
{
	char v[64], dir[PATH_MAX];
	int r = 0;

	if (res->mem_limit != OCI_UNSET) {
		num(v, sizeof(v), res->mem_limit > 0 ? res->mem_limit : -1);
		if ((r = setf(cg, "memory", "memory.limit_in_bytes", v, err)))
			return r;
	}
	if (res->mem_swap != OCI_UNSET) {
		int i = find_hier(cg, "memory");
		hier_dir(cg, (size_t)i, dir, sizeof(dir));
		num(v, sizeof(v), res->mem_swap > 0 ? res->mem_swap : -1);
		/* only when the kernel accounts swap (swapaccount=1) */
		if (cg_read(dir, "memory.memsw.limit_in_bytes", (char[64]){ 0 }, 64) >= 0 &&
		    (r = cg_write(dir, "memory.memsw.limit_in_bytes", v, err)))
			return r;
	}
	if (res->mem_reservation != OCI_UNSET) {
		num(v, sizeof(v), res->mem_reservation > 0 ? res->mem_reservation : -1);
		if ((r = setf(cg, "memory", "memory.soft_limit_in_bytes", v, err)))
			return r;
	}
	if (res->cpu_shares != OCI_UNSET && res->cpu_shares > 0) {
		num(v, sizeof(v), res->cpu_shares);
		if ((r = setf(cg, "cpu", "cpu.shares", v, err)))
			return r;
	}
	if (res->cpu_period != OCI_UNSET && res->cpu_period > 0) {
		num(v, sizeof(v), res->cpu_period);
		if ((r = setf(cg, "cpu", "cpu.cfs_period_us", v, err)))
			return r;
	}
	if (res->cpu_quota != OCI_UNSET) {
		num(v, sizeof(v), res->cpu_quota > 0 ? res->cpu_quota : -1);
		if ((r = setf(cg, "cpu", "cpu.cfs_quota_us", v, err)))
			return r;
	}
	if (res->cpus && res->cpus[0] && (r = setf(cg, "cpuset", "cpuset.cpus", res->cpus, err)))
		return r;
	if (res->mems && res->mems[0] && (r = setf(cg, "cpuset", "cpuset.mems", res->mems, err)))
		return r;
	if (res->pids_limit != OCI_UNSET) {
		if (res->pids_limit > 0)
			num(v, sizeof(v), res->pids_limit);
		else
			strcpy(v, "max");
		if ((r = setf(cg, "pids", "pids.max", v, err)))
			return r;
	}
	for (size_t i = 0; i < res->n_dev_rules + (res->n_dev_rules ? cgroup_n_default_devices : 0);
	     i++) {
		const struct oci_dev_rule *d = i < res->n_dev_rules
						       ? &res->dev_rules[i]
						       : &cgroup_default_devices[i - res->n_dev_rules];
		char maj[24] = "*", min[24] = "*", rule[96];
		if (d->major >= 0)
			num(maj, sizeof(maj), d->major);
		if (d->minor >= 0)
			num(min, sizeof(min), d->minor);
		if (d->type == 'a')
			xsnprintf(rule, sizeof(rule), "a");
		else
			xsnprintf(rule, sizeof(rule), "%c %s:%s %s", d->type, maj, min, d->access);
		if ((r = setf(cg, "devices", d->allow ? "devices.allow" : "devices.deny", rule,
			      err)))
			return r;
	}
	for (size_t i = 0; res->rdma && res->rdma[i]; i++)
		if ((r = setf(cg, "rdma", "rdma.max", res->rdma[i], err)))
			return r;
	return 0;
}

static int v1_enter(struct cgroup *cg, pid_t pid, struct err *err)
{
	char dir[PATH_MAX], v[24];
	int r;

	xsnprintf(v, sizeof(v), "%d", (int)pid);
	for (size_t i = 0; i < cg->n_hier; i++) {
		hier_dir(cg, i, dir, sizeof(dir));
		if ((r = cg_write(dir, "cgroup.procs", v, err)))
			return r;
	}
	return 0;
}

static int v1_procs(struct cgroup *cg, pid_t **pids, size_t *n)
{
	char dir[PATH_MAX];
	int i = find_hier(cg, "pids");

	if (i < 0)
		i = find_hier(cg, "memory");
	if (i < 0)
		i = 0;
	hier_dir(cg, (size_t)i, dir, sizeof(dir));
	return cg_read_procs(dir, pids, n);
}

static int v1_destroy(struct cgroup *cg)
{
	char dir[PATH_MAX];
	int ret = 0;

	for (size_t i = 0; i < cg->n_hier; i++) {
		hier_dir(cg, i, dir, sizeof(dir));
		if (rmdir(dir) < 0 && errno != ENOENT)
			ret = -errno;
	}
	return ret;
}

static int v1_dir(struct cgroup *cg, size_t i, char *out, size_t size, char *name,
		  size_t name_size)
{
	const char *base;

	if (i >= cg->n_hier)
		return -ENOENT;
	hier_dir(cg, i, out, size);
	base = strrchr(cg->hier[i].mnt, '/');
	xsnprintf(name, name_size, "%s", base ? base + 1 : cg->hier[i].opts);
	return 0;
}

const struct cgroup_ops cgroup_v1_ops = {
	.name = "v1",
	.has_controller = v1_has_controller,
	.create = v1_create,
	.set = v1_set,
	.enter = v1_enter,
	.procs = v1_procs,
	.destroy = v1_destroy,
	.dir = v1_dir,
};
