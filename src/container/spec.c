/* SPDX-License-Identifier: MIT */
/* spec.c: config.json (OCI runtime-spec 1.x) → struct oci_spec, through
 * json-c. Each getter takes the JSON path of the value it reads so that
 * every error says where the problem is. Unknown keys are ignored, as the
 * spec asks; known keys with the wrong type are errors. */
#include "spec.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/err.h"
#include "state.h"

#define PATH_LEN 256

struct pctx {
	const char *what;	/* "config.json" */
	struct err *err;
};

__attribute__((format(printf, 3, 4)))
static int perr(struct pctx *c, const char *path, const char *fmt, ...)
{
	char msg[384];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return err_set(c->err, EINVAL, "%s: %s: %s", c->what, path, msg);
}

static const char *jtype(struct json_object *o)
{
	return json_type_to_name(json_object_get_type(o));
}

/* child path: "parent.key" (or "key" at the top) */
static void subpath(char *out, const char *parent, const char *key)
{
	if (parent[0])
		xsnprintf(out, PATH_LEN, "%s.%s", parent, key);
	else
		xsnprintf(out, PATH_LEN, "%s", key);
}

static void idxpath(char *out, const char *parent, size_t i)
{
	xsnprintf(out, PATH_LEN, "%s[%zu]", parent, i);
}

static struct json_object *jget(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	if (o == NULL || !json_object_object_get_ex(o, key, &v))
		return NULL;
	if (json_object_get_type(v) == json_type_null)
		return NULL;
	return v;
}

static int want_type(struct pctx *c, struct json_object *v, const char *path, enum json_type t,
		     const char *what)
{
	if (json_object_get_type(v) != t)
		return perr(c, path, "expected %s, got %s", what, jtype(v));
	return 0;
}

static int get_str(struct pctx *c, struct json_object *o, const char *parent, const char *key,
		   bool required, char **out)
{
	char path[PATH_LEN];
	struct json_object *v = jget(o, key);

	subpath(path, parent, key);
	if (v == NULL)
		return required ? perr(c, path, "missing") : 0;
	if (want_type(c, v, path, json_type_string, "a string"))
		return -EINVAL;
	*out = strdup(json_object_get_string(v));
	return *out ? 0 : err_set(c->err, ENOMEM, "out of memory");
}

static int get_bool(struct pctx *c, struct json_object *o, const char *parent, const char *key,
		    bool *out)
{
	char path[PATH_LEN];
	struct json_object *v = jget(o, key);

	subpath(path, parent, key);
	if (v == NULL)
		return 0;
	if (want_type(c, v, path, json_type_boolean, "a boolean"))
		return -EINVAL;
	*out = json_object_get_boolean(v);
	return 0;
}

/* An integer in [min, max]; json-c keeps integers as int64 (or uint64 above). */
static int int_value(struct pctx *c, struct json_object *v, const char *path, int64_t min,
		     int64_t max, int64_t *out)
{
	int64_t x;

	if (json_object_get_type(v) != json_type_int)
		return perr(c, path, "expected an integer, got %s", jtype(v));
	errno = 0;
	x = json_object_get_int64(v);
	if (errno == ERANGE || x < min || x > max) {
		const char *s = json_object_get_string(v);
		return perr(c, path, "%s out of range [%lld, %lld]", s ? s : "value",
			    (long long)min, (long long)max);
	}
	*out = x;
	return 0;
}

static int get_int(struct pctx *c, struct json_object *o, const char *parent, const char *key,
		   int64_t min, int64_t max, bool *present, int64_t *out)
{
	char path[PATH_LEN];
	struct json_object *v = jget(o, key);

	subpath(path, parent, key);
	if (present)
		*present = v != NULL;
	if (v == NULL)
		return 0;
	return int_value(c, v, path, min, max, out);
}

static int get_u32(struct pctx *c, struct json_object *o, const char *parent, const char *key,
		   bool required, uint32_t *out)
{
	char path[PATH_LEN];
	bool present;
	int64_t x;
	int r = get_int(c, o, parent, key, 0, UINT32_MAX, &present, &x);

	if (r)
		return r;
	if (!present) {
		subpath(path, parent, key);
		return required ? perr(c, path, "missing") : 0;
	}
	*out = (uint32_t)x;
	return 0;
}

/* uint64 values (rlimits) may exceed INT64_MAX. */
static int get_u64(struct pctx *c, struct json_object *o, const char *parent, const char *key,
		   uint64_t *out)
{
	char path[PATH_LEN];
	struct json_object *v = jget(o, key);
	const char *s;
	char *end;

	subpath(path, parent, key);
	if (v == NULL)
		return perr(c, path, "missing");
	if (json_object_get_type(v) != json_type_int)
		return perr(c, path, "expected an integer, got %s", jtype(v));
	s = json_object_get_string(v);
	if (s == NULL || s[0] == '-')
		return perr(c, path, "expected a non-negative integer");
	errno = 0;
	*out = strtoull(s, &end, 10);
	if (errno || *end)
		return perr(c, path, "%s out of range", s);
	return 0;
}

