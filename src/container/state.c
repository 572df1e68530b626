/* SPDX-License-Identifier: MIT */
/* state.c: state.json in the runtime's state directory. */
#include "state.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/err.h"
#include "common/file.h"

int xsnprintf(char *out, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, size, fmt, ap);
	va_end(ap);
	return n;
}

static const char *const status_names[] = {
	[CTR_CREATING] = "creating", [CTR_CREATED] = "created",
	[CTR_RUNNING] = "running", [CTR_STOPPED] = "stopped",
};

const char *state_status_name(enum ctr_status s)
{
	return s <= CTR_STOPPED ? status_names[s] : "unknown";
}

int state_check_id(const char *id, struct err *err)
{
	size_t n = strlen(id);

	if (n == 0 || n >= STATE_ID_MAX || id[0] == '.' ||
	    strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != n)
		return err_set(err, EINVAL,
			       "invalid container id '%.64s': use 1..255 of [A-Za-z0-9_.-], "
			       "not starting with '.'", id);
	return 0;
}

void state_path(char *out, size_t size, const char *root, const char *id, const char *file)
{
	if (file)
		xsnprintf(out, size, "%s/%s/%s", root, id, file);
	else
		xsnprintf(out, size, "%s/%s", root, id);
}

int state_mkdir(const char *root, const char *id, struct err *err)
{
	char path[PATH_MAX];
	int r;

	if ((r = file_mkdir_p(root, 0700, NULL)) < 0)
		return err_setsys(err, -r, "state directory %s", root);
	state_path(path, sizeof(path), root, id, NULL);
	if (mkdir(path, 0700) < 0) {
		if (errno == EEXIST)
			return err_set(err, EEXIST, "container %s already exists", id);
		return err_setsys(err, errno, "%s", path);
	}
	return 0;
}

int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
	char tmp[PATH_MAX + 16];
	int fd, r = 0;

	xsnprintf(tmp, sizeof(tmp), "%s.tmp%d", path, (int)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	for (size_t off = 0; off < len;) {
		ssize_t n = write(fd, (const char *)data + off, len - off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		off += (size_t)n;
	}
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	close(fd);
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r)
		unlink(tmp);
	return r;
}

