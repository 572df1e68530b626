/* SPDX-License-Identifier: MIT */
/* container.c: the lifecycle. create forks twice, as a pid namespace
 * needs: stage 1 joins namespaces given by path, unshares the new ones
 * (the runtime writes its id maps) and forks the init (stage 2), which
 * builds the root file system and then blocks on the start socket in the
 * state directory until `start` connects. Messages between the runtime and
 * the stages go over a SOCK_SEQPACKET pair, one byte of type first. */
#include "container.h"

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
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"
#include "common/err.h"
#include "state.h"
#include "ctr.h"

enum {
	MSG_GO = 'G',		/* runtime → stage 1: you are in the cgroup */
	MSG_USERNS = 'U',	/* stage 1 → runtime: write my id maps */
	MSG_MAPPED = 'M',	/* runtime → stage 1: done */
	MSG_PID = 'P',		/* stage 1 → runtime: the init's pid */
	MSG_TTY = 'T',		/* init → runtime: the pty master (SCM_RIGHTS) */
	MSG_READY = 'R',	/* init → runtime: set up, waiting for start */
	MSG_ERROR = 'E',	/* any stage: one-line error follows */
};

#define MSG_MAX 600

static const int ns_order[] = { CLONE_NEWUSER, CLONE_NEWIPC, CLONE_NEWUTS, CLONE_NEWNET,
				CLONE_NEWPID, CLONE_NEWCGROUP, CLONE_NEWTIME, CLONE_NEWNS };

static int send_msg(int sock, char type, const void *data, size_t len)
{
	char buf[MSG_MAX];

	if (len > sizeof(buf) - 1)
		len = sizeof(buf) - 1;
	buf[0] = type;
	if (len)
		memcpy(buf + 1, data, len);
	while (send(sock, buf, len + 1, MSG_NOSIGNAL) < 0)
		if (errno != EINTR)
			return -errno;
	return 0;
}

/* in a child: report (err) and end */
__attribute__((noreturn)) static void child_fail(int sock, struct err *err)
{
	send_msg(sock, MSG_ERROR, err->msg, strlen(err->msg));
	_exit(1);
}

static int recv_msg(int sock, char *buf, size_t size, int *fd)
{
	int n;

	if (fd)
		n = recv_fd(sock, fd, buf, size - 1);
	else
		while ((n = (int)recv(sock, buf, size - 1, 0)) < 0 && errno == EINTR)
			;
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return n;
}

static void now_rfc3339(char *out, size_t size)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	xsnprintf(out, size, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec);
}

static int write_pid_file(const char *path, pid_t pid, struct err *err)
{
	char v[24];
	int r;

	xsnprintf(v, sizeof(v), "%d", (int)pid);
	if ((r = write_file_atomic(path, v, strlen(v), 0644)) < 0)
		return err_setsys(err, -r, "pid file %s", path);
	return 0;
}

static int write_idmap(pid_t pid, const char *file, const struct oci_idmap *m, size_t n,
		       struct err *err)
{
	char path[64], text[4096];
	size_t len = 0;
	int fd;

	for (size_t i = 0; i < n && len < sizeof(text) - 40; i++)
		len += (size_t)xsnprintf(text + len, sizeof(text) - len, "%u %u %u\n",
					m[i].container_id, m[i].host_id, m[i].size);
	xsnprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return err_setsys(err, errno, "%s", path);
	if (write(fd, text, len) != (ssize_t)len) {
		int e = errno;
		close(fd);
		return err_setsys(err, e, "writing %s", file);
	}
	close(fd);
	return 0;
}

/* ---- the container's init (stage 2) ---- */

struct init_ctx {
	const struct ctr_opts *o;
	const struct oci_spec *s;
	const char *rootfs;
	struct cgroup *cg;
	int sync;		/* to the runtime */
	int listen;		/* the start socket */
	bool userns;
};

