/* SPDX-License-Identifier: MIT */
/* terminal.c: the container's pty, passing its master with SCM_RIGHTS (to
 * a --console-socket or back to the runtime), and the foreground proxy. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "common/err.h"
#include "state.h"
#include "ctr.h"

int terminal_open(int *master, int *slave, unsigned short rows, unsigned short cols,
		  struct err *err)
{
	char name[64];
	int m, s, unlock = 0;

	m = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (m < 0)
		return err_setsys(err, errno, "open /dev/ptmx");
	if (ioctl(m, TIOCSPTLCK, &unlock) < 0 || ptsname_r(m, name, sizeof(name)) != 0) {
		int e = errno;
		close(m);
		return err_setsys(err, e, "pty");
	}
	s = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (s < 0) {
		int e = errno;
		close(m);
		return err_setsys(err, e, "open %s", name);
	}
	if (rows && cols) {
		struct winsize ws = { .ws_row = rows, .ws_col = cols };
		ioctl(s, TIOCSWINSZ, &ws);
	}
	*master = m;
	*slave = s;
	return 0;
}

int send_fd(int sock, int fd, const void *data, size_t len)
{
	char ctl[CMSG_SPACE(sizeof(int))];
	char dummy = 0;
	struct iovec iov = { .iov_base = len ? (void *)data : &dummy, .iov_len = len ? len : 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;

	memset(ctl, 0, sizeof(ctl));
	if (fd >= 0) {
		mh.msg_control = ctl;
		mh.msg_controllen = sizeof(ctl);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	while (sendmsg(sock, &mh, MSG_NOSIGNAL) < 0)
		if (errno != EINTR)
			return -errno;
	return 0;
}

int recv_fd(int sock, int *fd, void *data, size_t len)
{
	char ctl[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = data, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl,
			     .msg_controllen = sizeof(ctl) };
	struct cmsghdr *c;
	ssize_t n;

	*fd = -1;
	while ((n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC)) < 0)
		if (errno != EINTR)
			return -errno;
	for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
			memcpy(fd, CMSG_DATA(c), sizeof(int));
	return (int)n;
}

int console_socket_send(const char *path, int master, struct err *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int s, r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return err_set(err, ENAMETOOLONG, "console socket path too long: %s", path);
	strcpy(sa.sun_path, path);
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return err_setsys(err, errno, "console socket");
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		close(s);
		return err_setsys(err, e, "console socket %s", path);
	}
	r = send_fd(s, master, "/dev/pts/0", 10);
	close(s);
	if (r < 0)
		return err_setsys(err, -r, "sending the pty to %s", path);
	return 0;
}

static int copy_some(int from, int to)
{
	char buf[8192];
	ssize_t n = read(from, buf, sizeof(buf));

	if (n <= 0)
		return -1;
	for (ssize_t off = 0; off < n;) {
		ssize_t w = write(to, buf + off, (size_t)(n - off));
		if (w < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -1;
		}
		off += w;
	}
	return 0;
}

void terminal_proxy(int master, int pidfd)
{
	struct termios saved, raw;
	bool tty = tcgetattr(STDIN_FILENO, &saved) == 0;
	bool in_open = true;

	if (tty) {
		struct winsize ws;
		raw = saved;
		cfmakeraw(&raw);
		tcsetattr(STDIN_FILENO, TCSANOW, &raw);
		if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0)
			ioctl(master, TIOCSWINSZ, &ws);
	}
	for (;;) {
		struct pollfd p[3] = {
			{ .fd = in_open ? STDIN_FILENO : -1, .events = POLLIN },
			{ .fd = master, .events = POLLIN },
			{ .fd = pidfd, .events = POLLIN },
		};
		if (poll(p, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents & POLLIN) {
			if (copy_some(master, STDOUT_FILENO) < 0)
				break;
			continue;
		}
		if (p[1].revents & (POLLHUP | POLLERR))
			break;
		if (p[0].revents & (POLLIN | POLLHUP)) {
			if (copy_some(STDIN_FILENO, master) < 0) {
				/* end of input: pass an EOF to the pty's line discipline */
				in_open = false;
				if (write(master, "\x04", 1) < 0)
					break;
			}
		}
		if (p[2].revents & POLLIN) {
			/* drain what the process wrote before it ended */
			int fl = fcntl(master, F_GETFL);
			fcntl(master, F_SETFL, fl | O_NONBLOCK);
			while (copy_some(master, STDOUT_FILENO) == 0)
				;
			break;
		}
	}
	if (tty)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved);
}
