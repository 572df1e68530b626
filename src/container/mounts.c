/* SPDX-License-Identifier: MIT */
/* mounts.c: the container's root file system: mounts, devices, pivot_root,
 * masked and read-only paths, sysctls. Every destination is resolved inside
 * the rootfs (symlinks included), so a hostile image can't redirect a mount
 * onto the host. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "cgroup.h"
#include "common/err.h"
#include "common/file.h"
#include "state.h"
#include "ctr.h"

int mounts_resolve(const char *root, const char *path, char *out, size_t size)
{
	char rest[PATH_MAX * 2], cur[PATH_MAX];	/* cur: resolved part, relative to root */
	int links = 0;

	if (strlen(path) >= PATH_MAX)
		return -ENAMETOOLONG;
	xsnprintf(rest, sizeof(rest), "%s", path);
	cur[0] = '\0';
	char *p = rest;
	while (*p) {
		char comp[NAME_MAX + 1], host[PATH_MAX * 2 + 2], link[PATH_MAX];
		struct stat st;
		size_t n;
		ssize_t ln;

		while (*p == '/')
			p++;
		if (!*p)
			break;
		n = strcspn(p, "/");
		if (n > NAME_MAX)
			return -ENAMETOOLONG;
		memcpy(comp, p, n);
		comp[n] = '\0';
		p += n;
		if (strcmp(comp, ".") == 0)
			continue;
		if (strcmp(comp, "..") == 0) {
			char *slash = strrchr(cur, '/');
			if (slash)
				*slash = '\0';
			continue;
		}
		if (strlen(cur) + n + 2 >= sizeof(cur))
			return -ENAMETOOLONG;
		xsnprintf(host, sizeof(host), "%s%s/%s", root, cur, comp);
		if (lstat(host, &st) == 0 && S_ISLNK(st.st_mode)) {
			char tmp[PATH_MAX * 2];
			if (++links > 40)
				return -ELOOP;
			ln = readlink(host, link, sizeof(link) - 1);
			if (ln < 0)
				return -errno;
			link[ln] = '\0';
			if (strlen(link) + strlen(p) + 2 >= sizeof(tmp))
				return -ENAMETOOLONG;
			xsnprintf(tmp, sizeof(tmp), "%s/%s", link, p);
			xsnprintf(rest, sizeof(rest), "%s", tmp);
			p = rest;
			if (link[0] == '/')
				cur[0] = '\0';
			continue;
		}
		size_t l = strlen(cur);
		xsnprintf(cur + l, sizeof(cur) - l, "/%s", comp);
	}
	if ((size_t)xsnprintf(out, size, "%s%s", root, cur[0] ? cur : "") >= size)
		return -ENAMETOOLONG;
	return 0;
}

static const struct {
	const char *name;
	bool clear;
	unsigned long flag;
} mount_flags[] = {
	{ "ro", false, MS_RDONLY }, { "rw", true, MS_RDONLY },
	{ "nosuid", false, MS_NOSUID }, { "suid", true, MS_NOSUID },
	{ "nodev", false, MS_NODEV }, { "dev", true, MS_NODEV },
	{ "noexec", false, MS_NOEXEC }, { "exec", true, MS_NOEXEC },
	{ "sync", false, MS_SYNCHRONOUS }, { "async", true, MS_SYNCHRONOUS },
	{ "dirsync", false, MS_DIRSYNC }, { "remount", false, MS_REMOUNT },
	{ "mand", false, MS_MANDLOCK }, { "nomand", true, MS_MANDLOCK },
	{ "atime", true, MS_NOATIME }, { "noatime", false, MS_NOATIME },
	{ "diratime", true, MS_NODIRATIME }, { "nodiratime", false, MS_NODIRATIME },
	{ "relatime", false, MS_RELATIME }, { "norelatime", true, MS_RELATIME },
	{ "strictatime", false, MS_STRICTATIME }, { "nostrictatime", true, MS_STRICTATIME },
	{ "bind", false, MS_BIND }, { "rbind", false, MS_BIND | MS_REC },
};

