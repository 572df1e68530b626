/* SPDX-License-Identifier: MIT */
/* vcpu.c: one thread per vCPU running KVM_RUN and dispatching its exits to
 * the I/O buses. Stopping uses KVM's immediate_exit plus a signal, which has
 * no window where a kick can be lost: a thread about to enter KVM_RUN sees
 * immediate_exit, a thread inside it gets EINTR. */
#include <errno.h>
#include <sched.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "arch/x86/cpuid.h"
#include "arch/x86/regs.h"
#include "common/err.h"
#include "vm.h"

#define VCPU_KICK_SIGNAL SIGUSR1

static void vcpu_kick_handler(int sig)
{
	(void)sig;	/* only there to interrupt KVM_RUN */
}

void vcpu_init_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = vcpu_kick_handler;
	sigemptyset(&sa.sa_mask);
	sigaction(VCPU_KICK_SIGNAL, &sa, NULL);
}

int vcpu_create(struct vm *vm, struct vcpu *vcpu, unsigned id, struct err *err)
{
	struct kvm_cpuid2 *cpuid = NULL;
	int r;

	memset(vcpu, 0, sizeof(*vcpu));
	vcpu->vm = vm;
	vcpu->id = id;
	vcpu->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)id);
	if (vcpu->fd < 0)
		return err_setsys(err, errno, "KVM_CREATE_VCPU %u", id);
	vcpu->run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu->fd, 0);
	if (vcpu->run == MAP_FAILED) {
		vcpu->run = NULL;
		r = err_setsys(err, errno, "vCPU %u: mmap kvm_run", id);
		goto err;
	}
	cpuid = cpuid_for_vcpu(vm->cpuid, id, vm->nr_vcpus);
	if (cpuid == NULL) {
		r = err_set(err, ENOMEM, "vCPU %u: out of memory", id);
		goto err;
	}
	if (ioctl(vcpu->fd, KVM_SET_CPUID2, cpuid) < 0) {
		r = err_setsys(err, errno, "vCPU %u: KVM_SET_CPUID2", id);
		goto err;
	}
	free(cpuid);
	cpuid = NULL;
	regs_setup_msrs(vcpu->fd);	/* best effort: see regs.c */
	r = regs_setup_lapic(vcpu->fd);
	if (r < 0) {
		err_setsys(err, -r, "vCPU %u: local APIC setup", id);
		goto err;
	}
	return 0;
err:
	free(cpuid);
	vcpu_destroy(vcpu);
	return r;
}

