/* SPDX-License-Identifier: MIT */
/* xlcfg.c: a hand-written scanner and recursive-descent parser for xl.cfg
 * syntax (xlcfg.h). Positions are tracked per byte so every error can say
 * file:line:col, which is what a person editing the file needs. */
#include "xlcfg.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"

/* Bounds that keep a hostile file from costing much. */
#define XL_STRING_MAX	4096
#define XL_ITEMS_MAX	256
#define XL_ENTRIES_MAX	1024

struct scan {
	const char *p, *end;
	const char *file;
	unsigned line, col;
	struct err *err;
};

static struct xlpos here(const struct scan *s)
{
	return (struct xlpos){ s->line, s->col };
}

static int fail_at(struct scan *s, struct xlpos at, const char *fmt, const char *what)
{
	return err_set(s->err, EINVAL, "%s:%u:%u: %s%s", s->file, at.line, at.col, fmt, what);
}

static int peek(const struct scan *s)
{
	return s->p < s->end ? (unsigned char)*s->p : -1;
}

static void advance(struct scan *s)
{
	if (s->p >= s->end)
		return;
	if (*s->p == '\n') {
		s->line++;
		s->col = 1;
	} else {
		s->col++;
	}
	s->p++;
}

/* Skip blanks and comments; with (newlines), line ends too. */
static void skip(struct scan *s, bool newlines)
{
	for (;;) {
		int c = peek(s);
		if (c == ' ' || c == '\t' || c == '\r' || (newlines && c == '\n')) {
			advance(s);
		} else if (c == '#') {
			while (peek(s) != -1 && peek(s) != '\n')
				advance(s);
		} else {
			return;
		}
	}
}

static char *dup_n(const char *p, size_t n)
{
	char *d = malloc(n + 1);

	if (d) {
		memcpy(d, p, n);
		d[n] = '\0';
	}
	return d;
}

static int parse_string(struct scan *s, struct xlscalar *out)
{
	struct xlpos start = here(s);
	int quote = peek(s);
	char *buf = malloc(XL_STRING_MAX + 1);
	size_t n = 0;

	if (buf == NULL)
		return err_set(s->err, ENOMEM, "out of memory");
	advance(s);
	for (;;) {
		int c = peek(s);
		if (c == -1 || c == '\n') {
			free(buf);
			return fail_at(s, start, "unterminated string", "");
		}
		if (c == '\0') {
			free(buf);
			return fail_at(s, here(s), "NUL byte in a string", "");
		}
		advance(s);
		if (c == quote)
			break;
		if (c == '\\') {
			struct xlpos at = here(s);
			int e = peek(s);
			switch (e) {
			case 'n': c = '\n'; break;
			case 't': c = '\t'; break;
			case '\\': c = '\\'; break;
			case '"': c = '"'; break;
			case '\'': c = '\''; break;
			default:
				free(buf);
				return fail_at(s, at, "unknown escape in a string ",
					       "(expected \\\" \\' \\\\ \\n or \\t)");
			}
			advance(s);
		}
		if (n == XL_STRING_MAX) {
			free(buf);
			return fail_at(s, start, "string too long", "");
		}
		buf[n++] = (char)c;
	}
	buf[n] = '\0';
	out->type = XLVAL_STRING;
	out->str = buf;
	out->pos = start;
	return 0;
}

static int parse_number(struct scan *s, struct xlscalar *out)
{
	struct xlpos start = here(s);
	const char *b = s->p;
	uint64_t v = 0;
	unsigned base = 10;

	if (peek(s) == '0' && s->p + 1 < s->end && (s->p[1] == 'x' || s->p[1] == 'X')) {
		base = 16;
		advance(s);
		advance(s);
	}
	const char *digits = s->p;
	while (peek(s) != -1 && isalnum(peek(s))) {
		int c = peek(s), d;
		if (isdigit(c))
			d = c - '0';
		else if (base == 16 && isxdigit(c))
			d = tolower(c) - 'a' + 10;
		else
			return fail_at(s, start, "malformed number ",
				       base == 16 ? "(expected hex digits after 0x)" :
						    "(expected digits only; sizes are in MiB)");
		if (v > (UINT64_MAX - (uint64_t)d) / base)
			return fail_at(s, start, "number too large", "");
		v = v * base + (uint64_t)d;
		advance(s);
	}
	if (s->p == digits)
		return fail_at(s, start, "malformed number ", "(expected hex digits after 0x)");
	out->type = XLVAL_NUMBER;
	out->str = dup_n(b, (size_t)(s->p - b));
	if (out->str == NULL)
		return err_set(s->err, ENOMEM, "out of memory");
	out->num = v;
	out->pos = start;
	return 0;
}

