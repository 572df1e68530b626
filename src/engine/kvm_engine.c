/* SPDX-License-Identifier: MIT */
/* kvm_engine.c: the KVM engine's monitor. It owns /dev/kvm, creates the VM,
 * and turns what the guest does into what domus does: poweroff ends with
 * status 0, reboot builds the VM again in this process, a panic or a triple
 * fault ends with the crash status. */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "common/err.h"
#include "common/ev.h"
#include "common/log.h"
#include "console/chardev.h"
#include "console/console.h"
#include "devices/rtc_cmos.h"
#include "engine.h"
#include "migration/migrate.h"
#include "migration/snapshot.h"
#include "migration/vmstate.h"
#include "vmm/vm.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/signalfd.h>

#define KVM_DEVICE "/dev/kvm"
#define RUN_REBOOT INT32_MIN	/* ev_stop code: build the VM again */

static int kvm_open(struct err *err)
{
	int fd = open(KVM_DEVICE, O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		int e = errno;
		if (e == ENOENT)
			return err_set(err, e, "engine kvm: %s does not exist (no KVM on this host: "
					       "load kvm_intel or kvm_amd, or use --engine qemu)",
				       KVM_DEVICE);
		if (e == EACCES || e == EPERM)
			return err_set(err, e, "engine kvm: %s: permission denied (run as root or "
					       "join the kvm group)",
				       KVM_DEVICE);
		return err_setsys(err, e, "engine kvm: %s", KVM_DEVICE);
	}
	int api = ioctl(fd, KVM_GET_API_VERSION, 0);
	if (api != KVM_API_VERSION) {
		close(fd);
		return err_set(err, ENOTSUP, "engine kvm: %s speaks KVM API %d, we need %d",
			       KVM_DEVICE, api, KVM_API_VERSION);
	}
	static const struct {
		int cap;
		const char *name;
	} caps[] = {
		{ KVM_CAP_IRQCHIP, "in-kernel irqchip" },
		{ KVM_CAP_PIT2, "in-kernel PIT" },
		{ KVM_CAP_USER_MEMORY, "user memory" },
		{ KVM_CAP_EXT_CPUID, "KVM_GET_SUPPORTED_CPUID" },
		{ KVM_CAP_IMMEDIATE_EXIT, "immediate exit" },
		{ KVM_CAP_IRQ_ROUTING, "GSI routing" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(caps); i++) {
		if (ioctl(fd, KVM_CHECK_EXTENSION, caps[i].cap) <= 0) {
			close(fd);
			return err_set(err, ENOTSUP, "engine kvm: %s lacks %s", KVM_DEVICE,
				       caps[i].name);
		}
	}
	return fd;
}

static int kvm_check(const struct vm_config *cfg, struct err *err)
{
	int fd = kvm_open(err);
	int max;

	if (fd < 0)
		return fd;
	max = ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	if (max <= 0)
		max = ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
	close(fd);
	if (max > 0 && cfg->vcpus > (unsigned)max)
		return err_set(err, EINVAL, "engine kvm: %u vCPUs requested, this host's KVM allows %d",
			       cfg->vcpus, max);
	return 0;
}

struct kvm_monitor {
	struct vm *vm;
	struct ev_loop *loop;
	struct migrate_out *mig;	/* an outgoing migration under way */
};

/* --- save and migrate ------------------------------------------------------------ */

/* kvm_save: `domus save`: the VM stops, its state goes to (path), and domus
 * ends (as virsh save does); on failure the VM goes on. */
static void kvm_save(struct kvm_monitor *mon, const char *path, bool compress)
{
	struct snapshot_stats st;
	struct err err = { 0 };

	vmstate_quiesce(mon->vm);
	if (snapshot_save(mon->vm, path, compress, &st, &err) < 0) {
		log_error("save failed, the guest goes on: %s", err.msg);
		if (vm_resume(mon->vm, &err) < 0) {
			log_error("%s", err.msg);
			ev_stop(mon->loop, -EIO);
		}
		return;
	}
	log_info("saved to %s: %llu MiB of RAM, file %llu MiB, %.0f ms", path,
		 (unsigned long long)(st.ram_bytes >> 20), (unsigned long long)(st.bytes >> 20),
		 st.ms);
	ev_stop(mon->loop, VM_EXIT_SAVED);
}

/* Until the control socket (issue 5) carries `save` and `migrate`: SIGUSR2
 * does what $DOMUS_SIGUSR2 says: "save PATH [compress]" or
 * "migrate HOST:PORT [DOWNTIME_MS]". */
static void kvm_on_usr2(struct ev_loop *loop, int fd, uint32_t events, void *arg)
{
	struct kvm_monitor *mon = arg;
	struct signalfd_siginfo si;
	const char *act = getenv("DOMUS_SIGUSR2");
	char verb[16], target[4096], extra[64] = "";

	(void)loop;
	(void)events;
	if (read(fd, &si, sizeof(si)) != sizeof(si))
		return;
	if (act == NULL || sscanf(act, "%15s %4095s %63s", verb, target, extra) < 2) {
		log_error("SIGUSR2: set DOMUS_SIGUSR2 to \"save PATH\" or \"migrate HOST:PORT\"");
		return;
	}
	if (strcmp(verb, "save") == 0) {
		kvm_save(mon, target, strcmp(extra, "compress") == 0);
	} else if (strcmp(verb, "migrate") == 0) {
		struct migrate_opts o = { .target = target, .downtime_ms = 30 };
		struct err err = { 0 };
		if (extra[0])
			o.downtime_ms = (unsigned)strtoul(extra, NULL, 10);
		if (mon->mig && !migrate_out_finished(mon->mig)) {
			log_error("migrate: a migration is already under way");
			return;
		}
		migrate_out_free(mon->mig);
		mon->mig = NULL;
		if (migrate_out_start(mon->vm, loop, &o, &mon->mig, &err) < 0)
			log_error("migrate: %s", err.msg);
	} else {
		log_error("SIGUSR2: unknown action '%s'", verb);
	}
}

static void kvm_on_request(struct ev_loop *loop, int fd, uint32_t events, void *arg)
{
	struct kvm_monitor *mon = arg;
	int reason = vm_take_request(mon->vm);

	(void)fd;
	(void)events;
	switch (reason) {
	case 0:
		return;
	case VM_REQ_RESET:
		ev_stop(loop, RUN_REBOOT);
		return;
	case VM_REQ_POWEROFF:
		ev_stop(loop, VM_EXIT_POWEROFF);
		return;
	case VM_REQ_PANIC:
		log_error("guest crashed: kernel panic (pvpanic)");
		ev_stop(loop, VM_EXIT_CRASH);
		return;
	case VM_STOP_TRIPLE_FAULT:
		log_error("guest crashed: triple fault");
		ev_stop(loop, VM_EXIT_CRASH);
		return;
	default:
		ev_stop(loop, -EIO);
		return;
	}
}

static void kvm_on_rtc_timer(struct ev_loop *loop, int fd, uint32_t events, void *arg)
{
	(void)loop;
	(void)fd;
	(void)events;
	rtc_cmos_timer_fired(arg);
}

static int kvm_run(const struct vm_config *cfg, struct ev_loop *loop, struct console *con,
		   struct err *err)
{
	struct kvm_monitor mon = { .loop = loop };
	struct chardev *cd = console_chardev(con);
	struct vm_incoming *in = cfg->incoming;
	int kvm_fd, r, usr2_fd;
	sigset_t usr2;

	kvm_fd = kvm_open(err);
	if (kvm_fd < 0)
		return kvm_fd;
	sigemptyset(&usr2);
	sigaddset(&usr2, SIGUSR2);
	usr2_fd = signalfd(-1, &usr2, SFD_CLOEXEC | SFD_NONBLOCK);
	if (usr2_fd >= 0)
		ev_add(loop, usr2_fd, EPOLLIN, kvm_on_usr2, &mon);
	for (;;) {
		if (in) {
			struct kvm_cpuid2 *cpuid = in->cpuid;
			in->cpuid = NULL;
			r = vm_create_restore(&mon.vm, cfg, kvm_fd, cd, loop, cpuid, err);
			if (r == 0 && (r = in->load(in->arg, mon.vm, err)) < 0) {
				vm_destroy(mon.vm);
				break;
			}
		} else {
			r = vm_create(&mon.vm, cfg, kvm_fd, cd, loop, err);
		}
		if (r < 0)
			break;
		r = ev_add(loop, mon.vm->req_fd, EPOLLIN, kvm_on_request, &mon);
		if (r < 0) {
			err_set(err, -r, "event loop");
			vm_destroy(mon.vm);
			break;
		}
		int rtc_fd = rtc_cmos_timer_fd(mon.vm->rtc);
		if (rtc_fd >= 0)
			ev_add(loop, rtc_fd, EPOLLIN, kvm_on_rtc_timer, mon.vm->rtc);
		r = vm_start(mon.vm, err);
		if (r == 0 && in && in->started)
			r = in->started(in->arg, mon.vm, err);
		in = NULL;	/* a reboot boots the kernel */
		if (r == 0)
			r = ev_run(loop);
		if (mon.mig) {
			migrate_out_cancel(mon.mig);
			migrate_out_free(mon.mig);
			mon.mig = NULL;
		}
		ev_del(loop, mon.vm->req_fd);
		if (rtc_fd >= 0)
			ev_del(loop, rtc_fd);
		vm_stop(mon.vm);
		if (r == -EIO)
			r = err_set(err, EIO, "engine kvm: %s", mon.vm->error);
		vm_destroy(mon.vm);
		chardev_attach(cd, NULL, NULL);
		if (r != RUN_REBOOT)
			break;
	}
	if (usr2_fd >= 0) {
		ev_del(loop, usr2_fd);
		close(usr2_fd);
	}
	close(kvm_fd);
	return r;
}

const struct engine_ops kvm_engine_ops = {
	.name = "kvm",
	.check = kvm_check,
	.run = kvm_run,
};
