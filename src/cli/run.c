/* SPDX-License-Identifier: MIT */
/* run.c: `domus run`: check the request, choose the engine, put the console
 * on this terminal, boot, and turn the way the guest ended into our status. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/sysinfo.h>
#include <time.h>
#include <unistd.h>

#include "arch/x86/boot.h"
#include "backends/disk/disk.h"
#include "backends/net/netdev.h"
#include "cli.h"
#include "common/err.h"
#include "common/ev.h"
#include "common/log.h"
#include "console/console.h"
#include "console/sockchar.h"
#include "control/control.h"
#include "control/migcmds.h"
#include "control/vmcmds.h"
#include "engine/engine.h"
#include "migration/migrate.h"
#include "migration/snapshot.h"
#include "migration/stream.h"
#include "migration/vmstate.h"
#include "run_args.h"

static unsigned long long host_memory_mib(void)
{
	struct sysinfo si;

	if (sysinfo(&si) < 0)
		return 0;
	return (unsigned long long)si.totalram * si.mem_unit >> 20;
}

struct run_ctx {
	struct ev_loop *loop;
	int sigfd;
};

static void run_on_quit(void *arg)
{
	struct run_ctx *ctx = arg;
	ev_stop(ctx->loop, VM_EXIT_QUIT);
}

static void run_on_signal(struct ev_loop *loop, int fd, uint32_t events, void *arg)
{
	struct signalfd_siginfo si;

	(void)events;
	(void)arg;
	if (read(fd, &si, sizeof(si)) != sizeof(si))
		return;
	log_info("stopping the guest: received signal %u", si.ssi_signo);
	ev_stop(loop, VM_EXIT_QUIT);
}

/* close_disks: release (n) opened disks; with (remove_created), also delete the
 * files this command created for them: it is giving up before the guest ran. */
static void close_disks(struct disk **disks, unsigned n, bool remove_created)
{
	for (unsigned i = 0; i < n; i++) {
		char path[DISK_PATH_MAX];
		bool created = disk_created(disks[i]);

		snprintf(path, sizeof(path), "%s", disk_path(disks[i]));
		disk_close(disks[i]);
		disks[i] = NULL;
		if (remove_created && created)
			unlink(path);
	}
}

/* open_disks: every --disk checked, created if asked and opened before the
 * guest starts, so each bad one is one error and nothing half-done. */
static int open_disks(const struct vm_config *cfg, struct disk **disks, struct err *err)
{
	for (unsigned i = 0; i < cfg->nr_disks; i++) {
		int r = disk_open(&cfg->disk_opts[i], disks, i, &disks[i], err);
		if (r < 0) {
			close_disks(disks, i, true);
			return r;
		}
	}
	return 0;
}

static void close_nets(struct netdev **nets, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		netdev_close(nets[i]);
		nets[i] = NULL;
	}
}

/* open_nets: every NIC's back end, before the guest starts: TAPs created
 * and on their bridges, libslirp listening on its forwards. The QEMU engine
 * gets our TAP descriptors but runs its own user-mode network. A machine
 * from saved state reopens its back ends by name (bridge, TAP). */
static int open_nets(const struct vm_config *cfg, bool for_qemu, struct netdev **nets,
		     struct err *err)
{
	for (unsigned i = 0; i < cfg->nr_nets; i++) {
		const struct net_opts *o = &cfg->net_opts[i];

		if (for_qemu && o->kind == NET_USER)
			continue;
		int r = netdev_open(o, i, &nets[i], err);
		if (r < 0) {
			close_nets(nets, i);
			return r;
		}
	}
	return 0;
}

/* run_machine: open the disks and NICs, choose the engine, put the console
 * (or the serial socket) here, serve the control socket, and run (cfg) until
 * it ends; the exit status. (a): the options beyond cfg (control, serial
 * socket, NICs); (force): the engine a VM from saved state needs
 * (ENGINE_AUTO: as cfg says). */