static void strv_free(char **v)
{
	if (v == NULL)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

static int get_strv(struct pctx *c, struct json_object *o, const char *parent, const char *key,
		    char ***out)
{
	char path[PATH_LEN];
	struct json_object *v = jget(o, key);
	size_t n;
	char **a;

	subpath(path, parent, key);
	if (v == NULL)
		return 0;
	if (json_object_get_type(v) != json_type_array)
		return perr(c, path, "expected array of strings, got %s", jtype(v));
	n = json_object_array_length(v);
	a = calloc(n + 1, sizeof(*a));
	if (a == NULL)
		return err_set(c->err, ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(v, i);
		if (e == NULL || json_object_get_type(e) != json_type_string) {
			char ip[PATH_LEN];
			idxpath(ip, path, i);
			strv_free(a);
			return perr(c, path, "expected array of strings (%s is %s)", ip,
				    e ? jtype(e) : "null");
		}
		a[i] = strdup(json_object_get_string(e));
		if (a[i] == NULL) {
			strv_free(a);
			return err_set(c->err, ENOMEM, "out of memory");
		}
	}
	*out = a;
	return 0;
}

/* an optional array: NULL when absent; its length in (n) */
static int get_array(struct pctx *c, struct json_object *o, const char *parent, const char *key,
		     struct json_object **arr, size_t *n)
{
	char path[PATH_LEN];
	struct json_object *v = jget(o, key);

	subpath(path, parent, key);
	*arr = NULL;
	*n = 0;
	if (v == NULL)
		return 0;
	if (want_type(c, v, path, json_type_array, "an array"))
		return -EINVAL;
	*arr = v;
	*n = json_object_array_length(v);
	return 0;
}

static int get_obj(struct pctx *c, struct json_object *o, const char *parent, const char *key,
		   struct json_object **out)
{
	char path[PATH_LEN];
	struct json_object *v = jget(o, key);

	subpath(path, parent, key);
	*out = NULL;
	if (v == NULL)
		return 0;
	if (want_type(c, v, path, json_type_object, "an object"))
		return -EINVAL;
	*out = v;
	return 0;
}

static int elem_obj(struct pctx *c, struct json_object *arr, const char *parent, size_t i,
		    char *path, struct json_object **out)
{
	idxpath(path, parent, i);
	*out = json_object_array_get_idx(arr, i);
	if (*out == NULL || json_object_get_type(*out) != json_type_object)
		return perr(c, path, "expected an object, got %s", *out ? jtype(*out) : "null");
	return 0;
}

static void *xcalloc(struct pctx *c, size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);

	if (p == NULL)
		err_set(c->err, ENOMEM, "out of memory");
	return p;
}

/* --- names --- */

static const char *const cap_names[] = {
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
	"CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
	"CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
	"CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
	"CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
	"CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
	"CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
	"CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
	"CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
};

int spec_cap_from_name(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(cap_names); i++)
		if (strcasecmp(name, cap_names[i]) == 0)
			return (int)i;
	return -1;
}

static const struct {
	const char *name;
	int res;
} rlimit_names[] = {
	{ "RLIMIT_CPU", RLIMIT_CPU }, { "RLIMIT_FSIZE", RLIMIT_FSIZE },
	{ "RLIMIT_DATA", RLIMIT_DATA }, { "RLIMIT_STACK", RLIMIT_STACK },
	{ "RLIMIT_CORE", RLIMIT_CORE }, { "RLIMIT_RSS", RLIMIT_RSS },
	{ "RLIMIT_NPROC", RLIMIT_NPROC }, { "RLIMIT_NOFILE", RLIMIT_NOFILE },
	{ "RLIMIT_MEMLOCK", RLIMIT_MEMLOCK }, { "RLIMIT_AS", RLIMIT_AS },
	{ "RLIMIT_LOCKS", RLIMIT_LOCKS }, { "RLIMIT_SIGPENDING", RLIMIT_SIGPENDING },
	{ "RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE }, { "RLIMIT_NICE", RLIMIT_NICE },
	{ "RLIMIT_RTPRIO", RLIMIT_RTPRIO }, { "RLIMIT_RTTIME", RLIMIT_RTTIME },
};

int spec_rlimit_from_name(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(rlimit_names); i++)
		if (strcmp(name, rlimit_names[i].name) == 0)
			return rlimit_names[i].res;
	return -1;
}

static const struct {
	const char *name;
	int type;
} ns_names[] = {
	{ "pid", CLONE_NEWPID }, { "network", CLONE_NEWNET }, { "mount", CLONE_NEWNS },
	{ "ipc", CLONE_NEWIPC }, { "uts", CLONE_NEWUTS }, { "user", CLONE_NEWUSER },
	{ "cgroup", CLONE_NEWCGROUP }, { "time", CLONE_NEWTIME },
};

int spec_ns_type(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(ns_names); i++)
		if (strcmp(name, ns_names[i].name) == 0)
			return ns_names[i].type;
	return 0;
}

const char *spec_ns_name(int type)
{
	for (size_t i = 0; i < ARRAY_SIZE(ns_names); i++)
		if (ns_names[i].type == type)
			return ns_names[i].name;
	return "?";
}

const struct oci_namespace *spec_ns(const struct oci_spec *s, int type)
{
	for (size_t i = 0; i < s->n_namespaces; i++)
		if (s->namespaces[i].type == type)
			return &s->namespaces[i];
	return NULL;
}

/* --- process --- */

static int parse_capset(struct pctx *c, struct json_object *caps, const char *parent,
			const char *key, uint64_t *out)
{
	char **names = NULL;
	char path[PATH_LEN];
	int r;

	*out = 0;
	r = get_strv(c, caps, parent, key, &names);
	if (r || names == NULL)
		return r;
	subpath(path, parent, key);
	for (size_t i = 0; names[i]; i++) {
		int cap = spec_cap_from_name(names[i]);
		if (cap < 0) {
			char ip[PATH_LEN];
			idxpath(ip, path, i);
			r = perr(c, ip, "unknown capability '%s'", names[i]);
			break;
		}
		*out |= 1ULL << cap;
	}
	strv_free(names);
	return r;
}

