/* SPDX-License-Identifier: MIT */
/* run.c: `domus run`: check the request, choose the engine, put the console
 * on this terminal, boot, and turn the way the guest ended into our status. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/sysinfo.h>
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
#include "control/vmcmds.h"
#include "engine/engine.h"
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

/* open_nets: every --net's back end, before the guest starts: MACs chosen,
 * TAPs created and on their bridges, libslirp listening on its forwards. The
 * QEMU engine gets our TAP descriptors but runs its own user-mode network. */
static int open_nets(struct run_args *a, bool for_qemu, struct netdev **nets, struct err *err)
{
	for (unsigned i = 0; i < a->cfg.nr_nets; i++) {
		struct net_opts *o = &a->nets[i];

		if (!o->mac_given)
			net_random_mac(o->mac);
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

int cmd_run(int argc, char **argv)
{
	static struct disk *disks[VM_DISKS_MAX];
	static struct netdev *nets[NET_NICS_MAX];
	static char def_kernel[4096], def_initrd[4096];
	struct run_args args;
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

	if (run_args_parse(argc, argv, host_memory_mib(), &args, &err) < 0) {
		log_error("run: %s", err.msg);
		return VM_EXIT_USAGE;
	}
	if (args.help) {
		fputs(run_usage, stdout);
		return 0;
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
	if (x86_boot_check(&args.cfg, &err) < 0) {
		log_error("%s", err.msg);
		return VM_EXIT_ERROR;
	}
	if (open_disks(&args.cfg, disks, &err) < 0) {
		log_error("%s", err.msg);
		return VM_EXIT_ERROR;
	}
	if (engine_select(&args.cfg, &engine, why, sizeof(why), &err) < 0) {
		close_disks(disks, args.cfg.nr_disks, true);
		log_error("%s", err.msg);
		return VM_EXIT_ERROR;
	}
	if (open_nets(&args, engine == &qemu_engine_ops, nets, &err) < 0) {
		close_disks(disks, args.cfg.nr_disks, true);
		log_error("%s", err.msg);
		return VM_EXIT_ERROR;
	}
	args.cfg.nets = nets;
	log_info("%s", why);
	args.cfg.engine = engine == &qemu_engine_ops ? ENGINE_QEMU : ENGINE_KVM;
	if (engine == &qemu_engine_ops) {
		/* Checked (and created) here; QEMU opens and locks them itself. */
		close_disks(disks, args.cfg.nr_disks, false);
	} else {
		args.cfg.disks = disks;
	}

	/* Signals become loop events; the vCPU threads inherit the mask. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGQUIT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);

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
	if (args.cfg.vconsole_path && engine != &qemu_engine_ops) {
		if (sockchar_open(args.cfg.vconsole_path, ctx.loop, &vcon, &err) < 0) {
			log_error("%s", err.msg);
			goto out;
		}
		args.cfg.vconsole = sockchar_chardev(vcon);
	}
	if (args.serial_socket) {
		if (sockchar_open(args.serial_socket, ctx.loop, &serial, &err) < 0) {
			log_error("%s", err.msg);
			goto out;
		}
		args.cfg.serial = sockchar_chardev(serial);
	}
	if (args.control_path) {
		if (control_server_open(args.control_path, ctx.loop, &ctl_srv, &err) < 0) {
			log_error("%s", err.msg);
			goto out;
		}
		vmc.ctl = &vmctl;
		vmc.cfg = &args.cfg;
		vmc.loop = ctx.loop;
		vmc.name = getenv("DOMUS_DOMAIN");
		if (vmcmds_register(ctl_srv, &vmc) < 0) {
			log_error("out of memory");
			goto out;
		}
		args.cfg.control = &vmctl;
	}

	int r = engine->run(&args.cfg, ctx.loop, con, &err);
	if (r < 0) {
		console_restore_terminal();
		log_error("%s", err.msg);
		status = VM_EXIT_ERROR;
	} else {
		status = r;
	}
out:
	close_disks(disks, args.cfg.disks ? args.cfg.nr_disks : 0, false);
	control_server_close(ctl_srv);
	sockchar_close(serial);
	close_nets(nets, args.cfg.nr_nets);
	sockchar_close(vcon);
	console_free(con);
	if (ctx.sigfd >= 0)
		close(ctx.sigfd);
	ev_loop_free(ctx.loop);
	return status;
}