static int set_oom_score(int adj, struct err *err)
{
	char v[16];
	int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);

	if (fd < 0)
		return err_setsys(err, errno, "oom_score_adj");
	xsnprintf(v, sizeof(v), "%d", adj);
	if (write(fd, v, strlen(v)) < 0) {
		int e = errno;
		close(fd);
		return err_setsys(err, e, "oom_score_adj %d", adj);
	}
	close(fd);
	return 0;
}

/* the last steps before exec, shared by init and exec: user, capabilities,
 * no_new_privs, seccomp, fds, environment */
static int finish_process(const struct oci_process *p, const struct oci_seccomp *sc,
			  int preserve_fds, struct err *err)
{
	extern char **environ;
	static char *empty_env[] = { NULL };
	int r;

	if ((r = caps_rlimits(p, err)))
		return r;
	if (p->has_oom_score_adj && (r = set_oom_score(p->oom_score_adj, err)))
		return r;
	/* without no_new_privs, loading seccomp needs CAP_SYS_ADMIN: load it
	 * while we still have it */
	if (sc && !p->no_new_privs && (r = seccomp_apply(sc, err)))
		return r;
	if ((r = caps_drop_bounding(p, err)) || (r = caps_apply_user(p, err)) ||
	    (r = caps_apply(p, err)))
		return r;
	if (p->has_umask)
		umask(p->umask);
	if (p->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return err_setsys(err, errno, "no_new_privs");
	if (sc && p->no_new_privs && (r = seccomp_apply(sc, err)))
		return r;
	/* our own descriptors are close-on-exec; the caller's beyond the preserved ones too */
	syscall(SYS_close_range, 3 + preserve_fds, ~0U, 1U << 2 /* CLOSE_RANGE_CLOEXEC */);
	environ = p->env ? p->env : empty_env;
	return 0;
}

static void exec_args(const struct oci_process *p, struct err *err)
{
	execvp(p->args[0], p->args);
	err_setsys(err, errno, "exec %s", p->args[0]);
}

__attribute__((noreturn)) static void init_main(struct init_ctx *c)
{
	const struct oci_spec *s = c->s;
	const struct oci_process *p = &s->process;
	struct err err = { 0 };
	int conn, master = -1, slave = -1;
	char go;

	if (setsid() < 0)
		err_setsys(&err, errno, "setsid");
	if (c->userns && (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0))
		err_setsys(&err, errno, "becoming root in the user namespace");
	if (err.code)
		child_fail(c->sync, &err);
	if (spec_ns(s, CLONE_NEWNS)) {
		if (mounts_setup(s, c->rootfs, c->cg, c->userns, &err))
			child_fail(c->sync, &err);
	} else if (chroot(c->rootfs) < 0 || chdir("/") < 0) {
		err_setsys(&err, errno, "chroot %s", c->rootfs);
		child_fail(c->sync, &err);
	}
	if (s->hostname && sethostname(s->hostname, strlen(s->hostname)) < 0) {
		err_setsys(&err, errno, "sethostname %s", s->hostname);
		child_fail(c->sync, &err);
	}
	if (p->terminal) {
		if (terminal_open(&master, &slave, p->console.rows, p->console.cols, &err))
			child_fail(c->sync, &err);
		if (send_fd(c->sync, master, "T", 1) < 0) {
			err_setsys(&err, errno, "sending the pty");
			child_fail(c->sync, &err);
		}
		close(master);
		if (dup2(slave, 0) < 0 || dup2(slave, 1) < 0 || dup2(slave, 2) < 0 ||
		    ioctl(0, TIOCSCTTY, 0) < 0) {
			err_setsys(&err, errno, "making the pty our terminal");
			child_fail(c->sync, &err);
		}
		if (slave > 2)
			close(slave);
	}
	if (chdir(p->cwd) < 0) {
		err_setsys(&err, errno, "process.cwd %s", p->cwd);
		child_fail(c->sync, &err);
	}
	if (send_msg(c->sync, MSG_READY, NULL, 0) < 0)
		_exit(1);
	close(c->sync);

	/* created: wait for `start` */
	do
		conn = accept4(c->listen, NULL, NULL, SOCK_CLOEXEC);
	while (conn < 0 && errno == EINTR);
	if (conn < 0 || read(conn, &go, 1) != 1)
		_exit(1);
	close(c->listen);
	if (hooks_run(&s->hooks[HOOK_START_CONTAINER], "startContainer", "{}", &err) == 0 &&
	    finish_process(p, s->seccomp, c->o->preserve_fds, &err) == 0)
		exec_args(p, &err);
	if (write(conn, err.msg, strlen(err.msg)) < 0)
		_exit(127);
	_exit(127);
}

/* ---- stage 1 ---- */

struct stage1_ctx {
	const struct oci_spec *s;
	int *ns_fds;		/* per entry of s->namespaces: fd of its path, or -1 */
	int sync;
};

static int join_and_unshare(const struct oci_spec *s, const int *ns_fds, int sync, bool *userns,
			    struct err *err)
{
	int flags = 0;
	char buf[16];

	*userns = false;
	/* the user namespace first: the others are then owned by it */
	for (size_t k = 0; k < ARRAY_SIZE(ns_order); k++) {
		for (size_t i = 0; i < s->n_namespaces; i++) {
			if (s->namespaces[i].type != ns_order[k] || ns_fds[i] < 0)
				continue;
			if (setns(ns_fds[i], s->namespaces[i].type) < 0)
				return err_setsys(err, errno, "joining %s namespace %s",
						  spec_ns_name(s->namespaces[i].type),
						  s->namespaces[i].path);
			if (s->namespaces[i].type == CLONE_NEWUSER)
				*userns = true;
		}
	}
	for (size_t i = 0; i < s->n_namespaces; i++)
		if (ns_fds[i] < 0)
			flags |= s->namespaces[i].type;
	if (flags & CLONE_NEWUSER) {
		if (unshare(CLONE_NEWUSER) < 0)
			return err_setsys(err, errno, "new user namespace");
		*userns = true;
		if (send_msg(sync, MSG_USERNS, NULL, 0) < 0 ||
		    recv_msg(sync, buf, sizeof(buf), NULL) <= 0 || buf[0] != MSG_MAPPED)
			return err_set(err, EIO, "the runtime did not map our ids");
		if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
			return err_setsys(err, errno, "becoming root in the user namespace");
		flags &= ~CLONE_NEWUSER;
	}
	if (flags && unshare(flags) < 0)
		return err_setsys(err, errno, "new namespaces (%#x)", (unsigned)flags);
	return 0;
}

/* ---- create ---- */

static int resolve_rootfs(const struct ctr_opts *o, const struct oci_spec *s, char *out,
			  size_t size, struct err *err)
{
	char tmp[PATH_MAX * 2];
	struct stat st;

	if (s->root_path[0] == '/')
		xsnprintf(tmp, sizeof(tmp), "%s", s->root_path);
	else
		xsnprintf(tmp, sizeof(tmp), "%s/%s", o->bundle, s->root_path);
	if (stat(tmp, &st) < 0)
		return err_setsys(err, errno, "root.path %s", tmp);
	if (!S_ISDIR(st.st_mode))
		return err_set(err, ENOTDIR, "root.path %s: not a directory", tmp);
	if (realpath(tmp, out) == NULL || strlen(out) >= size)
		return err_setsys(err, errno, "root.path %s", tmp);
	return 0;
}

static int listen_start_socket(const char *root, const char *id, struct err *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[PATH_MAX];
	int cwd, s, r = 0;

	/* bind by a name relative to the state directory: sun_path is short */
	state_path(dir, sizeof(dir), root, id, NULL);
	strcpy(sa.sun_path, "start.sock");
	cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || cwd < 0)
		r = err_setsys(err, errno, "start socket");
	else if (chdir(dir) < 0 || bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
		 listen(s, 1) < 0)
		r = err_setsys(err, errno, "start socket in %s", dir);
	if (cwd >= 0) {
		if (fchdir(cwd) < 0 && r == 0)
			r = err_setsys(err, errno, "fchdir");
		close(cwd);
	}
	if (r) {
		if (s >= 0)
			close(s);
		return r;
	}
	return s;
}

