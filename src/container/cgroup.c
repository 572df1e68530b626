/* SPDX-License-Identifier: MIT */
/* cgroup.c: backend selection and helpers shared by cgroup_v1.c and cgroup_v2.c. */
#include "cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/err.h"
#include "common/file.h"
#include "spec.h"
#include "state.h"

/* mountinfo: "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS" */
void cgroup_parse_mountinfo(const char *text, struct cgroup *cg, char *unified, size_t size)
{
	const char *line = text;

	cg->n_hier = 0;
	if (size)
		unified[0] = '\0';
	while (line && *line) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);
		char buf[2048], mnt[PATH_MAX], fstype[64], super[256];
		char *dash;

		if (len < sizeof(buf)) {
			memcpy(buf, line, len);
			buf[len] = '\0';
			dash = strstr(buf, " - ");
			if (dash && sscanf(buf, "%*s %*s %*s %*s %4095s", mnt) == 1 &&
			    sscanf(dash + 3, "%63s %*s %255s", fstype, super) == 2) {
				if (strcmp(fstype, "cgroup2") == 0 && size && !unified[0]) {
					xsnprintf(unified, size, "%s", mnt);
				} else if (strcmp(fstype, "cgroup") == 0 &&
					   cg->n_hier < CGROUP_MAX_HIER) {
					struct cgroup_hier *h = &cg->hier[cg->n_hier++];
					char *o = super, *tok, *save = NULL;
					xsnprintf(h->mnt, sizeof(h->mnt), "%s", mnt);
					h->opts[0] = '\0';
					/* keep controllers and name=, drop rw/ro and flags */
					for (tok = strtok_r(o, ",", &save); tok;
					     tok = strtok_r(NULL, ",", &save)) {
						if (!strcmp(tok, "rw") || !strcmp(tok, "ro") ||
						    !strcmp(tok, "noprefix") ||
						    !strncmp(tok, "release_agent=", 14) ||
						    !strcmp(tok, "clone_children") ||
						    !strcmp(tok, "xattr"))
							continue;
						size_t l = strlen(h->opts);
						xsnprintf(h->opts + l, sizeof(h->opts) - l, "%s%s",
							 l ? "," : "", tok);
					}
				}
			}
		}
		line = nl ? nl + 1 : NULL;
	}
}

int cgroup_init(struct cgroup *cg, const char *path, struct err *err)
{
	char unified[PATH_MAX], *text;
	int r;

	memset(cg, 0, sizeof(*cg));
	if (path == NULL || path[0] == '\0')
		return err_set(err, EINVAL, "no cgroup path");
	if (strstr(path, "..") || strlen(path) > 512)
		return err_set(err, EINVAL, "cgroup path '%.64s' is not allowed", path);
	if (strchr(path, ':'))	/* systemd's "slice:prefix:name" */
		return err_set(err, ENOTSUP,
			       "cgroupsPath '%s' is a systemd path: the systemd cgroup manager is "
			       "not supported, use cgroupfs", path);
	xsnprintf(cg->path, sizeof(cg->path), "%s%s", path[0] == '/' ? "" : "/", path);
	if ((r = read_file("/proc/self/mountinfo", &text, NULL)) < 0)
		return err_setsys(err, -r, "/proc/self/mountinfo");
	cgroup_parse_mountinfo(text, cg, unified, sizeof(unified));
	free(text);
	if (cg->n_hier > 0) {
		cg->ops = &cgroup_v1_ops;
		return 0;
	}
	if (unified[0]) {
		cg->ops = &cgroup_v2_ops;
		xsnprintf(cg->hier[0].mnt, sizeof(cg->hier[0].mnt), "%s", unified);
		cg->n_hier = 1;
		return 0;
	}
	return err_set(err, ENOENT, "no cgroup file system is mounted on this host");
}

int cg_write(const char *dir, const char *file, const char *val, struct err *err)
{
	char path[PATH_MAX + 64];
	size_t len = strlen(val);
	ssize_t n;
	int fd;

	xsnprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return err_setsys(err, errno, "cgroup: %s", path);
	n = write(fd, val, len);
	if (n < 0) {
		int e = errno;
		close(fd);
		return err_setsys(err, e, "cgroup: writing '%s' to %s", val, path);
	}
	close(fd);
	return 0;
}

