/* SPDX-License-Identifier: MIT */
/* diskspec.c: one `disk` entry of an xl.cfg, as Xen's
 * xl-disk-configuration(5) documents it, into struct dom_disk. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "domcfg.h"

/* xvda, hdb, sdc, vdd (one letter: no partitions, no xvdaa). */
static int vdev_index(const char *v, unsigned *index)
{
	static const char *const prefixes[] = { "xvd", "hd", "sd", "vd" };

	for (size_t i = 0; i < ARRAY_SIZE(prefixes); i++) {
		size_t n = strlen(prefixes[i]);
		if (strncmp(v, prefixes[i], n) == 0 && v[n] >= 'a' && v[n] <= 'z' &&
		    v[n + 1] == '\0') {
			*index = (unsigned)(v[n] - 'a');
			return 0;
		}
	}
	return -EINVAL;
}

static int set_access(const char *a, struct dom_disk *d, struct err *err)
{
	if (strcmp(a, "r") == 0 || strcmp(a, "ro") == 0) {
		d->readonly = true;
	} else if (strcmp(a, "w") == 0 || strcmp(a, "rw") == 0) {
		d->readonly = false;
	} else if (strcmp(a, "w!") == 0 || strcmp(a, "rw!") == 0) {
		/* xl's "!": writable even if another domain has it */
		d->readonly = false;
		d->shareable = true;
	} else {
		return err_set(err, EINVAL, "access '%s': expected r, ro, w or rw", a);
	}
	return 0;
}

static int set_format(const char *f, struct err *err)
{
	if (strcmp(f, "raw") == 0 || *f == '\0')
		return 0;
	if (strcmp(f, "qcow2") == 0 || strcmp(f, "qcow") == 0 || strcmp(f, "vhd") == 0)
		return err_set(err, ENOTSUP, "format '%s' is not supported (raw only)", f);
	return err_set(err, EINVAL, "format '%s': expected raw", f);
}

static int set_vdev(const char *v, struct dom_disk *d, struct err *err)
{
	if (vdev_index(v, &d->index) < 0)
		return err_set(err, EINVAL, "vdev '%s': expected xvdX, hdX, sdX or vdX (X a letter)", v);
	snprintf(d->vdev, sizeof(d->vdev), "%s", v);
	return 0;
}

/* Drop a legacy "phy:", "file:", "tap:aio:", "aio:", "raw:" prefix. */
static const char *strip_prefix(const char *t)
{
	static const char *const prefixes[] = { "tap2:aio:", "tap:aio:", "phy:", "file:",
						"aio:", "raw:" };

	for (size_t i = 0; i < ARRAY_SIZE(prefixes); i++)
		if (strncmp(t, prefixes[i], strlen(prefixes[i])) == 0)
			return t + strlen(prefixes[i]);
	return t;
}

static int set_target(const char *t, struct dom_disk *d, struct err *err)
{
	t = strip_prefix(t);
	if (*t == '\0')
		return err_set(err, EINVAL, "empty target (CD-ROMs with no medium are not supported)");
	if (strlen(t) >= sizeof(d->target))
		return err_set(err, ENAMETOOLONG, "target too long");
	snprintf(d->target, sizeof(d->target), "%s", t);
	return 0;
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

int diskspec_parse(const char *spec, struct dom_disk *out, struct err *err)
{
	char buf[DOM_PATH_MAX + 256], *pos[8], *p, *save = NULL;
	unsigned npos = 0;
	bool have_vdev = false, have_target = false;
	int r;

	memset(out, 0, sizeof(*out));
	if (strlen(spec) >= sizeof(buf))
		return err_set(err, EINVAL, "disk entry too long");
	snprintf(buf, sizeof(buf), "%s", spec);
	/* target= takes the rest of the entry, commas and all (xl's rule) */
	char *tgt = strstr(buf, "target=");
	if (tgt && (tgt == buf || tgt[-1] == ',' || isspace((unsigned char)tgt[-1]))) {
		r = set_target(trim(tgt + 7), out, err);
		if (r < 0)
			return r;
		have_target = true;
		*tgt = '\0';
	}
	for (p = strtok_r(buf, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
		char *item = trim(p), *eq = strchr(item, '=');
		if (*item == '\0')
			continue;
		if (eq == NULL) {
			if (strcmp(item, "cdrom") == 0)
				return err_set(err, ENOTSUP, "CD-ROM disks are not supported");
			if (strcmp(item, "shareable") == 0) {
				out->shareable = true;
				continue;
			}
			if (npos == ARRAY_SIZE(pos))
				return err_set(err, EINVAL, "too many positional parameters");
			pos[npos++] = item;
			continue;
		}
		*eq = '\0';
		char *k = trim(item), *v = trim(eq + 1);
		if (strcmp(k, "vdev") == 0) {
			r = set_vdev(v, out, err);
			have_vdev = r == 0;
		} else if (strcmp(k, "access") == 0 || strcmp(k, "mode") == 0) {
			r = set_access(v, out, err);
		} else if (strcmp(k, "format") == 0) {
			r = set_format(v, err);
		} else if (strcmp(k, "devtype") == 0) {
			r = strcmp(v, "disk") == 0 ? 0 :
			    err_set(err, ENOTSUP, "devtype '%s' is not supported (disk only)", v);
		} else if (strcmp(k, "backendtype") == 0 || strcmp(k, "backend") == 0 ||
			   strcmp(k, "script") == 0 || strcmp(k, "discard") == 0 ||
			   strcmp(k, "no-discard") == 0 || strcmp(k, "direct-io-safe") == 0) {
			r = 0;	/* Xen backend plumbing: nothing to do here */
		} else {
			r = err_set(err, EINVAL,
				    "unknown parameter '%s' (expected vdev, access, format, devtype or target)",
				    k);
		}
		if (r < 0)
			return r;
	}
	/* positional: target,vdev,access or target,format,vdev,access; the
	 * key=value form may still have a bare vdev/access */
	if (npos == 4) {
		if ((r = set_target(pos[0], out, err)) < 0 || (r = set_format(pos[1], err)) < 0 ||
		    (r = set_vdev(pos[2], out, err)) < 0 || (r = set_access(pos[3], out, err)) < 0)
			return r;
		have_target = have_vdev = true;
	} else if (npos == 3 && !have_target) {
		if ((r = set_target(pos[0], out, err)) < 0 || (r = set_vdev(pos[1], out, err)) < 0 ||
		    (r = set_access(pos[2], out, err)) < 0)
			return r;
		have_target = have_vdev = true;
	} else if (npos == 2 && !have_target) {
		/* target,vdev: access defaults to rw */
		if ((r = set_target(pos[0], out, err)) < 0 || (r = set_vdev(pos[1], out, err)) < 0)
			return r;
		have_target = have_vdev = true;
	} else {
		for (unsigned i = 0; i < npos; i++) {
			unsigned idx;
			if (!have_vdev && vdev_index(pos[i], &idx) == 0) {
				set_vdev(pos[i], out, err);
				have_vdev = true;
			} else if ((r = set_access(pos[i], out, err)) < 0) {
				return err_set(err, EINVAL, "unexpected '%s' (expected TARGET,VDEV,ACCESS "
							    "or key=value with target= last)", pos[i]);
			}
		}
	}
	if (!have_target)
		return err_set(err, EINVAL, "no target (expected e.g. \"file:/vm/disk.img,xvda,w\")");
	if (!have_vdev)
		return err_set(err, EINVAL, "no vdev (expected e.g. xvda)");
	return 0;
}
