/* SPDX-License-Identifier: MIT */
/* log.c: stderr logging. In raw terminal mode a bare "\n" would not return
 * the carriage, so every line ends with "\r\n" when stderr is a terminal. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

static enum log_level log_level = LOG_INFO;
/* per thread: the monitor's thread reads what it logged itself */
static _Thread_local char last_error[1024];

void log_set_level(enum log_level level)
{
	log_level = level;
}

enum log_level log_get_level(void)
{
	return log_level;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	if (level > log_level)
		return;
	n = snprintf(line, sizeof(line), "domus: %s", level == LOG_WARN ? "warning: " : "");
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	if (level == LOG_ERROR)
		snprintf(last_error, sizeof(last_error), "%s", line + 7);	/* without "domus: " */
	fprintf(stderr, "%s%s", line, isatty(STDERR_FILENO) ? "\r\n" : "\n");
}

const char *log_last_error(void)
{
	return last_error;
}