int cg_read(const char *dir, const char *file, char *buf, size_t size)
{
	char path[PATH_MAX + 64];
	ssize_t n;
	int fd;

	xsnprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	return (int)n;
}

int cg_read_procs(const char *dir, pid_t **pids, size_t *n)
{
	char path[PATH_MAX + 32], *text;
	size_t cnt = 0, cap = 0;
	pid_t *v = NULL;
	int r;

	*pids = NULL;
	*n = 0;
	xsnprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	if ((r = read_file(path, &text, NULL)) < 0)
		return r;
	for (char *p = text; *p;) {
		char *end;
		long pid = strtol(p, &end, 10);
		if (end == p)
			break;
		if (cnt == cap) {
			pid_t *nv = realloc(v, (cap = cap ? cap * 2 : 16) * sizeof(*v));
			if (nv == NULL) {
				free(v);
				free(text);
				return -ENOMEM;
			}
			v = nv;
		}
		v[cnt++] = (pid_t)pid;
		p = end;
		while (*p == '\n')
			p++;
	}
	free(text);
	*pids = v;
	*n = cnt;
	return 0;
}

static int need(struct cgroup *cg, const char *ctrl, const char *what, struct err *err)
{
	if (!cg->ops->has_controller(cg, ctrl))
		return err_set(err, ENOTSUP,
			       "%s needs the cgroup controller '%s', which this host does not have "
			       "(cgroup %s)", what, ctrl, cg->ops->name);
	return 0;
}

int cgroup_check(struct cgroup *cg, const struct oci_resources *res, struct err *err)
{
	int r = 0;

	if (res->mem_limit != OCI_UNSET || res->mem_reservation != OCI_UNSET ||
	    res->mem_swap != OCI_UNSET)
		r = need(cg, "memory", "linux.resources.memory", err);
	if (!r && (res->cpu_shares != OCI_UNSET || res->cpu_quota != OCI_UNSET ||
		   res->cpu_period != OCI_UNSET))
		r = need(cg, "cpu", "linux.resources.cpu", err);
	if (!r && (res->cpus || res->mems))
		r = need(cg, "cpuset", "linux.resources.cpu.cpus/mems", err);
	if (!r && res->pids_limit != OCI_UNSET)
		r = need(cg, "pids", "linux.resources.pids", err);
	if (!r && res->n_dev_rules)
		r = need(cg, "devices", "linux.resources.devices", err);
	if (!r && res->rdma)
		r = need(cg, "rdma", "linux.resources.rdma", err);
	return r;
}

int cgroup_kill_all(struct cgroup *cg, int sig)
{
	for (int round = 0; round < 200; round++) {
		pid_t *pids;
		size_t n;
		int r = cg->ops->procs(cg, &pids, &n);

		if (r < 0)
			return r == -ENOENT ? 0 : r;
		for (size_t i = 0; i < n; i++)
			kill(pids[i], sig);
		free(pids);
		if (n == 0 || sig != SIGKILL)
			return 0;
		nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000 * 1000 }, NULL);
	}
	return -EBUSY;
}

static const struct oci_dev_rule default_devices[] = {
	{ true, 'c', 1, 3, "rwm" }, { true, 'c', 1, 5, "rwm" }, { true, 'c', 1, 7, "rwm" },
	{ true, 'c', 1, 8, "rwm" }, { true, 'c', 1, 9, "rwm" }, { true, 'c', 5, 0, "rwm" },
	{ true, 'c', 5, 1, "rwm" }, { true, 'c', 5, 2, "rwm" }, { true, 'c', 136, -1, "rwm" },
};
const struct oci_dev_rule *const cgroup_default_devices = default_devices;
const size_t cgroup_n_default_devices = ARRAY_SIZE(default_devices);

unsigned long cgroup_v2_weight(unsigned long shares)
{
	if (shares < 2)
		shares = 2;
	if (shares > 262144)
		shares = 262144;
	return 1 + ((shares - 2) * 9999) / 262142;
}
