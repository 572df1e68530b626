/* SPDX-License-Identifier: MIT */
/* ctr.h: the pieces the container's setup is made of, one file each:
 * mounts.c (root file system), caps.c (user, capabilities, rlimits),
 * seccomp.c, hooks.c, terminal.c. All return 0 or a negative errno and fill
 * (err) with one line; none prints. */
#ifndef DOMUS_CONTAINER_CTR_H
#define DOMUS_CONTAINER_CTR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "spec.h"

struct err;
struct cgroup;
struct ctr_state;

/* mounts_resolve: (path) inside (root), following symlinks as if (root)
 * were "/", into (out) (a host path below root). Pure apart from lstat and
 * readlink. */
int mounts_resolve(const char *root, const char *path, char *out, size_t size);

/* mounts_setup: in the container's new mount namespace: make the mounts of
 * (s) below (rootfs), the devices, pivot_root into it, then masked and
 * read-only paths, sysctls, and the read-only root. (cg) is for "cgroup"
 * mounts. (userns): devices are bind-mounted rather than made. */
int mounts_setup(const struct oci_spec *s, const char *rootfs, struct cgroup *cg, bool userns,
		 struct err *err);

/* mounts_parse_options: mount(2) flags and data from OCI options; (propagation)
 * gets MS_SHARED/MS_PRIVATE/... flags to apply afterwards, (bind) whether
 * it's a bind mount, (recursive) for rbind and r* propagation. Pure. */
int mounts_parse_options(char *const *options, unsigned long *flags, unsigned long *propagation,
			 bool *bind, char *data, size_t data_size);

/* caps_apply_user: groups, gid, uid of (p); keeps the capabilities asked for. */
int caps_apply_user(const struct oci_process *p, struct err *err);

/* caps_drop_bounding: drop what (p) does not list from the bounding set
 * (before the user changes: it needs CAP_SETPCAP). */
int caps_drop_bounding(const struct oci_process *p, struct err *err);

/* caps_apply:  inheritable, permitted, effective, ambient sets. */
int caps_apply(const struct oci_process *p, struct err *err);

/* caps_rlimits: set (p)'s rlimits. */
int caps_rlimits(const struct oci_process *p, struct err *err);

/* seccomp_apply: build and load the filter of (sc). */
int seccomp_apply(const struct oci_seccomp *sc, struct err *err);

/* hooks_run: run (hooks) in order with the state of (st) on their standard
 * input; the first failure stops the run. (kind) names them in errors. */
int hooks_run(const struct oci_hooks *hooks, const char *kind, const char *state_json,
	      struct err *err);

/* terminal_open: a new pty pair from the current /dev/ptmx; (rows, cols) if nonzero. */
int terminal_open(int *master, int *slave, unsigned short rows, unsigned short cols,
		  struct err *err);

/* fd passing over a unix socket (SCM_RIGHTS) */
int send_fd(int sock, int fd, const void *data, size_t len);
int recv_fd(int sock, int *fd, void *data, size_t len);

/* terminal_proxy: copy our stdin to (master) and (master) to our stdout,
 * with our terminal in raw mode, until the master hangs up or (pidfd)
 * becomes readable (the process ended). */
void terminal_proxy(int master, int pidfd);

/* console_socket_send: connect to (path) and send (master) with SCM_RIGHTS. */
int console_socket_send(const char *path, int master, struct err *err);

#endif