static const struct {
	const char *name;
	unsigned long flag;
} prop_flags[] = {
	{ "private", MS_PRIVATE }, { "rprivate", MS_PRIVATE | MS_REC },
	{ "shared", MS_SHARED }, { "rshared", MS_SHARED | MS_REC },
	{ "slave", MS_SLAVE }, { "rslave", MS_SLAVE | MS_REC },
	{ "unbindable", MS_UNBINDABLE }, { "runbindable", MS_UNBINDABLE | MS_REC },
};

int mounts_parse_options(char *const *options, unsigned long *flags, unsigned long *propagation,
			 bool *bind, char *data, size_t data_size)
{
	*flags = 0;
	*propagation = 0;
	*bind = false;
	data[0] = '\0';
	for (size_t i = 0; options && options[i]; i++) {
		const char *o = options[i];
		bool found = false;

		for (size_t k = 0; k < ARRAY_SIZE(mount_flags) && !found; k++) {
			if (strcmp(o, mount_flags[k].name) != 0)
				continue;
			found = true;
			if (mount_flags[k].clear)
				*flags &= ~mount_flags[k].flag;
			else
				*flags |= mount_flags[k].flag;
		}
		for (size_t k = 0; k < ARRAY_SIZE(prop_flags) && !found; k++) {
			if (strcmp(o, prop_flags[k].name) == 0) {
				found = true;
				*propagation = prop_flags[k].flag;
			}
		}
		/* options for other runtimes' features: no meaning for the kernel */
		if (!found && (strcmp(o, "tmpcopyup") == 0 || strcmp(o, "notmpcopyup") == 0 ||
			       strcmp(o, "copy-symlink") == 0 || strcmp(o, "idmap") == 0 ||
			       strcmp(o, "z") == 0 || strcmp(o, "Z") == 0 ||
			       strncmp(o, "x-", 2) == 0))
			found = true;
		if (!found) {
			size_t l = strlen(data);
			if (l + strlen(o) + 2 > data_size)
				return -E2BIG;
			xsnprintf(data + l, data_size - l, "%s%s", l ? "," : "", o);
		}
	}
	*bind = (*flags & MS_BIND) != 0;
	return 0;
}