static int parse_process(struct pctx *c, struct json_object *o, const char *path,
			 struct oci_process *p, bool need_args)
{
	struct json_object *user, *caps, *arr, *console;
	char sp[PATH_LEN];
	size_t n;
	int64_t x;
	bool present;
	int r;

	if ((r = get_bool(c, o, path, "terminal", &p->terminal)))
		return r;
	if ((r = get_obj(c, o, path, "consoleSize", &console)))
		return r;
	if (console) {
		uint32_t h = 0, w = 0;
		subpath(sp, path, "consoleSize");
		if ((r = get_u32(c, console, sp, "height", true, &h)) ||
		    (r = get_u32(c, console, sp, "width", true, &w)))
			return r;
		p->console.rows = (unsigned short)(h > 65535 ? 65535 : h);
		p->console.cols = (unsigned short)(w > 65535 ? 65535 : w);
	}
	if ((r = get_obj(c, o, path, "user", &user)))
		return r;
	if (user == NULL && need_args) {
		subpath(sp, path, "user");
		return perr(c, sp, "missing");
	}
	if (user) {
		subpath(sp, path, "user");
		if ((r = get_u32(c, user, sp, "uid", true, &p->uid)) ||
		    (r = get_u32(c, user, sp, "gid", true, &p->gid)))
			return r;
		if ((r = get_int(c, user, sp, "umask", 0, 0777, &present, &x)))
			return r;
		p->has_umask = present;
		p->umask = (uint32_t)x;
		if ((r = get_array(c, user, sp, "additionalGids", &arr, &n)))
			return r;
		if (arr) {
			char ap[PATH_LEN];
			subpath(ap, sp, "additionalGids");
			if ((p->gids = xcalloc(c, n, sizeof(*p->gids))) == NULL)
				return -ENOMEM;
			for (size_t i = 0; i < n; i++) {
				char ip[PATH_LEN];
				idxpath(ip, ap, i);
				if ((r = int_value(c, json_object_array_get_idx(arr, i), ip, 0,
						   UINT32_MAX, &x)))
					return r;
				p->gids[i] = (uint32_t)x;
			}
			p->n_gids = n;
		}
	}
	if ((r = get_strv(c, o, path, "args", &p->args)))
		return r;
	if (need_args && (p->args == NULL || p->args[0] == NULL)) {
		subpath(sp, path, "args");
		return perr(c, sp, p->args ? "must not be empty" : "missing");
	}
	if ((r = get_strv(c, o, path, "env", &p->env)))
		return r;
	if ((r = get_str(c, o, path, "cwd", need_args, &p->cwd)))
		return r;
	if (p->cwd && p->cwd[0] != '/') {
		subpath(sp, path, "cwd");
		return perr(c, sp, "must be an absolute path");
	}
	if ((r = get_obj(c, o, path, "capabilities", &caps)))
		return r;
	if (caps) {
		subpath(sp, path, "capabilities");
		p->has_caps = true;
		if ((r = parse_capset(c, caps, sp, "bounding", &p->caps.bounding)) ||
		    (r = parse_capset(c, caps, sp, "effective", &p->caps.effective)) ||
		    (r = parse_capset(c, caps, sp, "inheritable", &p->caps.inheritable)) ||
		    (r = parse_capset(c, caps, sp, "permitted", &p->caps.permitted)) ||
		    (r = parse_capset(c, caps, sp, "ambient", &p->caps.ambient)))
			return r;
	}
	if ((r = get_array(c, o, path, "rlimits", &arr, &n)))
		return r;
	if (arr) {
		char ap[PATH_LEN];
		subpath(ap, path, "rlimits");
		if ((p->rlimits = xcalloc(c, n, sizeof(*p->rlimits))) == NULL)
			return -ENOMEM;
		for (size_t i = 0; i < n; i++) {
			struct json_object *e;
			char *type = NULL;
			if ((r = elem_obj(c, arr, ap, i, sp, &e)))
				return r;
			if ((r = get_str(c, e, sp, "type", true, &type)))
				return r;
			p->rlimits[i].resource = spec_rlimit_from_name(type);
			if (p->rlimits[i].resource < 0) {
				char tp[PATH_LEN];
				subpath(tp, sp, "type");
				r = perr(c, tp, "unknown rlimit '%s'", type);
				free(type);
				return r;
			}
			free(type);
			if ((r = get_u64(c, e, sp, "soft", &p->rlimits[i].soft)) ||
			    (r = get_u64(c, e, sp, "hard", &p->rlimits[i].hard)))
				return r;
			p->n_rlimits = i + 1;
		}
	}
	if ((r = get_bool(c, o, path, "noNewPrivileges", &p->no_new_privs)))
		return r;
	if ((r = get_int(c, o, path, "oomScoreAdj", -1000, 1000, &present, &x)))
		return r;
	p->has_oom_score_adj = present;
	p->oom_score_adj = (int)x;
	return 0;
}

/* --- linux --- */

static int parse_idmaps(struct pctx *c, struct json_object *o, const char *parent, const char *key,
			struct oci_idmap **out, size_t *count)
{
	struct json_object *arr;
	char ap[PATH_LEN], sp[PATH_LEN];
	size_t n;
	int r;

	if ((r = get_array(c, o, parent, key, &arr, &n)) || arr == NULL)
		return r;
	subpath(ap, parent, key);
	if ((*out = xcalloc(c, n, sizeof(**out))) == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct json_object *e;
		if ((r = elem_obj(c, arr, ap, i, sp, &e)) ||
		    (r = get_u32(c, e, sp, "containerID", true, &(*out)[i].container_id)) ||
		    (r = get_u32(c, e, sp, "hostID", true, &(*out)[i].host_id)) ||
		    (r = get_u32(c, e, sp, "size", true, &(*out)[i].size)))
			return r;
		*count = i + 1;
	}
	return 0;
}

