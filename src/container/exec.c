/* SPDX-License-Identifier: MIT */
/* exec.c: another process in a running container: join the init's cgroup
 * and namespaces (those that differ from ours), fork once more for its pid
 * namespace, then the same last steps as the init (user, capabilities,
 * seccomp of the container). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup.h"
#include "common/err.h"
#include "state.h"
#include "container.h"
#include "ctr.h"

static const struct {
	const char *name;
	int type;
} exec_ns[] = {
	{ "user", CLONE_NEWUSER }, { "ipc", CLONE_NEWIPC }, { "uts", CLONE_NEWUTS },
	{ "net", CLONE_NEWNET }, { "pid", CLONE_NEWPID }, { "cgroup", CLONE_NEWCGROUP },
	{ "mnt", CLONE_NEWNS },
};

__attribute__((noreturn)) static void exec_fail(int sock, struct err *err)
{
	char buf[ERR_MSG_MAX + 1];

	buf[0] = 'E';
	memcpy(buf + 1, err->msg, strlen(err->msg) + 1);
	send(sock, buf, strlen(buf), MSG_NOSIGNAL);
	_exit(1);
}

/* the last steps, shared in spirit with the init's (container.c) */
static int exec_finish(const struct oci_process *p, const struct oci_seccomp *sc, int preserve,
		       struct err *err)
{
	extern char **environ;
	static char *empty_env[] = { NULL };
	int r;