int ctr_create(const struct ctr_opts *o, const struct oci_spec *s, const char *config, size_t len,
	       int *master, pid_t *pidp, struct err *err)
{
	struct ctr_state st = { 0 };
	struct cgroup cg;
	char rootfs[PATH_MAX], cgpath[PATH_MAX], path[PATH_MAX], msg[MSG_MAX];
	int *ns_fds = NULL, sync[2] = { -1, -1 }, listen_fd = -1, tty = -1, r;
	bool made_state = false, made_cgroup = false;
	pid_t stage1 = -1, init = -1;

	*master = -1;
	*pidp = 0;
	if ((r = state_check_id(o->id, err)))
		return r;
	if (!s->has_process)
		return err_set(err, EINVAL, "config.json: process: missing");
	if ((r = resolve_rootfs(o, s, rootfs, sizeof(rootfs), err)))
		return r;
	if (s->process.terminal && !o->console_socket && !o->foreground)
		return err_set(err, EINVAL,
			       "process.terminal is true: --console-socket is required");
	if (s->hostname && !(spec_ns(s, CLONE_NEWUTS) && !spec_ns(s, CLONE_NEWUTS)->path))
		return err_set(err, EINVAL, "hostname needs a new uts namespace");
	if ((ns_fds = calloc(s->n_namespaces + 1, sizeof(int))) == NULL)
		return err_set(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < s->n_namespaces; i++) {
		ns_fds[i] = -1;
		if (s->namespaces[i].path == NULL)
			continue;
		ns_fds[i] = open(s->namespaces[i].path, O_RDONLY | O_CLOEXEC);
		if (ns_fds[i] < 0) {
			r = err_setsys(err, errno, "linux.namespaces: %s namespace %s",
				       spec_ns_name(s->namespaces[i].type), s->namespaces[i].path);
			goto fail;
		}
	}
	xsnprintf(cgpath, sizeof(cgpath), "%s", s->cgroups_path ? s->cgroups_path : "");
	if (!cgpath[0])
		xsnprintf(cgpath, sizeof(cgpath), "/domus-oci/%s", o->id);
	if ((r = cgroup_init(&cg, cgpath, err)) || (r = cgroup_check(&cg, &s->resources, err)))
		goto fail;

	/* from here on, everything made is undone on failure */
	if ((r = state_mkdir(o->root, o->id, err)))
		goto fail;
	made_state = true;
	xsnprintf(st.id, sizeof(st.id), "%s", o->id);
	xsnprintf(st.bundle, sizeof(st.bundle), "%s", o->bundle);
	xsnprintf(st.cgroup, sizeof(st.cgroup), "%s", cg.path);
	now_rfc3339(st.created, sizeof(st.created));
	st.status = CTR_CREATING;
	if ((r = state_write(o->root, &st, err)))
		goto fail;
	state_path(path, sizeof(path), o->root, o->id, "config.json");
	if ((r = write_file_atomic(path, config, len, 0600)) < 0) {
		err_setsys(err, -r, "%s", path);
		goto fail;
	}
	if ((r = cg.ops->create(&cg, err)))
		goto fail;
	made_cgroup = true;
	st.cgroup_made = true;
	if ((r = cg.ops->set(&cg, &s->resources, err)) || (r = state_write(o->root, &st, err)))
		goto fail;
	if ((listen_fd = listen_start_socket(o->root, o->id, err)) < 0) {
		r = listen_fd;
		goto fail;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sync) < 0) {
		r = err_setsys(err, errno, "socketpair");
		goto fail;
	}
	prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	stage1 = fork();
	if (stage1 < 0) {
		r = err_setsys(err, errno, "fork");
		goto fail;
	}
	if (stage1 == 0) {
		struct init_ctx ic = { .o = o, .s = s, .rootfs = rootfs, .cg = &cg,
				       .sync = sync[1], .listen = listen_fd };
		struct err cerr = { 0 };
		char buf[16];
		pid_t child;

		close(sync[0]);
		prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
		if (recv_msg(sync[1], buf, sizeof(buf), NULL) <= 0 || buf[0] != MSG_GO)
			_exit(1);
		if (join_and_unshare(s, ns_fds, sync[1], &ic.userns, &cerr))
			child_fail(sync[1], &cerr);
		child = fork();
		if (child < 0) {
			err_setsys(&cerr, errno, "fork");
			child_fail(sync[1], &cerr);
		}
		if (child == 0) {
			prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0);
			init_main(&ic);
		}
		send_msg(sync[1], MSG_PID, &child, sizeof(child));
		_exit(0);
	}
	close(sync[1]);
	sync[1] = -1;
	if ((r = cg.ops->enter(&cg, stage1, err)))
		goto fail;
	if ((r = send_msg(sync[0], MSG_GO, NULL, 0)) < 0) {
		err_setsys(err, -r, "sync");
		goto fail;
	}
	for (;;) {
		int fd = -1, n = recv_msg(sync[0], msg, sizeof(msg), &fd);

		if (n <= 0) {
			r = err_set(err, EIO, "the container's init ended during set-up");
			goto fail;
		}
		if (msg[0] == MSG_ERROR) {
			r = err_set(err, EIO, "%s", msg + 1);
			goto fail;
		} else if (msg[0] == MSG_USERNS) {
			if (s->n_uid_maps && (r = write_idmap(stage1, "uid_map", s->uid_maps,
							       s->n_uid_maps, err)))
				goto fail;
			if (s->n_gid_maps && (r = write_idmap(stage1, "gid_map", s->gid_maps,
							       s->n_gid_maps, err)))
				goto fail;
			send_msg(sync[0], MSG_MAPPED, NULL, 0);
		} else if (msg[0] == MSG_PID && n >= 1 + (int)sizeof(pid_t)) {
			memcpy(&init, msg + 1, sizeof(pid_t));
			waitpid(stage1, NULL, 0);
			stage1 = -1;
			st.pid = init;
			st.start_time = proc_start_time(init);
			if ((r = state_write(o->root, &st, err)))
				goto fail;
		} else if (msg[0] == MSG_TTY) {
			if (fd < 0) {
				r = err_set(err, EIO, "no pty received");
				goto fail;
			}
			tty = fd;
		} else if (msg[0] == MSG_READY) {
			break;
		}
		if (fd >= 0 && fd != tty)
			close(fd);
	}
	if (tty >= 0 && o->console_socket) {
		if ((r = console_socket_send(o->console_socket, tty, err)))
			goto fail;
		close(tty);
		tty = -1;
	}
	{
		char *json = state_json(&st, false);
		r = hooks_run(&s->hooks[HOOK_PRESTART], "prestart", json, err);
		if (!r)
			r = hooks_run(&s->hooks[HOOK_CREATE_RUNTIME], "createRuntime", json, err);
		if (!r)
			r = hooks_run(&s->hooks[HOOK_CREATE_CONTAINER], "createContainer", json,
				      err);
		free(json);
		if (r)
			goto fail;
	}
	if (o->pid_file && (r = write_pid_file(o->pid_file, init, err)))
		goto fail;
	st.status = CTR_CREATED;
	if ((r = state_write(o->root, &st, err)))
		goto fail;
	close(sync[0]);
	close(listen_fd);
	for (size_t i = 0; i < s->n_namespaces; i++)
		if (ns_fds[i] >= 0)
			close(ns_fds[i]);
	free(ns_fds);
	*master = tty;
	*pidp = init;
	return 0;
