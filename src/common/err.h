/* SPDX-License-Identifier: MIT */
/* err.h: the error contract. Functions whose failure reaches a user take a
 * struct err * and return a negative errno; the message is one line, without
 * the program name and without a trailing newline. Internal functions return
 * 0 or a negative errno and print nothing. */
#ifndef DOMUS_ERR_H
#define DOMUS_ERR_H

#include <stddef.h>
#include <stdint.h>

#define ERR_MSG_MAX 512

struct err {
	int code;		/* positive errno, 0 when no error was set */
	char msg[ERR_MSG_MAX];
};

/* err_set: record (code, message) in (e) if it is not NULL and returns -code.
 * A later call does not overwrite an earlier one: the first error is the cause. */
int err_set(struct err *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* err_setsys: like err_set, with ": strerror(code)" appended. */
int err_setsys(struct err *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Overflow-checked arithmetic: true when the result overflowed. */
#define ckd_add(r, a, b) __builtin_add_overflow((a), (b), (r))
#define ckd_mul(r, a, b) __builtin_mul_overflow((a), (b), (r))

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
