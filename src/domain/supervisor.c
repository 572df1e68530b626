/* SPDX-License-Identifier: MIT */
/* supervisor.c: a domain's supervisor process (supervisor.h).
 *
 *   domus start ──fork──► (setsid) ──fork──► supervisor ──fork+exec──► monitor
 *        ▲                    exits           holds RUN/NAME/lock       `domus run ...`
 *        └──── pipe: "OK" once the monitor answers on its control socket,
 *              or "ERR <its last words>"
 *
 * The supervisor is small and does nothing a guest can reach, which is why
 * it, not the monitor, applies the lifecycle policies: a monitor that
 * crashes or is killed is just one more way for the domain to end. */
#include "supervisor.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bootloader.h"
#include "common/err.h"
#include "common/file.h"
#include "common/log.h"
#include "control/control.h"
#include "runtime.h"
#include "store.h"

#define READY_TIMEOUT_MS	60000
#define RESTART_BURST		5	/* restarts within RESTART_WINDOW s: give up */
#define RESTART_WINDOW		30

struct sup {
	const struct dom_paths *p;
	struct domain_config cfg;
	struct dom_state st;
	int ready_fd;		/* the pipe to `domus start`, until it has its answer */
	pid_t monitor;
	char kernel[DOM_PATH_MAX + 4096], initrd[DOM_PATH_MAX + 4096];
	char cmdline[DOM_CMDLINE_MAX + 64];
	bool have_initrd;
};