int read_file(const char *path, char **out, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);
	int fd;

	if (buf == NULL)
		return -ENOMEM;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = -errno;
		free(buf);
		return e;
	}
	for (;;) {
		ssize_t r;
		if (n + 1 >= cap) {
			char *nb = cap > (64u << 20) ? NULL : realloc(buf, cap * 2);
			if (nb == NULL) {
				free(buf);
				close(fd);
				return -ENOMEM;
			}
			buf = nb;
			cap *= 2;
		}
		r = read(fd, buf + n, cap - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = -errno;
			free(buf);
			close(fd);
			return e;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	buf[n] = '\0';
	*out = buf;
	if (len)
		*len = n;
	return 0;
}

unsigned long long proc_start_time(pid_t pid)
{
	char path[64], *buf, *p;
	unsigned long long t = 0;

	if (pid <= 0)
		return 0;
	xsnprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (read_file(path, &buf, NULL) < 0)
		return 0;
	/* the command name may hold spaces and parentheses: fields start after the last ')' */
	p = strrchr(buf, ')');
	if (p) {
		char state = 0;
		/* field 3 is the state, field 22 the start time */
		if (sscanf(p + 1,
			   " %c %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s "
			   "%*s %*s %*s %*s %llu", &state, &t) != 2 ||
		    state == 'Z' || state == 'X')
			t = 0;
	}
	free(buf);
	return t;
}

enum ctr_status state_status(const struct ctr_state *st)
{
	if (st->pid <= 0)
		return st->status == CTR_CREATING ? CTR_CREATING : CTR_STOPPED;
	if (proc_start_time(st->pid) != st->start_time)
		return CTR_STOPPED;
	return st->status;
}

char *state_json(const struct ctr_state *st, bool pretty)
{
	struct json_object *o = json_object_new_object();
	enum ctr_status s = state_status(st);
	char *out;

	json_object_object_add(o, "ociVersion", json_object_new_string("1.0.2"));
	json_object_object_add(o, "id", json_object_new_string(st->id));
	json_object_object_add(o, "pid", json_object_new_int(s == CTR_STOPPED ? 0 : st->pid));
	json_object_object_add(o, "status", json_object_new_string(state_status_name(s)));
	json_object_object_add(o, "bundle", json_object_new_string(st->bundle));
	json_object_object_add(o, "rootfs", json_object_new_string(st->bundle));
	json_object_object_add(o, "created", json_object_new_string(st->created));
	json_object_object_add(o, "owner", json_object_new_string(""));
	json_object_object_add(o, "annotations", json_object_new_object());
	out = strdup(json_object_to_json_string_ext(
		o, (pretty ? JSON_C_TO_STRING_PRETTY : JSON_C_TO_STRING_PLAIN) |
			   JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return out;
}

int state_write(const char *root, const struct ctr_state *st, struct err *err)
{
	struct json_object *o = json_object_new_object();
	char path[PATH_MAX];
	const char *text;
	int r;

	json_object_object_add(o, "id", json_object_new_string(st->id));
	json_object_object_add(o, "bundle", json_object_new_string(st->bundle));
	json_object_object_add(o, "cgroup", json_object_new_string(st->cgroup));
	json_object_object_add(o, "cgroup_made", json_object_new_boolean(st->cgroup_made));
	json_object_object_add(o, "status", json_object_new_string(state_status_name(st->status)));
	json_object_object_add(o, "pid", json_object_new_int(st->pid));
	json_object_object_add(o, "start_time", json_object_new_uint64(st->start_time));
	json_object_object_add(o, "created", json_object_new_string(st->created));
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
						      JSON_C_TO_STRING_NOSLASHESCAPE);
	state_path(path, sizeof(path), root, st->id, "state.json");
	r = write_file_atomic(path, text, strlen(text), 0600);
	json_object_put(o);
	if (r < 0)
		return err_setsys(err, -r, "%s", path);
	return 0;
}

static void copy_str(char *dst, size_t size, struct json_object *o, const char *key)
{
	struct json_object *v;

	dst[0] = '\0';
	if (json_object_object_get_ex(o, key, &v) && json_object_get_string(v))
		xsnprintf(dst, size, "%s", json_object_get_string(v));
}

int state_read(const char *root, const char *id, struct ctr_state *st, struct err *err)
{
	char path[PATH_MAX], status[32], *text;
	struct json_object *o, *v;
	int r;

	memset(st, 0, sizeof(*st));
	if ((r = state_check_id(id, err)))
		return r;
	state_path(path, sizeof(path), root, id, "state.json");
	if ((r = read_file(path, &text, NULL)) < 0) {
		if (r == -ENOENT) {
			state_path(path, sizeof(path), root, id, NULL);
			if (access(path, F_OK) == 0) {
				/* a create killed before it wrote anything */
				xsnprintf(st->id, sizeof(st->id), "%s", id);
				st->status = CTR_CREATING;
				return 0;
			}
			return err_set(err, ENOENT, "container %s does not exist", id);
		}
		return err_setsys(err, -r, "%s", path);
	}
	o = json_tokener_parse(text);
	free(text);
	if (o == NULL || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return err_set(err, EINVAL, "%s: corrupt", path);
	}
	xsnprintf(st->id, sizeof(st->id), "%s", id);
	copy_str(st->bundle, sizeof(st->bundle), o, "bundle");
	copy_str(st->cgroup, sizeof(st->cgroup), o, "cgroup");
	copy_str(st->created, sizeof(st->created), o, "created");
	copy_str(status, sizeof(status), o, "status");
	st->status = CTR_STOPPED;
	for (int s = CTR_CREATING; s <= CTR_STOPPED; s++)
		if (strcmp(status, status_names[s]) == 0)
			st->status = (enum ctr_status)s;
	if (json_object_object_get_ex(o, "pid", &v))
		st->pid = json_object_get_int(v);
	if (json_object_object_get_ex(o, "start_time", &v))
		st->start_time = json_object_get_uint64(v);
	if (json_object_object_get_ex(o, "cgroup_made", &v))
		st->cgroup_made = json_object_get_boolean(v);
	json_object_put(o);
	return 0;
}

static int rm_tree_at(int dfd, const char *name)
{
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d;
	struct dirent *de;

	if (fd < 0)
		return unlinkat(dfd, name, 0) < 0 && errno != ENOENT ? -errno : 0;
	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		rm_tree_at(dirfd(d), de->d_name);
	}
	closedir(d);
	return unlinkat(dfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT ? -errno : 0;
}

int rm_tree(const char *path)
{
	return rm_tree_at(AT_FDCWD, path);
}

int state_remove(const char *root, const char *id)
{
	char path[PATH_MAX];

	state_path(path, sizeof(path), root, id, NULL);
	return rm_tree_at(AT_FDCWD, path);
}