fail:
	if (stage1 > 0) {
		kill(stage1, SIGKILL);
		waitpid(stage1, NULL, 0);
	}
	if (init > 0) {
		kill(init, SIGKILL);
		waitpid(init, NULL, 0);
	}
	if (made_cgroup) {
		cgroup_kill_all(&cg, SIGKILL);
		cg.ops->destroy(&cg);
	}
	if (made_state)
		state_remove(o->root, o->id);
	if (tty >= 0)
		close(tty);
	if (sync[0] >= 0)
		close(sync[0]);
	if (sync[1] >= 0)
		close(sync[1]);
	if (listen_fd >= 0)
		close(listen_fd);
	for (size_t i = 0; ns_fds && i < s->n_namespaces; i++)
		if (ns_fds[i] >= 0)
			close(ns_fds[i]);
	free(ns_fds);
	return r < 0 ? r : -EIO;
}

/* ---- start, kill, delete ---- */

static int load_saved_spec(const char *root, const char *id, struct oci_spec **s,
			   struct err *err)
{
	char path[PATH_MAX], *text;
	size_t len;
	int r;

	state_path(path, sizeof(path), root, id, "config.json");
	if ((r = read_file(path, &text, &len)) < 0)
		return err_setsys(err, -r, "%s", path);
	r = spec_parse(text, len, path, s, err);
	free(text);
	return r;
}

