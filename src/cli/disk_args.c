/* SPDX-License-Identifier: MIT */
/* disk_args.c: parsing of --disk PATH[,option...]. */
#include "disk_args.h"

#include <errno.h>
#include <string.h>

#include "common/err.h"
#include "common/parse.h"

#define DISK_OPTIONS "readonly, direct, size=SIZE, serial=ID, shared"

/* Copy the path up to the first single comma, turning ",," into ",". Returns a pointer to
 * that comma or to the terminating NUL, or NULL if the path does not fit. */
static const char *take_path(const char *s, char *path, size_t size)
{
	size_t n = 0;

	for (;;) {
		if (*s == ',' && s[1] == ',')
			s++;
		else if (*s == ',' || *s == '\0')
			break;
		if (n + 1 >= size)
			return NULL;
		path[n++] = *s++;
	}
	path[n] = '\0';
	return s;
}

static int set_size(const char *spec, const char *val, struct disk_opts *out, struct err *err)
{
	uint64_t v;
	int r = parse_size(val, 1, &v);

	if (r == -ERANGE || (r == 0 && v > (uint64_t)INT64_MAX))
		return err_set(err, EINVAL, "--disk '%s': size '%s' is too large", spec, val);
	if (r < 0)
		return err_set(err, EINVAL,
			       "--disk '%s': size '%s': expected a size such as 10G or 512M", spec,
			       val);
	if (v == 0)
		return err_set(err, EINVAL, "--disk '%s': size must not be 0", spec);
	if (v % DISK_SECTOR != 0)
		return err_set(err, EINVAL, "--disk '%s': size '%s' is not a multiple of %d bytes",
			       spec, val, DISK_SECTOR);
	out->size = v;
	out->size_given = true;
	return 0;
}

static int set_serial(const char *spec, const char *val, size_t len, struct disk_opts *out,
		      struct err *err)
{
	if (len > DISK_SERIAL_MAX)
		return err_set(err, EINVAL,
			       "--disk '%s': serial '%.*s' is longer than %d characters", spec,
			       (int)len, val, DISK_SERIAL_MAX);
	/* The guest shows it in /sys/block/vdX/serial and by-id links: keep it printable and
	 * free of separators. */
	for (size_t i = 0; i < len; i++)
		if (val[i] <= ' ' || val[i] > '~')
			return err_set(err, EINVAL, "--disk '%s': serial '%.*s': only "
				       "printable ASCII characters without spaces are allowed",
				       spec, (int)len, val);
	memcpy(out->serial, val, len);
	out->serial[len] = '\0';
	return 0;
}

/* One option, (opt) of length (len), not NUL-terminated (it ends at a comma). */
static int set_option(const char *spec, const char *opt, size_t len, unsigned *seen,
		      struct disk_opts *out, struct err *err)
{
	static const char *const names[] = { "readonly", "direct", "size", "serial", "shared" };
	const char *eq = memchr(opt, '=', len);
	size_t name_len = eq ? (size_t)(eq - opt) : len;
	const char *val = eq ? eq + 1 : NULL;
	size_t val_len = eq ? len - name_len - 1 : 0;
	char buf[64];
	size_t k;

	if (len == 0)
		return err_set(err, EINVAL, "--disk '%s': empty option (a stray comma?)", spec);
	for (k = 0; k < ARRAY_SIZE(names); k++)
		if (strlen(names[k]) == name_len && strncmp(names[k], opt, name_len) == 0)
			break;
	if (k == ARRAY_SIZE(names))
		return err_set(err, EINVAL, "--disk '%s': unknown option '%.*s' (expected "
			       DISK_OPTIONS ")", spec, (int)len, opt);
	if (*seen & (1u << k))
		return err_set(err, EINVAL, "--disk '%s': option '%s' given twice", spec,
			       names[k]);
	*seen |= 1u << k;

	switch (k) {
	case 0:
	case 1:
		if (eq)
			return err_set(err, EINVAL, "--disk '%s': option '%s' takes no value", spec,
				       names[k]);
		if (k == 0)
			out->readonly = true;
		else
			out->direct = true;
		return 0;
	case 4:
		if (eq)
			return err_set(err, EINVAL, "--disk '%s': option 'shared' takes no value", spec);
		out->shared = true;
		return 0;
	case 2:
		if (!eq || val_len == 0)
			return err_set(err, EINVAL, "--disk '%s': size needs a value (size=10G)",
				       spec);
		if (val_len >= sizeof(buf))
			return err_set(err, EINVAL, "--disk '%s': size '%.*s': expected a size "
				       "such as 10G or 512M", spec, (int)val_len, val);
		memcpy(buf, val, val_len);
		buf[val_len] = '\0';
		return set_size(spec, buf, out, err);
	default:
		if (!eq || val_len == 0)
			return err_set(err, EINVAL, "--disk '%s': serial needs a value (serial=ID)",
				       spec);
		return set_serial(spec, val, val_len, out, err);
	}
}

int disk_args_parse(const char *spec, struct disk_opts *out, struct err *err)
{
	unsigned seen = 0;
	const char *s;

	memset(out, 0, sizeof(*out));
	if (spec == NULL || *spec == '\0')
		return err_set(err, EINVAL, "--disk: empty value (expected PATH[,option...])");
	s = take_path(spec, out->path, sizeof(out->path));
	if (s == NULL)
		return err_set(err, EINVAL, "--disk: path longer than %d bytes", DISK_PATH_MAX - 1);
	if (out->path[0] == '\0')
		return err_set(err, EINVAL, "--disk '%s': empty path", spec);
	while (*s == ',') {
		const char *opt = s + 1;
		const char *end = strchr(opt, ',');
		size_t len = end ? (size_t)(end - opt) : strlen(opt);
		int r = set_option(spec, opt, len, &seen, out, err);

		if (r < 0)
			return r;
		s = opt + len;
	}
	return 0;
}
