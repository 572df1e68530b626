/* SPDX-License-Identifier: MIT */
/* container.h: the container lifecycle: create (namespaces, cgroup, root
 * file system, an init that waits), start, kill, delete, exec, wait. The
 * OCI command line (oci_cli.c) and `domus container` (container_cli.c) are
 * thin layers over these. */
#ifndef DOMUS_CONTAINER_CONTAINER_H
#define DOMUS_CONTAINER_CONTAINER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "spec.h"
#include "state.h"

struct err;

struct ctr_opts {
	const char *root;		/* state root (--root) */
	const char *id;
	const char *bundle;		/* absolute; root.path is relative to it */
	const char *console_socket;	/* where the pty master goes (terminal: true) */
	const char *pid_file;
	int preserve_fds;		/* fds 3..3+N-1 stay open in the container */
	bool foreground;		/* keep the pty master ourselves (run without a socket) */
};

/* ctr_create: create container (o->id) from (s) (whose text (config, len) is
 * kept in the state directory): on success the container's init waits for
 * ctr_start. On failure nothing is left: no cgroup, no state, no process.
 * (master) gets the pty master when o->foreground and the process has a
 * terminal, else -1. (pid) gets the init's pid. */
int ctr_create(const struct ctr_opts *o, const struct oci_spec *s, const char *config, size_t len,
	       int *master, pid_t *pid, struct err *err);

/* ctr_start: let a created container's process run (exec its args). A
 * failing poststart hook is reported in (warn), not as an error. */
int ctr_start(const char *root, const char *id, struct err *warn, struct err *err);

/* ctr_kill: send (sig) to the container's init, or with (all) to every
 * process in its cgroup. */
int ctr_kill(const char *root, const char *id, int sig, bool all, struct err *err);

/* ctr_delete: remove a stopped (or created, or with (force) any) container:
 * its processes, poststop hooks (a failure goes to (warn)), cgroup and state. */
int ctr_delete(const char *root, const char *id, bool force, struct err *warn,
	       struct err *err);

/* ctr_wait: wait for (pid) (a child of ours: we are a subreaper) and proxy
 * (master) if >= 0; returns the exit status as a shell would (128+signal). */
int ctr_wait(pid_t pid, int master);

struct ctr_exec_opts {
	struct oci_process *process;	/* the process to run (terminal, args, env...) */
	const char *console_socket;
	const char *pid_file;
	bool detach;
	int preserve_fds;
};

/* ctr_exec: run another process in container (id); returns its exit status
 * (or 0 when detached), or a negative errno with (err). */
int ctr_exec(const char *root, const char *id, const struct ctr_exec_opts *o, struct err *err);

/* ctr_signal_parse: "TERM", "SIGTERM", "15" → 15; -1 when unknown. */
int ctr_signal_parse(const char *s);

#endif
