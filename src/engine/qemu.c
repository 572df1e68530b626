/* SPDX-License-Identifier: MIT */
/* qemu.c: the QEMU engine. Not a second hypervisor: it turns a vm_config into
 * a qemu-system-x86_64 command line and gives the guest the same experience
 * as the KVM engine: the console goes through domus's console (so the escapes
 * and lossless input are the same), and QEMU's end becomes our exit status.
 *
 * Lossless input needs one trick. Linux's 8250 driver clears the UART FIFO and
 * reads RBR when it opens the port, so bytes QEMU delivers before that are
 * lost. Our own UART waits for the guest to enable receive interrupts; here
 * we ask QEMU for the same fact: we poll the UART's IER (and LCR, to skip the
 * divisor-latch window) through QMP's human-monitor-command "i /b" - reads of
 * IER and LCR have no side effects - and hold input back until IER.RDI is
 * set. After a guest reset the gate closes again. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "arch/x86/layout.h"
#include "backends/disk/disk.h"
#include "backends/net/netdev.h"
#include "common/err.h"
#include "common/ev.h"
#include "common/file.h"
#include "common/log.h"
#include "console/chardev.h"
#include "console/console.h"
#include "engine.h"
#include "migration/migrate.h"
#include "migration/stream.h"
#include "migration/vmstate.h"
#include "common/buf.h"

#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <sys/stat.h>
#include <time.h>

#define QEMU_BINARY	"qemu-system-x86_64"
#define GATE_POLL_NS	20000000	/* 20 ms between IER polls */
#define QMP_LINE_MAX	65536

struct qemu_vm {
	struct ev_loop *loop;
	struct chardev *cd;
	pid_t pid;
	int pidfd;
	int con_fd;		/* our end of QEMU's stdio (the guest's ttyS0) */
	int qmp_fd;		/* our end of the QMP monitor */
	int timer_fd;		/* gate polling */
	bool gate_open;		/* the guest's UART is ready for input */
	bool query_pending;	/* an IER/LCR query is in flight */
	bool panicked;		/* QMP reported GUEST_PANICKED */
	bool no_reboot;		/* vm_config.no_reboot: a guest reboot ends the run */
	bool paused;		/* STOP seen, RESUME not yet */
	unsigned boots;
	bool reset_seen;	/* a RESET since the guest's UART last opened */
	uint64_t memory_mib;
	unsigned vcpus;
	bool qmp_ready;
	int qmp_step;		/* which reply we wait for */
	uint8_t ier, lcr;
	uint8_t out[4096];	/* input taken from the console, not yet written */
	size_t out_len, out_off;
	char qmp_buf[QMP_LINE_MAX];
	size_t qmp_len;
	/* save and migrate, through QEMU's own migration (docs/migration.md) */
	const struct vm_config *cfg;
	int mig_mode;		/* 0 none, MIG_TCP, MIG_SAVE */
	int mig_timer;		/* polls query-migrate while one runs */
	struct migrate_status mig;
	double mig_t0;
};

enum { MIG_TCP = 1, MIG_SAVE };

static const char *qemu_binary(void)
{
	const char *env = getenv("DOMUS_QEMU");
	return env && *env ? env : QEMU_BINARY;
}

/* Find (name) in PATH like execvp would; 0 if found. */
static int find_in_path(const char *name)
{
	const char *path = getenv("PATH");
	char buf[4096];

	if (strchr(name, '/'))
		return access(name, X_OK) == 0 ? 0 : -errno;
	if (path == NULL)
		path = "/usr/local/bin:/usr/bin:/bin";
	while (*path) {
		const char *end = strchrnul(path, ':');
		snprintf(buf, sizeof(buf), "%.*s/%s", (int)(end - path), path, name);
		if (access(buf, X_OK) == 0)
			return 0;
		path = *end ? end + 1 : end;
	}
	return -ENOENT;
}

static int qemu_check(const struct vm_config *cfg, struct err *err)
{
	(void)cfg;
	if (find_in_path(qemu_binary()) < 0)
		return err_set(err, ENOENT,
			       "engine qemu: %s not found (install Debian's qemu-system-x86)",
			       qemu_binary());
	return 0;
}

/* --- console input, gated ---------------------------------------------------- */
static void qemu_pump_input(struct qemu_vm *vm)
{
	for (;;) {
		if (vm->out_off == vm->out_len) {
			if (!vm->gate_open)
				return;
			vm->out_off = 0;
			vm->out_len = chardev_read(vm->cd, vm->out, sizeof(vm->out));
			if (vm->out_len == 0)
				return;
		}
		ssize_t n = write(vm->con_fd, vm->out + vm->out_off, vm->out_len - vm->out_off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)	/* QEMU is slow: wait for EPOLLOUT */
				ev_mod(vm->loop, vm->con_fd, EPOLLIN | EPOLLOUT);
			return;
		}
		vm->out_off += (size_t)n;
	}
}

static void qemu_input_ready(void *dev)
{
	qemu_pump_input(dev);
}

static void qemu_on_console(struct ev_loop *loop, int fd, uint32_t events, void *arg)
{
	struct qemu_vm *vm = arg;
	char buf[16384];

	if (events & EPOLLOUT) {
		ev_mod(loop, fd, EPOLLIN);
		qemu_pump_input(vm);
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n > 0)
			chardev_write(vm->cd, buf, (size_t)n);
		else if (n == 0 || (errno != EAGAIN && errno != EINTR))
			ev_del(loop, fd);	/* QEMU is going away; its pidfd tells */
	}
}

