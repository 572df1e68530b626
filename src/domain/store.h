/* SPDX-License-Identifier: MIT */
/* store.h: the defined domains: one xl.cfg file per domain in the config
 * directory, written whole or not at all (temp file + rename). */
#ifndef DOMUS_DOMAIN_STORE_H
#define DOMUS_DOMAIN_STORE_H

#include <stdbool.h>
#include <stddef.h>

#include "domcfg.h"
#include "paths.h"

struct err;

/* domstore_read_file: the whole of (path) (at most 1 MiB), NUL-terminated,
 * malloc'd. 0 or -errno with (err) naming the file. */
int domstore_read_file(const char *path, char **text, size_t *len, struct err *err);

/* domstore_load_file: read and parse a config file. */
int domstore_load_file(const char *path, struct domain_config *cfg, domcfg_warn_fn warn,
		       void *warn_ctx, struct err *err);

/* domstore_load: the defined domain (name); -ENOENT "domain 'x' is not defined". */
int domstore_load(const struct dom_paths *p, const char *name, struct domain_config *cfg,
		  domcfg_warn_fn warn, void *warn_ctx, struct err *err);

/* domstore_exists: whether (name) has a config file. */
bool domstore_exists(const struct dom_paths *p, const char *name);

/* domstore_list: the defined names, sorted; *names is a malloc'd array of
 * malloc'd strings (free with domstore_free_list). */
int domstore_list(const struct dom_paths *p, char ***names, size_t *n, struct err *err);
void domstore_free_list(char **names, size_t n);

/* domstore_define: check the config text (file) and store it as the domain's
 * definition: a new domain, or an update of one with the same name and uuid.
 * Without a uuid one is kept from the old definition or generated, and
 * written into the stored copy. Refused: another domain's uuid, a name
 * defined with another uuid, an unwritable config directory. On success
 * (cfg) is what was stored. */
int domstore_define(const struct dom_paths *p, const char *text, size_t len, const char *file,
		    struct domain_config *cfg, domcfg_warn_fn warn, void *warn_ctx,
		    struct err *err);

/* domstore_undefine: remove the definition (and its autostart mark). */
int domstore_undefine(const struct dom_paths *p, const char *name, struct err *err);

/* domstore_autostart: mark or unmark (name) to start at boot
 * (`domus start --autostart`); domstore_is_autostart tells. */
int domstore_autostart(const struct dom_paths *p, const char *name, bool on, struct err *err);
bool domstore_is_autostart(const struct dom_paths *p, const char *name);

/* domstore_write_atomic: write (data) as (path) through a temp file in the
 * same directory, fsync'd and renamed: readers see the old or the new file,
 * never half of one. */
int domstore_write_atomic(const char *path, const char *data, size_t len, struct err *err);

/* domstore_new_uuid: a random uuid (the kernel's). */
int domstore_new_uuid(char out[DOM_UUID_LEN + 1], struct err *err);

#endif