static double now_epoch(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* --- checks before starting ------------------------------------------------- */
static void resolve(const char *path, char *out, size_t size)
{
	char real[PATH_MAX];

	const char *src = realpath(path, real) ? real : path;
	size_t n = strnlen(src, size - 1);

	memcpy(out, src, n);
	out[n] = '\0';
}

/* Another running domain with our uuid, or writing one of our disks. */
static int check_conflicts(const struct dom_paths *p, const struct domain_config *cfg,
			   struct dom_state *st, struct err *err)
{
	char **names;
	size_t n;
	int r = domrt_list(p, &names, &n, err);

	if (r < 0)
		return r;
	for (size_t i = 0; i < n && r == 0; i++) {
		struct dom_state o;
		if (strcmp(names[i], cfg->name) == 0 || !domrt_active(p, names[i]) ||
		    domrt_read_state(p, names[i], &o, NULL) < 0)
			continue;
		if (cfg->uuid[0] && strcmp(o.uuid, cfg->uuid) == 0) {
			r = err_set(err, EEXIST, "domain '%s' is running with the same uuid %s",
				    names[i], cfg->uuid);
			break;
		}
		for (unsigned a = 0; a < st->nr_disks && r == 0; a++)
			for (unsigned b = 0; b < o.nr_disks && r == 0; b++) {
				const struct dom_state_disk *x = &st->disks[a], *y = &o.disks[b];
				if (strcmp(x->path, y->path) != 0 || (!x->writable && !y->writable))
					continue;
				if (x->shareable && y->shareable)
					continue;
				r = err_set(err, EBUSY,
					    "disk %s is in use by running domain '%s'%s (mark it "
					    "shareable in both, e.g. \"%s,xvda,w!\", to share it)",
					    x->path, names[i], y->writable ? " (writable)" : "", x->path);
			}
	}
	domstore_free_list(names, n);
	return r;
}

/* --- one boot ----------------------------------------------------------------- */
static int prepare_boot(struct sup *s, struct err *err)
{
	const struct domain_config *c = &s->cfg;
	char args[DOM_CMDLINE_MAX] = "";

	if (c->bootloader[0]) {
		int r;
		if (domrt_file(s->p, c->name, "kernel", s->kernel, sizeof(s->kernel)) < 0 ||
		    domrt_file(s->p, c->name, "initrd", s->initrd, sizeof(s->initrd)) < 0)
			return err_set(err, ENAMETOOLONG, "run directory path too long");
		r = bootloader_extract(c->disks[0].target, s->kernel, s->initrd, &s->have_initrd,
				       args, sizeof(args), err);
		if (r < 0)
			return r;
		if (c->kernel[0]) {
			/* an explicit kernel wins; the bootloader gave its initrd */
			snprintf(s->kernel, sizeof(s->kernel), "%s", c->kernel);
		}
	} else {
		snprintf(s->kernel, sizeof(s->kernel), "%s", c->kernel);
		snprintf(s->initrd, sizeof(s->initrd), "%s", c->ramdisk);
		s->have_initrd = c->ramdisk[0] != '\0';
	}
	if (c->ramdisk[0]) {
		snprintf(s->initrd, sizeof(s->initrd), "%s", c->ramdisk);
		s->have_initrd = true;
	}
	/* the grub entry's arguments, then the config's; and the console on
	 * ttyS0 unless someone said otherwise, since that is the console socket */
	size_t la = strlen(args), lc = strlen(c->cmdline);
	if (la + lc + sizeof(" console=ttyS0") + 1 > sizeof(s->cmdline))
		return err_set(err, E2BIG, "the kernel command line is too long (%zu bytes)", la + lc);
	size_t n = la;
	memcpy(s->cmdline, args, la);
	if (la && lc)
		s->cmdline[n++] = ' ';
	memcpy(s->cmdline + n, c->cmdline, lc + 1);
	/* (n + lc) is its length now */
	if (strstr(s->cmdline, "console=") == NULL) {
		static const char con[] = " console=ttyS0";
		const char *add = n + lc ? con : con + 1;
		memcpy(s->cmdline + n + lc, add, strlen(add) + 1);
	}
	return 0;
}

static void exec_monitor(struct sup *s)
{
	const struct domain_config *c = &s->cfg;
	static char mem[32], vcpus[16], ctl[DOM_DIR_MAX + 128], con[DOM_DIR_MAX + 128];
	static char disks[VM_DISKS_MAX][DOM_PATH_MAX + 32];
	char *argv[48 + 2 * VM_DISKS_MAX + 2 * DOM_VIFS_MAX];
	int n = 0;

	snprintf(mem, sizeof(mem), "%llu", (unsigned long long)c->memory_mib);
	snprintf(vcpus, sizeof(vcpus), "%u", c->vcpus);
	domrt_file(s->p, c->name, "control.sock", ctl, sizeof(ctl));
	domrt_file(s->p, c->name, "console.sock", con, sizeof(con));
	argv[n++] = "domus";
	argv[n++] = "run";
	argv[n++] = "--engine";
	argv[n++] = c->engine == ENGINE_KVM ? "kvm" : c->engine == ENGINE_QEMU ? "qemu" : "auto";
	argv[n++] = "--memory";
	argv[n++] = mem;
	argv[n++] = "--vcpus";
	argv[n++] = vcpus;
	argv[n++] = "--kernel";
	argv[n++] = s->kernel;
	if (s->have_initrd) {
		argv[n++] = "--initrd";
		argv[n++] = s->initrd;
	}
	argv[n++] = "--cmdline";
	argv[n++] = s->cmdline;
	for (unsigned i = 0; i < c->nr_disks; i++) {
		snprintf(disks[i], sizeof(disks[i]), "%s%s%s", c->disks[i].target,
			 c->disks[i].readonly ? ",readonly" : "",
			 c->disks[i].shareable ? ",shared" : "");
		argv[n++] = "--disk";
		argv[n++] = disks[i];
	}
	/* NICs: each vif is already a checked `domus run --net` SPEC */
	for (unsigned i = 0; i < c->nr_vifs; i++) {
		argv[n++] = "--net";
		argv[n++] = (char *)c->vifs[i].spec;
	}
	argv[n++] = "--control";
	argv[n++] = ctl;
	if (c->serial) {
		argv[n++] = "--serial-socket";
		argv[n++] = con;
	}
	if (c->on_reboot != DOM_ACT_RESTART && c->on_reboot != DOM_ACT_RENAME_RESTART)
		argv[n++] = "--no-reboot";
	argv[n] = NULL;
	setenv("DOMUS_DOMAIN", c->name, 1);
	execv("/proc/self/exe", argv);
	fprintf(stderr, "domus: supervisor: exec domus run: %s\n", strerror(errno));
	_exit(127);
}

static void ready_say(struct sup *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void ready_say(struct sup *s, const char *fmt, ...)
{
	char buf[ERR_MSG_MAX + 16];
	va_list ap;

	if (s->ready_fd < 0)
		return;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > 0 && write(s->ready_fd, buf, strlen(buf)) < 0) {
		/* `domus start` went away: nobody to tell */
	}
	close(s->ready_fd);
	s->ready_fd = -1;
}

/* The last line of the log: the monitor's reason for failing. */
static void last_log_line(struct sup *s, char *out, size_t size)
{
	char path[DOM_DIR_MAX + 128], line[ERR_MSG_MAX];
	FILE *f;

	snprintf(out, size, "the monitor failed (see its log)");
	if (domrt_file(s->p, s->cfg.name, "log", path, sizeof(path)) < 0 ||
	    (f = fopen(path, "re")) == NULL)
		return;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "domus: ", 7) == 0 && strstr(line, "engine ") != line + 7)
			snprintf(out, size, "%s", line + 7);
	}
	fclose(f);
}

