/* SPDX-License-Identifier: MIT */
/* paths.h: the directories domain management uses. DOMUS_ROOT relocates all
 * of them (tests, unprivileged users); root gets the system ones (as Xen has
 * /etc/xen); other users get per-user XDG directories. */
#ifndef DOMUS_DOMAIN_PATHS_H
#define DOMUS_DOMAIN_PATHS_H

#include <stddef.h>

struct err;

#define DOM_DIR_MAX 512

struct dom_paths {
	char etc[DOM_DIR_MAX];		/* config files: NAME.cfg */
	char autostart[DOM_DIR_MAX];	/* etc/auto: links to the configs to start at boot */
	char run[DOM_DIR_MAX];		/* running domains: NAME/ (sockets, state, log) */
	char lib[DOM_DIR_MAX];		/* persistent state: installer downloads, disks of domus install */
};

/* dom_paths_get: the directories, from DOMUS_ROOT, the user id and XDG
 * variables. Does not create them. 0 or -errno (a path too long). */
int dom_paths_get(struct dom_paths *p, struct err *err);

/* dom_path: "(dir)/(name)(suffix)" into (out, size); -ENAMETOOLONG. */
int dom_path(char *out, size_t size, const char *dir, const char *name, const char *suffix);

#endif