/* --- QMP --------------------------------------------------------------------- */
static void qmp_send(struct qemu_vm *vm, const char *json)
{
	size_t len = strlen(json);
	/* Commands are small and QMP reads them promptly; a short blocking
	 * write is fine. */
	if (fd_write_all(vm->qmp_fd, json, len) < 0) {
		/* QEMU is gone: its pidfd tells the loop */
	}
}

static void qmp_query_uart(struct qemu_vm *vm)
{
	char cmd[256];

	if (vm->query_pending || !vm->qmp_ready)
		return;
	vm->query_pending = true;
	vm->qmp_step = 0;
	snprintf(cmd, sizeof(cmd),
		 "{\"execute\":\"human-monitor-command\",\"arguments\":"
		 "{\"command-line\":\"i /b 0x%x\"}}\n"
		 "{\"execute\":\"human-monitor-command\",\"arguments\":"
		 "{\"command-line\":\"i /b 0x%x\"}}\n",
		 PORT_COM1 + 1, PORT_COM1 + 3);
	qmp_send(vm, cmd);
}

static void gate_arm(struct qemu_vm *vm, bool on)
{
	struct itimerspec its = { 0 };

	if (on) {
		its.it_value.tv_nsec = GATE_POLL_NS;
		its.it_interval.tv_nsec = GATE_POLL_NS;
	}
	timerfd_settime(vm->timer_fd, 0, &its, NULL);
}

/* "portb[0x03f9] = 0x05" → 5 */
static int parse_port_value(const char *s)
{
	const char *eq = strchr(s, '=');
	if (eq == NULL)
		return -1;
	return (int)strtol(eq + 1, NULL, 0);
}

static int64_t jint(struct json_object *o, const char *k)
{
	struct json_object *v;
	return json_object_object_get_ex(o, k, &v) ? json_object_get_int64(v) : 0;
}

/* A query-migrate (or migrate) reply: QEMU's view of the migration. */
static void qemu_mig_reply(struct qemu_vm *vm, struct json_object *msg)
{
	struct json_object *ret, *st, *ram, *e;

	if (json_object_object_get_ex(msg, "error", &e)) {
		struct json_object *d;
		snprintf(vm->mig.state, sizeof(vm->mig.state), "failed");
		snprintf(vm->mig.error, sizeof(vm->mig.error), "QEMU: %s",
			 json_object_object_get_ex(e, "desc", &d) ? json_object_get_string(d) : "?");
		return;
	}
	if (!json_object_object_get_ex(msg, "return", &ret) ||
	    !json_object_object_get_ex(ret, "status", &st))
		return;
	const char *status = json_object_get_string(st);
	if (strcmp(status, "completed") == 0 || strcmp(status, "failed") == 0 ||
	    strcmp(status, "cancelled") == 0)
		snprintf(vm->mig.state, sizeof(vm->mig.state), "%s",
			 status[0] == 'c' && status[1] == 'o' ? "completed" : "failed");
	else
		snprintf(vm->mig.state, sizeof(vm->mig.state), "active");
	if (json_object_object_get_ex(ret, "error-desc", &e))
		snprintf(vm->mig.error, sizeof(vm->mig.error), "QEMU: %s", json_object_get_string(e));
	vm->mig.total_ms = (uint64_t)jint(ret, "total-time");
	vm->mig.downtime_ms = (double)jint(ret, "downtime");
	vm->mig.expected_downtime_ms = (double)jint(ret, "expected-downtime");
	if (json_object_object_get_ex(ret, "ram", &ram)) {
		vm->mig.ram_total = (uint64_t)jint(ram, "total");
		vm->mig.ram_sent = (uint64_t)jint(ram, "transferred");
		vm->mig.ram_remaining = (uint64_t)jint(ram, "remaining");
		vm->mig.bytes_sent = vm->mig.ram_sent;
		vm->mig.rounds = (unsigned)jint(ram, "dirty-sync-count");
		struct json_object *mb;
		if (json_object_object_get_ex(ram, "mbps", &mb))
			vm->mig.mib_per_s = json_object_get_double(mb) / 8 * 1e6 / 1048576;
	}
}

static void qmp_handle(struct qemu_vm *vm, struct json_object *msg)
{
	struct json_object *v;

	if (json_object_object_get_ex(msg, "QMP", NULL)) {
		qmp_send(vm, "{\"execute\":\"qmp_capabilities\"}\n");
		vm->qmp_step = -1;
		return;
	}
	if (json_object_object_get_ex(msg, "event", &v)) {
		const char *ev = json_object_get_string(v);
		if (strcmp(ev, "GUEST_PANICKED") == 0) {
			vm->panicked = true;
		} else if (strcmp(ev, "STOP") == 0) {
			vm->paused = true;
		} else if (strcmp(ev, "RESUME") == 0) {
			vm->paused = false;
		} else if (strcmp(ev, "RESET") == 0) {
			struct json_object *data, *reason;
			bool by_guest = json_object_object_get_ex(msg, "data", &data) &&
					json_object_object_get_ex(data, "reason", &reason) &&
					strcmp(json_object_get_string(reason), "guest-reset") == 0;
			/* A reboot the guest's kernel asked for follows on_reboot;
			 * a reset from the control socket (host-qmp-system-reset)
			 * stays in place, and so does the firmware's own reset
			 * that follows it: the kernel's UART (the gate) is not
			 * open again yet then. */
			if (by_guest && vm->no_reboot && vm->gate_open) {
				ev_stop(vm->loop, VM_EXIT_REBOOT);
				return;
			}
			/* counted when the kernel is up again (the gate opens):
			 * the firmware resets once more on its way */
			vm->reset_seen = true;
			/* the guest will re-open its UART: hold input again */
			vm->gate_open = false;
			gate_arm(vm, true);
		}
		return;
	}
	if (json_object_object_get_ex(msg, "id", &v)) {
		if (strcmp(json_object_get_string(v), "mig") == 0)
			qemu_mig_reply(vm, msg);
		return;	/* a control command's reply (fire and forget) */
	}
	if (json_object_object_get_ex(msg, "return", &v)) {
		if (vm->qmp_step == -1) {
			vm->qmp_ready = true;
			vm->qmp_step = 0;
			qmp_query_uart(vm);
			return;
		}
		if (!vm->query_pending)
			return;
		int val = json_object_is_type(v, json_type_string) ?
				  parse_port_value(json_object_get_string(v)) : -1;
		if (vm->qmp_step == 0) {
			vm->ier = (uint8_t)val;
			vm->qmp_step = 1;
			return;
		}
		vm->lcr = (uint8_t)val;
		vm->query_pending = false;
		/* IER.RDI set outside the divisor-latch window: the driver is
		 * past its FIFO clear and takes input from now on. */
		if (val >= 0 && (vm->ier & 0x01) && !(vm->lcr & 0x80) && !vm->gate_open) {
			vm->gate_open = true;
			if (vm->reset_seen)
				vm->boots++;
			vm->reset_seen = false;
			gate_arm(vm, false);
			qemu_pump_input(vm);
		}
		return;
	}
	if (json_object_object_get_ex(msg, "error", NULL))
		vm->query_pending = false;
}