/* Wait until the monitor answers on its control socket, or ends. Returns 0
 * when it answers; -1 when it ended (its status in *status). */
static int wait_ready(struct sup *s, int *status)
{
	char path[DOM_DIR_MAX + 128];
	struct json_object *reply;

	domrt_file(s->p, s->cfg.name, "control.sock", path, sizeof(path));
	for (int waited = 0; waited < READY_TIMEOUT_MS; waited += 50) {
		if (waitpid(s->monitor, status, WNOHANG) == s->monitor)
			return -1;
		if (control_call(path, "query-status", NULL, &reply, 1000, NULL) == 0) {
			json_object_put(reply);
			return 0;
		}
		usleep(50000);
	}
	return 0;	/* slow, but alive: let it be */
}

static void set_state(struct sup *s, const char *state, const char *reason)
{
	struct err err = { 0 };

	snprintf(s->st.state, sizeof(s->st.state), "%s", state);
	snprintf(s->st.reason, sizeof(s->st.reason), "%s", reason ? reason : "");
	if (domrt_write_state(s->p, &s->st, &err) < 0)
		log_error("%s", err.msg);
}

/* The supervisor keeps SIGTERM, SIGINT, SIGHUP (domus destroy) and SIGCHLD
 * blocked and takes them with sigtimedwait: no handler, and no window
 * between looking at a flag and going to sleep. */
static bool got_term;

static void sup_sigset(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGCHLD);
}

/* Sleep up to a second for a signal; note a termination request. */
static void sup_wait_signal(void)
{
	struct timespec ts = { .tv_sec = 1 };
	sigset_t set;
	int sig;

	sup_sigset(&set);
	sig = sigtimedwait(&set, NULL, &ts);
	if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP)
		got_term = true;
}

/* Wait for the monitor; a termination request (domus destroy) is passed on
 * to it as SIGTERM (domus run then stops the guest: status 4). */
static int wait_monitor(struct sup *s)
{
	bool forwarded = false;
	int status;

	for (;;) {
		pid_t r = waitpid(s->monitor, &status, WNOHANG);
		if (r == s->monitor)
			return status;
		if (r < 0 && errno != EINTR)
			return 0;
		if (got_term && !forwarded) {
			kill(s->monitor, SIGTERM);
			forwarded = true;
		}
		sup_wait_signal();
	}
}

enum dom_event { EV_POWEROFF, EV_REBOOT, EV_CRASH, EV_DESTROYED };

