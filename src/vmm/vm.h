/* SPDX-License-Identifier: MIT */
/* vm.h: one KVM virtual machine: its memory, vCPUs, devices and I/O buses.
 * All per-VM state hangs off struct vm (no globals), so a reboot is "destroy
 * and create again" and several VMs could share a process. */
#ifndef DOMUS_VM_H
#define DOMUS_VM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "backends/net/netdev.h"
#include "devices/device.h"
#include "engine/engine.h"
#include "gmem.h"
#include "iobus.h"

struct err;
struct chardev;
struct vm_config;
struct kvm_cpuid2;
struct kvm_run;
struct irqroute;
struct pci_bus;
struct ev_loop;
struct virtio_dev;
struct virtio_pci;

/* Why the VM stopped, beyond what devices request (enum vm_request). */
enum vm_stop {
	VM_STOP_TRIPLE_FAULT = 100,	/* KVM_EXIT_SHUTDOWN */
	VM_STOP_ERROR,			/* the hypervisor failed: vm->error says why */
};

struct vcpu {
	struct vm *vm;
	unsigned id;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool started;
};

struct vm_device {
	const struct dev_ops *ops;
	void *dev;
};

#define VM_MAX_DEVICES 16

struct vm {
	const struct vm_config *cfg;
	int kvm_fd;		/* borrowed from the engine */
	int vm_fd;
	size_t run_size;	/* mmap size of struct kvm_run */
	struct gmem mem;
	struct iobus pio;
	struct iobus mmio;
	struct kvm_cpuid2 *cpuid;	/* what KVM supports; patched per vCPU */
	unsigned nr_vcpus;
	struct vcpu *vcpus;
	struct vm_device devs[VM_MAX_DEVICES];
	unsigned nr_devs;
	struct serial8250 *uart;
	struct acpi_pm *pm;
	struct rtc_cmos *rtc;
	struct chardev *console;
	struct irqroute *irq;		/* GSI routes: ISA/IOAPIC and MSI */
	struct pci_bus *pci;		/* owned through devs[] */
	uint64_t pci_mmio64_base, pci_mmio64_size;	/* 64-bit BAR window */
	struct ev_loop *loop;		/* the monitor's: serves virtio queue kicks */
	struct virtio_dev *rng;		/* virtio-rng, always present */
	struct virtio_pci *rng_pci;
	struct virtio_dev *blk[VM_DISKS_MAX];	/* virtio-blk, one per cfg->disks */
	struct virtio_pci *blk_pci[VM_DISKS_MAX];
	unsigned nr_blk;
	struct virtio_dev *net[NET_NICS_MAX];	/* virtio-net, one per cfg->nets */
	struct virtio_pci *net_pci[NET_NICS_MAX];
	unsigned nr_net;
	struct virtio_dev *vcon;		/* virtio-console, with --virtio-console */
	struct virtio_pci *vcon_pci;

	/* Stopping: a device or vCPU posts a request; the monitor (the engine's
	 * event loop) reads it from req_fd and acts. */
	int req_fd;			/* eventfd */
	_Atomic int request;		/* enum vm_request or enum vm_stop, 0: none */
	_Atomic bool stopping;		/* vCPUs leave KVM_RUN and exit */
	char error[256];		/* for VM_STOP_ERROR */
	bool trace;			/* DOMUS_TRACE: print boot milestones */

	/* Pausing: vCPUs park outside KVM_RUN while pause_req is set. */
	_Atomic bool pause_req;
	pthread_mutex_t pause_lock;	/* parked, and the waits below */
	pthread_cond_t pause_cond;	/* parked changed, or pause_req cleared */
	unsigned parked;		/* vCPU threads parked */
};

/* vm_create: a VM for (cfg) on (kvm_fd) with the kernel loaded and devices
 * in place, vCPUs created but not running. (console) is the UART's host side;
 * (loop) the monitor's event loop, which serves the virtio devices. */
int vm_create(struct vm **out, const struct vm_config *cfg, int kvm_fd, struct chardev *console,
	      struct ev_loop *loop, struct err *err);
/* vm_create_restore: like vm_create, for a VM whose memory and state come
 * from a snapshot or a migration: no kernel loaded, no boot registers, and
 * the vCPUs get (cpuid) (taken over, also on failure: the source's CPUID,
 * checked by kvmstate_check_cpuid). */
int vm_create_restore(struct vm **out, const struct vm_config *cfg, int kvm_fd,
		      struct chardev *console, struct ev_loop *loop, struct kvm_cpuid2 *cpuid,
		      struct err *err);
/* vm_freeze: end the vCPU threads (joined; each completed its last I/O
 * exit, so the registers KVM reports are whole), for a snapshot or the
 * switch-over of a migration. vm_thaw: threads again (a failed migration).
 * Unlike vm_pause, nothing of the guest runs or waits in a vCPU thread. */
void vm_freeze(struct vm *vm);
int vm_thaw(struct vm *vm, struct err *err);
/* vm_dirty_log: turn KVM's dirty page logging (and the devices' own
 * tracking, gmem_track_*) on or off for all RAM. */
int vm_dirty_log(struct vm *vm, bool on, struct err *err);
/* vm_dirty_take: OR the pages written since the last call (by vCPUs and by
 * devices) into (bitmap), one bit per page of the memfd, and clear them. */
int vm_dirty_take(struct vm *vm, uint64_t *bitmap, struct err *err);
/* vm_announce_nics: the guest runs on another host (or again from a
 * snapshot): tell the network where its MACs are now (virtio_net_announce). */
void vm_announce_nics(struct vm *vm);

/* vm_start: start one thread per vCPU. */
int vm_start(struct vm *vm, struct err *err);
/* vm_post: ask the monitor to stop the VM for (reason); the most severe
 * reason wins (panic > error > triple fault > poweroff > reset). Any thread. */
void vm_post(struct vm *vm, int reason);
/* vm_take_request: the pending reason (0 if none), cleared. Monitor only. */
int vm_take_request(struct vm *vm);
/* vm_pause: stop running guest code: every vCPU leaves KVM_RUN and parks
 * until vm_resume. Returns once all have parked (or 2 s passed: a vCPU that
 * already ended, on a VM that is stopping). Devices keep their state; the
 * loop keeps serving them. Monitor thread. */
void vm_pause(struct vm *vm);
/* vm_resume: let parked vCPUs run again. */
void vm_resume(struct vm *vm);
/* vm_paused: whether a pause is in effect. */
bool vm_paused(struct vm *vm);
/* vm_stop: make every vCPU leave KVM_RUN and join the threads. */
void vm_stop(struct vm *vm);
void vm_destroy(struct vm *vm);

/* Implemented in vcpu.c */
int vcpu_create(struct vm *vm, struct vcpu *vcpu, unsigned id, struct err *err);
int vcpu_start(struct vcpu *vcpu, struct err *err);
void vcpu_kick(struct vcpu *vcpu);
void vcpu_join(struct vcpu *vcpu);
void vcpu_destroy(struct vcpu *vcpu);
/* vcpu_init_signals: install the no-op handler of the kick signal. */
void vcpu_init_signals(void);

#endif