int ctr_start(const char *root, const char *id, struct err *warn, struct err *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct ctr_state st;
	struct oci_spec *s = NULL;
	enum ctr_status status;
	char dir[PATH_MAX], msg[ERR_MSG_MAX];
	int cwd, sock, r;
	ssize_t n;

	if ((r = state_read(root, id, &st, err)))
		return r;
	status = state_status(&st);
	if (status != CTR_CREATED)
		return err_set(err, EINVAL, "container %s is %s, not created", id,
			       state_status_name(status));
	state_path(dir, sizeof(dir), root, id, NULL);
	strcpy(sa.sun_path, "start.sock");
	cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (cwd < 0 || sock < 0 || chdir(dir) < 0 ||
	    connect(sock, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = err_setsys(err, errno, "container %s: start socket", id);
	}
	if (cwd >= 0) {
		if (fchdir(cwd) < 0 && r == 0)
			r = err_setsys(err, errno, "fchdir");
		close(cwd);
	}
	if (r) {
		if (sock >= 0)
			close(sock);
		return r;
	}
	if (write(sock, "g", 1) != 1) {
		r = err_setsys(err, errno, "container %s: start", id);
		close(sock);
		return r;
	}
	/* the init closes the socket when it execs, or writes why it could not */
	n = read(sock, msg, sizeof(msg) - 1);
	close(sock);
	state_path(dir, sizeof(dir), root, id, "start.sock");
	unlink(dir);
	if (n > 0) {
		msg[n] = '\0';
		st.status = CTR_STOPPED;
		state_write(root, &st, NULL);
		return err_set(err, EIO, "%s", msg);
	}
	st.status = CTR_RUNNING;
	if ((r = state_write(root, &st, err)))
		return r;
	if (load_saved_spec(root, id, &s, NULL) == 0) {
		char *json = state_json(&st, false);
		/* poststart failures are warnings, not errors (runtime-spec) */
		hooks_run(&s->hooks[HOOK_POSTSTART], "poststart", json, warn);
		free(json);
		spec_free(s);
	}
	return 0;
}

int ctr_kill(const char *root, const char *id, int sig, bool all, struct err *err)
{
	struct ctr_state st;
	struct cgroup cg;
	enum ctr_status status;
	int r;

	if ((r = state_read(root, id, &st, err)))
		return r;
	status = state_status(&st);
	if (all) {
		if (!st.cgroup[0] || cgroup_init(&cg, st.cgroup, NULL))
			return err_set(err, ENOENT, "container %s has no cgroup", id);
		r = cgroup_kill_all(&cg, sig);
		if (r < 0)
			return err_setsys(err, -r, "container %s: signalling its processes", id);
		return 0;
	}
	if (status != CTR_CREATED && status != CTR_RUNNING)
		return err_set(err, ESRCH, "container %s is %s, not running", id,
			       state_status_name(status));
	if (kill(st.pid, sig) < 0)
		return err_setsys(err, errno, "container %s: kill %d", id, st.pid);
	return 0;
}

int ctr_delete(const char *root, const char *id, bool force, struct err *warn,
	       struct err *err)
{
	struct ctr_state st;
	struct oci_spec *s = NULL;
	struct cgroup cg;
	enum ctr_status status;
	bool have_cg;
	int r;

	if ((r = state_read(root, id, &st, err)))
		return r;
	status = state_status(&st);
	if (status == CTR_RUNNING && !force)
		return err_set(err, EBUSY, "container %s is running: stop it first, or use --force",
			       id);
	have_cg = st.cgroup[0] && cgroup_init(&cg, st.cgroup, NULL) == 0;
	if (status != CTR_STOPPED && st.pid > 0) {
		kill(st.pid, SIGKILL);
		for (int i = 0; i < 200 && proc_start_time(st.pid) == st.start_time; i++) {
			waitpid(st.pid, NULL, WNOHANG);
			nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000 * 1000 }, NULL);
		}
	}
	if (have_cg) {
		cgroup_kill_all(&cg, SIGKILL);
		for (int i = 0; i < 100 && cg.ops->destroy(&cg) == -EBUSY; i++)
			nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000 * 1000 }, NULL);
	}
	if (load_saved_spec(root, id, &s, NULL) == 0) {
		char *json;
		st.status = CTR_STOPPED;
		st.pid = 0;
		json = state_json(&st, false);
		/* poststop failures are warnings: the container goes anyway */
		hooks_run(&s->hooks[HOOK_POSTSTOP], "poststop", json, warn);
		free(json);
		spec_free(s);
	}
	if ((r = state_remove(root, id)) < 0)
		return err_setsys(err, -r, "removing the state of %s", id);
	return 0;
}