static void qemu_on_qmp(struct ev_loop *loop, int fd, uint32_t events, void *arg)
{
	struct qemu_vm *vm = arg;
	ssize_t n;

	(void)events;
	n = read(fd, vm->qmp_buf + vm->qmp_len, sizeof(vm->qmp_buf) - vm->qmp_len - 1);
	if (n <= 0) {
		if (n == 0 || (errno != EAGAIN && errno != EINTR))
			ev_del(loop, fd);
		return;
	}
	vm->qmp_len += (size_t)n;
	vm->qmp_buf[vm->qmp_len] = '\0';
	char *line = vm->qmp_buf, *nl;
	while ((nl = strchr(line, '\n')) != NULL) {
		*nl = '\0';
		struct json_object *msg = json_tokener_parse(line);
		if (msg) {
			qmp_handle(vm, msg);
			json_object_put(msg);
		}
		line = nl + 1;
	}
	vm->qmp_len -= (size_t)(line - vm->qmp_buf);
	memmove(vm->qmp_buf, line, vm->qmp_len);
	if (vm->qmp_len == sizeof(vm->qmp_buf) - 1)
		vm->qmp_len = 0;	/* a line longer than any QMP reply: drop */
}

static void qemu_on_timer(struct ev_loop *loop, int fd, uint32_t events, void *arg)
{
	uint64_t ticks;

	(void)loop;
	(void)events;
	if (read(fd, &ticks, sizeof(ticks)) < 0)
		return;
	qmp_query_uart(arg);
}

/* --- control operations (engine.h), through QMP -------------------------------- */
static int qemu_ctl_send(struct qemu_vm *vm, const char *cmd, struct err *err)
{
	char line[128];

	if (!vm->qmp_ready)
		return err_set(err, EAGAIN, "engine qemu: QEMU's monitor is not ready yet");
	/* the id marks the reply as not the UART gate's (qmp_handle) */
	snprintf(line, sizeof(line), "{\"execute\":\"%s\",\"id\":\"ctl\"}\n", cmd);
	qmp_send(vm, line);
	return 0;
}

static int qemu_ctl_pause(void *opaque, struct err *err)
{
	struct qemu_vm *vm = opaque;
	int r = qemu_ctl_send(vm, "stop", err);

	if (r == 0)
		vm->paused = true;	/* STOP confirms */
	return r;
}

static int qemu_ctl_resume(void *opaque, struct err *err)
{
	struct qemu_vm *vm = opaque;
	int r = qemu_ctl_send(vm, "cont", err);

	if (r == 0)
		vm->paused = false;
	return r;
}

static int qemu_ctl_power_button(void *opaque, struct err *err)
{
	struct qemu_vm *vm = opaque;

	if (vm->paused)
		return err_set(err, EBUSY, "the VM is paused: resume it first");
	return qemu_ctl_send(vm, "system_powerdown", err);
}

static int qemu_ctl_reset(void *opaque, struct err *err)
{
	return qemu_ctl_send(opaque, "system_reset", err);
}

/* QEMU's CPU time (utime + stime) from /proc/PID/stat. */
static uint64_t qemu_cpu_ns(pid_t pid)
{
	char path[64], buf[1024];
	unsigned long long ut = 0, st = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (f == NULL)
		return 0;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *p = strrchr(buf, ')');	/* the command name may hold spaces */
	if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
				&ut, &st) != 2)
		return 0;
	return (ut + st) * (1000000000ULL / (uint64_t)sysconf(_SC_CLK_TCK));
}

static int qemu_ctl_stats(void *opaque, struct vm_stats *out, struct err *err)
{
	struct qemu_vm *vm = opaque;

	(void)err;
	out->paused = vm->paused;
	out->cpu_time_ns = qemu_cpu_ns(vm->pid);
	out->memory_mib = vm->memory_mib;
	out->vcpus = vm->vcpus;
	out->boots = vm->boots;
	out->pid = vm->pid;
	return 0;
}

/* --- save and migrate: QEMU's migration, fed an fd (getfd) ------------------------- */

