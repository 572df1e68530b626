/* SPDX-License-Identifier: MIT */
/* hooks.c: OCI hooks: each runs with the container's state on its standard
 * input, must exit 0, and is killed when it outlives its timeout. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/err.h"
#include "state.h"
#include "ctr.h"

static int run_one(const struct oci_hook *h, const char *kind, size_t idx, const char *state,
		   struct err *err)
{
	int in[2], status, pidfd;
	pid_t pid;

	if (pipe2(in, O_CLOEXEC) < 0)
		return err_setsys(err, errno, "hook: pipe");
	pid = fork();
	if (pid < 0) {
		close(in[0]);
		close(in[1]);
		return err_setsys(err, errno, "hook: fork");
	}
	if (pid == 0) {
		char *const def_args[] = { h->path, NULL };
		char *const empty_env[] = { NULL };
		dup2(in[0], STDIN_FILENO);
		/* a hook's output must not mix with what our caller reads from us */
		dup2(STDERR_FILENO, STDOUT_FILENO);
		execve(h->path, h->args ? h->args : def_args, h->env ? h->env : empty_env);
		_exit(127);
	}
	close(in[0]);
	signal(SIGPIPE, SIG_IGN);
	if (write(in[1], state, strlen(state)) < 0) {
		/* a hook that does not read its input is fine */
	}
	close(in[1]);
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (h->timeout > 0 && pidfd >= 0) {
		struct pollfd pfd = { .fd = pidfd, .events = POLLIN };
		if (poll(&pfd, 1, h->timeout * 1000) == 0) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			close(pidfd);
			return err_set(err, ETIMEDOUT, "%s hook %zu (%s) timed out after %d s",
				       kind, idx, h->path, h->timeout);
		}
	}
	if (pidfd >= 0)
		close(pidfd);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return err_setsys(err, errno, "hook: waitpid");
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status))
		return err_set(err, EIO, "%s hook %zu (%s) failed with status %d", kind, idx,
			       h->path, WEXITSTATUS(status));
	return err_set(err, EIO, "%s hook %zu (%s) killed by signal %d", kind, idx, h->path,
		       WTERMSIG(status));
}

int hooks_run(const struct oci_hooks *hooks, const char *kind, const char *state_json,
	      struct err *err)
{
	int r;

	for (size_t i = 0; i < hooks->n; i++)
		if ((r = run_one(&hooks->list[i], kind, i, state_json, err)))
			return r;
	return 0;
}