static int run_machine(struct vm_config *cfg, struct run_args *a, enum engine_kind force)
{
	static struct disk *disks[VM_DISKS_MAX];
	static struct netdev *nets[NET_NICS_MAX];
	struct err err = { 0 };
	const struct engine_ops *engine;
	char why[256];
	struct run_ctx ctx = { .sigfd = -1 };
	struct console *con = NULL;
	struct sockchar *vcon = NULL, *serial = NULL;
	struct control_server *ctl_srv = NULL;
	struct vm_control vmctl = { 0 };
	struct vmcmds vmc = { 0 };
	sigset_t mask;
	int status;

	/* Signals become loop events. Blocked before any thread exists (the
	 * user-mode network's, the vCPUs'), which inherit the mask: a SIGTERM
	 * taken by another thread would kill domus instead of stopping the VM. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGQUIT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (open_disks(cfg, disks, &err) < 0) {
		log_error("%s", err.msg);
		return VM_EXIT_ERROR;
	}
	if (force != ENGINE_AUTO)
		cfg->engine = force;
	if (engine_select(cfg, &engine, why, sizeof(why), &err) < 0) {
		close_disks(disks, cfg->nr_disks, true);
		log_error("%s", err.msg);
		return VM_EXIT_ERROR;
	}
	if (open_nets(cfg, engine == &qemu_engine_ops, nets, &err) < 0) {
		close_disks(disks, cfg->nr_disks, true);
		log_error("%s", err.msg);
		return VM_EXIT_ERROR;
	}
	cfg->nets = nets;
	log_info("%s", why);
	cfg->engine = engine == &qemu_engine_ops ? ENGINE_QEMU : ENGINE_KVM;
	if (engine == &qemu_engine_ops) {
		/* Checked (and created) here; QEMU opens and locks them itself. */
		close_disks(disks, cfg->nr_disks, false);
	} else {
		cfg->disks = disks;
	}


	status = VM_EXIT_ERROR;
	ctx.loop = ev_loop_new();
	if (ctx.loop == NULL) {
		log_error("out of memory");
		goto out;
	}
	ctx.sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (ctx.sigfd < 0 || ev_add(ctx.loop, ctx.sigfd, EPOLLIN, run_on_signal, &ctx) < 0) {
		log_error("signalfd: %s", strerror(errno));
		goto out;
	}
	con = console_new(ctx.loop, STDIN_FILENO, STDOUT_FILENO, &err);
	if (con == NULL) {
		log_error("%s", err.msg);
		goto out;
	}
	console_on_quit(con, run_on_quit, &ctx);
	if (cfg->vconsole_path && engine != &qemu_engine_ops) {
		if (sockchar_open(cfg->vconsole_path, ctx.loop, &vcon, &err) < 0) {
			log_error("%s", err.msg);
			goto out;
		}
		cfg->vconsole = sockchar_chardev(vcon);
	}
	if (a->serial_socket) {
		if (sockchar_open(a->serial_socket, ctx.loop, &serial, &err) < 0) {
			log_error("%s", err.msg);
			goto out;
		}
		cfg->serial = sockchar_chardev(serial);
	}
	if (a->control_path) {
		if (control_server_open(a->control_path, ctx.loop, &ctl_srv, &err) < 0) {
			log_error("%s", err.msg);
			goto out;
		}
		vmc.ctl = &vmctl;
		vmc.cfg = cfg;
		vmc.loop = ctx.loop;
		vmc.name = getenv("DOMUS_DOMAIN");
		if (vmcmds_register(ctl_srv, &vmc) < 0 || migcmds_register(ctl_srv, &vmc) < 0) {
			log_error("out of memory");
			goto out;
		}
		cfg->control = &vmctl;
	}

	int r = engine->run(cfg, ctx.loop, con, &err);
	if (r < 0) {
		console_restore_terminal();
		log_error("%s", err.msg);
		status = VM_EXIT_ERROR;
	} else {
		status = r;
	}
out:
	close_disks(disks, cfg->disks ? cfg->nr_disks : 0, false);
	control_server_close(ctl_srv);
	sockchar_close(serial);
	close_nets(nets, cfg->nr_nets);
	sockchar_close(vcon);
	console_free(con);
	if (ctx.sigfd >= 0)
		close(ctx.sigfd);
	ev_loop_free(ctx.loop);
	return status;
}

