/* SPDX-License-Identifier: MIT */
/* file.h: whole-file helpers for kernels, initrds and small text files. */
#ifndef DOMUS_FILE_H
#define DOMUS_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct err;

struct mapped_file {
	void *data;
	size_t len;
	int fd;		/* kept open for copies with sendfile(2) */
};

/* file_map: map (path) read-only and private. Errors name the path and say
 * what is wrong (missing, a directory, empty, unreadable). (what) names the
 * file's role in messages, e.g. "kernel". */
int file_map(const char *path, const char *what, struct mapped_file *out, struct err *err);
void file_unmap(struct mapped_file *f);

/* file_mkdir_p: mkdir -p (path) with (mode) for the directories it makes.
 * Returns 0 or -errno; (*made), if not NULL, says whether the last
 * component was made here (false: it existed). */
int file_mkdir_p(const char *path, mode_t mode, bool *made);

/* fd_write_all / fd_read_all: all (len) bytes, through short writes/reads
 * and EINTR. Returns 0, -errno, or -EIO when the other end is gone (a write
 * of 0, or end of file before len bytes). */
int fd_write_all(int fd, const void *buf, size_t len);
int fd_read_all(int fd, void *buf, size_t len);

#endif