static int parse_namespaces(struct pctx *c, struct json_object *o, struct oci_spec *s)
{
	struct json_object *arr;
	char sp[PATH_LEN];
	size_t n;
	int r;

	if ((r = get_array(c, o, "linux", "namespaces", &arr, &n)) || arr == NULL)
		return r;
	if ((s->namespaces = xcalloc(c, n, sizeof(*s->namespaces))) == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct json_object *e;
		char *type = NULL, tp[PATH_LEN];
		struct oci_namespace *ns = &s->namespaces[i];

		if ((r = elem_obj(c, arr, "linux.namespaces", i, sp, &e)))
			return r;
		if ((r = get_str(c, e, sp, "type", true, &type)))
			return r;
		ns->type = spec_ns_type(type);
		subpath(tp, sp, "type");
		if (ns->type == 0)
			r = perr(c, tp, "unknown namespace '%s'", type);
		else if (spec_ns(s, ns->type) != NULL)
			r = perr(c, tp, "namespace '%s' listed twice", type);
		free(type);
		if (r)
			return r;
		s->n_namespaces = i + 1;
		if ((r = get_str(c, e, sp, "path", false, &ns->path)))
			return r;
	}
	return 0;
}

static int parse_devices(struct pctx *c, struct json_object *o, struct oci_spec *s)
{
	struct json_object *arr;
	char sp[PATH_LEN];
	size_t n;
	int r;

	if ((r = get_array(c, o, "linux", "devices", &arr, &n)) || arr == NULL)
		return r;
	if ((s->devices = xcalloc(c, n, sizeof(*s->devices))) == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct oci_device *d = &s->devices[i];
		struct json_object *e;
		char *type = NULL, tp[PATH_LEN];
		bool present;
		int64_t x;

		if ((r = elem_obj(c, arr, "linux.devices", i, sp, &e)))
			return r;
		s->n_devices = i + 1;
		if ((r = get_str(c, e, sp, "path", true, &d->path)) ||
		    (r = get_str(c, e, sp, "type", true, &type)))
			return r;
		subpath(tp, sp, "type");
		if (strlen(type) != 1 || !strchr("cbup", type[0]))
			r = perr(c, tp, "expected one of c, b, u, p, got '%s'", type);
		d->type = type[0] == 'u' ? 'c' : type[0];
		free(type);
		if (r)
			return r;
		if (d->path[0] != '/') {
			subpath(tp, sp, "path");
			return perr(c, tp, "must be an absolute path");
		}
		if ((r = get_int(c, e, sp, "major", 0, UINT32_MAX, &present, &d->major)))
			return r;
		if (!present && d->type != 'p') {
			subpath(tp, sp, "major");
			return perr(c, tp, "missing");
		}
		if ((r = get_int(c, e, sp, "minor", 0, UINT32_MAX, &present, &d->minor)))
			return r;
		if (!present && d->type != 'p') {
			subpath(tp, sp, "minor");
			return perr(c, tp, "missing");
		}
		if ((r = get_int(c, e, sp, "fileMode", 0, 07777, &d->has_mode, &x)))
			return r;
		d->mode = (uint32_t)x;
		if ((r = get_u32(c, e, sp, "uid", false, &d->uid)) ||
		    (r = get_u32(c, e, sp, "gid", false, &d->gid)))
			return r;
	}
	return 0;
}

