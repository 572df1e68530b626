/* SPDX-License-Identifier: MIT */
/* parse.c: strict number and size parsing (no strtoul surprises: no sign, no
 * leading space, no hex unless asked, no trailing junk). */
#include "parse.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "err.h"

static int parse_digits(const char **sp, uint64_t *out)
{
	const char *s = *sp;
	uint64_t v = 0;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	while (isdigit((unsigned char)*s)) {
		if (ckd_mul(&v, v, 10) || ckd_add(&v, v, (uint64_t)(*s - '0')))
			return -ERANGE;
		s++;
	}
	*sp = s;
	*out = v;
	return 0;
}

int parse_u64(const char *s, uint64_t *out)
{
	uint64_t v;
	int r;

	if (s == NULL)
		return -EINVAL;
	r = parse_digits(&s, &v);
	if (r < 0)
		return r;
	if (*s != '\0')
		return -EINVAL;
	*out = v;
	return 0;
}

int parse_size(const char *s, uint64_t unit, uint64_t *bytes)
{
	uint64_t v, mult = unit;
	int r;

	if (s == NULL)
		return -EINVAL;
	r = parse_digits(&s, &v);
	if (r < 0)
		return r;
	if (*s != '\0') {
		switch (toupper((unsigned char)*s)) {
		case 'K': mult = 1ULL << 10; break;
		case 'M': mult = 1ULL << 20; break;
		case 'G': mult = 1ULL << 30; break;
		case 'T': mult = 1ULL << 40; break;
		default: return -EINVAL;
		}
		s++;
		if (strcmp(s, "iB") == 0 || strcmp(s, "B") == 0 || strcmp(s, "") == 0)
			;
		else
			return -EINVAL;
	}
	if (ckd_mul(&v, v, mult))
		return -ERANGE;
	*bytes = v;
	return 0;
}