/* qmp_send_fd: a QMP command with (fd) attached (SCM_RIGHTS), for getfd. */
static int qmp_send_fd(struct qemu_vm *vm, const char *json, int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = (void *)json, .iov_len = strlen(json) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			     .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);

	memset(cbuf, 0, sizeof(cbuf));
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	for (;;) {
		ssize_t n = sendmsg(vm->qmp_fd, &mh, 0);
		if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
			usleep(1000);
			continue;
		}
		if (n < 0)
			return -errno;
		if ((size_t)n < iov.iov_len)
			qmp_send(vm, json + n);
		return 0;
	}
}

/* Start QEMU's migration into (fd) (kept by QEMU; ours may be closed). */
static int qemu_mig_start(struct qemu_vm *vm, int fd, int mode, struct err *err)
{
	struct itimerspec its = { .it_interval = { .tv_nsec = 100000000 },
				  .it_value = { .tv_nsec = 100000000 } };

	if (!vm->qmp_ready)
		return err_set(err, EAGAIN, "engine qemu: QEMU's monitor is not ready yet");
	if (vm->paused)
		return err_set(err, EBUSY, "the VM is paused: resume it first");
	if (qmp_send_fd(vm, "{\"execute\":\"getfd\",\"arguments\":{\"fdname\":\"domusmig\"},"
			    "\"id\":\"ctl\"}\n", fd) < 0)
		return err_setsys(err, errno, "engine qemu: passing the migration fd to QEMU");
	memset(&vm->mig, 0, sizeof(vm->mig));
	snprintf(vm->mig.state, sizeof(vm->mig.state), "active");
	vm->mig_mode = mode;
	qmp_send(vm, "{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"fd:domusmig\"},"
		     "\"id\":\"mig\"}\n");
	if (mode == MIG_TCP)
		timerfd_settime(vm->mig_timer, 0, &its, NULL);
	return 0;
}

static void qemu_mig_poll(struct qemu_vm *vm)
{
	qmp_send(vm, "{\"execute\":\"query-migrate\",\"id\":\"mig\"}\n");
}

/* Wait (blocking, QMP handled as usual) until the migration ended. */
static void qemu_mig_wait(struct qemu_vm *vm)
{
	while (strcmp(vm->mig.state, "active") == 0) {
		struct pollfd pfd = { .fd = vm->qmp_fd, .events = POLLIN };
		qemu_mig_poll(vm);
		if (poll(&pfd, 1, 100) < 0 && errno != EINTR)
			break;
		if (pfd.revents & (POLLHUP | POLLERR)) {
			snprintf(vm->mig.state, sizeof(vm->mig.state), "failed");
			snprintf(vm->mig.error, sizeof(vm->mig.error), "QEMU went away");
			break;
		}
		if (pfd.revents & POLLIN)
			qemu_on_qmp(vm->loop, vm->qmp_fd, EPOLLIN, vm);
	}
}

/* The snapshot file's prefix: header, "config", the "qemu" bulk section
 * whose data is QEMU's own stream, (qlen) bytes. Rewritten in place once
 * (qlen) is known: its size does not depend on it. */
static int qemu_save_prefix(struct qemu_vm *vm, int fd, uint64_t qlen, uint64_t *end)
{
	struct stream s;
	struct buf b;
	uint8_t desc[4] = { 0 };
	int r;

	if (lseek(fd, 0, SEEK_SET) < 0)
		return -errno;
	buf_init(&b);
	r = stream_open(&s, fd, true);
	if (r == 0)
		r = stream_put_header(&s);
	if (r == 0 && (r = vmconfig_save(vm->cfg, &b)) == 0)
		r = stream_put_section(&s, "config", VMCONFIG_VERSION, b.data, b.len);
	if (r == 0)
		r = stream_put_bulk(&s, "qemu", 1, desc, sizeof(desc), qlen);
	if (r == 0)
		r = stream_flush(&s);
	*end = s.offset;
	stream_close(&s);
	buf_free(&b);
	return r;
}

static int qemu_ctl_save(void *opaque, const char *path, bool compress, struct err *err)
{
	struct qemu_vm *vm = opaque;
	char tmp[PATH_MAX], dir[PATH_MAX];
	uint64_t start, end;
	struct stat st;
	struct stream s;
	int fd, r;

	if (compress)
		return err_set(err, ENOTSUP, "engine qemu: --compress is for the kvm engine");
	if (vm->mig_mode && strcmp(vm->mig.state, "active") == 0)
		return err_set(err, EBUSY, "a migration is under way");
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	if (snprintf(tmp, sizeof(tmp), "%s/.domus-save.XXXXXX", slash ? dir : ".") >= (int)sizeof(tmp))
		return err_set(err, ENAMETOOLONG, "save %s: path too long", path);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return err_setsys(err, errno, "save %s: cannot create a file there", path);
	r = qemu_save_prefix(vm, fd, 0, &start);
	if (r < 0) {
		err_setsys(err, -r, "save %s", path);
		goto fail;
	}
	r = qemu_mig_start(vm, fd, MIG_SAVE, err);
	if (r < 0)
		goto fail;
	qemu_mig_wait(vm);
	if (strcmp(vm->mig.state, "completed") != 0) {
		r = err_set(err, EIO, "save %s: %s", path,
			    vm->mig.error[0] ? vm->mig.error : "QEMU's migration failed");
		goto fail;	/* QEMU resumes the guest itself */
	}
	if (fstat(fd, &st) < 0 || (uint64_t)st.st_size < start) {
		r = err_setsys(err, errno, "save %s", path);
		goto fail;
	}
	r = qemu_save_prefix(vm, fd, (uint64_t)st.st_size - start, &end);
	if (r == 0 && end != start)
		r = -EIO;
	if (r == 0 && lseek(fd, st.st_size, SEEK_SET) < 0)
		r = -errno;
	if (r == 0 && (r = stream_open(&s, fd, true)) == 0) {
		s.nr_sections = 2;
		r = stream_put_end(&s);
		if (r == 0)
			r = stream_flush(&s);
		stream_close(&s);
	}
	if (r == 0 && (fsync(fd) < 0 || rename(tmp, path) < 0))
		r = -errno;
	if (r < 0) {
		err_setsys(err, -r, "save %s", path);
		qmp_send(vm, "{\"execute\":\"cont\",\"id\":\"ctl\"}\n");
		goto fail;
	}
	close(fd);
	log_info("saved to %s (QEMU's state, %llu MiB)", path,
		 (unsigned long long)((uint64_t)st.st_size >> 20));
	/* the guest is in the file: QEMU goes */
	qmp_send(vm, "{\"execute\":\"quit\"}\n");
	vm->mig_mode = MIG_SAVE;
	return 0;
fail:
	close(fd);
	unlink(tmp);
	vm->mig_mode = 0;
	return r;
}

