/* SPDX-License-Identifier: MIT */
/* err.c: recording one-line errors for the user. */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

__attribute__((format(printf, 4, 0)))
static int err_vset(struct err *e, int code, int with_errno, const char *fmt, va_list ap)
{
	if (code < 0)
		code = -code;
	if (e == NULL || e->code != 0)
		return -code;
	e->code = code ? code : 1;
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	if (with_errno) {
		size_t n = strlen(e->msg);
		snprintf(e->msg + n, sizeof(e->msg) - n, ": %s", strerror(code));
	}
	return -e->code;
}

int err_set(struct err *e, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = err_vset(e, code, 0, fmt, ap);
	va_end(ap);
	return r;
}

int err_setsys(struct err *e, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = err_vset(e, code, 1, fmt, ap);
	va_end(ap);
	return r;
}
