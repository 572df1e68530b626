/* SPDX-License-Identifier: MIT */
/* parse.h: strict number and size parsing for flags and config values. */
#ifndef DOMUS_PARSE_H
#define DOMUS_PARSE_H

#include <stdint.h>

/* parse_u64: a decimal number with nothing after it; 0 or -EINVAL/-ERANGE. */
int parse_u64(const char *s, uint64_t *out);

/* parse_size: a number with an optional suffix K, M, G, T (powers of 1024,
 * optionally followed by "iB" or "B"); a bare number is in units of (unit)
 * bytes. Returns 0, -EINVAL (malformed) or -ERANGE (overflows 64 bits). */
int parse_size(const char *s, uint64_t unit, uint64_t *bytes);

#endif