/* make the mount point: a directory, or an empty file for a file bind mount */
static int make_target(const char *target, bool file)
{
	struct stat st;
	char parent[PATH_MAX];
	int fd, r;

	if (stat(target, &st) == 0)
		return 0;
	if (!file)
		return file_mkdir_p(target, 0755, NULL);
	xsnprintf(parent, sizeof(parent), "%s", target);
	*strrchr(parent, '/') = '\0';
	if (parent[0] && (r = file_mkdir_p(parent, 0755, NULL)) < 0)
		return r;
	fd = open(target, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

static int mount_cgroup(const char *target, unsigned long flags, struct cgroup *cg,
			struct err *err)
{
	unsigned long ro = flags & MS_RDONLY;
	char dir[PATH_MAX], name[256], sub[PATH_MAX + 256];

	if (cg == NULL)
		return 0;
	if (cg->ops == &cgroup_v2_ops) {
		cg->ops->dir(cg, 0, dir, sizeof(dir), name, sizeof(name));
		if (mount(dir, target, NULL, MS_BIND | MS_REC, NULL) < 0)
			return err_setsys(err, errno, "mount cgroup2 %s on %s", dir, target);
		if (mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | (flags & ~MS_BIND), NULL) < 0)
			return err_setsys(err, errno, "remount %s", target);
		return 0;
	}
	/* v1: a tmpfs holding one directory per hierarchy, each the container's
	 * own cgroup bind-mounted from the host */
	if (mount("tmpfs", target, "tmpfs", (flags & ~(MS_RDONLY | MS_BIND)) | MS_NOSUID | MS_NODEV,
		  "mode=755") < 0)
		return err_setsys(err, errno, "mount tmpfs on %s", target);
	for (size_t i = 0; cg->ops->dir(cg, i, dir, sizeof(dir), name, sizeof(name)) == 0; i++) {
		xsnprintf(sub, sizeof(sub), "%s/%s", target, name);
		if (mkdir(sub, 0755) < 0 && errno != EEXIST)
			return err_setsys(err, errno, "mkdir %s", sub);
		if (mount(dir, sub, NULL, MS_BIND | MS_REC, NULL) < 0)
			return err_setsys(err, errno, "bind %s on %s", dir, sub);
		if (ro && mount(NULL, sub, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID |
							    MS_NODEV | MS_NOEXEC, NULL) < 0)
			return err_setsys(err, errno, "remount %s read-only", sub);
	}
	/* controllers sharing a hierarchy ("cpu,cpuacct") get their usual links */
	if (ro &&
	    mount(NULL, target, NULL, MS_REMOUNT | MS_RDONLY | (flags & ~MS_BIND), "mode=755") < 0)
		return err_setsys(err, errno, "remount %s read-only", target);
	return 0;
}

static int do_mount(const struct oci_mount *m, const char *rootfs, struct cgroup *cg,
		    struct err *err)
{
	char target[PATH_MAX], data[4096];
	unsigned long flags, prop;
	bool bind;
	const char *type = m->type;
	int r;

	if ((r = mounts_parse_options(m->options, &flags, &prop, &bind, data, sizeof(data))) < 0)
		return err_set(err, -r, "mount %s: options too long", m->destination);
	if (type && strcmp(type, "bind") == 0) {
		bind = true;
		flags |= MS_BIND;
	}
	if ((r = mounts_resolve(rootfs, m->destination, target, sizeof(target))) < 0)
		return err_setsys(err, -r, "mount %s", m->destination);
	if (bind) {
		struct stat st;
		if (m->source == NULL || stat(m->source, &st) < 0)
			return err_setsys(err, m->source ? errno : ENOENT, "bind mount source %s",
					  m->source ? m->source : "(none)");
		if ((r = make_target(target, !S_ISDIR(st.st_mode))) < 0)
			return err_setsys(err, -r, "mount point %s", m->destination);
		if (mount(m->source, target, NULL, MS_BIND | (flags & MS_REC), NULL) < 0)
			return err_setsys(err, errno, "bind mount %s on %s", m->source,
					  m->destination);
		unsigned long rflags = flags & ~(MS_BIND | MS_REC | MS_REMOUNT);
		if (rflags && mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | rflags, NULL) < 0) {
			/* a locked flag (nodev/nosuid inherited in a user namespace): keep them */
			if (mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | rflags | MS_NOSUID |
							      MS_NODEV, NULL) < 0)
				return err_setsys(err, errno, "remount %s", m->destination);
		}
	} else {
		if (type == NULL)
			return err_set(err, EINVAL, "mount %s: no type", m->destination);
		if ((r = make_target(target, false)) < 0)
			return err_setsys(err, -r, "mount point %s", m->destination);
		if (strcmp(type, "cgroup") == 0 || strcmp(type, "cgroup2") == 0) {
			if ((r = mount_cgroup(target, flags, cg, err)))
				return r;
		} else if (mount(m->source ? m->source : type, target, type, flags,
				 data[0] ? data : NULL) < 0) {
			int e = errno;
			/* sysfs in a user namespace without a network namespace of its own */
			if (strcmp(type, "sysfs") == 0 && (e == EPERM || e == EBUSY) &&
			    mount("/sys", target, NULL, MS_BIND | MS_REC, NULL) == 0)
				return 0;
			return err_setsys(err, e, "mount %s (%s)", m->destination, type);
		}
	}
	if (prop && mount(NULL, target, NULL, prop, NULL) < 0)
		return err_setsys(err, errno, "mount %s: propagation", m->destination);
	return 0;
}

static const struct {
	const char *path;
	unsigned maj, min;
} default_devs[] = {
	{ "/dev/null", 1, 3 }, { "/dev/zero", 1, 5 }, { "/dev/full", 1, 7 },
	{ "/dev/random", 1, 8 }, { "/dev/urandom", 1, 9 }, { "/dev/tty", 5, 0 },
};

