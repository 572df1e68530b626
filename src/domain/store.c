/* SPDX-License-Identifier: MIT */
/* store.c: the config directory (store.h). */
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/err.h"
#include "common/file.h"

#define CFG_FILE_MAX	(1 << 20)

int domstore_read_file(const char *path, char **text, size_t *len, struct err *err)
{
	struct stat st;
	char *buf = NULL;
	size_t n = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC), r;

	if (fd < 0)
		return err_setsys(err, errno, "%s", path);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		r = S_ISDIR(st.st_mode) ? err_set(err, EISDIR, "%s: is a directory", path) :
					  err_set(err, EINVAL, "%s: not a regular file", path);
		goto out;
	}
	if (st.st_size > CFG_FILE_MAX) {
		r = err_set(err, EFBIG, "%s: larger than %d bytes: not a config file", path, CFG_FILE_MAX);
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		r = err_set(err, ENOMEM, "out of memory");
		goto out;
	}
	while (n < (size_t)st.st_size) {
		ssize_t k = read(fd, buf + n, (size_t)st.st_size - n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			r = err_setsys(err, errno, "%s", path);
			goto out;
		}
		if (k == 0)
			break;
		n += (size_t)k;
	}
	buf[n] = '\0';
	*text = buf;
	*len = n;
	buf = NULL;
	r = 0;
out:
	free(buf);
	close(fd);
	return r;
}

int domstore_load_file(const char *path, struct domain_config *cfg, domcfg_warn_fn warn,
		       void *warn_ctx, struct err *err)
{
	char *text;
	size_t len;
	int r = domstore_read_file(path, &text, &len, err);

	if (r < 0)
		return r;
	r = domcfg_parse(text, len, path, cfg, warn, warn_ctx, err);
	free(text);
	return r;
}

static int cfg_path(const struct dom_paths *p, const char *name, char *out, size_t size,
		    struct err *err)
{
	if (!domcfg_valid_name(name))
		return err_set(err, EINVAL, "'%s' is not a domain name", name);
	if (dom_path(out, size, p->etc, name, ".cfg") < 0)
		return err_set(err, ENAMETOOLONG, "config path too long");
	return 0;
}

bool domstore_exists(const struct dom_paths *p, const char *name)
{
	char path[DOM_DIR_MAX + 80];

	if (cfg_path(p, name, path, sizeof(path), NULL) < 0)
		return false;
	return access(path, F_OK) == 0;
}

int domstore_load(const struct dom_paths *p, const char *name, struct domain_config *cfg,
		  domcfg_warn_fn warn, void *warn_ctx, struct err *err)
{
	char path[DOM_DIR_MAX + 80];
	int r = cfg_path(p, name, path, sizeof(path), err);

	if (r < 0)
		return r;
	if (access(path, F_OK) < 0)
		return err_set(err, ENOENT, "domain '%s' is not defined (no %s)", name, path);
	r = domstore_load_file(path, cfg, warn, warn_ctx, err);
	if (r == 0 && strcmp(cfg->name, name) != 0)
		return err_set(err, EINVAL, "%s: name is '%s', expected '%s'", path, cfg->name, name);
	return r;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int domstore_list(const struct dom_paths *p, char ***names, size_t *n, struct err *err)
{
	DIR *d = opendir(p->etc);
	struct dirent *de;
	char **v = NULL;
	size_t k = 0;

	*names = NULL;
	*n = 0;
	if (d == NULL)
		return errno == ENOENT ? 0 : err_setsys(err, errno, "%s", p->etc);
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);
		if (len <= 4 || strcmp(de->d_name + len - 4, ".cfg") != 0)
			continue;
		char *name = strndup(de->d_name, len - 4);
		char **nv = realloc(v, (k + 1) * sizeof(*v));
		if (name == NULL || nv == NULL) {
			free(name);
			if (nv)
				v = nv;
			domstore_free_list(v, k);
			closedir(d);
			return err_set(err, ENOMEM, "out of memory");
		}
		v = nv;
		if (!domcfg_valid_name(name)) {
			free(name);
			continue;
		}
		v[k++] = name;
	}
	closedir(d);
	if (k)
		qsort(v, k, sizeof(*v), cmp_str);
	*names = v;
	*n = k;
	return 0;
}

void domstore_free_list(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

int domstore_write_atomic(const char *path, const char *data, size_t len, struct err *err)
{
	char tmp[DOM_DIR_MAX + 128];
	int fd, r;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= sizeof(tmp))
		return err_set(err, ENAMETOOLONG, "%s: path too long", path);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return err_setsys(err, errno, "cannot write in the directory of %s", path);
	fchmod(fd, 0644);
	for (size_t off = 0; off < len;) {
		ssize_t n = write(fd, data + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = err_setsys(err, n < 0 ? errno : EIO, "%s", tmp);
			goto fail;
		}
		off += (size_t)n;
	}
	if (fsync(fd) < 0) {
		r = err_setsys(err, errno, "%s: fsync", tmp);
		goto fail;
	}
	close(fd);
	if (rename(tmp, path) < 0) {
		r = err_setsys(err, errno, "%s", path);
		unlink(tmp);
		return r;
	}
	return 0;
fail:
	close(fd);
	unlink(tmp);
	return r;
}

