/* SPDX-License-Identifier: MIT */
/* domcfg.h: what a domain's config file (xl.cfg syntax, xlcfg.h) means:
 * struct domain_config, checked, with every error at file:line:col. Pure
 * (no I/O), so it is unit-tested and fuzzed. docs/domains.md lists the keys. */
#ifndef DOMUS_DOMCFG_H
#define DOMUS_DOMCFG_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/engine.h"

struct err;

#define DOM_NAME_MAX	64
#define DOM_PATH_MAX	1024
#define DOM_CMDLINE_MAX	2048
#define DOM_VIFS_MAX	8
#define DOM_UUID_LEN	36

/* on_poweroff / on_reboot / on_crash, as xl.cfg(5) names them. */
enum dom_action {
	DOM_ACT_DESTROY,	/* the domain ends (its process exits) */
	DOM_ACT_RESTART,	/* it boots again, as a new domain id */
	DOM_ACT_PRESERVE,	/* it stays, shut off/crashed, until destroyed */
	DOM_ACT_RENAME_RESTART,	/* xl: keep the old one renamed, start a new; here: restart */
};

struct dom_disk {
	char target[DOM_PATH_MAX];	/* image file or block device */
	char vdev[16];			/* as written: xvda, hdb, sdc, vdd */
	unsigned index;			/* the vdev's letter: a=0: the guest's order */
	bool readonly;
	bool shareable;			/* writable by several domains at once (w!) */
};

struct dom_vif {
	char mac[18];			/* aa:bb:cc:dd:ee:ff; "" = derived from the uuid */
	char bridge[16];		/* bridge=NAME, or "" for NAT */
	bool nat;			/* user-mode NAT (type=nat|user, or "nat") */
	char hostfwd[8][64];		/* NAT port forwards, QEMU's syntax */
	unsigned nr_hostfwd;
	char spec[512];			/* the same as `domus run --net SPEC` */
};

struct domain_config {
	char name[DOM_NAME_MAX];
	char uuid[DOM_UUID_LEN + 1];	/* "" when the file has none */
	uint64_t memory_mib, maxmem_mib;
	unsigned vcpus;
	enum engine_kind engine;
	char kernel[DOM_PATH_MAX];	/* "" with a bootloader */
	char ramdisk[DOM_PATH_MAX];
	char cmdline[DOM_CMDLINE_MAX];	/* cmdline, or root= + extra */
	char bootloader[DOM_PATH_MAX];	/* "" none; any value: read the first disk */
	struct dom_disk disks[VM_DISKS_MAX];
	unsigned nr_disks;
	struct dom_vif vifs[DOM_VIFS_MAX];
	unsigned nr_vifs;
	enum dom_action on_poweroff, on_reboot, on_crash;
	bool serial;			/* the console socket (serial = "pty"; default) */
};

/* A warning about the file (an unknown key...): one line, file:line:col. */
typedef void (*domcfg_warn_fn)(void *ctx, const char *msg);

/* domcfg_parse: parse and check the config text; (file) names it in
 * messages. Unknown keys and keys we accept without acting on them (vfb...)
 * go to (warn) and parsing goes on; a bad value fails with -EINVAL and
 * "file:line:col: key: what was expected" in (err). */
int domcfg_parse(const char *text, size_t len, const char *file, struct domain_config *out,
		 domcfg_warn_fn warn, void *warn_ctx, struct err *err);

/* domcfg_valid_name: a domain name: 1-63 of [A-Za-z0-9_.-], not starting
 * with '.' or '-' (it names files). */
bool domcfg_valid_name(const char *name);

/* domcfg_valid_uuid: 8-4-4-4-12 hex digits. */
bool domcfg_valid_uuid(const char *uuid);

/* dom_action_name: "destroy", "restart", "preserve", "rename-restart". */
const char *dom_action_name(enum dom_action a);

/* diskspec_parse: one `disk` entry (xl-disk-configuration: positional
 * "[prefix:]target,vdev,access" or "target,format,vdev,access", or
 * key=value with target= last). -EINVAL with a message (no position). */
int diskspec_parse(const char *spec, struct dom_disk *out, struct err *err);

/* vifspec_parse: one `vif` entry ("mac=..,bridge=..", "nat", "type=nat,..");
 * fills out->spec. (uuid) seeds a MAC when none is given (may be ""; then
 * (index) alone does). -EINVAL with a message. */
int vifspec_parse(const char *spec, const char *uuid, unsigned index, struct dom_vif *out,
		  struct err *err);

#endif