static int parse_scalar(struct scan *s, struct xlscalar *out, const char *expected)
{
	int c = peek(s);

	if (c == '"' || c == '\'')
		return parse_string(s, out);
	if (c != -1 && isdigit(c))
		return parse_number(s, out);
	if (c == -1 || c == '\n')
		return fail_at(s, here(s), "missing value ", expected);
	return fail_at(s, here(s), "unexpected character ", expected);
}

static void scalar_free(struct xlscalar *v)
{
	free(v->str);
	v->str = NULL;
}

static void entry_free(struct xlentry *e)
{
	free(e->key);
	scalar_free(&e->val);
	for (size_t i = 0; i < e->nr_items; i++)
		scalar_free(&e->items[i]);
	free(e->items);
	memset(e, 0, sizeof(*e));
}

static int parse_list(struct scan *s, struct xlentry *e)
{
	struct xlpos start = here(s);

	advance(s);	/* [ */
	e->type = XLVAL_LIST;
	for (;;) {
		skip(s, true);
		if (peek(s) == ']') {
			advance(s);
			return 0;
		}
		if (peek(s) == -1)
			return fail_at(s, start, "list not closed ", "(expected ']')");
		if (e->nr_items == XL_ITEMS_MAX)
			return fail_at(s, here(s), "too many list items", "");
		struct xlscalar *n = realloc(e->items, (e->nr_items + 1) * sizeof(*n));
		if (n == NULL)
			return err_set(s->err, ENOMEM, "out of memory");
		e->items = n;
		memset(&e->items[e->nr_items], 0, sizeof(*n));
		int r = parse_scalar(s, &e->items[e->nr_items],
				     "(expected a string, a number or ']')");
		if (r < 0)
			return r;
		e->nr_items++;
		skip(s, true);
		if (peek(s) == ',') {
			advance(s);
			continue;
		}
		if (peek(s) == ']')
			continue;
		if (peek(s) == -1)
			return fail_at(s, start, "list not closed ", "(expected ']')");
		return fail_at(s, here(s), "unexpected character in a list ", "(expected ',' or ']')");
	}
}

static struct xlentry *find(struct xlcfg *cfg, const char *key)
{
	for (size_t i = 0; i < cfg->nr; i++)
		if (strcmp(cfg->entries[i].key, key) == 0)
			return &cfg->entries[i];
	return NULL;
}

const struct xlentry *xlcfg_get(const struct xlcfg *cfg, const char *key)
{
	return find((struct xlcfg *)cfg, key);
}

/* Put (e) in (cfg): new, replacing, or (append) to an earlier list. */
static int store(struct scan *s, struct xlcfg *cfg, struct xlentry *e, bool append)
{
	struct xlentry *old = find(cfg, e->key);

	if (append) {
		if (e->type != XLVAL_LIST)
			return fail_at(s, e->pos, "'+=' needs a list ", "(expected '[')");
		if (old && old->type != XLVAL_LIST)
			return fail_at(s, e->key_pos, "'+=' to a key that is not a list", "");
		if (old && e->nr_items == 0) {
			entry_free(e);	/* "+= [ ]": nothing to add (found by fuzz_xlcfg) */
			return 0;
		}
		if (old) {
			if (old->nr_items + e->nr_items > XL_ITEMS_MAX)
				return fail_at(s, e->pos, "too many list items", "");
			struct xlscalar *n = realloc(old->items,
						     (old->nr_items + e->nr_items) * sizeof(*n));
			if (n == NULL)
				return err_set(s->err, ENOMEM, "out of memory");
			old->items = n;
			memcpy(&n[old->nr_items], e->items, e->nr_items * sizeof(*n));
			old->nr_items += e->nr_items;
			free(e->items);
			e->items = NULL;
			e->nr_items = 0;
			entry_free(e);
			return 0;
		}
	}
	if (old) {
		entry_free(old);
		*old = *e;
		return 0;
	}
	if (cfg->nr == XL_ENTRIES_MAX)
		return fail_at(s, e->key_pos, "too many settings", "");
	struct xlentry *n = realloc(cfg->entries, (cfg->nr + 1) * sizeof(*n));
	if (n == NULL)
		return err_set(s->err, ENOMEM, "out of memory");
	cfg->entries = n;
	cfg->entries[cfg->nr++] = *e;
	return 0;
}