static pid_t wait_pid;

static void forward_signal(int sig)
{
	if (wait_pid > 0)
		kill(wait_pid, sig);
}

int ctr_wait(pid_t pid, int master)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };
	struct sigaction sa = { .sa_handler = forward_signal };
	int status, pidfd;

	wait_pid = pid;
	for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
		sigaction(sigs[i], &sa, NULL);
	if (master >= 0) {
		pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
		terminal_proxy(master, pidfd);
		if (pidfd >= 0)
			close(pidfd);
	}
	for (;;) {
		pid_t w = waitpid(-1, &status, 0);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return 255;
		if (w == pid)
			break;
	}
	wait_pid = 0;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}

int ctr_signal_parse(const char *s)
{
	static const struct {
		const char *name;
		int sig;
	} sigs[] = {
		{ "HUP", SIGHUP }, { "INT", SIGINT }, { "QUIT", SIGQUIT }, { "ILL", SIGILL },
		{ "TRAP", SIGTRAP }, { "ABRT", SIGABRT }, { "BUS", SIGBUS }, { "FPE", SIGFPE },
		{ "KILL", SIGKILL }, { "USR1", SIGUSR1 }, { "SEGV", SIGSEGV }, { "USR2", SIGUSR2 },
		{ "PIPE", SIGPIPE }, { "ALRM", SIGALRM }, { "TERM", SIGTERM }, { "CHLD", SIGCHLD },
		{ "CONT", SIGCONT }, { "STOP", SIGSTOP }, { "TSTP", SIGTSTP }, { "TTIN", SIGTTIN },
		{ "TTOU", SIGTTOU }, { "URG", SIGURG }, { "XCPU", SIGXCPU }, { "XFSZ", SIGXFSZ },
		{ "VTALRM", SIGVTALRM }, { "PROF", SIGPROF }, { "WINCH", SIGWINCH },
		{ "IO", SIGIO }, { "PWR", SIGPWR }, { "SYS", SIGSYS },
	};
	char *end;
	long v;

	if (s == NULL || !*s)
		return -1;
	v = strtol(s, &end, 10);
	if (*end == '\0')
		return v > 0 && v < NSIG ? (int)v : -1;
	if (strncasecmp(s, "SIG", 3) == 0)
		s += 3;
	for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
		if (strcasecmp(s, sigs[i].name) == 0)
			return sigs[i].sig;
	return -1;
}