	if ((r = caps_rlimits(p, err)))
		return r;
	if (sc && !p->no_new_privs && (r = seccomp_apply(sc, err)))
		return r;
	if ((r = caps_drop_bounding(p, err)) || (r = caps_apply_user(p, err)) ||
	    (r = caps_apply(p, err)))
		return r;
	if (p->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return err_setsys(err, errno, "no_new_privs");
	if (sc && p->no_new_privs && (r = seccomp_apply(sc, err)))
		return r;
	syscall(SYS_close_range, 3 + preserve, ~0U, 1U << 2 /* CLOSE_RANGE_CLOEXEC */);
	environ = p->env ? p->env : empty_env;
	return 0;
}

int ctr_exec(const char *root, const char *id, const struct ctr_exec_opts *o, struct err *err)
{
	struct ctr_state st;
	struct oci_spec *s = NULL;
	struct cgroup cg;
	char path[PATH_MAX], *text = NULL, msg[ERR_MSG_MAX + 8];
	int fds[ARRAY_SIZE(exec_ns)], sync[2] = { -1, -1 }, master = -1, r, status;
	enum ctr_status cs;
	pid_t c1, child = -1;
	size_t len;

	for (size_t i = 0; i < ARRAY_SIZE(fds); i++)
		fds[i] = -1;
	if ((r = state_read(root, id, &st, err)))
		return r;
	cs = state_status(&st);
	if (cs != CTR_RUNNING && cs != CTR_CREATED)
		return err_set(err, EINVAL, "container %s is %s, not running", id,
			       state_status_name(cs));
	if (o->process->terminal && !o->console_socket && o->detach)
		return err_set(err, EINVAL, "a detached terminal needs --console-socket");
	state_path(path, sizeof(path), root, id, "config.json");
	if ((r = read_file(path, &text, &len)) < 0)
		return err_setsys(err, -r, "%s", path);
	r = spec_parse(text, len, path, &s, err);
	free(text);
	if (r)
		return r;
	/* the namespaces of the init that differ from ours */
	for (size_t i = 0; i < ARRAY_SIZE(exec_ns); i++) {
		struct stat a, b;
		char self[64];
		xsnprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)st.pid, exec_ns[i].name);
		xsnprintf(self, sizeof(self), "/proc/self/ns/%s", exec_ns[i].name);
		if (stat(path, &a) < 0 || stat(self, &b) < 0 || a.st_ino == b.st_ino)
			continue;
		fds[i] = open(path, O_RDONLY | O_CLOEXEC);
		if (fds[i] < 0) {
			r = err_setsys(err, errno, "%s", path);
			goto out;
		}
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sync) < 0) {
		r = err_setsys(err, errno, "socketpair");
		goto out;
	}
	prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	c1 = fork();
	if (c1 < 0) {
		r = err_setsys(err, errno, "fork");
		goto out;
	}
	if (c1 == 0) {
		struct err cerr = { 0 };
		pid_t c2;

		close(sync[0]);
		prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
		if (st.cgroup[0] && cgroup_init(&cg, st.cgroup, &cerr) == 0)
			cg.ops->enter(&cg, getpid(), &cerr);
		if (cerr.code)
			exec_fail(sync[1], &cerr);
		for (size_t i = 0; i < ARRAY_SIZE(exec_ns); i++) {
			if (fds[i] >= 0 && setns(fds[i], exec_ns[i].type) < 0) {
				err_setsys(&cerr, errno, "joining the %s namespace",
					   exec_ns[i].name);
				exec_fail(sync[1], &cerr);
			}
		}
		c2 = fork();
		if (c2 < 0) {
			err_setsys(&cerr, errno, "fork");
			exec_fail(sync[1], &cerr);
		}
		if (c2 == 0) {
			const struct oci_process *p = o->process;
			int m, sl;
			prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0);
			setsid();
			if (p->terminal) {
				if (terminal_open(&m, &sl, p->console.rows, p->console.cols, &cerr))
					exec_fail(sync[1], &cerr);
				send_fd(sync[1], m, "T", 1);
				close(m);
				if (dup2(sl, 0) < 0 || dup2(sl, 1) < 0 || dup2(sl, 2) < 0 ||
				    ioctl(0, TIOCSCTTY, 0) < 0) {
					err_setsys(&cerr, errno, "pty");
					exec_fail(sync[1], &cerr);
				}
				if (sl > 2)
					close(sl);
			}
			if (chdir(p->cwd ? p->cwd : "/") < 0) {
				err_setsys(&cerr, errno, "cwd %s", p->cwd ? p->cwd : "/");
				exec_fail(sync[1], &cerr);
			}
			if (exec_finish(p, s->seccomp, o->preserve_fds, &cerr))
				exec_fail(sync[1], &cerr);
			execvp(p->args[0], p->args);
			err_setsys(&cerr, errno, "exec %s", p->args[0]);
			exec_fail(sync[1], &cerr);
		}
		msg[0] = 'P';
		memcpy(msg + 1, &c2, sizeof(c2));
		send(sync[1], msg, 1 + sizeof(c2), MSG_NOSIGNAL);
		_exit(0);
	}
	close(sync[1]);
	sync[1] = -1;
	for (;;) {
		int fd = -1, n = recv_fd(sync[0], &fd, msg, sizeof(msg) - 1);
		if (n <= 0)
			break;	/* every copy closed: the process exec'd */
		msg[n] = '\0';
		if (msg[0] == 'P' && n >= 1 + (int)sizeof(pid_t)) {
			memcpy(&child, msg + 1, sizeof(pid_t));
			waitpid(c1, NULL, 0);
		} else if (msg[0] == 'T' && fd >= 0) {
			master = fd;
			fd = -1;
		} else if (msg[0] == 'E') {
			r = err_set(err, EIO, "%s", msg + 1);
			if (child > 0)
				waitpid(child, NULL, 0);
			else
				waitpid(c1, NULL, 0);
			goto out;
		}
		if (fd >= 0)
			close(fd);
	}
	if (child <= 0) {
		waitpid(c1, NULL, 0);
		r = err_set(err, EIO, "exec in %s failed during set-up", id);
		goto out;
	}
	if (o->pid_file) {
		char v[24];
		xsnprintf(v, sizeof(v), "%d", (int)child);
		if ((r = write_file_atomic(o->pid_file, v, strlen(v), 0644)) < 0) {
			err_setsys(err, -r, "pid file %s", o->pid_file);
			goto out;
		}
	}
	if (master >= 0 && o->console_socket) {
		if ((r = console_socket_send(o->console_socket, master, err)))
			goto out;
		close(master);
		master = -1;
	}
	if (o->detach) {
		r = 0;
		goto out;
	}
	status = ctr_wait(child, master);
	r = status;
out:
	if (master >= 0)
		close(master);
	if (sync[0] >= 0)
		close(sync[0]);
	for (size_t i = 0; i < ARRAY_SIZE(fds); i++)
		if (fds[i] >= 0)
			close(fds[i]);
	spec_free(s);
	return r;
}
