/* SPDX-License-Identifier: MIT */
/* runtime.c: the run directory of domains (runtime.h). */
#include "runtime.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/err.h"
#include "control/control.h"
#include "store.h"

int domrt_file(const struct dom_paths *p, const char *name, const char *file, char *out,
	       size_t size)
{
	int n = file ? snprintf(out, size, "%s/%s/%s", p->run, name, file) :
		       snprintf(out, size, "%s/%s", p->run, name);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

bool domrt_active(const struct dom_paths *p, const char *name)
{
	char path[DOM_DIR_MAX + 128];
	bool held;
	int fd;

	if (domrt_file(p, name, "lock", path, sizeof(path)) < 0)
		return false;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	held = flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
	close(fd);	/* drops our shared lock if we got it */
	return held;
}

static const char *jstr(struct json_object *o, const char *k)
{
	struct json_object *v;

	return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : "";
}

static int64_t jint(struct json_object *o, const char *k)
{
	struct json_object *v;

	return json_object_object_get_ex(o, k, &v) ? json_object_get_int64(v) : 0;
}

int domrt_read_state(const struct dom_paths *p, const char *name, struct dom_state *st,
		     struct err *err)
{
	char path[DOM_DIR_MAX + 128];
	struct json_object *o, *disks, *v;

	memset(st, 0, sizeof(*st));
	st->id = -1;
	if (domrt_file(p, name, "state", path, sizeof(path)) < 0)
		return err_set(err, ENAMETOOLONG, "run directory path too long");
	if (access(path, F_OK) < 0)
		return -ENOENT;
	o = json_object_from_file(path);
	if (o == NULL)
		return err_set(err, EIO, "%s: unreadable state file", path);
	snprintf(st->name, sizeof(st->name), "%s", name);
	snprintf(st->uuid, sizeof(st->uuid), "%s", jstr(o, "uuid"));
	snprintf(st->state, sizeof(st->state), "%s", jstr(o, "state"));
	snprintf(st->reason, sizeof(st->reason), "%s", jstr(o, "reason"));
	snprintf(st->config, sizeof(st->config), "%s", jstr(o, "config"));
	st->id = (int)jint(o, "id");
	st->supervisor = (pid_t)jint(o, "supervisor");
	st->monitor = (pid_t)jint(o, "monitor");
	st->restarts = (unsigned)jint(o, "restarts");
	st->persistent = json_object_object_get_ex(o, "persistent", &v) && json_object_get_boolean(v);
	if (json_object_object_get_ex(o, "started", &v))
		st->started = json_object_get_double(v);
	if (json_object_object_get_ex(o, "disks", &disks) &&
	    json_object_is_type(disks, json_type_array)) {
		size_t n = json_object_array_length(disks);
		for (size_t i = 0; i < n && st->nr_disks < VM_DISKS_MAX; i++) {
			struct json_object *d = json_object_array_get_idx(disks, i);
			struct dom_state_disk *sd = &st->disks[st->nr_disks++];
			snprintf(sd->path, sizeof(sd->path), "%s", jstr(d, "path"));
			sd->writable = json_object_object_get_ex(d, "writable", &v) &&
				       json_object_get_boolean(v);
			sd->shareable = json_object_object_get_ex(d, "shareable", &v) &&
					json_object_get_boolean(v);
		}
	}
	json_object_put(o);
	return 0;
}

int domrt_write_state(const struct dom_paths *p, const struct dom_state *st, struct err *err)
{
	char path[DOM_DIR_MAX + 128];
	struct json_object *o = json_object_new_object(), *disks = json_object_new_array();
	int r;

	if (domrt_file(p, st->name, "state", path, sizeof(path)) < 0)
		return err_set(err, ENAMETOOLONG, "run directory path too long");
	json_object_object_add(o, "name", json_object_new_string(st->name));
	json_object_object_add(o, "uuid", json_object_new_string(st->uuid));
	json_object_object_add(o, "id", json_object_new_int(st->id));
	json_object_object_add(o, "state", json_object_new_string(st->state));
	json_object_object_add(o, "reason", json_object_new_string(st->reason));
	json_object_object_add(o, "supervisor", json_object_new_int64(st->supervisor));
	json_object_object_add(o, "monitor", json_object_new_int64(st->monitor));
	json_object_object_add(o, "started", json_object_new_double(st->started));
	json_object_object_add(o, "restarts", json_object_new_int((int)st->restarts));
	json_object_object_add(o, "persistent", json_object_new_boolean(st->persistent));
	json_object_object_add(o, "config", json_object_new_string(st->config));
	for (unsigned i = 0; i < st->nr_disks; i++) {
		struct json_object *d = json_object_new_object();
		json_object_object_add(d, "path", json_object_new_string(st->disks[i].path));
		json_object_object_add(d, "writable", json_object_new_boolean(st->disks[i].writable));
		json_object_object_add(d, "shareable", json_object_new_boolean(st->disks[i].shareable));
		json_object_array_add(disks, d);
	}
	json_object_object_add(o, "disks", disks);
	const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY);
	r = domstore_write_atomic(path, text, strlen(text), err);
	json_object_put(o);
	return r;
}

