/* SPDX-License-Identifier: MIT */
/* console_attach.c: `domus console NAME`: this terminal on the domain's
 * console socket, raw, until Ctrl-] (virsh's escape) or the domain ends. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "common/file.h"
#include "common/log.h"
#include "domain/paths.h"
#include "domain/runtime.h"
#include "domain_cmds.h"
#include "engine/engine.h"

#define CTRL_RBRACKET	0x1d
#define BUSY_PREFIX	"domus: console busy"

int console_attach(const char *name)
{
	struct dom_paths p;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct termios saved, raw;
	bool tty = isatty(STDIN_FILENO);
	bool in_open = true, first = true;
	int fd, status = 0;

	if (dom_paths_get(&p, NULL) < 0 ||
	    domrt_file(&p, name, "console.sock", sa.sun_path, sizeof(sa.sun_path)) < 0) {
		log_error("console: run directory path too long");
		return VM_EXIT_ERROR;
	}
	if (!domrt_active(&p, name)) {
		log_error("domain '%s' is not running", name);
		return VM_EXIT_ERROR;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		log_error("domain '%s' has no console to attach to: %s", name, strerror(errno));
		if (fd >= 0)
			close(fd);
		return VM_EXIT_ERROR;
	}
	printf("Connected to domain '%s'\nEscape character is ^] (Ctrl + ])\n", name);
	fflush(stdout);
	if (tty && tcgetattr(STDIN_FILENO, &saved) == 0) {
		raw = saved;
		cfmakeraw(&raw);
		raw.c_oflag |= OPOST;	/* our own messages stay readable */
		tcsetattr(STDIN_FILENO, TCSANOW, &raw);
	} else {
		tty = false;
	}
	for (;;) {
		struct pollfd pf[2] = { { .fd = fd, .events = POLLIN },
					{ .fd = STDIN_FILENO, .events = in_open ? POLLIN : 0 } };
		char buf[4096];
		ssize_t n;

		if (poll(pf, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pf[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			n = read(fd, buf, sizeof(buf));
			if (n <= 0)
				break;	/* the domain ended */
			/* one client at a time: sockchar turns others away with
			 * one line (console/sockchar.c) */
			if (first && (size_t)n >= sizeof(BUSY_PREFIX) - 1 &&
			    memcmp(buf, BUSY_PREFIX, sizeof(BUSY_PREFIX) - 1) == 0) {
				if (tty)
					tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
				close(fd);
				log_error("domain '%s': console busy: another client is attached", name);
				return VM_EXIT_ERROR;
			}
			first = false;
			if (fd_write_all(STDOUT_FILENO, buf, (size_t)n) < 0)
				break;
		}
		if (pf[1].revents & (POLLIN | POLLHUP)) {
			n = read(STDIN_FILENO, buf, sizeof(buf));
			if (n <= 0) {
				/* end of input: keep showing output until the domain ends */
				in_open = false;
				continue;
			}
			char *esc = memchr(buf, CTRL_RBRACKET, (size_t)n);
			size_t keep = esc ? (size_t)(esc - buf) : (size_t)n;
			if (keep && fd_write_all(fd, buf, keep) < 0)
				break;
			if (esc)
				break;	/* detach; the domain keeps running */
		}
	}
	if (tty)
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
	close(fd);
	printf("\n");
	return status;
}

int cmd_console(int argc, char **argv)
{
	if (argc != 2 || argv[1][0] == '-') {
		log_error("usage: domus console DOMAIN");
		return VM_EXIT_USAGE;
	}
	return console_attach(argv[1]);
}
