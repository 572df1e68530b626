/* SPDX-License-Identifier: MIT */
/* domcfg.c: the keys of a domain's config file (xlcfg.h syntax) into struct
 * domain_config. Every error names file:line:col of the value at fault. */
#include "domcfg.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "xlcfg.h"

struct ctx {
	const struct xlcfg *x;
	struct domain_config *d;
	domcfg_warn_fn warn;
	void *warn_ctx;
	struct err *err;
};

static int bad(struct ctx *c, const struct xlentry *e, struct xlpos at, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int bad(struct ctx *c, const struct xlentry *e, struct xlpos at, const char *fmt, ...)
{
	char msg[ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* values are quoted in messages: a "\n" in one must not split the
	 * one-line error (found by fuzz_xlcfg) */
	for (char *q = msg; *q; q++)
		if ((unsigned char)*q < 0x20 || *q == 0x7f)
			*q = '?';
	return err_set(c->err, EINVAL, "%s:%u:%u: %s: %s", c->x->file, at.line, at.col, e->key, msg);
}

static void warn(struct ctx *c, const struct xlentry *e, const char *what)
{
	char msg[512];

	if (c->warn == NULL)
		return;
	snprintf(msg, sizeof(msg), "%s:%u:%u: %s: %s", c->x->file, e->key_pos.line,
		 e->key_pos.col, e->key, what);
	c->warn(c->warn_ctx, msg);
}

bool domcfg_valid_name(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n >= DOM_NAME_MAX || name[0] == '.' || name[0] == '-')
		return false;
	for (const char *p = name; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("_.-", *p))
			return false;
	return true;
}

bool domcfg_valid_uuid(const char *u)
{
	if (strlen(u) != DOM_UUID_LEN)
		return false;
	for (int i = 0; i < DOM_UUID_LEN; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		if (dash ? u[i] != '-' : !isxdigit((unsigned char)u[i]))
			return false;
	}
	return true;
}

const char *dom_action_name(enum dom_action a)
{
	switch (a) {
	case DOM_ACT_DESTROY:
		return "destroy";
	case DOM_ACT_RESTART:
		return "restart";
	case DOM_ACT_PRESERVE:
		return "preserve";
	case DOM_ACT_RENAME_RESTART:
		return "rename-restart";
	}
	return "?";
}

static int want_string(struct ctx *c, const struct xlentry *e, const char *example,
		       const char **out)
{
	if (e->type != XLVAL_STRING)
		return bad(c, e, e->pos, "expected a string, e.g. %s = %s", e->key, example);
	*out = e->val.str;
	return 0;
}

static int want_path(struct ctx *c, const struct xlentry *e, char *out, size_t size,
		     const char *example)
{
	const char *s = NULL;
	int r = want_string(c, e, example, &s);

	if (r < 0)
		return r;
	if (strlen(s) >= size)
		return bad(c, e, e->pos, "too long (at most %zu characters)", size - 1);
	snprintf(out, size, "%s", s);
	return 0;
}

static int want_number(struct ctx *c, const struct xlentry *e, uint64_t min, uint64_t max,
		       const char *unit, uint64_t *out)
{
	if (e->type != XLVAL_NUMBER)
		return bad(c, e, e->pos, "expected a number%s%s, e.g. %s = %llu", unit ? " " : "",
			   unit ? unit : "", e->key, (unsigned long long)min);
	if (e->val.num < min || e->val.num > max)
		return bad(c, e, e->pos, "%llu is out of range (expected %llu-%llu%s%s)",
			   (unsigned long long)e->val.num, (unsigned long long)min,
			   (unsigned long long)max, unit ? " " : "", unit ? unit : "");
	*out = e->val.num;
	return 0;
}

static int want_action(struct ctx *c, const struct xlentry *e, enum dom_action *out)
{
	const char *s = NULL;
	int r = want_string(c, e, "\"restart\"", &s);

	if (r < 0)
		return r;
	if (strcmp(s, "destroy") == 0)
		*out = DOM_ACT_DESTROY;
	else if (strcmp(s, "restart") == 0)
		*out = DOM_ACT_RESTART;
	else if (strcmp(s, "preserve") == 0)
		*out = DOM_ACT_PRESERVE;
	else if (strcmp(s, "rename-restart") == 0)
		*out = DOM_ACT_RENAME_RESTART;
	else if (strcmp(s, "coredump-destroy") == 0 || strcmp(s, "coredump-restart") == 0)
		return bad(c, e, e->pos, "'%s' is not supported (no guest core dumps yet): "
					 "use destroy or restart", s);
	else if (strcmp(s, "soft-reset") == 0)
		return bad(c, e, e->pos, "'soft-reset' is not supported: use restart");
	else
		return bad(c, e, e->pos, "'%s': expected destroy, restart, preserve or rename-restart",
			   s);
	return 0;
}

static int want_list(struct ctx *c, const struct xlentry *e, const char *example)
{
	if (e->type == XLVAL_LIST)
		return 0;
	return bad(c, e, e->pos, "expected a list, e.g. %s = [ %s ]", e->key, example);
}

static int do_disks(struct ctx *c, const struct xlentry *e)
{
	struct domain_config *d = c->d;
	int r = want_list(c, e, "\"file:/vm/disk.img,xvda,w\"");

	if (r < 0)
		return r;
	for (size_t i = 0; i < e->nr_items; i++) {
		const struct xlscalar *it = &e->items[i];
		struct err derr = { 0 };
		struct dom_disk disk;

		if (it->type != XLVAL_STRING)
			return bad(c, e, it->pos, "expected a string, e.g. \"file:/vm/disk.img,xvda,w\"");
		if (d->nr_disks == VM_DISKS_MAX)
			return bad(c, e, it->pos, "too many disks (at most %d)", VM_DISKS_MAX);
		if (diskspec_parse(it->str, &disk, &derr) < 0)
			return bad(c, e, it->pos, "%s", derr.msg);
		for (unsigned k = 0; k < d->nr_disks; k++)
			if (d->disks[k].index == disk.index)
				return bad(c, e, it->pos, "%s and %s are the same disk slot",
					   d->disks[k].vdev, disk.vdev);
		/* keep them sorted by vdev letter: that is the guest's order */
		unsigned at = d->nr_disks;
		while (at > 0 && d->disks[at - 1].index > disk.index) {
			d->disks[at] = d->disks[at - 1];
			at--;
		}
		d->disks[at] = disk;
		d->nr_disks++;
	}
	return 0;
}

static int do_vifs(struct ctx *c, const struct xlentry *e)
{
	struct domain_config *d = c->d;
	int r = want_list(c, e, "\"mac=00:16:3e:00:00:01,bridge=br0\"");

	if (r < 0)
		return r;
	for (size_t i = 0; i < e->nr_items; i++) {
		const struct xlscalar *it = &e->items[i];
		struct err verr = { 0 };

		if (it->type != XLVAL_STRING)
			return bad(c, e, it->pos, "expected a string, e.g. \"bridge=br0\"");
		if (d->nr_vifs == DOM_VIFS_MAX)
			return bad(c, e, it->pos, "too many NICs (at most %d)", DOM_VIFS_MAX);
		if (vifspec_parse(it->str, d->uuid[0] ? d->uuid : d->name, d->nr_vifs,
				  &d->vifs[d->nr_vifs], &verr) < 0)
			return bad(c, e, it->pos, "%s", verr.msg);
		d->nr_vifs++;
	}
	return 0;
}

/* Keys xl knows that mean nothing for our guests: accepted with a warning. */
static const char *const ignored_keys[] = {
	"vfb", "vnc", "vnclisten", "vncdisplay", "vncunused", "vncpasswd", "sdl", "opengl",
	"keymap", "localtime", "rtc_timeoffset", "builder", "type", "device_model_version",
	"device_model_override", "pci", "usb", "usbdevice", "soundhw", "boot", "acpi", "apic",
	"pae", "hap", "nestedhvm", "viridian", "stdvga", "videoram", "cpus", "cpu_weight",
	"cap", "bootloader_args", "extra_args", "on_watchdog", "on_soft_reset", "vtpm",
	"channel", "p9", "vkb", "xen_platform_pci", "shadow_memory", "maxvcpus", "seclabel",
};

int domcfg_parse(const char *text, size_t len, const char *file, struct domain_config *out,
		 domcfg_warn_fn warnfn, void *warn_ctx, struct err *err)
{
	struct xlcfg x;
	struct ctx c = { .x = &x, .d = out, .warn = warnfn, .warn_ctx = warn_ctx, .err = err };
	const struct xlentry *e, *name_e = NULL, *cmdline_e = NULL, *extra_e = NULL, *root_e = NULL;
	const struct xlentry *vif_e = NULL;
	const char *s = NULL;
	uint64_t v;
	int r;

	memset(out, 0, sizeof(*out));
	out->memory_mib = 256;
	out->vcpus = 1;
	out->engine = ENGINE_AUTO;
	out->on_poweroff = DOM_ACT_DESTROY;
	out->on_reboot = DOM_ACT_RESTART;
	out->on_crash = DOM_ACT_DESTROY;
	out->serial = true;
	r = xlcfg_parse(text, len, file, &x, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < x.nr; i++) {
		e = &x.entries[i];
		const char *k = e->key;
		r = 0;
		if (strcmp(k, "name") == 0) {
			name_e = e;
			if ((r = want_string(&c, e, "\"web1\"", &s)) == 0 && !domcfg_valid_name(s))
				r = bad(&c, e, e->pos, "'%s': expected 1-63 letters, digits, '_', '.' "
						       "or '-', not starting with '.' or '-'", s);
			if (r == 0)
				snprintf(out->name, sizeof(out->name), "%s", s);
		} else if (strcmp(k, "uuid") == 0) {
			if ((r = want_string(&c, e, "\"f4e2e3b4-7f3d-4b1b-8b3b-3b4b1b7f3d4b\"", &s)) == 0 &&
			    !domcfg_valid_uuid(s))
				r = bad(&c, e, e->pos, "'%s': expected 8-4-4-4-12 hex digits", s);
			if (r == 0)
				for (int j = 0; j <= DOM_UUID_LEN; j++)
					out->uuid[j] = (char)tolower((unsigned char)s[j]);
		} else if (strcmp(k, "memory") == 0) {
			r = want_number(&c, e, VM_MEMORY_MIN_MIB, 1ULL << 30, "MiB", &out->memory_mib);
		} else if (strcmp(k, "maxmem") == 0) {
			r = want_number(&c, e, VM_MEMORY_MIN_MIB, 1ULL << 30, "MiB", &out->maxmem_mib);
		} else if (strcmp(k, "vcpus") == 0) {
			if ((r = want_number(&c, e, 1, VM_VCPUS_MAX, NULL, &v)) == 0)
				out->vcpus = (unsigned)v;
		} else if (strcmp(k, "kernel") == 0) {
			r = want_path(&c, e, out->kernel, sizeof(out->kernel), "\"/vm/vmlinuz\"");
		} else if (strcmp(k, "ramdisk") == 0) {
			r = want_path(&c, e, out->ramdisk, sizeof(out->ramdisk), "\"/vm/initrd.img\"");
		} else if (strcmp(k, "bootloader") == 0) {
			r = want_path(&c, e, out->bootloader, sizeof(out->bootloader),
				      "\"/usr/bin/pygrub\"");
		} else if (strcmp(k, "cmdline") == 0) {
			cmdline_e = e;
			r = want_string(&c, e, "\"console=ttyS0 root=/dev/vda\"", &s);
		} else if (strcmp(k, "extra") == 0) {
			extra_e = e;
			r = want_string(&c, e, "\"console=ttyS0\"", &s);
		} else if (strcmp(k, "root") == 0) {
			root_e = e;
			r = want_string(&c, e, "\"/dev/vda1 ro\"", &s);
		} else if (strcmp(k, "disk") == 0) {
			r = do_disks(&c, e);
		} else if (strcmp(k, "vif") == 0) {
			vif_e = e;	/* after the uuid: MACs derive from it */
		} else if (strcmp(k, "on_poweroff") == 0) {
			r = want_action(&c, e, &out->on_poweroff);
		} else if (strcmp(k, "on_reboot") == 0) {
			r = want_action(&c, e, &out->on_reboot);
		} else if (strcmp(k, "on_crash") == 0) {
			r = want_action(&c, e, &out->on_crash);
		} else if (strcmp(k, "serial") == 0) {
			if ((r = want_string(&c, e, "\"pty\"", &s)) == 0) {
				if (strcmp(s, "pty") == 0 || strcmp(s, "socket") == 0)
					out->serial = true;
				else if (strcmp(s, "none") == 0)
					out->serial = false;
				else
					r = bad(&c, e, e->pos, "'%s': expected pty, socket or none "
							       "(the console is a socket: domus console)", s);
			}
		} else if (strcmp(k, "engine") == 0) {
			if ((r = want_string(&c, e, "\"auto\"", &s)) == 0) {
				if (strcmp(s, "kvm") == 0)
					out->engine = ENGINE_KVM;
				else if (strcmp(s, "qemu") == 0)
					out->engine = ENGINE_QEMU;
				else if (strcmp(s, "auto") == 0)
					out->engine = ENGINE_AUTO;
				else
					r = bad(&c, e, e->pos, "'%s': expected kvm, qemu or auto", s);
			}
		} else {
			bool known = false;
			for (size_t j = 0; j < ARRAY_SIZE(ignored_keys); j++)
				if (strcmp(k, ignored_keys[j]) == 0)
					known = true;
			warn(&c, e, known ? "ignored (means nothing for domus's guests)" :
					    "unknown key, ignored");
		}
		if (r < 0)
			goto out;
	}
	if (name_e == NULL) {
		r = err_set(err, EINVAL, "%s:1:1: name: missing (expected name = \"NAME\")", x.file);
		goto out;
	}
	if (vif_e && (r = do_vifs(&c, vif_e)) < 0)
		goto out;
	if (out->maxmem_mib && out->maxmem_mib < out->memory_mib) {
		e = xlcfg_get(&x, "maxmem");
		r = bad(&c, e, e->pos, "%llu is less than memory (%llu MiB)",
			(unsigned long long)out->maxmem_mib, (unsigned long long)out->memory_mib);
		goto out;
	}
	if (!out->kernel[0] && !out->bootloader[0]) {
		r = err_set(err, EINVAL, "%s:%u:%u: kernel: missing (expected kernel = \"/path/vmlinuz\", "
					 "or bootloader = \"pygrub\" to boot from the first disk)",
			    x.file, name_e->key_pos.line, name_e->key_pos.col);
		goto out;
	}
	if (out->bootloader[0] && out->nr_disks == 0) {
		e = xlcfg_get(&x, "bootloader");
		r = bad(&c, e, e->pos, "needs a disk to boot from (disk = [ ... ])");
		goto out;
	}
	if (!out->kernel[0] && out->ramdisk[0] && !out->bootloader[0]) {
		e = xlcfg_get(&x, "ramdisk");
		r = bad(&c, e, e->pos, "a ramdisk needs a kernel");
		goto out;
	}
	/* cmdline wins over root and extra, as in xl */
	if (cmdline_e) {
		snprintf(out->cmdline, sizeof(out->cmdline), "%s", cmdline_e->val.str);
		if (root_e || extra_e)
			warn(&c, cmdline_e, "root and extra are ignored when cmdline is given");
	} else {
		size_t n = 0;
		if (root_e)
			n += (size_t)snprintf(out->cmdline, sizeof(out->cmdline), "root=%s",
					      root_e->val.str);
		if (extra_e && n < sizeof(out->cmdline))
			snprintf(out->cmdline + n, sizeof(out->cmdline) - n, "%s%s", n ? " " : "",
				 extra_e->val.str);
	}
	if (strlen(out->cmdline) >= sizeof(out->cmdline) - 1) {
		e = cmdline_e ? cmdline_e : extra_e ? extra_e : root_e;
		r = bad(&c, e, e->pos, "the kernel command line is too long");
		goto out;
	}
	r = 0;
out:
	xlcfg_free(&x);
	return r;
}
