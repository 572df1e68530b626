/* SPDX-License-Identifier: MIT */
/* xlcfg.h: the syntax of Xen's xl.cfg files, as a pure function (text in,
 * entries out; no I/O), so the fuzzer and the unit tests reach all of it:
 *
 *   # a comment, to the end of the line
 *   name = "chef"                 strings in "..." or '...' (\" \\ \n \t escapes)
 *   memory = 1024                 numbers: decimal or 0x hex
 *   disk = [ "file:/vm/a.img,xvda,w",
 *            "phy:/dev/vg/b,xvdb,r", ]    lists, over several lines, trailing comma ok
 *   vif += [ "bridge=br0" ]       += appends to a list
 *   a = 1; b = 2                  ';' separates statements like a newline
 *
 * What the keys mean is domcfg.h's business. */
#ifndef DOMUS_XLCFG_H
#define DOMUS_XLCFG_H

#include <stddef.h>
#include <stdint.h>

struct err;

struct xlpos {
	unsigned line, col;	/* 1-based */
};

enum xlval_type { XLVAL_STRING, XLVAL_NUMBER, XLVAL_LIST };

/* A scalar: a string, or a number with its text kept. */
struct xlscalar {
	enum xlval_type type;	/* XLVAL_STRING or XLVAL_NUMBER */
	char *str;		/* the string, or the number's text */
	uint64_t num;
	struct xlpos pos;
};

struct xlentry {
	char *key;
	struct xlpos key_pos;
	enum xlval_type type;
	struct xlscalar val;		/* STRING, NUMBER */
	struct xlscalar *items;		/* LIST */
	size_t nr_items;
	struct xlpos pos;		/* where the value starts */
};

struct xlcfg {
	const char *file;	/* for messages; not owned */
	struct xlentry *entries;
	size_t nr;
};

/* xlcfg_parse: parse (text, len) (need not be NUL-terminated); (file) names
 * it in messages. A key given twice keeps its last value (xl does the same);
 * "+=" appends to the list given before. Returns 0, or -EINVAL with (err) =
 * "FILE:LINE:COL: what was expected". (out) is empty after a failure. */
int xlcfg_parse(const char *text, size_t len, const char *file, struct xlcfg *out,
		struct err *err);
void xlcfg_free(struct xlcfg *cfg);

/* xlcfg_get: the entry for (key), or NULL. */
const struct xlentry *xlcfg_get(const struct xlcfg *cfg, const char *key);

/* xlcfg_quote: (s) as an xl.cfg string literal into (out, size) (quotes
 * and escapes added); false if it does not fit. */
int xlcfg_quote(const char *s, char *out, size_t size);

#endif