/* The options of a machine from saved state: only --control and
 * --serial-socket (a restore); its disks and NICs are the saved ones. */
static struct run_args machine_args;

struct restore_ctx {
	struct stream s;
	const char *path;
	double t0;
};

static double mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int restore_load(void *arg, struct vm *vm, struct err *err)
{
	struct restore_ctx *rc = arg;

	return vmstate_load(vm, &rc->s, snapshot_ram_cb, NULL, err);
}

static int restore_started(void *arg, struct vm *vm, struct err *err)
{
	struct restore_ctx *rc = arg;

	(void)vm;
	(void)err;
	log_info("restored from %s: guest running %.1f ms after start", rc->path,
		 mono_ms() - rc->t0);
	return 0;
}

/* A QEMU-engine snapshot: QEMU's own stream in the "qemu" section, checked
 * to be whole (the end marker after it), then read by QEMU from the file. */
static int run_restore_qemu(const struct run_args *args, struct vmconfig *vc, struct stream *s,
			    int fd)
{
	struct section sec;
	struct err err = { 0 };
	int r = stream_get_section(s, &sec, &err);
	uint64_t off;

	if (r == 1 && (strcmp(sec.name, "qemu") != 0 || !(sec.flags & STREAM_F_BULK)))
		r = err_set(&err, EINVAL, "snapshot corrupt: no QEMU state after the configuration");
	off = sec.bulk_offset;
	if (r == 1 && (r = stream_skip(s, sec.bulk_len)) == 0)
		r = stream_get_section(s, &sec, &err);
	if (r == 1)
		r = err_set(&err, EINVAL, "snapshot corrupt: a section after the QEMU state");
	if (r < 0) {
		log_error("restore %s: %s", args->restore, err.msg[0] ? err.msg : "truncated");
		return VM_EXIT_ERROR;
	}
	if (lseek(fd, (off_t)off, SEEK_SET) < 0) {
		log_error("restore %s: %s", args->restore, strerror(errno));
		return VM_EXIT_ERROR;
	}
	vc->cfg.qemu_incoming_fd = fd;
	return run_machine(&vc->cfg, &machine_args, ENGINE_QEMU);
}

/* domus run --restore FILE */
static int run_restore(const struct run_args *args)
{
	static struct vmconfig vc;
	struct restore_ctx rc = { .path = args->restore, .t0 = mono_ms() };
	struct vm_incoming inc = { .load = restore_load, .started = restore_started, .arg = &rc };
	struct err err = { 0 };
	int fd, kvm_fd, status;

	fd = open(args->restore, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		log_error("restore %s: %s", args->restore, strerror(errno));
		return VM_EXIT_ERROR;
	}
	if (stream_open(&rc.s, fd, false) < 0 || vmconfig_read(&rc.s, &vc, &err) < 0) {
		log_error("restore %s: %s", args->restore, err.msg[0] ? err.msg : "out of memory");
		stream_close(&rc.s);
		close(fd);
		return VM_EXIT_ERROR;
	}
	if (vc.cfg.engine == ENGINE_QEMU) {
		status = run_restore_qemu(args, &vc, &rc.s, fd);
		stream_close(&rc.s);
		close(fd);
		return status;
	}
	kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm_fd < 0 || vmstate_read_cpuid(&rc.s, kvm_fd, &inc.cpuid, &err) < 0) {
		log_error("restore %s: %s", args->restore,
			  kvm_fd < 0 ? "/dev/kvm: cannot open it (restoring needs the KVM engine)"
				     : err.msg);
		if (kvm_fd >= 0)
			close(kvm_fd);
		stream_close(&rc.s);
		close(fd);
		return VM_EXIT_ERROR;
	}
	close(kvm_fd);
	vc.cfg.incoming = &inc;
	status = run_machine(&vc.cfg, &machine_args, ENGINE_KVM);
	free(inc.cpuid);	/* NULL once the engine took it */
	stream_close(&rc.s);
	close(fd);
	return status;
}