int domrt_list(const struct dom_paths *p, char ***names, size_t *n, struct err *err)
{
	DIR *d = opendir(p->run);
	struct dirent *de;
	char **v = NULL, path[DOM_DIR_MAX + 128];
	size_t k = 0;

	*names = NULL;
	*n = 0;
	if (d == NULL)
		return errno == ENOENT ? 0 : err_setsys(err, errno, "%s", p->run);
	while ((de = readdir(d)) != NULL) {
		if (!domcfg_valid_name(de->d_name) ||
		    domrt_file(p, de->d_name, "state", path, sizeof(path)) < 0 ||
		    access(path, F_OK) < 0)
			continue;
		char **nv = realloc(v, (k + 1) * sizeof(*v));
		char *s = strdup(de->d_name);
		if (nv == NULL || s == NULL) {
			free(s);
			if (nv)
				v = nv;
			domstore_free_list(v, k);
			closedir(d);
			return err_set(err, ENOMEM, "out of memory");
		}
		v = nv;
		v[k++] = s;
	}
	closedir(d);
	*names = v;
	*n = k;
	return 0;
}

int domrt_alloc_id(const struct dom_paths *p)
{
	char path[DOM_DIR_MAX + 16], buf[32] = "";
	int fd, id = 1;

	snprintf(path, sizeof(path), "%s/next-id", p->run);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return 1;
	flock(fd, LOCK_EX);
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n > 0) {
		buf[n] = '\0';
		id = atoi(buf);
		if (id < 1)
			id = 1;
	}
	int len = snprintf(buf, sizeof(buf), "%d\n", id + 1);
	if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)len, 0) != len) {
		/* ids may repeat after this: harmless */
	}
	close(fd);
	return id;
}

int domrt_call(const struct dom_paths *p, const char *name, const char *cmd,
	       struct json_object *args, struct json_object **reply, int timeout_ms,
	       struct err *err)
{
	char path[DOM_DIR_MAX + 128];
	struct err e = { 0 };
	int r;

	if (domrt_file(p, name, "control.sock", path, sizeof(path)) < 0)
		return err_set(err, ENAMETOOLONG, "run directory path too long");
	r = control_call(path, cmd, args, reply, timeout_ms, &e);
	if (r == -ENOENT || r == -ECONNREFUSED)
		return err_set(err, ENOTCONN, "domain '%s' is not running", name);
	if (r < 0)
		return err_set(err, e.code, "domain '%s': %s", name, e.msg);
	return 0;
}

int domrt_set_intent(const struct dom_paths *p, const char *name, const char *intent)
{
	char path[DOM_DIR_MAX + 128];

	if (domrt_file(p, name, "intent", path, sizeof(path)) < 0)
		return -ENAMETOOLONG;
	if (intent == NULL)
		return unlink(path) < 0 && errno != ENOENT ? -errno : 0;
	return domstore_write_atomic(path, intent, strlen(intent), NULL);
}

void domrt_take_intent(const struct dom_paths *p, const char *name, char *out, size_t size)
{
	char path[DOM_DIR_MAX + 128];
	FILE *f;

	out[0] = '\0';
	if (domrt_file(p, name, "intent", path, sizeof(path)) < 0)
		return;
	f = fopen(path, "re");
	if (f == NULL)
		return;
	if (fgets(out, (int)size, f) == NULL)
		out[0] = '\0';
	fclose(f);
	unlink(path);
}

void domrt_cleanup(const struct dom_paths *p, const char *name)
{
	static const char *const files[] = { "state", "control.sock", "console.sock", "intent",
					     "kernel", "initrd" };
	char path[DOM_DIR_MAX + 128];

	for (size_t i = 0; i < ARRAY_SIZE(files); i++)
		if (domrt_file(p, name, files[i], path, sizeof(path)) == 0)
			unlink(path);
}

const char *domrt_view(const struct dom_paths *p, const char *name, struct dom_state *st)
{
	bool active = domrt_active(p, name);
	struct json_object *reply;
	char path[DOM_DIR_MAX + 128];

	if (domrt_read_state(p, name, st, NULL) < 0)
		return active ? "running" : "shut off";
	if (strcmp(st->state, "crashed") == 0)
		return "crashed";
	if (strcmp(st->state, "shutoff") == 0)
		return "shut off";
	if (!active)
		return "crashed";	/* its processes died without cleaning up: kill -9, OOM */
	if (domrt_call(p, name, "query-status", NULL, &reply, 2000, NULL) == 0) {
		struct json_object *v;
		bool paused = json_object_object_get_ex(reply, "status", &v) &&
			      strcmp(json_object_get_string(v), "paused") == 0;
		json_object_put(reply);
		if (paused)
			return "paused";
	}
	if (domrt_file(p, name, "intent", path, sizeof(path)) == 0 && access(path, F_OK) == 0)
		return "in shutdown";
	return "running";
}
