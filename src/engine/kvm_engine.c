/* SPDX-License-Identifier: MIT */
/* kvm_engine.c: the KVM engine's monitor. It owns /dev/kvm, creates the VM,
 * and turns what the guest does into what domus does: poweroff ends with
 * status 0, reboot builds the VM again in this process, a panic or a triple
 * fault ends with the crash status. */
#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "common/err.h"
#include "common/ev.h"
#include "common/log.h"
#include "console/chardev.h"
#include "console/console.h"
#include "devices/acpi_pm.h"
#include "devices/rtc_cmos.h"
#include "engine.h"
#include "migration/migrate.h"
#include "migration/snapshot.h"
#include "migration/vmstate.h"
#include "vmm/vm.h"

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
	const struct vm_config *cfg;
	bool hard_reset;	/* the reset came from the control socket */
	unsigned boots;
	struct migrate_out *mig;	/* the last outgoing migration */
};

/* --- control operations (engine.h) ------------------------------------------ */
/* After a migration whose outcome is unknown the vCPUs are stopped
 * (vm_freeze) until the administrator resumes or destroys the VM. */
static int refuse_if_left_paused(struct kvm_monitor *mon, struct err *err)
{
	if (migrate_out_left_paused(mon->mig))
		return err_set(err, EBUSY, "the guest is stopped after a migration whose outcome "
					   "is unknown: resume it (if it does not run on the "
					   "destination) or destroy it");
	return 0;
}

static int kvm_ctl_pause(void *opaque, struct err *err)
{
	struct kvm_monitor *mon = opaque;

	if (refuse_if_left_paused(mon, err) < 0)
		return -EBUSY;
	vm_pause(mon->vm);
	return 0;
}

static int kvm_ctl_resume(void *opaque, struct err *err)
{
	struct kvm_monitor *mon = opaque;
	int r = migrate_out_resume(mon->mig, err);

	if (r != 0)
		return r < 0 ? r : 0;
	vm_resume(mon->vm);
	return 0;
}

static int kvm_ctl_power_button(void *opaque, struct err *err)
{
	struct kvm_monitor *mon = opaque;

	if (vm_paused(mon->vm) || migrate_out_left_paused(mon->mig))
		return err_set(err, EBUSY, "the VM is paused: resume it first");
	acpi_pm_press_power_button(mon->vm->pm);
	return 0;
}

static int kvm_ctl_reset(void *opaque, struct err *err)
{
	struct kvm_monitor *mon = opaque;

	(void)err;
	mon->hard_reset = true;
	vm_post(mon->vm, VM_REQ_RESET);
	return 0;
}

static int kvm_ctl_stats(void *opaque, struct vm_stats *out, struct err *err)
{
	struct kvm_monitor *mon = opaque;
	struct timespec ts;

	(void)err;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	out->paused = vm_paused(mon->vm) || migrate_out_left_paused(mon->mig);
	out->cpu_time_ns = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
	out->memory_mib = mon->cfg->memory_mib;
	out->vcpus = mon->cfg->vcpus;
	out->boots = mon->boots;
	out->pid = getpid();
	return 0;
}

/* save: the VM stops, its state goes to (path), and the monitor ends with
 * VM_EXIT_SAVED (as virsh save does); on failure the guest goes on. */
static int kvm_ctl_save(void *opaque, const char *path, bool compress, struct err *err)
{
	struct kvm_monitor *mon = opaque;
	struct snapshot_stats st;
	struct err e2 = { 0 };

	if (mon->mig && !migrate_out_finished(mon->mig))
		return err_set(err, EBUSY, "a migration is under way");
	if (refuse_if_left_paused(mon, err) < 0)
		return -EBUSY;
	vmstate_quiesce(mon->vm);
	if (snapshot_save(mon->vm, path, compress, &st, err) < 0) {
		if (vm_thaw(mon->vm, &e2) < 0) {
			log_error("%s", e2.msg);
			ev_stop(mon->loop, -EIO);
		}
		return -EIO;
	}
	log_info("saved to %s: %llu MiB of RAM, file %llu MiB, %.0f ms", path,
		 (unsigned long long)(st.ram_bytes >> 20), (unsigned long long)(st.bytes >> 20),
		 st.ms);
	ev_stop(mon->loop, VM_EXIT_SAVED);
	return 0;
}