static int parse_resources(struct pctx *c, struct json_object *res, struct oci_spec *s)
{
	struct oci_resources *rs = &s->resources;
	struct json_object *mem, *cpu, *pids, *arr, *rdma;
	char sp[PATH_LEN];
	const char *path = "linux.resources";
	bool present;
	size_t n;
	int r;

	s->has_resources = true;
	if ((r = get_obj(c, res, path, "memory", &mem)))
		return r;
	if (mem) {
		subpath(sp, path, "memory");
		if ((r = get_int(c, mem, sp, "limit", -1, INT64_MAX, &present, &rs->mem_limit)))
			return r;
		if (!present)
			rs->mem_limit = OCI_UNSET;
		if ((r = get_int(c, mem, sp, "reservation", -1, INT64_MAX, &present,
				 &rs->mem_reservation)))
			return r;
		if (!present)
			rs->mem_reservation = OCI_UNSET;
		if ((r = get_int(c, mem, sp, "swap", -1, INT64_MAX, &present, &rs->mem_swap)))
			return r;
		if (!present)
			rs->mem_swap = OCI_UNSET;
	}
	if ((r = get_obj(c, res, path, "cpu", &cpu)))
		return r;
	if (cpu) {
		subpath(sp, path, "cpu");
		if ((r = get_int(c, cpu, sp, "shares", 0, INT64_MAX, &present, &rs->cpu_shares)))
			return r;
		if (!present)
			rs->cpu_shares = OCI_UNSET;
		if ((r = get_int(c, cpu, sp, "quota", -1, INT64_MAX, &present, &rs->cpu_quota)))
			return r;
		if (!present)
			rs->cpu_quota = OCI_UNSET;
		if ((r = get_int(c, cpu, sp, "period", 0, INT64_MAX, &present, &rs->cpu_period)))
			return r;
		if (!present)
			rs->cpu_period = OCI_UNSET;
		if ((r = get_str(c, cpu, sp, "cpus", false, &rs->cpus)) ||
		    (r = get_str(c, cpu, sp, "mems", false, &rs->mems)))
			return r;
	}
	if ((r = get_obj(c, res, path, "pids", &pids)))
		return r;
	if (pids) {
		subpath(sp, path, "pids");
		if ((r = get_int(c, pids, sp, "limit", -1, INT64_MAX, &present, &rs->pids_limit)))
			return r;
		if (!present)
			return perr(c, "linux.resources.pids.limit", "missing");
	}
	if ((r = get_array(c, res, path, "devices", &arr, &n)))
		return r;
	if (arr) {
		if ((rs->dev_rules = xcalloc(c, n, sizeof(*rs->dev_rules))) == NULL)
			return -ENOMEM;
		for (size_t i = 0; i < n; i++) {
			struct oci_dev_rule *d = &rs->dev_rules[i];
			struct json_object *e;
			char *type = NULL, *access = NULL, tp[PATH_LEN];

			if ((r = elem_obj(c, arr, "linux.resources.devices", i, sp, &e)))
				return r;
			rs->n_dev_rules = i + 1;
			if ((r = get_bool(c, e, sp, "allow", &d->allow)))
				return r;
			if (jget(e, "allow") == NULL) {
				subpath(tp, sp, "allow");
				return perr(c, tp, "missing");
			}
			if ((r = get_str(c, e, sp, "type", false, &type)))
				return r;
			subpath(tp, sp, "type");
			d->type = type ? type[0] : 'a';
			if (type && (strlen(type) != 1 || !strchr("acb", type[0])))
				r = perr(c, tp, "expected a, c or b, got '%s'", type);
			free(type);
			if (r)
				return r;
			if ((r = get_int(c, e, sp, "major", -1, UINT32_MAX, &present, &d->major)))
				return r;
			if (!present)
				d->major = -1;
			if ((r = get_int(c, e, sp, "minor", -1, UINT32_MAX, &present, &d->minor)))
				return r;
			if (!present)
				d->minor = -1;
			if ((r = get_str(c, e, sp, "access", false, &access)))
				return r;
			subpath(tp, sp, "access");
			if (access == NULL)
				strcpy(d->access, "rwm");
			else if (strlen(access) > 3 || strspn(access, "rwm") != strlen(access))
				r = perr(c, tp, "expected letters of \"rwm\", got '%s'", access);
			else
				strcpy(d->access, access);
			free(access);
			if (r)
				return r;
		}
	}
	if ((r = get_obj(c, res, path, "rdma", &rdma)))
		return r;
	if (rdma) {
		size_t cnt = (size_t)json_object_object_length(rdma), i = 0;
		if ((rs->rdma = xcalloc(c, cnt + 1, sizeof(char *))) == NULL)
			return -ENOMEM;
		json_object_object_foreach(rdma, dev, lim)
		{
			int64_t h = -1, ob = -1;
			char dp[PATH_LEN], buf[512];
			subpath(dp, "linux.resources.rdma", dev);
			if (json_object_get_type(lim) != json_type_object)
				return perr(c, dp, "expected an object, got %s", jtype(lim));
			if ((r = get_int(c, lim, dp, "hcaHandles", 0, UINT32_MAX, &present, &h)) ||
			    (r = get_int(c, lim, dp, "hcaObjects", 0, UINT32_MAX, &present, &ob)))
				return r;
			{
				char hs[24] = "max", os[24] = "max";
				if (h >= 0)
					xsnprintf(hs, sizeof(hs), "%lld", (long long)h);
				if (ob >= 0)
					xsnprintf(os, sizeof(os), "%lld", (long long)ob);
				xsnprintf(buf, sizeof(buf), "%s hca_handle=%s hca_object=%s", dev,
					  hs, os);
			}
			if ((rs->rdma[i++] = strdup(buf)) == NULL)
				return err_set(c->err, ENOMEM, "out of memory");
		}
	}
	return 0;
}

static int parse_seccomp_action(struct pctx *c, struct json_object *o, const char *parent,
				const char *key, bool required, enum oci_seccomp_action *out)
{
	static const struct {
		const char *name;
		enum oci_seccomp_action act;
	} acts[] = {
		{ "SCMP_ACT_KILL", SECCOMP_ACT_KILL_THREAD },
		{ "SCMP_ACT_KILL_THREAD", SECCOMP_ACT_KILL_THREAD },
		{ "SCMP_ACT_KILL_PROCESS", SECCOMP_ACT_KILL_PROCESS },
		{ "SCMP_ACT_TRAP", SECCOMP_ACT_TRAP }, { "SCMP_ACT_ERRNO", SECCOMP_ACT_ERRNO },
		{ "SCMP_ACT_TRACE", SECCOMP_ACT_TRACE }, { "SCMP_ACT_ALLOW", SECCOMP_ACT_ALLOW },
		{ "SCMP_ACT_LOG", SECCOMP_ACT_LOG },
	};
	char *name = NULL, path[PATH_LEN];
	int r;

	if ((r = get_str(c, o, parent, key, required, &name)) || name == NULL)
		return r;
	subpath(path, parent, key);
	r = -EINVAL;
	for (size_t i = 0; i < ARRAY_SIZE(acts); i++) {
		if (strcmp(name, acts[i].name) == 0) {
			*out = acts[i].act;
			r = 0;
			break;
		}
	}
	if (r)
		perr(c, path, "unknown or unsupported action '%s'", name);
	free(name);
	return r;
}

