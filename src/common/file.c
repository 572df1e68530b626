/* SPDX-License-Identifier: MIT */
/* file.c: mapping whole files with user-facing errors. */
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"

int file_map(const char *path, const char *what, struct mapped_file *out, struct err *err)
{
	struct stat st;
	int fd, r = 0;

	out->data = NULL;
	out->len = 0;
	out->fd = -1;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_setsys(err, errno, "%s %s", what, path);
	if (fstat(fd, &st) < 0) {
		r = err_setsys(err, errno, "%s %s", what, path);
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		r = err_set(err, EISDIR, "%s %s: is a directory", what, path);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = err_set(err, EINVAL, "%s %s: not a regular file", what, path);
		goto out;
	}
	if (st.st_size == 0) {
		r = err_set(err, EINVAL, "%s %s: file is empty", what, path);
		goto out;
	}
	out->data = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (out->data == MAP_FAILED) {
		out->data = NULL;
		r = err_setsys(err, errno, "%s %s: mmap", what, path);
		goto out;
	}
	out->len = (size_t)st.st_size;
	out->fd = fd;
	return 0;
out:
	close(fd);
	return r;
}

void file_unmap(struct mapped_file *f)
{
	if (f->data)
		munmap(f->data, f->len);
	if (f->fd >= 0)
		close(f->fd);
	f->data = NULL;
	f->len = 0;
	f->fd = -1;
}

int file_mkdir_p(const char *path, mode_t mode, bool *made)
{
	char buf[PATH_MAX];
	size_t n = strlen(path);

	if (made)
		*made = false;
	if (n >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, n + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, mode) < 0)
		return errno == EEXIST ? 0 : -errno;
	if (made)
		*made = true;
	return 0;
}

int fd_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int fd_read_all(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len > 0) {
		ssize_t n = read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}
