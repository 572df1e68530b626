/* SPDX-License-Identifier: MIT */
/* engine.h: one interface, two engines. The KVM engine is domus's own
 * hypervisor; the QEMU engine drives Debian's qemu-system-x86_64 for hosts
 * where /dev/kvm cannot run guest kernels at native speed. */
#ifndef DOMUS_ENGINE_H
#define DOMUS_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct err;
struct console;
struct ev_loop;
struct disk_opts;
struct disk;
struct chardev;

/* Disks per VM: vda..vdp, each a PCI function on bus 0. */
#define VM_DISKS_MAX	16

enum engine_kind { ENGINE_AUTO, ENGINE_KVM, ENGINE_QEMU };

/* A VM that starts from saved state instead of booting (domus run --restore,
 * domus migrate-receive): the KVM engine creates the machine with (cpuid),
 * calls load() to fill it (RAM and state from a stream), starts the vCPUs
 * and calls started(). Both return 0 or -errno with (err) set. */
struct kvm_cpuid2;
struct vm;
struct vm_incoming {
	struct kvm_cpuid2 *cpuid;	/* the source's, checked; the engine frees it */
	int (*load)(void *arg, struct vm *vm, struct err *err);
	int (*started)(void *arg, struct vm *vm, struct err *err);
	void *arg;
};

/* Everything needed to boot one VM, whichever engine runs it. */
struct vm_config {
	const char *kernel;	/* bzImage path */
	const char *initrd;	/* NULL: none */
	const char *cmdline;
	uint64_t memory_mib;
	unsigned vcpus;
	enum engine_kind engine;
	const struct disk_opts *disk_opts;	/* --disk, in order: vda, vdb, ... */
	unsigned nr_disks;
	/* The disks opened (validated, locked, created) by `domus run`, one per
	 * disk_opts, for the KVM engine to serve; the QEMU engine opens the
	 * paths itself and gets NULL. They outlive each boot (reboots). */
	struct disk *const *disks;
	/* --virtio-console PATH: a second console (the guest's hvc0) on a UNIX
	 * socket; NULL: none. vconsole is its host end, made by `domus run` for
	 * the KVM engine (it outlives reboots); QEMU makes its own from the path. */
	const char *vconsole_path;
	struct chardev *vconsole;
	/* NULL: boot the kernel; else start from saved state (KVM engine). */
	struct vm_incoming *incoming;
};

/* Exit statuses of `domus run` (docs/cli.md). */
enum vm_exit {
	VM_EXIT_POWEROFF = 0,	/* the guest powered off */
	VM_EXIT_ERROR = 1,	/* domus failed (one line on stderr) */
	VM_EXIT_USAGE = 2,	/* bad command line */
	VM_EXIT_CRASH = 3,	/* guest kernel panic or triple fault */
	VM_EXIT_QUIT = 4,	/* stopped by the user: Ctrl-A x or a signal */
	VM_EXIT_SAVED = 5,	/* saved to a file (domus save): the guest is there */
	VM_EXIT_MIGRATED = 6,	/* migrated: the guest runs on the destination */
};

/* Limits both engines accept. */
#define VM_MEMORY_MIN_MIB	32
#define VM_VCPUS_MAX		254

struct engine_ops {
	const char *name;
	/* check: can (cfg) run here? 0, or -errno with a one-line reason. */
	int (*check)(const struct vm_config *cfg, struct err *err);
	/* run: boot and serve the VM until it ends, with its console on (con)
	 * served by (loop). Returns an enum vm_exit, or -errno with (err) set. */
	int (*run)(const struct vm_config *cfg, struct ev_loop *loop, struct console *con,
		   struct err *err);
};

extern const struct engine_ops kvm_engine_ops;
extern const struct engine_ops qemu_engine_ops;

/* engine_select: resolve cfg->engine (auto: measure /dev/kvm, cached) into
 * the engine to use, and write one line into (why) saying which and why. */
int engine_select(const struct vm_config *cfg, const struct engine_ops **out, char *why,
		  size_t why_len, struct err *err);

/* engine_kvm_native: the cached verdict of the /dev/kvm speed probe (the QEMU
 * engine uses it to choose -accel kvm or tcg). */
bool engine_kvm_native(void);

#endif