static int parse_seccomp(struct pctx *c, struct json_object *o, struct oci_spec *s)
{
	static const char *const ops[] = { NULL, "SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE",
					   "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT",
					   "SCMP_CMP_MASKED_EQ" };
	const char *path = "linux.seccomp";
	struct oci_seccomp *sc;
	struct json_object *arr;
	char sp[PATH_LEN], rp[PATH_LEN];
	bool present;
	int64_t x;
	size_t n;
	int r;

	if ((sc = s->seccomp = xcalloc(c, 1, sizeof(*sc))) == NULL)
		return -ENOMEM;
	sc->default_errno = -1;
	if ((r = parse_seccomp_action(c, o, path, "defaultAction", true, &sc->default_action)))
		return r;
	if ((r = get_int(c, o, path, "defaultErrnoRet", 0, 4095, &present, &x)))
		return r;
	if (present)
		sc->default_errno = (int)x;
	if ((r = get_strv(c, o, path, "architectures", &sc->archs)))
		return r;
	for (size_t i = 0; sc->archs && sc->archs[i]; i++) {
		char *a = sc->archs[i];
		if (strncmp(a, "SCMP_ARCH_", 10) == 0)
			memmove(a, a + 10, strlen(a + 10) + 1);
		for (char *p = a; *p; p++)
			*p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
	}
	if ((r = get_array(c, o, path, "syscalls", &arr, &n)) || arr == NULL)
		return r;
	if ((sc->rules = xcalloc(c, n, sizeof(*sc->rules))) == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct oci_seccomp_rule *rule = &sc->rules[i];
		struct json_object *e, *args;
		size_t na;

		if ((r = elem_obj(c, arr, "linux.seccomp.syscalls", i, rp, &e)))
			return r;
		sc->n_rules = i + 1;
		rule->errno_ret = -1;
		if ((r = get_strv(c, e, rp, "names", &rule->names)))
			return r;
		if (rule->names == NULL) {
			subpath(sp, rp, "names");
			return perr(c, sp, "missing");
		}
		if ((r = parse_seccomp_action(c, e, rp, "action", true, &rule->action)))
			return r;
		if ((r = get_int(c, e, rp, "errnoRet", 0, 4095, &present, &x)))
			return r;
		if (present)
			rule->errno_ret = (int)x;
		if ((r = get_array(c, e, rp, "args", &args, &na)) || args == NULL)
			continue;
		if (na > 6) {
			subpath(sp, rp, "args");
			return perr(c, sp, "at most 6 arguments");
		}
		if ((rule->args = xcalloc(c, na, sizeof(*rule->args))) == NULL)
			return -ENOMEM;
		subpath(sp, rp, "args");
		for (size_t j = 0; j < na; j++) {
			struct oci_seccomp_arg *a = &rule->args[j];
			struct json_object *ae;
			char ap[PATH_LEN], *op = NULL;
			uint32_t idx;

			if ((r = elem_obj(c, args, sp, j, ap, &ae)))
				return r;
			rule->n_args = j + 1;
			if ((r = get_u32(c, ae, ap, "index", true, &idx)))
				return r;
			if (idx > 5) {
				char ip[PATH_LEN];
				subpath(ip, ap, "index");
				return perr(c, ip, "must be 0..5");
			}
			a->index = idx;
			if ((r = get_u64(c, ae, ap, "value", &a->value)))
				return r;
			if (jget(ae, "valueTwo") &&
			    (r = get_u64(c, ae, ap, "valueTwo", &a->value_two)))
				return r;
			if ((r = get_str(c, ae, ap, "op", true, &op)))
				return r;
			for (size_t k = 1; k < ARRAY_SIZE(ops); k++)
				if (strcmp(op, ops[k]) == 0)
					a->op = (int)k;
			if (a->op == 0) {
				char ip[PATH_LEN];
				subpath(ip, ap, "op");
				r = perr(c, ip, "unknown operator '%s'", op);
			}
			free(op);
			if (r)
				return r;
		}
	}
	return 0;
}

static int parse_hooks(struct pctx *c, struct json_object *o, struct oci_spec *s)
{
	static const char *const kinds[HOOK_KINDS] = {
		[HOOK_PRESTART] = "prestart", [HOOK_CREATE_RUNTIME] = "createRuntime",
		[HOOK_CREATE_CONTAINER] = "createContainer",
		[HOOK_START_CONTAINER] = "startContainer", [HOOK_POSTSTART] = "poststart",
		[HOOK_POSTSTOP] = "poststop",
	};
	int r;

	for (int k = 0; k < HOOK_KINDS; k++) {
		struct json_object *arr;
		char ap[PATH_LEN], sp[PATH_LEN];
		size_t n;

		if ((r = get_array(c, o, "hooks", kinds[k], &arr, &n)))
			return r;
		if (arr == NULL)
			continue;
		subpath(ap, "hooks", kinds[k]);
		if ((s->hooks[k].list = xcalloc(c, n, sizeof(struct oci_hook))) == NULL)
			return -ENOMEM;
		for (size_t i = 0; i < n; i++) {
			struct oci_hook *h = &s->hooks[k].list[i];
			struct json_object *e;
			int64_t t = 0;

			if ((r = elem_obj(c, arr, ap, i, sp, &e)))
				return r;
			s->hooks[k].n = i + 1;
			if ((r = get_str(c, e, sp, "path", true, &h->path)) ||
			    (r = get_strv(c, e, sp, "args", &h->args)) ||
			    (r = get_strv(c, e, sp, "env", &h->env)) ||
			    (r = get_int(c, e, sp, "timeout", 1, INT32_MAX, NULL, &t)))
				return r;
			h->timeout = (int)t;
		}
	}
	return 0;
}