static void vcpu_fail(struct vcpu *vcpu, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void vcpu_fail(struct vcpu *vcpu, const char *fmt, ...)
{
	struct vm *vm = vcpu->vm;
	va_list ap;

	/* the first error wins; later ones are consequences */
	if (atomic_load(&vm->request) != VM_STOP_ERROR) {
		char msg[200];
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		snprintf(vm->error, sizeof(vm->error), "vCPU %u: %s", vcpu->id, msg);
	}
	vm_post(vm, VM_STOP_ERROR);
}

static void vcpu_handle_io(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	struct iobus *bus = &vcpu->vm->pio;

	/* rep ins/outs: (count) accesses of (size) bytes, data back to back */
	for (uint32_t i = 0; i < run->io.count; i++, data += run->io.size) {
		if (run->io.direction == KVM_EXIT_IO_OUT)
			iobus_write(bus, run->io.port, data, run->io.size);
		else
			iobus_read(bus, run->io.port, data, run->io.size);
	}
}

static void vcpu_handle_mmio(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	unsigned len = run->mmio.len;

	if (len > sizeof(run->mmio.data))
		len = sizeof(run->mmio.data);
	if (run->mmio.is_write)
		iobus_write(&vcpu->vm->mmio, run->mmio.phys_addr, run->mmio.data, len);
	else
		iobus_read(&vcpu->vm->mmio, run->mmio.phys_addr, run->mmio.data, len);
}

static void vcpu_trace_first_run(struct vcpu *vcpu)
{
	struct timespec ts;

	if (!vcpu->vm->trace || vcpu->id != 0)
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	fprintf(stderr, "domus-trace: first-kvm-run %lld\n",
		(long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
}

/* Wait outside KVM_RUN while the VM is paused (vm_pause counts us). */
static void vcpu_park(struct vm *vm)
{
	pthread_mutex_lock(&vm->pause_lock);
	vm->parked++;
	pthread_cond_broadcast(&vm->pause_cond);
	while (atomic_load(&vm->pause_req) && !atomic_load(&vm->stopping))
		pthread_cond_wait(&vm->pause_cond, &vm->pause_lock);
	vm->parked--;
	pthread_mutex_unlock(&vm->pause_lock);
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *vcpu = arg;
	struct vm *vm = vcpu->vm;
	struct kvm_run *run = vcpu->run;
	sigset_t kick;
	char name[16];

	snprintf(name, sizeof(name), "vcpu%u", vcpu->id);
	pthread_setname_np(pthread_self(), name);
	/* The default policy, whatever the creating thread's: the event loop
	 * runs SCHED_BATCH (kvm_engine.c) and a vCPU must not inherit that. */
	struct sched_param sp = { 0 };
	sched_setscheduler(0, SCHED_OTHER, &sp);
	sigemptyset(&kick);
	sigaddset(&kick, VCPU_KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &kick, NULL);
	vcpu_trace_first_run(vcpu);

	while (!atomic_load(&vm->stopping)) {
		if (atomic_load(&vm->pause_req)) {
			vcpu_park(vm);
			continue;
		}
		if (ioctl(vcpu->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				run->immediate_exit = 0;
				continue;
			}
			vcpu_fail(vcpu, "KVM_RUN: %s", strerror(errno));
			break;
		}
		switch (run->exit_reason) {
		case KVM_EXIT_IO:
			vcpu_handle_io(vcpu);
			break;
		case KVM_EXIT_MMIO:
			vcpu_handle_mmio(vcpu);
			break;
		case KVM_EXIT_HLT:
			/* the in-kernel LAPIC handles HLT; without it, nothing
			 * would wake us: treat as an idle spin, which is rare */
			break;
		case KVM_EXIT_SHUTDOWN:
			/* triple fault: the guest cannot continue */
			vm_post(vm, VM_STOP_TRIPLE_FAULT);
			return NULL;
		case KVM_EXIT_SYSTEM_EVENT:
			switch (run->system_event.type) {
			case KVM_SYSTEM_EVENT_SHUTDOWN:
				vm_post(vm, VM_REQ_POWEROFF);
				break;
			case KVM_SYSTEM_EVENT_RESET:
				vm_post(vm, VM_REQ_RESET);
				break;
			default:
				vm_post(vm, VM_REQ_PANIC);
				break;
			}
			return NULL;
		case KVM_EXIT_FAIL_ENTRY:
			vcpu_fail(vcpu, "KVM could not enter the guest (hardware reason 0x%llx)",
				  (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
			return NULL;
		case KVM_EXIT_INTERNAL_ERROR:
			vcpu_fail(vcpu, "KVM internal error, suberror %u%s", run->internal.suberror,
				  run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION ?
					  " (instruction emulation failed)" : "");
			return NULL;
		case KVM_EXIT_INTR:
			break;
		default:
			vcpu_fail(vcpu, "unexpected KVM exit reason %u", run->exit_reason);
			return NULL;
		}
	}
	/* Stopped on request: let KVM finish the instruction of the last I/O
	 * exit (an IN's data into RAX, an MMIO read's into its register)
	 * without entering the guest, so a snapshot taken now is whole. */
	run->immediate_exit = 1;
	ioctl(vcpu->fd, KVM_RUN, 0);
	return NULL;
}

int vcpu_start(struct vcpu *vcpu, struct err *err)
{
	int r = pthread_create(&vcpu->thread, NULL, vcpu_thread, vcpu);

	if (r != 0)
		return err_set(err, r, "vCPU %u: cannot start its thread", vcpu->id);
	vcpu->started = true;
	return 0;
}

void vcpu_kick(struct vcpu *vcpu)
{
	if (!vcpu->started)
		return;
	vcpu->run->immediate_exit = 1;
	pthread_kill(vcpu->thread, VCPU_KICK_SIGNAL);
}

void vcpu_join(struct vcpu *vcpu)
{
	if (vcpu->started) {
		pthread_join(vcpu->thread, NULL);
		vcpu->started = false;
	}
}

void vcpu_destroy(struct vcpu *vcpu)
{
	if (vcpu->run)
		munmap(vcpu->run, vcpu->vm->run_size);
	if (vcpu->fd >= 0)
		close(vcpu->fd);
	vcpu->run = NULL;
	vcpu->fd = -1;
}
