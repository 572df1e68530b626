/* SPDX-License-Identifier: MIT */
/* spec.h: the OCI runtime-spec 1.x config.json, parsed into plain structs.
 * Parsing is a pure function of the text: every error names the JSON path
 * of the offending value ("process.args: expected array of strings"). */
#ifndef DOMUS_CONTAINER_SPEC_H
#define DOMUS_CONTAINER_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct err;

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

struct oci_mount {
	char *destination;
	char *type;		/* NULL: "bind" when the options say so */
	char *source;
	char **options;		/* NULL-terminated */
};

struct oci_idmap {
	uint32_t container_id, host_id, size;
};

struct oci_namespace {
	int type;		/* CLONE_NEW* */
	char *path;		/* NULL: make a new one */
};

struct oci_rlimit {
	int resource;		/* RLIMIT_* */
	uint64_t soft, hard;
};

struct oci_device {
	char *path;
	char type;		/* 'c', 'b', 'u', 'p' */
	int64_t major, minor;
	uint32_t mode;
	bool has_mode;
	uint32_t uid, gid;
};

struct oci_dev_rule {
	bool allow;
	char type;		/* 'a', 'c', 'b' */
	int64_t major, minor;	/* -1: any */
	char access[4];		/* subset of "rwm" */
};

struct oci_hook {
	char *path;
	char **args;		/* NULL-terminated, may be NULL */
	char **env;
	int timeout;		/* seconds, 0: none */
};

enum oci_hook_kind {
	HOOK_PRESTART, HOOK_CREATE_RUNTIME, HOOK_CREATE_CONTAINER,
	HOOK_START_CONTAINER, HOOK_POSTSTART, HOOK_POSTSTOP, HOOK_KINDS,
};

struct oci_hooks {
	struct oci_hook *list;
	size_t n;
};

enum oci_seccomp_action {
	SECCOMP_ACT_KILL_THREAD, SECCOMP_ACT_KILL_PROCESS, SECCOMP_ACT_TRAP,
	SECCOMP_ACT_ERRNO, SECCOMP_ACT_TRACE, SECCOMP_ACT_ALLOW, SECCOMP_ACT_LOG,
};

struct oci_seccomp_arg {
	unsigned index;
	uint64_t value, value_two;
	int op;			/* enum scmp_compare value, 1..7 */
};

struct oci_seccomp_rule {
	char **names;		/* NULL-terminated */
	enum oci_seccomp_action action;
	int errno_ret;		/* -1: default (EPERM) */
	struct oci_seccomp_arg *args;
	size_t n_args;
};

struct oci_seccomp {
	enum oci_seccomp_action default_action;
	int default_errno;	/* -1: EPERM */
	char **archs;		/* libseccomp names ("x86_64"), NULL-terminated, may be NULL */
	struct oci_seccomp_rule *rules;
	size_t n_rules;
};

struct oci_caps {
	uint64_t bounding, effective, inheritable, permitted, ambient;
};

struct oci_process {
	bool terminal;
	uint32_t uid, gid;
	uint32_t *gids;
	size_t n_gids;
	bool has_umask;
	uint32_t umask;
	char **args;		/* NULL-terminated, at least one */
	char **env;		/* NULL-terminated */
	char *cwd;
	bool has_caps;
	struct oci_caps caps;
	struct oci_rlimit *rlimits;
	size_t n_rlimits;
	bool no_new_privs;
	bool has_oom_score_adj;
	int oom_score_adj;
	struct {
		unsigned short rows, cols;
	} console;
};

#define OCI_UNSET INT64_MIN

struct oci_resources {
	int64_t mem_limit, mem_reservation, mem_swap;	/* OCI_UNSET when absent */
	int64_t cpu_shares, cpu_quota, cpu_period;
	char *cpus, *mems;
	int64_t pids_limit;
	struct oci_dev_rule *dev_rules;
	size_t n_dev_rules;
	/* rdma: device name → limits string, kept as text */
	char **rdma;		/* NULL-terminated "dev hca_handle=N hca_object=M" */
	char **unsupported;	/* keys we can't apply (named in errors) */
};

struct oci_spec {
	char *oci_version;
	struct oci_process process;
	bool has_process;
	char *root_path;
	bool root_readonly;
	char *hostname;
	struct oci_mount *mounts;
	size_t n_mounts;
	struct oci_namespace *namespaces;
	size_t n_namespaces;
	struct oci_idmap *uid_maps, *gid_maps;
	size_t n_uid_maps, n_gid_maps;
	struct oci_device *devices;
	size_t n_devices;
	bool has_resources;
	struct oci_resources resources;
	char *cgroups_path;
	struct oci_seccomp *seccomp;
	char **masked_paths, **readonly_paths;
	char **sysctl_keys, **sysctl_values;
	size_t n_sysctl;
	char *rootfs_propagation;
	struct oci_hooks hooks[HOOK_KINDS];
};

/* spec_parse: parse (text, len) of config.json into a new spec. On error
 * returns a negative errno and names the JSON path in (err), prefixed with
 * (what) (e.g. "config.json"). */
int spec_parse(const char *text, size_t len, const char *what, struct oci_spec **out,
	       struct err *err);

/* spec_parse_process: parse a lone process object (exec --process FILE). */
int spec_parse_process(const char *text, size_t len, const char *what,
		       struct oci_process *out, struct err *err);

/* spec_load: read and parse (bundle)/config.json. */
int spec_load(const char *bundle, struct oci_spec **out, struct err *err);

void spec_free(struct oci_spec *s);
void spec_process_free(struct oci_process *p);

/* spec_has_ns / spec_ns: the namespace entry of (type), or NULL. */
const struct oci_namespace *spec_ns(const struct oci_spec *s, int type);

/* spec_ns_type: "pid" → CLONE_NEWPID...; 0 when unknown. */
int spec_ns_type(const char *name);
const char *spec_ns_name(int type);

/* spec_default_json: a default config.json (runc's `spec` equivalent) as a
 * newly allocated string: busybox sh, the usual mounts, pid/net/ipc/uts/mount
 * namespaces, a small capability set; (rootless) adds a user namespace
 * mapping the caller. */
char *spec_default_json(bool rootless);

/* spec_cap_from_name: "CAP_SYS_ADMIN" → 21; -1 when unknown. */
int spec_cap_from_name(const char *name);

/* spec_rlimit_from_name: "RLIMIT_NOFILE" → RLIMIT_NOFILE; -1 when unknown. */
int spec_rlimit_from_name(const char *name);

#endif