static int parse_mounts(struct pctx *c, struct json_object *root, struct oci_spec *s)
{
	struct json_object *arr;
	char sp[PATH_LEN], dp[PATH_LEN];
	size_t n;
	int r;

	if ((r = get_array(c, root, "", "mounts", &arr, &n)) || arr == NULL)
		return r;
	if ((s->mounts = xcalloc(c, n, sizeof(*s->mounts))) == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct oci_mount *m = &s->mounts[i];
		struct json_object *e;

		if ((r = elem_obj(c, arr, "mounts", i, sp, &e)))
			return r;
		s->n_mounts = i + 1;
		if ((r = get_str(c, e, sp, "destination", true, &m->destination)) ||
		    (r = get_str(c, e, sp, "type", false, &m->type)) ||
		    (r = get_str(c, e, sp, "source", false, &m->source)) ||
		    (r = get_strv(c, e, sp, "options", &m->options)))
			return r;
		subpath(dp, sp, "destination");
		if (m->destination[0] != '/')
			return perr(c, dp, "must be an absolute path");
	}
	return 0;
}

static int parse_sysctl(struct pctx *c, struct json_object *o, struct oci_spec *s)
{
	struct json_object *sys;
	size_t n, i = 0;
	int r;

	if ((r = get_obj(c, o, "linux", "sysctl", &sys)) || sys == NULL)
		return r;
	n = (size_t)json_object_object_length(sys);
	s->sysctl_keys = xcalloc(c, n + 1, sizeof(char *));
	s->sysctl_values = xcalloc(c, n + 1, sizeof(char *));
	if (s->sysctl_keys == NULL || s->sysctl_values == NULL)
		return -ENOMEM;
	json_object_object_foreach(sys, key, val)
	{
		char kp[PATH_LEN];
		subpath(kp, "linux.sysctl", key);
		if (json_object_get_type(val) != json_type_string)
			return perr(c, kp, "expected a string, got %s", jtype(val));
		if (strstr(key, "..") || key[0] == '/' || key[0] == '.')
			return perr(c, kp, "not a sysctl name");
		s->sysctl_keys[i] = strdup(key);
		s->sysctl_values[i] = strdup(json_object_get_string(val));
		s->n_sysctl = ++i;
		if (s->sysctl_keys[i - 1] == NULL || s->sysctl_values[i - 1] == NULL)
			return err_set(c->err, ENOMEM, "out of memory");
	}
	return 0;
}

static int parse_linux(struct pctx *c, struct json_object *lx, struct oci_spec *s)
{
	struct json_object *res, *sc;
	int r;

	if ((r = parse_namespaces(c, lx, s)) ||
	    (r = parse_idmaps(c, lx, "linux", "uidMappings", &s->uid_maps, &s->n_uid_maps)) ||
	    (r = parse_idmaps(c, lx, "linux", "gidMappings", &s->gid_maps, &s->n_gid_maps)) ||
	    (r = parse_devices(c, lx, s)) || (r = parse_sysctl(c, lx, s)))
		return r;
	if ((r = get_str(c, lx, "linux", "cgroupsPath", false, &s->cgroups_path)))
		return r;
	if ((r = get_obj(c, lx, "linux", "resources", &res)))
		return r;
	s->resources.mem_limit = s->resources.mem_reservation = s->resources.mem_swap = OCI_UNSET;
	s->resources.cpu_shares = s->resources.cpu_quota = s->resources.cpu_period = OCI_UNSET;
	s->resources.pids_limit = OCI_UNSET;
	if (res && (r = parse_resources(c, res, s)))
		return r;
	if ((r = get_obj(c, lx, "linux", "seccomp", &sc)))
		return r;
	if (sc && (r = parse_seccomp(c, sc, s)))
		return r;
	if ((r = get_strv(c, lx, "linux", "maskedPaths", &s->masked_paths)) ||
	    (r = get_strv(c, lx, "linux", "readonlyPaths", &s->readonly_paths)) ||
	    (r = get_str(c, lx, "linux", "rootfsPropagation", false, &s->rootfs_propagation)))
		return r;
	if (spec_ns(s, CLONE_NEWUSER) && spec_ns(s, CLONE_NEWUSER)->path == NULL &&
	    (s->n_uid_maps == 0 || s->n_gid_maps == 0))
		return perr(c, "linux.uidMappings",
			    "a new user namespace needs uidMappings and gidMappings");
	return 0;
}

static struct json_object *parse_text(struct pctx *c, const char *text, size_t len)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *root;
	enum json_tokener_error je;
	size_t end;

	if (tok == NULL) {
		err_set(c->err, ENOMEM, "out of memory");
		return NULL;
	}
	if (len > INT_MAX) {
		json_tokener_free(tok);
		err_set(c->err, EFBIG, "%s: too large", c->what);
		return NULL;
	}
	root = json_tokener_parse_ex(tok, text, (int)len);
	je = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	/* only white space may follow the object (json-c stops after it) */
	while (end < len && strchr(" \t\r\n", text[end]) && text[end] != '\0')
		end++;
	if (root == NULL || je != json_tokener_success || end < len) {
		if (root && je == json_tokener_success)
			end = json_tokener_get_parse_end(tok);
		err_set(c->err, EINVAL, "%s: not valid JSON at offset %zu: %s", c->what, end,
			je == json_tokener_success ? "trailing data"
			: je == json_tokener_continue ? "unexpected end"
						      : json_tokener_error_desc(je));
		json_object_put(root);
		root = NULL;
	}
	json_tokener_free(tok);
	if (root && json_object_get_type(root) != json_type_object) {
		err_set(c->err, EINVAL, "%s: (top): expected an object, got %s", c->what,
			jtype(root));
		json_object_put(root);
		root = NULL;
	}
	return root;
}

int spec_parse(const char *text, size_t len, const char *what, struct oci_spec **out,
	       struct err *err)
{
	struct pctx c = { .what = what, .err = err };
	struct json_object *root, *o;
	struct oci_spec *s;
	int r;