static int parse_statement(struct scan *s, struct xlcfg *cfg)
{
	struct xlentry e = { 0 };
	const char *kb = s->p;
	bool append = false;
	int r;

	e.key_pos = here(s);
	if (!isalpha(peek(s)) && peek(s) != '_')
		return fail_at(s, here(s), "unexpected character ", "(expected a setting: KEY = VALUE)");
	while (peek(s) != -1 && (isalnum(peek(s)) || peek(s) == '_' || peek(s) == '.'))
		advance(s);
	e.key = dup_n(kb, (size_t)(s->p - kb));
	if (e.key == NULL)
		return err_set(s->err, ENOMEM, "out of memory");
	skip(s, false);
	if (peek(s) == '+' && s->p + 1 < s->end && s->p[1] == '=') {
		append = true;
		advance(s);
	}
	if (peek(s) != '=') {
		r = fail_at(s, here(s), "expected '=' after ", e.key);
		goto err;
	}
	advance(s);
	skip(s, false);
	e.pos = here(s);
	if (peek(s) == '[') {
		r = parse_list(s, &e);
	} else {
		r = parse_scalar(s, &e.val, "(expected a \"string\", a number or a [list])");
		e.type = e.val.type;
	}
	if (r < 0)
		goto err;
	skip(s, false);
	if (peek(s) == ';') {
		advance(s);
	} else if (peek(s) != '\n' && peek(s) != -1) {
		r = fail_at(s, here(s), "unexpected text after the value ",
			    "(expected the end of the line or ';')");
		goto err;
	}
	r = store(s, cfg, &e, append);
	if (r < 0)
		goto err;
	return 0;
err:
	entry_free(&e);
	return r;
}

int xlcfg_parse(const char *text, size_t len, const char *file, struct xlcfg *out,
		struct err *err)
{
	struct scan s = { .p = text, .end = text + len, .file = file ? file : "<config>",
			  .line = 1, .col = 1, .err = err };
	int r;

	memset(out, 0, sizeof(*out));
	out->file = s.file;
	for (;;) {
		skip(&s, true);
		while (peek(&s) == ';') {
			advance(&s);
			skip(&s, true);
		}
		if (peek(&s) == -1)
			return 0;
		r = parse_statement(&s, out);
		if (r < 0) {
			xlcfg_free(out);
			return r;
		}
	}
}

void xlcfg_free(struct xlcfg *cfg)
{
	for (size_t i = 0; i < cfg->nr; i++)
		entry_free(&cfg->entries[i]);
	free(cfg->entries);
	cfg->entries = NULL;
	cfg->nr = 0;
}

int xlcfg_quote(const char *s, char *out, size_t size)
{
	size_t n = 0;

	if (size < 3)
		return 0;
	out[n++] = '"';
	for (; *s; s++) {
		const char *esc = NULL;
		if (*s == '"')
			esc = "\\\"";
		else if (*s == '\\')
			esc = "\\\\";
		else if (*s == '\n')
			esc = "\\n";
		else if (*s == '\t')
			esc = "\\t";
		size_t k = esc ? 2 : 1;
		if (n + k + 2 > size)
			return 0;
		if (esc) {
			memcpy(out + n, esc, 2);
		} else {
			out[n] = *s;
		}
		n += k;
	}
	out[n++] = '"';
	out[n] = '\0';
	return 1;
}