static void supervise(struct sup *s)
{
	time_t burst_start = 0;
	unsigned burst = 0;
	bool first = true;

	for (;;) {
		struct err err = { 0 };
		char intent[32], why[ERR_MSG_MAX];
		enum dom_action act;
		enum dom_event ev;
		int status;

		if (prepare_boot(s, &err) < 0) {
			log_error("%s", err.msg);
			ready_say(s, "ERR %s\n", err.msg);
			set_state(s, "crashed", err.msg);
			if (first)
				return;
			act = s->cfg.on_crash == DOM_ACT_PRESERVE ? DOM_ACT_PRESERVE : DOM_ACT_DESTROY;
			goto apply;
		}
		if (!first)
			s->st.id = domrt_alloc_id(s->p);
		s->monitor = fork();
		if (s->monitor < 0) {
			ready_say(s, "ERR fork: %s\n", strerror(errno));
			return;
		}
		if (s->monitor == 0) {
			sigset_t none;
			sigemptyset(&none);
			sigprocmask(SIG_SETMASK, &none, NULL);
			signal(SIGPIPE, SIG_DFL);
			exec_monitor(s);
		}
		s->st.monitor = s->monitor;
		s->st.started = now_epoch();
		set_state(s, "running", first ? "booted" : "restarted");
		if (s->ready_fd >= 0) {
			if (wait_ready(s, &status) < 0) {
				last_log_line(s, why, sizeof(why));
				ready_say(s, "ERR %s\n", why);
				return;
			}
			ready_say(s, "OK\n");
		}
		first = false;
		status = wait_monitor(s);
		pid_t gone = s->monitor;
		s->st.monitor = 0;

		/* what happened, then what the administrator asked, then the policy */
		if (WIFEXITED(status) && WEXITSTATUS(status) == VM_EXIT_POWEROFF)
			ev = EV_POWEROFF;
		else if (WIFEXITED(status) && WEXITSTATUS(status) == VM_EXIT_REBOOT)
			ev = EV_REBOOT;
		else if (WIFEXITED(status) && WEXITSTATUS(status) == VM_EXIT_QUIT)
			ev = EV_DESTROYED;
		else if (WIFEXITED(status) && (WEXITSTATUS(status) == VM_EXIT_SAVED ||
					       WEXITSTATUS(status) == VM_EXIT_MIGRATED))
			ev = EV_DESTROYED;	/* the guest lives on elsewhere: no policy */
		else
			ev = EV_CRASH;	/* panic, triple fault, the monitor failed or was killed */
		if (WIFSIGNALED(status))
			snprintf(why, sizeof(why), "the monitor (pid %d) was killed by signal %d",
				 (int)gone, WTERMSIG(status));
		else if (ev == EV_CRASH && WEXITSTATUS(status) == VM_EXIT_CRASH)
			snprintf(why, sizeof(why), "the guest crashed (kernel panic or triple fault)");
		else if (ev == EV_CRASH)
			last_log_line(s, why, sizeof(why));
		else if (WIFEXITED(status) && WEXITSTATUS(status) == VM_EXIT_SAVED)
			snprintf(why, sizeof(why), "saved to a file (domus save)");
		else if (WIFEXITED(status) && WEXITSTATUS(status) == VM_EXIT_MIGRATED)
			snprintf(why, sizeof(why), "migrated: the guest runs on another host");
		else
			snprintf(why, sizeof(why), "%s", ev == EV_POWEROFF ? "the guest powered off" :
							 ev == EV_REBOOT ? "the guest rebooted" :
									   "destroyed");
		log_info("domain %s (id %d): %s", s->cfg.name, s->st.id, why);
		domrt_take_intent(s->p, s->cfg.name, intent, sizeof(intent));
		if (got_term || ev == EV_DESTROYED || strcmp(intent, "destroy") == 0 ||
		    strcmp(intent, "shutdown") == 0)
			act = DOM_ACT_DESTROY;
		else if (strcmp(intent, "reboot") == 0)
			act = DOM_ACT_RESTART;
		else
			act = ev == EV_POWEROFF ? s->cfg.on_poweroff :
			      ev == EV_REBOOT	? s->cfg.on_reboot :
						  s->cfg.on_crash;
		if (act == DOM_ACT_RENAME_RESTART)
			act = DOM_ACT_RESTART;
		if (act == DOM_ACT_RESTART) {
			time_t now = time(NULL);
			if (now - burst_start > RESTART_WINDOW) {
				burst_start = now;
				burst = 0;
			}
			if (++burst > RESTART_BURST) {
				snprintf(why, sizeof(why), "restarting too fast (%d times in %d s): stopped",
					 RESTART_BURST, RESTART_WINDOW);
				log_error("domain %s: %s", s->cfg.name, why);
				ev = EV_CRASH;
				act = DOM_ACT_PRESERVE;
			}
		}
		if (act == DOM_ACT_RESTART) {
			s->st.restarts++;
			log_info("domain %s: restarting (%s)", s->cfg.name,
				 ev == EV_CRASH ? "on_crash" : ev == EV_REBOOT ? "on_reboot" : "on_poweroff");
			continue;
		}
		if (act == DOM_ACT_PRESERVE)
			set_state(s, ev == EV_CRASH ? "crashed" : "shutoff", why);
apply:
		if (act == DOM_ACT_PRESERVE) {
			/* kept for inspection until `domus destroy` (SIGTERM) */
			while (!got_term)
				sup_wait_signal();
		}
		return;
	}
}

/* --- domus start ---------------------------------------------------------------- */
static void supervisor_main(struct sup *s, int lock_fd)
{
	char log_path[DOM_DIR_MAX + 128];
	sigset_t set;
	int fd;

	(void)lock_fd;	/* held open, and the lock with it, until we exit */
	prctl(PR_SET_NAME, "domus-sup", 0, 0, 0);
	domrt_file(s->p, s->cfg.name, "log", log_path, sizeof(log_path));
	fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		close(fd);
	}
	fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (fd >= 0) {
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		close(fd);
	}
	sup_sigset(&set);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGCHLD, SIG_DFL);
	signal(SIGPIPE, SIG_IGN);
	s->st.supervisor = getpid();
	supervise(s);
	domrt_cleanup(s->p, s->cfg.name);
	_exit(0);
}