	*out = NULL;
	if ((root = parse_text(&c, text, len)) == NULL)
		return -EINVAL;
	if ((s = xcalloc(&c, 1, sizeof(*s))) == NULL) {
		json_object_put(root);
		return -ENOMEM;
	}
	if ((r = get_str(&c, root, "", "ociVersion", true, &s->oci_version)))
		goto fail;
	if (strncmp(s->oci_version, "1.", 2) != 0) {
		r = perr(&c, "ociVersion", "unsupported version '%s' (want 1.x)", s->oci_version);
		goto fail;
	}
	if ((r = get_obj(&c, root, "", "root", &o)))
		goto fail;
	if (o == NULL) {
		r = perr(&c, "root", "missing");
		goto fail;
	}
	if ((r = get_str(&c, o, "root", "path", true, &s->root_path)) ||
	    (r = get_bool(&c, o, "root", "readonly", &s->root_readonly)))
		goto fail;
	if ((r = get_obj(&c, root, "", "process", &o)))
		goto fail;
	if (o) {
		s->has_process = true;
		if ((r = parse_process(&c, o, "process", &s->process, true)))
			goto fail;
	}
	if ((r = get_str(&c, root, "", "hostname", false, &s->hostname)))
		goto fail;
	if ((r = parse_mounts(&c, root, s)))
		goto fail;
	if ((r = get_obj(&c, root, "", "hooks", &o)))
		goto fail;
	if (o && (r = parse_hooks(&c, o, s)))
		goto fail;
	if ((r = get_obj(&c, root, "", "linux", &o)))
		goto fail;
	s->resources.mem_limit = s->resources.mem_reservation = s->resources.mem_swap = OCI_UNSET;
	s->resources.cpu_shares = s->resources.cpu_quota = s->resources.cpu_period = OCI_UNSET;
	s->resources.pids_limit = OCI_UNSET;
	if (o && (r = parse_linux(&c, o, s)))
		goto fail;
	json_object_put(root);
	*out = s;
	return 0;
fail:
	json_object_put(root);
	spec_free(s);
	return r < 0 ? r : -EINVAL;
}

int spec_parse_process(const char *text, size_t len, const char *what, struct oci_process *out,
		       struct err *err)
{
	struct pctx c = { .what = what, .err = err };
	struct json_object *root;
	int r;

	memset(out, 0, sizeof(*out));
	if ((root = parse_text(&c, text, len)) == NULL)
		return -EINVAL;
	r = parse_process(&c, root, "process", out, true);
	json_object_put(root);
	if (r)
		spec_process_free(out);
	return r;
}

int spec_load(const char *bundle, struct oci_spec **out, struct err *err)
{
	char path[PATH_MAX];
	struct stat st;
	char *text = NULL;
	ssize_t n;
	int fd, r;

	xsnprintf(path, sizeof(path), "%s/config.json", bundle);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_setsys(err, errno, "%s", path);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > (16 << 20)) {
		close(fd);
		return err_set(err, EINVAL, "%s: not a regular file of at most 16 MiB", path);
	}
	text = malloc((size_t)st.st_size + 1);
	if (text == NULL) {
		close(fd);
		return err_set(err, ENOMEM, "out of memory");
	}
	n = read(fd, text, (size_t)st.st_size);
	close(fd);
	if (n != st.st_size) {
		free(text);
		return err_setsys(err, n < 0 ? errno : EIO, "%s: read", path);
	}
	text[n] = '\0';
	r = spec_parse(text, (size_t)n, "config.json", out, err);
	free(text);
	return r;
}

void spec_process_free(struct oci_process *p)
{
	free(p->gids);
	strv_free(p->args);
	strv_free(p->env);
	free(p->cwd);
	free(p->rlimits);
	memset(p, 0, sizeof(*p));
}

void spec_free(struct oci_spec *s)
{
	if (s == NULL)
		return;
	free(s->oci_version);
	spec_process_free(&s->process);
	free(s->root_path);
	free(s->hostname);
	for (size_t i = 0; i < s->n_mounts; i++) {
		free(s->mounts[i].destination);
		free(s->mounts[i].type);
		free(s->mounts[i].source);
		strv_free(s->mounts[i].options);
	}
	free(s->mounts);
	for (size_t i = 0; i < s->n_namespaces; i++)
		free(s->namespaces[i].path);
	free(s->namespaces);
	free(s->uid_maps);
	free(s->gid_maps);
	for (size_t i = 0; i < s->n_devices; i++)
		free(s->devices[i].path);
	free(s->devices);
	free(s->resources.cpus);
	free(s->resources.mems);
	free(s->resources.dev_rules);
	strv_free(s->resources.rdma);
	strv_free(s->resources.unsupported);
	free(s->cgroups_path);
	if (s->seccomp) {
		strv_free(s->seccomp->archs);
		for (size_t i = 0; i < s->seccomp->n_rules; i++) {
			strv_free(s->seccomp->rules[i].names);
			free(s->seccomp->rules[i].args);
		}
		free(s->seccomp->rules);
		free(s->seccomp);
	}
	strv_free(s->masked_paths);
	strv_free(s->readonly_paths);
	strv_free(s->sysctl_keys);
	strv_free(s->sysctl_values);
	free(s->rootfs_propagation);
	for (int k = 0; k < HOOK_KINDS; k++) {
		for (size_t i = 0; i < s->hooks[k].n; i++) {
			free(s->hooks[k].list[i].path);
			strv_free(s->hooks[k].list[i].args);
			strv_free(s->hooks[k].list[i].env);
		}
		free(s->hooks[k].list);
	}
	free(s);
}