static int make_dev(const char *rootfs, const char *path, char type, unsigned maj, unsigned min,
		    mode_t mode, uid_t uid, gid_t gid, bool userns, struct err *err)
{
	char target[PATH_MAX];
	mode_t fmt = type == 'b' ? S_IFBLK : type == 'p' ? S_IFIFO : S_IFCHR;
	int r;

	if ((r = mounts_resolve(rootfs, path, target, sizeof(target))) < 0)
		return err_setsys(err, -r, "device %s", path);
	{
		char parent[PATH_MAX];
		xsnprintf(parent, sizeof(parent), "%s", target);
		*strrchr(parent, '/') = '\0';
		file_mkdir_p(parent, 0755, NULL);
	}
	unlink(target);
	if (!userns || type == 'p') {
		if (mknod(target, fmt | (mode & 07777), makedev(maj, min)) < 0)
			return err_setsys(err, errno, "mknod %s", path);
		if (chown(target, uid, gid) < 0)
			return err_setsys(err, errno, "chown %s", path);
		return 0;
	}
	/* in a user namespace mknod is refused: bind the host's node instead */
	if ((r = make_target(target, true)) < 0)
		return err_setsys(err, -r, "device %s", path);
	if (mount(path, target, NULL, MS_BIND, NULL) < 0)
		return err_setsys(err, errno, "bind device %s", path);
	return 0;
}

static int setup_dev(const struct oci_spec *s, const char *rootfs, bool userns, struct err *err)
{
	static const char *const links[][2] = {
		{ "/proc/self/fd", "/dev/fd" }, { "/proc/self/fd/0", "/dev/stdin" },
		{ "/proc/self/fd/1", "/dev/stdout" }, { "/proc/self/fd/2", "/dev/stderr" },
		{ "/proc/kcore", "/dev/core" },
	};
	char target[PATH_MAX];
	struct stat st;
	int r;

	for (size_t i = 0; i < ARRAY_SIZE(default_devs); i++) {
		bool listed = false;
		for (size_t k = 0; k < s->n_devices; k++)
			listed |= strcmp(s->devices[k].path, default_devs[i].path) == 0;
		if (listed)
			continue;
		if ((r = make_dev(rootfs, default_devs[i].path, 'c', default_devs[i].maj,
				  default_devs[i].min, 0666, 0, 0, userns, err)))
			return r;
	}
	for (size_t k = 0; k < s->n_devices; k++) {
		const struct oci_device *d = &s->devices[k];
		if ((r = make_dev(rootfs, d->path, d->type, (unsigned)d->major, (unsigned)d->minor,
				  d->has_mode ? d->mode : 0666, d->uid, d->gid, userns, err)))
			return r;
	}
	for (size_t i = 0; i < ARRAY_SIZE(links); i++) {
		if (mounts_resolve(rootfs, links[i][1], target, sizeof(target)) == 0 &&
		    lstat(target, &st) < 0)
			symlink(links[i][0], target);
	}
	/* the pty multiplexer of the container's own devpts, when it has one */
	if (mounts_resolve(rootfs, "/dev/pts/ptmx", target, sizeof(target)) == 0 &&
	    stat(target, &st) == 0 &&
	    mounts_resolve(rootfs, "/dev/ptmx", target, sizeof(target)) == 0) {
		unlink(target);
		if (symlink("pts/ptmx", target) < 0)
			return err_setsys(err, errno, "symlink /dev/ptmx");
	}
	return 0;
}

static int pivot(const char *rootfs, struct err *err)
{
	int oldroot = open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC);

	if (oldroot < 0)
		return err_setsys(err, errno, "open /");
	if (chdir(rootfs) < 0) {
		close(oldroot);
		return err_setsys(err, errno, "chdir %s", rootfs);
	}
	/* stack the old root under the new one, then detach it */
	if (syscall(SYS_pivot_root, ".", ".") < 0) {
		int e = errno;
		close(oldroot);
		return err_setsys(err, e, "pivot_root %s", rootfs);
	}
	if (fchdir(oldroot) < 0 || mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0 ||
	    umount2(".", MNT_DETACH) < 0) {
		int e = errno;
		close(oldroot);
		return err_setsys(err, e, "detaching the old root");
	}
	close(oldroot);
	if (chdir("/") < 0)
		return err_setsys(err, errno, "chdir /");
	return 0;
}