static int qemu_ctl_migrate(void *opaque, const char *target, unsigned downtime_ms,
			    struct err *err)
{
	struct qemu_vm *vm = opaque;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL;
	char host[256], port[32], line[160];
	const char *colon = strrchr(target, ':');
	struct stream tx, rx;
	struct section sec;
	struct buf b;
	int sock = -1, r;

	if (vm->mig_mode && strcmp(vm->mig.state, "active") == 0)
		return err_set(err, EBUSY, "a migration is already under way");
	if (colon == NULL || colon == target || (size_t)(colon - target) >= sizeof(host))
		return err_set(err, EINVAL, "'%s': expected HOST:PORT", target);
	snprintf(host, sizeof(host), "%.*s", (int)(colon - target), target);
	snprintf(port, sizeof(port), "%s", colon + 1);
	r = getaddrinfo(host, port, &hints, &res);
	if (r != 0)
		return err_set(err, EHOSTUNREACH, "%s: %s", target, gai_strerror(r));
	sock = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (sock < 0 || connect(sock, res->ai_addr, res->ai_addrlen) < 0) {
		r = err_setsys(err, errno, "cannot connect to %s", target);
		freeaddrinfo(res);
		if (sock >= 0)
			close(sock);
		return r;
	}
	freeaddrinfo(res);
	/* our preamble: the machine, so the destination starts a QEMU like ours */
	buf_init(&b);
	stream_open(&tx, sock, true);
	stream_open(&rx, sock, false);
	r = stream_put_header(&tx);
	if (r == 0 && (r = vmconfig_save(vm->cfg, &b)) == 0)
		r = stream_put_section(&tx, "config", VMCONFIG_VERSION, b.data, b.len);
	if (r == 0)
		r = stream_flush(&tx);
	buf_free(&b);
	struct err e = { 0 };
	if (r < 0)
		r = err_setsys(err, -r, "sending to %s", target);
	else if ((r = stream_get_section(&rx, &sec, &e)) <= 0)
		r = err_set(err, EPIPE, "%s went away (%s)", target, e.msg);
	else if (strcmp(sec.name, "accept") != 0)
		r = err_set(err, EPROTO, "%s: %.*s", target, (int)sec.len, (const char *)sec.data);
	else
		r = 0;
	stream_close(&tx);
	stream_close(&rx);
	if (r == 0) {
		snprintf(line, sizeof(line),
			 "{\"execute\":\"migrate-set-parameters\",\"arguments\":"
			 "{\"downtime-limit\":%u},\"id\":\"ctl\"}\n", downtime_ms);
		qmp_send(vm, line);
		r = qemu_mig_start(vm, sock, MIG_TCP, err);
	}
	close(sock);	/* QEMU has its own copy */
	if (r == 0) {
		vm->mig_t0 = 0;
		log_info("migrate: to %s through QEMU's migration", target);
	}
	return r;
}

static int qemu_ctl_query_migrate(void *opaque, struct migrate_status *out, struct err *err)
{
	struct qemu_vm *vm = opaque;

	(void)err;
	if (vm->mig_mode != MIG_TCP) {
		memset(out, 0, sizeof(*out));
		snprintf(out->state, sizeof(out->state), "none");
		return 0;
	}
	*out = vm->mig;
	if (strcmp(out->state, "completed") == 0)
		qmp_send(vm, "{\"execute\":\"quit\"}\n");	/* told: QEMU goes */
	return 0;
}

static void qemu_on_mig_timer(struct ev_loop *loop, int fd, uint32_t events, void *arg)
{
	struct qemu_vm *vm = arg;
	uint64_t ticks;
	struct itimerspec off = { 0 };

	(void)loop;
	(void)events;
	if (read(fd, &ticks, sizeof(ticks)) < 0)
		return;
	if (strcmp(vm->mig.state, "active") == 0) {
		qemu_mig_poll(vm);
		return;
	}
	timerfd_settime(fd, 0, &off, NULL);
	if (strcmp(vm->mig.state, "completed") == 0) {
		log_info("migrate: done in %llu ms, downtime %.0f ms (QEMU's figures)",
			 (unsigned long long)vm->mig.total_ms, vm->mig.downtime_ms);
		/* postmigrate: QEMU waits paused; domus migrate's query ends it, or this */
		struct itimerspec later = { .it_value = { .tv_sec = 3 } };
		if (vm->mig_t0 == 0) {
			vm->mig_t0 = 1;
			timerfd_settime(fd, 0, &later, NULL);
		} else {
			qmp_send(vm, "{\"execute\":\"quit\"}\n");
		}
	} else {
		log_error("migrate: failed, the guest goes on here: %s", vm->mig.error);
	}
}