int domstore_new_uuid(char out[DOM_UUID_LEN + 1], struct err *err)
{
	FILE *f = fopen("/proc/sys/kernel/random/uuid", "re");

	if (f == NULL)
		return err_setsys(err, errno, "/proc/sys/kernel/random/uuid");
	if (fgets(out, DOM_UUID_LEN + 1, f) == NULL || !domcfg_valid_uuid(out)) {
		fclose(f);
		return err_set(err, EIO, "cannot make a uuid");
	}
	fclose(f);
	return 0;
}

int domstore_define(const struct dom_paths *p, const char *text, size_t len, const char *file,
		    struct domain_config *cfg, domcfg_warn_fn warn, void *warn_ctx,
		    struct err *err)
{
	struct domain_config *old = malloc(sizeof(*old));
	char path[DOM_DIR_MAX + 80], **names = NULL, *out = NULL;
	size_t n = 0, out_len = len;
	int r;

	if (old == NULL)
		return err_set(err, ENOMEM, "out of memory");
	r = domcfg_parse(text, len, file, cfg, warn, warn_ctx, err);
	if (r < 0)
		goto out;
	struct stat st;
	errno = 0;
	if (file_mkdir_p(p->etc, 0755, NULL) < 0 || stat(p->etc, &st) < 0 ||
	    !S_ISDIR(st.st_mode) || access(p->etc, W_OK) < 0) {
		r = err_setsys(err, errno ? errno : ENOTDIR, "config directory %s is not writable",
			       p->etc);
		goto out;
	}
	r = domstore_list(p, &names, &n, err);
	if (r < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		if (domstore_load(p, names[i], old, NULL, NULL, NULL) < 0)
			continue;
		if (strcmp(names[i], cfg->name) == 0) {
			if (cfg->uuid[0] && old->uuid[0] && strcmp(cfg->uuid, old->uuid) != 0) {
				r = err_set(err, EEXIST, "domain '%s' already exists with uuid %s",
					    cfg->name, old->uuid);
				goto out;
			}
			if (!cfg->uuid[0])
				snprintf(cfg->uuid, sizeof(cfg->uuid), "%s", old->uuid);
		} else if (cfg->uuid[0] && strcmp(cfg->uuid, old->uuid) == 0) {
			r = err_set(err, EEXIST, "domain '%s' already has uuid %s", names[i], cfg->uuid);
			goto out;
		}
	}
	if (!cfg->uuid[0] && (r = domstore_new_uuid(cfg->uuid, err)) < 0)
		goto out;
	/* the stored copy is the file as written (comments and all), plus the
	 * uuid if it had none, so the domain keeps one identity */
	out = malloc(len + 64);
	if (out == NULL) {
		r = err_set(err, ENOMEM, "out of memory");
		goto out;
	}
	memcpy(out, text, len);
	if (strstr(text, "uuid") == NULL || !domcfg_valid_uuid(cfg->uuid) ||
	    memmem(text, len, cfg->uuid, DOM_UUID_LEN) == NULL) {
		out_len += (size_t)snprintf(out + len, 64, "%suuid = \"%s\"\n",
					    len && text[len - 1] != '\n' ? "\n" : "", cfg->uuid);
	}
	r = cfg_path(p, cfg->name, path, sizeof(path), err);
	if (r == 0)
		r = domstore_write_atomic(path, out, out_len, err);
out:
	free(out);
	free(old);
	domstore_free_list(names, n);
	return r;
}

static int auto_path(const struct dom_paths *p, const char *name, char *out, size_t size)
{
	return dom_path(out, size, p->autostart, name, ".cfg");
}

int domstore_undefine(const struct dom_paths *p, const char *name, struct err *err)
{
	char path[DOM_DIR_MAX + 80];
	int r = cfg_path(p, name, path, sizeof(path), err);

	if (r < 0)
		return r;
	if (unlink(path) < 0) {
		if (errno == ENOENT)
			return err_set(err, ENOENT, "domain '%s' is not defined", name);
		return err_setsys(err, errno, "%s", path);
	}
	if (auto_path(p, name, path, sizeof(path)) == 0)
		unlink(path);
	return 0;
}

int domstore_autostart(const struct dom_paths *p, const char *name, bool on, struct err *err)
{
	char path[DOM_DIR_MAX + 80], target[DOM_DIR_MAX + 80];

	if (!domstore_exists(p, name))
		return err_set(err, ENOENT, "domain '%s' is not defined", name);
	if (auto_path(p, name, path, sizeof(path)) < 0)
		return err_set(err, ENAMETOOLONG, "path too long");
	if (!on) {
		if (unlink(path) < 0 && errno != ENOENT)
			return err_setsys(err, errno, "%s", path);
		return 0;
	}
	if (file_mkdir_p(p->autostart, 0755, NULL) < 0)
		return err_setsys(err, errno, "config directory %s is not writable", p->autostart);
	snprintf(target, sizeof(target), "../%s.cfg", name);
	unlink(path);
	if (symlink(target, path) < 0)
		return err_setsys(err, errno, "%s", path);
	return 0;
}

bool domstore_is_autostart(const struct dom_paths *p, const char *name)
{
	char path[DOM_DIR_MAX + 80];

	return auto_path(p, name, path, sizeof(path)) == 0 && access(path, F_OK) == 0;
}