static int mask_paths(char **paths, struct err *err)
{
	struct stat st;

	for (size_t i = 0; paths && paths[i]; i++) {
		if (stat(paths[i], &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			if (mount("tmpfs", paths[i], "tmpfs", MS_RDONLY, "size=0k") < 0)
				return err_setsys(err, errno, "masking %s", paths[i]);
		} else if (mount("/dev/null", paths[i], NULL, MS_BIND, NULL) < 0) {
			return err_setsys(err, errno, "masking %s", paths[i]);
		}
	}
	return 0;
}

static int readonly_paths(char **paths, struct err *err)
{
	for (size_t i = 0; paths && paths[i]; i++) {
		if (access(paths[i], F_OK) < 0)
			continue;
		if (mount(paths[i], paths[i], NULL, MS_BIND | MS_REC, NULL) < 0 ||
		    mount(NULL, paths[i], NULL,
			  MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
			  NULL) < 0)
			return err_setsys(err, errno, "making %s read-only", paths[i]);
	}
	return 0;
}

static int sysctls(const struct oci_spec *s, struct err *err)
{
	for (size_t i = 0; i < s->n_sysctl; i++) {
		char path[PATH_MAX];
		int fd;

		xsnprintf(path, sizeof(path), "/proc/sys/%s", s->sysctl_keys[i]);
		for (char *p = path + 10; *p; p++)
			if (*p == '.')
				*p = '/';
		fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			return err_setsys(err, errno, "sysctl %s", s->sysctl_keys[i]);
		if (write(fd, s->sysctl_values[i], strlen(s->sysctl_values[i])) < 0) {
			int e = errno;
			close(fd);
			return err_setsys(err, e, "sysctl %s=%s", s->sysctl_keys[i],
					  s->sysctl_values[i]);
		}
		close(fd);
	}
	return 0;
}

int mounts_setup(const struct oci_spec *s, const char *rootfs, struct cgroup *cg, bool userns,
		 struct err *err)
{
	unsigned long prop = MS_REC | MS_PRIVATE;
	int r;

	/* nothing we mount may reach the host */
	if (s->rootfs_propagation) {
		if (strcmp(s->rootfs_propagation, "slave") == 0 ||
		    strcmp(s->rootfs_propagation, "rslave") == 0)
			prop = MS_REC | MS_SLAVE;
		else if (strcmp(s->rootfs_propagation, "shared") == 0 ||
			 strcmp(s->rootfs_propagation, "rshared") == 0)
			prop = MS_REC | MS_SLAVE;	/* shared after pivot, below */
	}
	if (mount(NULL, "/", NULL, prop, NULL) < 0)
		return err_setsys(err, errno, "making / private");
	if (mount(rootfs, rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
		return err_setsys(err, errno, "bind mount of the root %s", rootfs);
	for (size_t i = 0; i < s->n_mounts; i++)
		if ((r = do_mount(&s->mounts[i], rootfs, cg, err)))
			return r;
	if ((r = setup_dev(s, rootfs, userns, err)))
		return r;
	if ((r = pivot(rootfs, err)))
		return r;
	if (s->rootfs_propagation && strstr(s->rootfs_propagation, "shared"))
		mount(NULL, "/", NULL, MS_REC | MS_SHARED, NULL);
	if ((r = sysctls(s, err)) || (r = mask_paths(s->masked_paths, err)) ||
	    (r = readonly_paths(s->readonly_paths, err)))
		return r;
	if (s->root_readonly &&
	    mount(NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC, NULL) < 0)
		return err_setsys(err, errno, "making the root read-only");
	return 0;
}
