/* SPDX-License-Identifier: MIT */
/* state.h: a container's state directory under the runtime root
 * (--root, default /run/domus-oci): state.json, written atomically (temp
 * file + rename), a copy of the config, and the start socket. */
#ifndef DOMUS_CONTAINER_STATE_H
#define DOMUS_CONTAINER_STATE_H

#include <limits.h>
#include <stddef.h>
#include <stdbool.h>
#include <sys/types.h>

struct err;

#define STATE_ROOT_DEFAULT "/run/domus-oci"
#define STATE_ID_MAX 256

enum ctr_status { CTR_CREATING, CTR_CREATED, CTR_RUNNING, CTR_STOPPED };

struct ctr_state {
	char id[STATE_ID_MAX];
	char bundle[PATH_MAX];
	char cgroup[PATH_MAX];		/* the cgroup path used (v1: in every hierarchy) */
	enum ctr_status status;		/* as recorded; see state_status() */
	pid_t pid;			/* the container's init, in the runtime's pid namespace */
	unsigned long long start_time;	/* /proc/PID/stat field 22, against pid reuse */
	char created[40];		/* RFC 3339 */
	bool cgroup_made;		/* we made the cgroup (delete removes it) */
};

/* state_check_id: ids are 1..255 of [A-Za-z0-9_.-], not starting with '.'. */
int state_check_id(const char *id, struct err *err);

/* state_path: (root)/(id)[/(file)] into (out). */
void state_path(char *out, size_t size, const char *root, const char *id, const char *file);

/* state_mkdir: make (root)/(id); -EEXIST (with a message) when it exists. */
int state_mkdir(const char *root, const char *id, struct err *err);

/* state_write: write (st) as (root)/(id)/state.json atomically. */
int state_write(const char *root, const struct ctr_state *st, struct err *err);

/* state_read: read (root)/(id)/state.json; -ENOENT: "container ID does not exist". */
int state_read(const char *root, const char *id, struct ctr_state *st, struct err *err);

/* state_remove: remove (root)/(id) and everything in it. */
int state_remove(const char *root, const char *id);

/* xsnprintf: snprintf for paths and messages whose truncation is harmless
 * or checked by the caller through the return value. */
int xsnprintf(char *out, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* rm_tree: remove (path) and everything below it (symlinks not followed). */
int rm_tree(const char *path);

/* state_status: the live status: recorded status, or stopped when the
 * recorded process is gone (or its pid was reused). */
enum ctr_status state_status(const struct ctr_state *st);
const char *state_status_name(enum ctr_status s);

/* state_json: the OCI state object (ociVersion, id, status, pid, bundle,
 * annotations, created) as a newly allocated string. */
char *state_json(const struct ctr_state *st, bool pretty);

/* proc_start_time: /proc/(pid)/stat start time; 0 when the process is gone. */
unsigned long long proc_start_time(pid_t pid);

/* write_file_atomic: (path) ← (data, len) through a temp file and rename. */
int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode);

/* read_file: whole small file into a new NUL-terminated buffer. */
int read_file(const char *path, char **out, size_t *len);

#endif
