/* SPDX-License-Identifier: MIT */
/* paths.c: where domain management keeps its files (paths.h). */
#include "paths.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/err.h"

/* "(a)(b)" into (out): every directory is a base plus a fixed tail. */
static int put(char *out, const char *what, struct err *err, const char *a, const char *b)
{
	int n = snprintf(out, DOM_DIR_MAX, "%s%s", a, b);

	if (n < 0 || n >= DOM_DIR_MAX)
		return err_set(err, ENAMETOOLONG, "%s directory: path too long", what);
	return 0;
}

int dom_paths_get(struct dom_paths *p, struct err *err)
{
	const char *root = getenv("DOMUS_ROOT");
	int r;

	if (root && *root) {
		if ((r = put(p->etc, "config", err, root, "/etc/domus")) < 0 ||
		    (r = put(p->run, "run", err, root, "/run/domus")) < 0 ||
		    (r = put(p->lib, "state", err, root, "/var/lib/domus")) < 0)
			return r;
	} else if (geteuid() == 0) {
		snprintf(p->etc, sizeof(p->etc), "/etc/domus");
		snprintf(p->run, sizeof(p->run), "/run/domus");
		snprintf(p->lib, sizeof(p->lib), "/var/lib/domus");
	} else {
		const char *home = getenv("HOME"), *cfg = getenv("XDG_CONFIG_HOME");
		const char *rt = getenv("XDG_RUNTIME_DIR"), *data = getenv("XDG_DATA_HOME");
		char tmp[64];

		if (home == NULL || *home == '\0')
			return err_set(err, EINVAL, "not root, and neither DOMUS_ROOT nor HOME is set: "
						    "set DOMUS_ROOT to a directory of yours");
		snprintf(tmp, sizeof(tmp), "/tmp/domus-%u", (unsigned)geteuid());
		if ((r = cfg && *cfg ? put(p->etc, "config", err, cfg, "/domus") :
				       put(p->etc, "config", err, home, "/.config/domus")) < 0 ||
		    (r = rt && *rt ? put(p->run, "run", err, rt, "/domus") :
				     put(p->run, "run", err, tmp, "")) < 0 ||
		    (r = data && *data ? put(p->lib, "state", err, data, "/domus") :
					 put(p->lib, "state", err, home, "/.local/share/domus")) < 0)
			return r;
	}
	return put(p->autostart, "autostart", err, p->etc, "/auto");
}

int dom_path(char *out, size_t size, const char *dir, const char *name, const char *suffix)
{
	int n = snprintf(out, size, "%s/%s%s", dir, name, suffix ? suffix : "");

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}