static int kvm_ctl_migrate(void *opaque, const char *target, unsigned downtime_ms,
			   struct err *err)
{
	struct kvm_monitor *mon = opaque;
	struct migrate_opts o = { .target = target, .downtime_ms = downtime_ms };

	if (mon->mig && !migrate_out_finished(mon->mig))
		return err_set(err, EBUSY, "a migration is already under way");
	if (refuse_if_left_paused(mon, err) < 0)
		return -EBUSY;
	if (vm_paused(mon->vm))
		return err_set(err, EBUSY, "the VM is paused: resume it first");
	migrate_out_free(mon->mig);
	mon->mig = NULL;
	return migrate_out_start(mon->vm, mon->loop, &o, &mon->mig, err);
}

static int kvm_ctl_query_migrate(void *opaque, struct migrate_status *out, struct err *err)
{
	struct kvm_monitor *mon = opaque;

	(void)err;
	if (mon->mig == NULL) {
		memset(out, 0, sizeof(*out));
		snprintf(out->state, sizeof(out->state), "none");
		return 0;
	}
	migrate_out_status(mon->mig, out);
	/* the outcome is told: a migrated VM ends (after this reply) */
	if (strcmp(out->state, "completed") == 0)
		ev_stop(mon->loop, VM_EXIT_MIGRATED);
	return 0;
}

static const struct vm_control_ops kvm_control_ops = {
	.save = kvm_ctl_save,
	.migrate = kvm_ctl_migrate,
	.query_migrate = kvm_ctl_query_migrate,
	.pause = kvm_ctl_pause,
	.resume = kvm_ctl_resume,
	.power_button = kvm_ctl_power_button,
	.reset = kvm_ctl_reset,
	.stats = kvm_ctl_stats,
};

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
		/* a reboot the guest asked for follows on_reboot (no_reboot);
		 * a reset from the control socket is always done in place */
		ev_stop(loop, mon->cfg->no_reboot && !mon->hard_reset ? VM_EXIT_REBOOT : RUN_REBOOT);
		mon->hard_reset = false;
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

/* loop_thread_batch: this thread (the event loop, which serves the virtio
 * queues) becomes SCHED_BATCH: it runs as much as before, but its wake-ups
 * do not preempt the thread that is running. When it shares a CPU with a
 * vCPU, that vCPU then is not stopped at each kick or completion it caused:
 * it goes on until it waits or its slice ends, and the loop serves what
 * piled up in one go, with one interrupt for many buffers. On a host with a
 * CPU to spare it changes nothing. bench/net in the nested test host (one
 * CPU): 2.1x the guest-to-host throughput, 1.35x the other way, a third of
 * the interrupts (docs/performance.md). The vCPU threads stay as they are. */
static void loop_thread_batch(void)
{
	struct sched_param sp = { 0 };

	if (sched_setscheduler(0, SCHED_BATCH, &sp) < 0) {
		/* not allowed (a seccomp policy, say): the default policy works */
	}
}

static int kvm_run(const struct vm_config *cfg, struct ev_loop *loop, struct console *con,
		   struct err *err)
{
	struct kvm_monitor mon = { .loop = loop, .cfg = cfg };
	struct chardev *cd = cfg->serial ? cfg->serial : console_chardev(con);
	struct vm_incoming *in = cfg->incoming;
	int kvm_fd, r;

	kvm_fd = kvm_open(err);
	if (kvm_fd < 0)
		return kvm_fd;
	loop_thread_batch();
	for (;;) {
		if (in) {
			/* from saved state: a snapshot or a migration */
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
		mon.boots++;
		r = vm_start(mon.vm, err);
		if (r == 0 && in && in->started)
			r = in->started(in->arg, mon.vm, err);
		if (r == 0 && in)
			vm_announce_nics(mon.vm);
		in = NULL;	/* a reboot boots the kernel */
		if (r == 0) {
			if (cfg->control) {
				cfg->control->opaque = &mon;
				cfg->control->ops = &kvm_control_ops;
			}
			r = ev_run(loop);
			if (cfg->control)
				cfg->control->ops = NULL;
		}
		/* the VM goes away: a migration still sending stops */
		migrate_out_free(mon.mig);
		mon.mig = NULL;
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
	close(kvm_fd);
	return r;
}

const struct engine_ops kvm_engine_ops = {
	.name = "kvm",
	.check = kvm_check,
	.run = kvm_run,
};
