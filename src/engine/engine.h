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
struct net_opts;
struct netdev;

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
	/* --net, in order: eth0, eth1, ... Each has its MAC set (given or
	 * random) by `domus run`, which also opens the back ends (nets): TAPs
	 * created, bridges joined, libslirp started, before any engine runs.
	 * They outlive reboots; the QEMU engine gets their descriptors too. */
	const struct net_opts *net_opts;
	unsigned nr_nets;
	struct netdev *const *nets;
	/* The guest's ttyS0 on this chardev instead of the console given to
	 * run() (a domain's console socket); NULL: the console. */
	struct chardev *serial;
	/* A guest reboot ends run() with VM_EXIT_REBOOT instead of booting
	 * again in place (on_reboot policies other than restart). */
	bool no_reboot;
	/* Filled by the engine while a VM runs (ops NULL otherwise), for the
	 * control socket; NULL: nobody asks. */
	struct vm_control *control;
	/* NULL: boot the kernel; else start from saved state (KVM engine). */
	struct vm_incoming *incoming;
	/* QEMU engine: QEMU's state comes from this fd (a snapshot file at its
	 * QEMU part, or the migration socket): -incoming fd:N; 0: none. */
	int qemu_incoming_fd;
};

/* An outgoing live migration, as query-migrate reports it. */
struct migrate_status {
	char state[16];		/* none, active, completed, failed */
	char error[256];	/* for failed */
	bool paused;		/* failed, outcome unknown: the guest is paused here */
	unsigned rounds;
	uint64_t total_ms;	/* so far, or in all */
	uint64_t ram_total, ram_sent, ram_remaining;	/* bytes */
	uint64_t bytes_sent;	/* on the wire */
	double mib_per_s;	/* the last round's rate */
	double expected_downtime_ms;
	double downtime_ms;	/* measured, when completed */
};

/* What a running VM reports (domstats, dominfo). */
struct vm_stats {
	bool paused;
	uint64_t cpu_time_ns;	/* CPU time of the VM so far (all vCPUs, this boot) */
	uint64_t memory_mib;
	unsigned vcpus;
	unsigned boots;		/* 1 + reboots done in place */
	long pid;		/* the process running guest code (QEMU's, or ours) */
};

/* Operations on a running VM, whichever engine runs it. Each returns 0 or
 * -errno with (err) set; they run on the monitor's loop thread. */
struct vm_control_ops {
	int (*pause)(void *opaque, struct err *err);
	int (*resume)(void *opaque, struct err *err);
	/* power_button: ACPI power button press: the guest shuts down in order */
	int (*power_button)(void *opaque, struct err *err);
	/* reset: hard reset, as the reset line would */
	int (*reset)(void *opaque, struct err *err);
	int (*stats)(void *opaque, struct vm_stats *out, struct err *err);
	/* save: the VM's state to the file (path) (zstd with (compress)); the
	 * VM then ends with VM_EXIT_SAVED. NULL: the engine cannot. */
	int (*save)(void *opaque, const char *path, bool compress, struct err *err);
	/* migrate: start a live migration to (target) HOST:PORT; the VM ends
	 * with VM_EXIT_MIGRATED once the destination runs it. query_migrate:
	 * how it goes. NULL: the engine cannot. */
	int (*migrate)(void *opaque, const char *target, unsigned downtime_ms, struct err *err);
	int (*query_migrate)(void *opaque, struct migrate_status *out, struct err *err);
};

struct vm_control {
	const struct vm_control_ops *ops;	/* NULL while no VM runs */
	void *opaque;
};

/* Exit statuses of `domus run` (docs/cli.md). */
enum vm_exit {
	VM_EXIT_POWEROFF = 0,	/* the guest powered off */
	VM_EXIT_ERROR = 1,	/* domus failed (one line on stderr) */
	VM_EXIT_USAGE = 2,	/* bad command line */
	VM_EXIT_CRASH = 3,	/* guest kernel panic or triple fault */
	VM_EXIT_QUIT = 4,	/* stopped by the user: Ctrl-A x or a signal */
	VM_EXIT_REBOOT = 5,	/* the guest rebooted, with vm_config.no_reboot */
	VM_EXIT_SAVED = 6,	/* saved to a file (domus save): the guest is there */
	VM_EXIT_MIGRATED = 7,	/* migrated: the guest runs on the destination */
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