static const struct vm_control_ops qemu_control_ops = {
	.save = qemu_ctl_save,
	.migrate = qemu_ctl_migrate,
	.query_migrate = qemu_ctl_query_migrate,
	.pause = qemu_ctl_pause,
	.resume = qemu_ctl_resume,
	.power_button = qemu_ctl_power_button,
	.reset = qemu_ctl_reset,
	.stats = qemu_ctl_stats,
};

/* --- the QEMU process ---------------------------------------------------------- */
static int qemu_exit_status(struct qemu_vm *vm, int wstatus, struct err *err)
{
	if (vm->mig_mode && strcmp(vm->mig.state, "completed") == 0)
		return vm->mig_mode == MIG_SAVE ? VM_EXIT_SAVED : VM_EXIT_MIGRATED;
	if (vm->panicked) {
		log_error("guest crashed: kernel panic (pvpanic)");
		return VM_EXIT_CRASH;
	}
	if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0)
		return VM_EXIT_POWEROFF;
	if (WIFEXITED(wstatus))
		return err_set(err, EIO, "engine qemu: %s failed with status %d", qemu_binary(),
			       WEXITSTATUS(wstatus));
	return err_set(err, EIO, "engine qemu: %s killed by signal %d", qemu_binary(),
		       WTERMSIG(wstatus));
}

static void qemu_on_exit(struct ev_loop *loop, int fd, uint32_t events, void *arg)
{
	(void)events;
	(void)arg;
	ev_del(loop, fd);
	/* the status is collected by qemu_run after the loop ends */
	ev_stop(loop, INT32_MIN);
}

static void argv_push(char **argv, int *argc, const char *s)
{
	argv[(*argc)++] = (char *)s;
}

/* qemu_escape: (s) for a QEMU option value, where ',' is written ',,'. Appends to
 * (out, size); false if it does not fit. */
static bool qemu_escape(char *out, size_t size, const char *s)
{
	size_t n = strlen(out);

	for (; *s; s++) {
		if (n + 3 > size)
			return false;
		if (*s == ',')
			out[n++] = ',';
		out[n++] = *s;
	}
	out[n] = '\0';
	return true;
}

/* The --disk flags as QEMU's: a raw drive on virtio-blk-pci, I/O through
 * io_uring like ours; direct is cache=none (O_DIRECT), else the host page
 * cache, with guest flushes honoured either way (as our engine does);
 * discards reach the file so a sparse image stays sparse. */
static int qemu_disk_args(const struct vm_config *cfg, char (*drive)[DISK_PATH_MAX * 2 + 128],
			  char (*device)[96], struct err *err)
{
	for (unsigned i = 0; i < cfg->nr_disks; i++) {
		const struct disk_opts *o = &cfg->disk_opts[i];

		snprintf(drive[i], sizeof(drive[i]), "file=");
		if (!qemu_escape(drive[i], sizeof(drive[i]), o->path))
			return err_set(err, ENAMETOOLONG, "disk %s: path too long", o->path);
		snprintf(drive[i] + strlen(drive[i]), sizeof(drive[i]) - strlen(drive[i]),
			 ",if=none,id=disk%u,format=raw,aio=io_uring,cache=%s,discard=unmap%s", i,
			 o->direct ? "none" : "writeback", o->readonly ? ",readonly=on" : "");
		/* share-rw: QEMU's image lock then lets other VMs write it too */
		snprintf(device[i], sizeof(device[i]), "virtio-blk-pci,drive=disk%u%s%s%s", i,
			 o->serial[0] ? ",serial=" : "", o->serial, o->shared ? ",share-rw=on" : "");
	}
	return 0;
}

/* The --net flags as QEMU's: virtio-net-pci on our own TAP's descriptor
 * (bridge=, tap=: opened and set up by `domus run`, inherited by QEMU, vhost
 * off as there is no vhost-net here) or on QEMU's user-mode network, which is
 * libslirp too, with the same addresses and forwards. */
static void qemu_net_args(const struct vm_config *cfg, unsigned i, char *netdev, size_t nlen,
			  char *device, size_t dlen)
{
	const struct net_opts *o = &cfg->net_opts[i];
	const uint8_t *m = o->mac;

	if (o->kind == NET_USER) {
		size_t n = (size_t)snprintf(netdev, nlen, "user,id=net%u,net=10.0.2.0/24", i);
		for (unsigned f = 0; f < o->nr_fwd && n < nlen; f++) {
			const struct net_hostfwd *fw = &o->fwd[f];
			char ha[INET_ADDRSTRLEN] = "", ga[INET_ADDRSTRLEN] = "";
			if (fw->host_addr.s_addr != htonl(INADDR_ANY))
				inet_ntop(AF_INET, &fw->host_addr, ha, sizeof(ha));
			if (fw->guest_addr.s_addr != htonl(INADDR_ANY))
				inet_ntop(AF_INET, &fw->guest_addr, ga, sizeof(ga));
			n += (size_t)snprintf(netdev + n, nlen - n, ",hostfwd=%s:%s:%u-%s:%u",
					      fw->udp ? "udp" : "tcp", ha, fw->host_port, ga,
					      fw->guest_port);
		}
	} else {
		snprintf(netdev, nlen, "tap,id=net%u,fd=%d,vhost=off", i, cfg->nets[i]->fd);
	}
	snprintf(device, dlen, "virtio-net-pci,netdev=net%u,mac=%02x:%02x:%02x:%02x:%02x:%02x", i,
		 m[0], m[1], m[2], m[3], m[4], m[5]);
}

