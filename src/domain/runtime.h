/* SPDX-License-Identifier: MIT */
/* runtime.h: what is known about running domains. Each has a directory in
 * the run directory (RUN/NAME/) holding:
 *   lock          flock'ed by the domain's supervisor (and inherited by its
 *                 monitor) for as long as either lives: the one true test of
 *                 "this domain has a live process", immune to pid reuse
 *   state         JSON: id, uuid, state, pids, start time, disks (written
 *                 whole: temp file + rename)
 *   control.sock  the monitor's control socket (docs/control-protocol.md)
 *   console.sock  the guest's serial console (domus console)
 *   intent        what the administrator asked for (shutdown, reboot,
 *                 destroy), read by the supervisor when the monitor ends
 *   log           the supervisor's and the monitor's messages
 * A new domus reads all this; it needs no daemon. */
#ifndef DOMUS_DOMAIN_RUNTIME_H
#define DOMUS_DOMAIN_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "domcfg.h"
#include "paths.h"

struct err;
struct json_object;

struct dom_state_disk {
	char path[DOM_PATH_MAX];	/* resolved (realpath) when it exists */
	bool writable;
	bool shareable;
};

struct dom_state {
	char name[DOM_NAME_MAX];
	char uuid[DOM_UUID_LEN + 1];
	int id;				/* xl/virsh domain id; a restart gets a new one */
	char state[16];			/* starting, running, shutoff, crashed */
	char reason[160];		/* why it is in that state */
	pid_t supervisor, monitor;
	double started;			/* epoch seconds of this boot */
	unsigned restarts;
	bool persistent;		/* defined (a config file), not `create`d */
	char config[DOM_PATH_MAX];	/* the config file it was started from */
	struct dom_state_disk disks[VM_DISKS_MAX];
	unsigned nr_disks;
};

/* domrt_dir / domrt_file: RUN/NAME and RUN/NAME/FILE. */
int domrt_file(const struct dom_paths *p, const char *name, const char *file, char *out,
	       size_t size);

/* domrt_active: whether a supervisor or monitor of (name) is alive. */
bool domrt_active(const struct dom_paths *p, const char *name);

/* domrt_read_state: the state file of (name); -ENOENT when there is none. */
int domrt_read_state(const struct dom_paths *p, const char *name, struct dom_state *st,
		     struct err *err);
int domrt_write_state(const struct dom_paths *p, const struct dom_state *st, struct err *err);

/* domrt_list: names with a state file (running, preserved or crashed). */
int domrt_list(const struct dom_paths *p, char ***names, size_t *n, struct err *err);

/* domrt_alloc_id: the next domain id (1, 2, ...; RUN/next-id). */
int domrt_alloc_id(const struct dom_paths *p);

/* domrt_call: a control command to (name)'s monitor; -ENOTCONN "domain 'x'
 * is not running" when nobody answers. */
int domrt_call(const struct dom_paths *p, const char *name, const char *cmd,
	       struct json_object *args, struct json_object **reply, int timeout_ms,
	       struct err *err);

/* domrt_set_intent: record what the administrator asked (NULL clears);
 * domrt_take_intent: read and clear it ("" if none). */
int domrt_set_intent(const struct dom_paths *p, const char *name, const char *intent);
void domrt_take_intent(const struct dom_paths *p, const char *name, char *out, size_t size);

/* domrt_cleanup: remove what the domain left in its run directory (state,
 * sockets, intent, boot files); the log stays. */
void domrt_cleanup(const struct dom_paths *p, const char *name);

/* domrt_view: the state a person is shown, as virsh names it: "running",
 * "paused", "in shutdown", "shut off", "crashed"; (st) is filled when the
 * domain has a state file (else st->id is -1). */
const char *domrt_view(const struct dom_paths *p, const char *name, struct dom_state *st);

#endif