int domsup_start(const struct dom_paths *p, const struct domain_config *cfg,
		 const char *cfg_file, bool persistent, struct err *err)
{
	char path[DOM_DIR_MAX + 128], msg[ERR_MSG_MAX + 16];
	struct sup *s;
	int lock_fd = -1, pipefd[2] = { -1, -1 }, r;
	pid_t pid;

	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return err_set(err, ENOMEM, "out of memory");
	s->p = p;
	s->cfg = *cfg;
	s->ready_fd = -1;
	if (domrt_file(p, cfg->name, NULL, path, sizeof(path)) < 0) {
		r = err_set(err, ENAMETOOLONG, "run directory path too long");
		goto out;
	}
	if (file_mkdir_p(path, 0755, NULL) < 0) {
		r = err_setsys(err, errno, "run directory %s is not writable", p->run);
		goto out;
	}
	domrt_file(p, cfg->name, "lock", path, sizeof(path));
	lock_fd = open(path, O_RDWR | O_CREAT, 0644);	/* inherited: no CLOEXEC */
	if (lock_fd < 0) {
		r = err_setsys(err, errno, "%s", path);
		goto out;
	}
	if (flock(lock_fd, LOCK_EX | LOCK_NB) < 0) {
		struct dom_state o;
		if (domrt_read_state(p, cfg->name, &o, NULL) == 0 && strcmp(o.state, "crashed") == 0)
			r = err_set(err, EBUSY, "domain '%s' is crashed and kept for inspection "
						"(on_crash = \"preserve\"): destroy it first", cfg->name);
		else if (domrt_read_state(p, cfg->name, &o, NULL) == 0 && strcmp(o.state, "shutoff") == 0)
			r = err_set(err, EBUSY, "domain '%s' is shut off and kept (preserve): "
						"destroy it first", cfg->name);
		else
			r = err_set(err, EBUSY, "domain '%s' is already running", cfg->name);
		goto out;
	}
	/* what a previous run left (killed with its supervisor) */
	domrt_cleanup(p, cfg->name);

	snprintf(s->st.name, sizeof(s->st.name), "%s", cfg->name);
	snprintf(s->st.uuid, sizeof(s->st.uuid), "%s", cfg->uuid);
	snprintf(s->st.config, sizeof(s->st.config), "%s", cfg_file);
	s->st.persistent = persistent;
	for (unsigned i = 0; i < cfg->nr_disks; i++) {
		struct dom_state_disk *d = &s->st.disks[s->st.nr_disks++];
		if (strchr(cfg->disks[i].target, ',')) {
			r = err_set(err, EINVAL, "disk %s: a path with ',' is not supported",
				    cfg->disks[i].target);
			goto out;
		}
		resolve(cfg->disks[i].target, d->path, sizeof(d->path));
		d->writable = !cfg->disks[i].readonly;
		d->shareable = cfg->disks[i].shareable;
	}
	r = check_conflicts(p, cfg, &s->st, err);
	if (r < 0)
		goto out;
	s->st.id = domrt_alloc_id(p);
	snprintf(s->st.state, sizeof(s->st.state), "starting");
	r = domrt_write_state(p, &s->st, err);
	if (r < 0)
		goto out;
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		r = err_setsys(err, errno, "pipe");
		goto out_clean;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		r = err_setsys(err, errno, "fork");
		goto out_clean;
	}
	if (pid == 0) {
		close(pipefd[0]);
		setsid();
		pid_t sup = fork();
		if (sup != 0)
			_exit(sup < 0 ? 1 : 0);
		s->ready_fd = pipefd[1];
		supervisor_main(s, lock_fd);
	}
	close(pipefd[1]);
	pipefd[1] = -1;
	close(lock_fd);	/* the supervisor holds the lock now */
	lock_fd = -1;
	waitpid(pid, NULL, 0);
	size_t n = 0;
	for (;;) {
		ssize_t k = read(pipefd[0], msg + n, sizeof(msg) - 1 - n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		n += (size_t)k;
	}
	msg[n] = '\0';
	msg[strcspn(msg, "\n")] = '\0';
	if (strcmp(msg, "OK") == 0)
		r = 0;
	else if (strncmp(msg, "ERR ", 4) == 0)
		r = err_set(err, EIO, "%s", msg + 4);
	else
		r = err_set(err, EIO, "domain '%s': the supervisor ended without a word (see %s/%s/log)",
			    cfg->name, p->run, cfg->name);
	if (r < 0) {
		/* the supervisor cleans up and exits right after its answer:
		 * return once it has, so the failed domain is seen shut off */
		for (int i = 0; i < 100 && domrt_active(p, cfg->name); i++)
			usleep(50000);
	}
	goto out;

out_clean:
	domrt_cleanup(p, cfg->name);
out:
	if (pipefd[0] >= 0)
		close(pipefd[0]);
	if (pipefd[1] >= 0)
		close(pipefd[1]);
	if (lock_fd >= 0)
		close(lock_fd);
	free(s);
	return r;
}