static int qemu_spawn(struct qemu_vm *vm, const struct vm_config *cfg, int con_peer,
		      int qmp_peer, struct err *err)
{
	static char drive[VM_DISKS_MAX][DISK_PATH_MAX * 2 + 128];
	static char device[VM_DISKS_MAX][96];
	static char vcon[256];
	static char netdev[NET_NICS_MAX][64 + NET_HOSTFWD_MAX * 64], netdevice[NET_NICS_MAX][96];
	char mem[32], smp[32], qmp[64];
	char *argv[64 + 4 * VM_DISKS_MAX + 4 * NET_NICS_MAX];
	int argc = 0;
	bool kvm = engine_kvm_native();

	snprintf(mem, sizeof(mem), "%llu", (unsigned long long)cfg->memory_mib);
	snprintf(smp, sizeof(smp), "%u", cfg->vcpus);
	snprintf(qmp, sizeof(qmp), "socket,id=qmp,fd=%d", qmp_peer);
	argv_push(argv, &argc, qemu_binary());
	argv_push(argv, &argc, "-M");
	argv_push(argv, &argc, "q35");
	argv_push(argv, &argc, "-accel");
	argv_push(argv, &argc, kvm ? "kvm" : "tcg");
	argv_push(argv, &argc, "-cpu");
	argv_push(argv, &argc, kvm ? "host" : "max");
	argv_push(argv, &argc, "-m");
	argv_push(argv, &argc, mem);
	argv_push(argv, &argc, "-smp");
	argv_push(argv, &argc, smp);
	argv_push(argv, &argc, "-nodefaults");
	argv_push(argv, &argc, "-no-user-config");
	argv_push(argv, &argc, "-display");
	argv_push(argv, &argc, "none");
	argv_push(argv, &argc, "-chardev");
	argv_push(argv, &argc, "stdio,id=con0,signal=off");
	argv_push(argv, &argc, "-serial");
	argv_push(argv, &argc, "chardev:con0");
	argv_push(argv, &argc, "-chardev");
	argv_push(argv, &argc, qmp);
	argv_push(argv, &argc, "-mon");
	argv_push(argv, &argc, "chardev=qmp,mode=control");
	argv_push(argv, &argc, "-rtc");
	argv_push(argv, &argc, "base=utc");
	/* The same crash signal as the KVM engine: QEMU's ISA pvpanic at 0x505. */
	argv_push(argv, &argc, "-device");
	argv_push(argv, &argc, "pvpanic");
	/* the kvm engine always has a virtio-rng: so does this one */
	argv_push(argv, &argc, "-device");
	argv_push(argv, &argc, "virtio-rng-pci");
	if (qemu_disk_args(cfg, drive, device, err) < 0)
		return -ENAMETOOLONG;
	for (unsigned i = 0; i < cfg->nr_disks; i++) {
		argv_push(argv, &argc, "-drive");
		argv_push(argv, &argc, drive[i]);
		argv_push(argv, &argc, "-device");
		argv_push(argv, &argc, device[i]);
	}
	for (unsigned i = 0; i < cfg->nr_nets; i++) {
		qemu_net_args(cfg, i, netdev[i], sizeof(netdev[i]), netdevice[i],
			      sizeof(netdevice[i]));
		argv_push(argv, &argc, "-netdev");
		argv_push(argv, &argc, netdev[i]);
		argv_push(argv, &argc, "-device");
		argv_push(argv, &argc, netdevice[i]);
	}
	if (cfg->vconsole_path) {
		/* the second console, as ours: hvc0 on a listening UNIX socket */
		snprintf(vcon, sizeof(vcon), "socket,id=vcon0,server=on,wait=off,path=");
		if (!qemu_escape(vcon, sizeof(vcon), cfg->vconsole_path))
			return err_set(err, ENAMETOOLONG, "--virtio-console: path too long");
		argv_push(argv, &argc, "-device");
		argv_push(argv, &argc, "virtio-serial-pci");
		argv_push(argv, &argc, "-chardev");
		argv_push(argv, &argc, vcon);
		argv_push(argv, &argc, "-device");
		argv_push(argv, &argc, "virtconsole,chardev=vcon0");
	}
	argv_push(argv, &argc, "-action");
	argv_push(argv, &argc, "panic=exit-failure");
	argv_push(argv, &argc, "-kernel");
	argv_push(argv, &argc, cfg->kernel);
	if (cfg->initrd) {
		argv_push(argv, &argc, "-initrd");
		argv_push(argv, &argc, cfg->initrd);
	}
	argv_push(argv, &argc, "-append");
	argv_push(argv, &argc, cfg->cmdline);
	static char incoming[32];
	if (cfg->qemu_incoming_fd > 0) {
		/* a restore or an incoming migration: QEMU's state from this fd */
		snprintf(incoming, sizeof(incoming), "fd:%d", cfg->qemu_incoming_fd);
		argv_push(argv, &argc, "-incoming");
		argv_push(argv, &argc, incoming);
	}
	argv[argc] = NULL;

	pid_t parent = getpid();

	vm->pid = fork();
	if (vm->pid < 0)
		return err_setsys(err, errno, "engine qemu: fork");
	if (vm->pid == 0) {
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		/* QEMU's own stdio is the guest console: our socketpair */
		if (dup2(con_peer, STDIN_FILENO) < 0 || dup2(con_peer, STDOUT_FILENO) < 0)
			_exit(127);
		int fl = fcntl(qmp_peer, F_GETFD);
		fcntl(qmp_peer, F_SETFD, fl & ~FD_CLOEXEC);
		if (cfg->qemu_incoming_fd > 0) {
			fl = fcntl(cfg->qemu_incoming_fd, F_GETFD);
			fcntl(cfg->qemu_incoming_fd, F_SETFD, fl & ~FD_CLOEXEC);
		}
		for (unsigned i = 0; i < cfg->nr_nets; i++) {
			if (cfg->nets && cfg->nets[i]) {
				fl = fcntl(cfg->nets[i]->fd, F_GETFD);
				fcntl(cfg->nets[i]->fd, F_SETFD, fl & ~FD_CLOEXEC);
			}
		}
		/* its own process group: a Ctrl-C on a cooked terminal must not
		 * reach QEMU behind our back */
		setpgid(0, 0);
		/* QEMU must not outlive us, even after kill -9 of domus */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		execvp(argv[0], argv);
		fprintf(stderr, "domus: engine qemu: exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	return 0;
}

static int qemu_run(const struct vm_config *cfg, struct ev_loop *loop, struct console *con,
		    struct err *err)
{
	struct qemu_vm *vm;
	int con_sp[2] = { -1, -1 }, qmp_sp[2] = { -1, -1 };
	int r, wstatus;

	vm = calloc(1, sizeof(*vm));
	if (vm == NULL)
		return err_set(err, ENOMEM, "engine qemu: out of memory");
	vm->loop = loop;
	vm->cd = cfg->serial ? cfg->serial : console_chardev(con);
	vm->memory_mib = cfg->memory_mib;
	vm->vcpus = cfg->vcpus;
	vm->boots = 1;
	vm->no_reboot = cfg->no_reboot;
	vm->pid = -1;
	vm->pidfd = -1;
	vm->timer_fd = -1;
	vm->cfg = cfg;
	vm->mig_timer = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, con_sp) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, qmp_sp) < 0) {
		r = err_setsys(err, errno, "engine qemu: socketpair");
		goto out;
	}
	vm->con_fd = con_sp[0];
	vm->qmp_fd = qmp_sp[0];
	fcntl(vm->con_fd, F_SETFL, O_NONBLOCK);
	fcntl(vm->qmp_fd, F_SETFL, O_NONBLOCK);
	vm->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (vm->timer_fd < 0) {
		r = err_setsys(err, errno, "engine qemu: timerfd");
		goto out;
	}
	r = qemu_spawn(vm, cfg, con_sp[1], qmp_sp[1], err);
	if (r < 0)
		goto out;
	close(con_sp[1]);
	close(qmp_sp[1]);
	con_sp[1] = qmp_sp[1] = -1;
	vm->pidfd = (int)syscall(SYS_pidfd_open, vm->pid, 0);
	if (vm->pidfd < 0) {
		r = err_setsys(err, errno, "engine qemu: pidfd_open");
		goto out_kill;
	}
	chardev_attach(vm->cd, qemu_input_ready, vm);
	if ((r = ev_add(loop, vm->con_fd, EPOLLIN, qemu_on_console, vm)) < 0 ||
	    (r = ev_add(loop, vm->qmp_fd, EPOLLIN, qemu_on_qmp, vm)) < 0 ||
	    (r = ev_add(loop, vm->timer_fd, EPOLLIN, qemu_on_timer, vm)) < 0 ||
	    (r = ev_add(loop, vm->pidfd, EPOLLIN, qemu_on_exit, vm)) < 0 ||
	    (vm->mig_timer >= 0 &&
	     (r = ev_add(loop, vm->mig_timer, EPOLLIN, qemu_on_mig_timer, vm)) < 0)) {
		err_set(err, -r, "engine qemu: event loop");
		goto out_kill;
	}
	gate_arm(vm, true);

	if (cfg->control) {
		cfg->control->opaque = vm;
		cfg->control->ops = &qemu_control_ops;
	}
	r = ev_run(loop);
	if (cfg->control)
		cfg->control->ops = NULL;
	if (r != INT32_MIN) {
		/* Ctrl-A x, a signal, quit, or a guest reboot with no_reboot:
		 * stop QEMU, politely first */
		qmp_send(vm, "{\"execute\":\"quit\"}\n");
		for (int i = 0; i < 100 && waitpid(vm->pid, &wstatus, WNOHANG) == 0; i++)
			usleep(10000);
		kill(vm->pid, SIGKILL);
		waitpid(vm->pid, &wstatus, 0);
		vm->pid = -1;
		goto out;
	}
	/* drain the console: QEMU may have written its last words */
	qemu_on_console(loop, vm->con_fd, EPOLLIN, vm);
	/* and QMP: GUEST_PANICKED comes just before the exit */
	qemu_on_qmp(loop, vm->qmp_fd, EPOLLIN, vm);
	waitpid(vm->pid, &wstatus, 0);
	vm->pid = -1;
	r = qemu_exit_status(vm, wstatus, err);
	goto out;

out_kill:
	kill(vm->pid, SIGKILL);
	waitpid(vm->pid, NULL, 0);
out:
	chardev_attach(vm->cd, NULL, NULL);
	ev_del(loop, vm->con_fd);
	ev_del(loop, vm->qmp_fd);
	ev_del(loop, vm->timer_fd);
	ev_del(loop, vm->pidfd);
	for (int i = 0; i < 2; i++) {
		if (con_sp[i] >= 0)
			close(con_sp[i]);
		if (qmp_sp[i] >= 0)
			close(qmp_sp[i]);
	}
	if (vm->timer_fd >= 0)
		close(vm->timer_fd);
	if (vm->mig_timer >= 0) {
		ev_del(loop, vm->mig_timer);
		close(vm->mig_timer);
	}
	if (vm->pidfd >= 0)
		close(vm->pidfd);
	free(vm);
	return r;
}

const struct engine_ops qemu_engine_ops = {
	.name = "qemu",
	.check = qemu_check,
	.run = qemu_run,
};
