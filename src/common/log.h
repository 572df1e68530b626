/* SPDX-License-Identifier: MIT */
/* log.h: messages to stderr, prefixed "domus: ". Only the top of a program
 * (CLI, monitors) prints; library code returns errors instead. log_warnx is
 * rate-limited by the caller where a guest can trigger it. */
#ifndef DOMUS_LOG_H
#define DOMUS_LOG_H

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* log_set_level: messages above (level) are dropped. Default LOG_INFO. */
void log_set_level(enum log_level level);
enum log_level log_get_level(void);

/* log_last_error: the last error this thread logged ("" if none), to pass
 * on to a peer (a migration's source learns why the destination gave up). */
const char *log_last_error(void);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warnx(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