int cmd_run(int argc, char **argv)
{
	static char def_kernel[4096], def_initrd[4096];
	static struct run_args args;
	struct err err = { 0 };

	if (run_args_parse(argc, argv, host_memory_mib(), &args, &err) < 0) {
		log_error("run: %s", err.msg);
		return VM_EXIT_USAGE;
	}
	if (args.help) {
		fputs(run_usage, stdout);
		return 0;
	}
	if (args.restore) {
		machine_args.control_path = args.control_path;
		machine_args.serial_socket = args.serial_socket;
		return run_restore(&args);
	}
	if (!args.kernel_given) {
		snprintf(def_kernel, sizeof(def_kernel), "%s/guest/vmlinuz", cli_self_dir());
		args.cfg.kernel = def_kernel;
		if (!args.initrd_given) {
			snprintf(def_initrd, sizeof(def_initrd), "%s/guest/initrd.img",
				 cli_self_dir());
			args.cfg.initrd = def_initrd;
		}
	}
	/* a NIC without mac= gets a random one, kept across reboots */
	for (unsigned i = 0; i < args.cfg.nr_nets; i++)
		if (!args.nets[i].mac_given)
			net_random_mac(args.nets[i].mac);
	if (x86_boot_check(&args.cfg, &err) < 0) {
		log_error("%s", err.msg);
		return VM_EXIT_ERROR;
	}
	return run_machine(&args.cfg, &args, ENGINE_AUTO);
}

static const char migrate_receive_usage[] =
	"usage: domus migrate-receive [HOST:]PORT\n"
	"Wait for one live migration (domus migrate --live NAME HOST:PORT on the source),\n"
	"then run the guest that arrives, its console on this terminal, as domus run does.\n"
	"The machine (memory, vCPUs, disks on shared storage: the same paths) is the\n"
	"source's. A guest using CPU features this host lacks is refused before any\n"
	"memory is sent. If the migration fails, nothing is left behind here.\n";

int cmd_migrate_receive(int argc, char **argv)
{
	struct migrate_in *m = NULL;
	struct err err = { 0 };
	int kvm_fd, status;

	if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		fputs(migrate_receive_usage, stdout);
		return 0;
	}
	if (argc != 2 || argv[1][0] == '-') {
		fputs(migrate_receive_usage, stderr);
		return VM_EXIT_USAGE;
	}
	signal(SIGPIPE, SIG_IGN);
	if (migrate_in_accept(argv[1], &m, &err) < 0) {
		log_error("migrate-receive: %s", err.msg);
		return VM_EXIT_ERROR;
	}
	if (migrate_in_config(m)->engine == ENGINE_QEMU) {
		/* QEMU to QEMU: its own migration, on this connection */
		if (migrate_in_qemu(m, &err) < 0) {
			log_error("migrate-receive: %s", err.msg);
			migrate_in_free(m);
			return VM_EXIT_ERROR;
		}
		status = run_machine(migrate_in_config(m), &machine_args, ENGINE_QEMU);
		migrate_in_free(m);
		return status;
	}
	kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm_fd < 0 || migrate_in_check_cpu(m, kvm_fd, &err) < 0) {
		if (kvm_fd < 0)
			migrate_in_refuse(m, "the destination has no /dev/kvm");
		log_error("migrate-receive: %s", kvm_fd < 0 ? "/dev/kvm: cannot open it (the KVM "
				"engine receives migrations)" : err.msg);
		if (kvm_fd >= 0)
			close(kvm_fd);
		migrate_in_free(m);
		return VM_EXIT_ERROR;
	}
	close(kvm_fd);
	status = run_machine(migrate_in_config(m), &machine_args, ENGINE_KVM);
	/* the VM could not be built here (a bridge, a disk): the source,
	 * still waiting for "accept", learns why and keeps its guest */
	if (status == VM_EXIT_ERROR)
		migrate_in_refuse(m, log_last_error());
	migrate_in_free(m);
	return status;
}
