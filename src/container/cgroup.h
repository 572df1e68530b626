/* SPDX-License-Identifier: MIT */
/* cgroup.h: a container's cgroup, behind one interface with two backends:
 * v1 (every mounted v1 hierarchy, as on hybrid hosts) and v2 (the unified
 * hierarchy). The backend is chosen by what /proc/self/mountinfo shows:
 * any v1 hierarchy means v1, so resource controllers are found where the
 * host keeps them. */
#ifndef DOMUS_CONTAINER_CGROUP_H
#define DOMUS_CONTAINER_CGROUP_H

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

struct err;
struct oci_resources;

#define CGROUP_MAX_HIER 16

struct cgroup_hier {
	char mnt[PATH_MAX];	/* mount point */
	char opts[256];		/* controllers: "cpu", "cpu,cpuacct", "name=systemd" */
};

struct cgroup {
	const struct cgroup_ops *ops;
	char path[PATH_MAX];	/* "/domus-oci/ID": below each hierarchy's root */
	struct cgroup_hier hier[CGROUP_MAX_HIER];
	size_t n_hier;		/* v1: hierarchies; v2: one, the unified mount */
	bool made[CGROUP_MAX_HIER];	/* the leaf was made by us */
};

struct cgroup_ops {
	const char *name;	/* "v1", "v2" */
	/* has_controller: (ctrl) ("memory", "pids", ...) can be used here */
	bool (*has_controller)(struct cgroup *cg, const char *ctrl);
	/* create: make the cgroup (parents too) in every hierarchy */
	int (*create)(struct cgroup *cg, struct err *err);
	/* set: write the limits */
	int (*set)(struct cgroup *cg, const struct oci_resources *res, struct err *err);
	/* enter: move (pid) into the cgroup */
	int (*enter)(struct cgroup *cg, pid_t pid, struct err *err);
	/* procs: the pids in the cgroup (malloc'd array) */
	int (*procs)(struct cgroup *cg, pid_t **pids, size_t *n);
	/* destroy: remove the cgroup; -EBUSY while processes remain */
	int (*destroy)(struct cgroup *cg);
	/* dir: (i)th directory of the cgroup, for bind mounts in the container;
	 * (name) gets the hierarchy's directory name under /sys/fs/cgroup */
	int (*dir)(struct cgroup *cg, size_t i, char *out, size_t size, char *name,
		   size_t name_size);
};

extern const struct cgroup_ops cgroup_v1_ops;
extern const struct cgroup_ops cgroup_v2_ops;

/* cgroup_init: find the host's hierarchies and pick a backend for (path)
 * ("/a/b"; a relative path is taken below the root as well). */
int cgroup_init(struct cgroup *cg, const char *path, struct err *err);

/* cgroup_check: every controller (res) needs is on this host, before anything
 * is made: 0, or -ENOTSUP with (err) naming the resource and the controller. */
int cgroup_check(struct cgroup *cg, const struct oci_resources *res, struct err *err);

/* cgroup_kill_all: signal every process in the cgroup; with SIGKILL, waits
 * (up to ~2 s) until the cgroup is empty. */
int cgroup_kill_all(struct cgroup *cg, int sig);

/* the devices every container may use when it has device rules: the ones
 * mounts.c makes (null, zero, full, random, urandom, tty), ptmx, and ptys */
extern const struct oci_dev_rule *const cgroup_default_devices;
extern const size_t cgroup_n_default_devices;

/* helpers for the backends */
int cg_write(const char *dir, const char *file, const char *val, struct err *err);
int cg_read(const char *dir, const char *file, char *buf, size_t size);
int cg_read_procs(const char *dir, pid_t **pids, size_t *n);

/* cgroup_parse_mountinfo: the cgroup mounts listed in (text): v1
 * hierarchies into (cg->hier), and the cgroup2 mount point into (unified).
 * Pure, for unit tests. */
void cgroup_parse_mountinfo(const char *text, struct cgroup *cg, char *unified, size_t size);

/* cgroup_v2_weight: cpu.shares (2..262144) → cpu.weight (1..10000). */
unsigned long cgroup_v2_weight(unsigned long shares);

#endif
