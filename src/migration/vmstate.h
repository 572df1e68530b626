/* SPDX-License-Identifier: MIT */
/* vmstate.h: a whole VM as stream sections (docs/migration-stream.md): its
 * configuration, the CPUID it runs with, KVM's state (vCPUs, irqchip, PIT,
 * clock) and every device's, in one place for snapshots and migration. */
#ifndef DOMUS_VMSTATE_H
#define DOMUS_VMSTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backends/disk/disk.h"
#include "backends/net/netdev.h"
#include "engine/engine.h"

struct vm;
struct buf;
struct stream;
struct section;
struct err;
struct kvm_cpuid2;

/* Version 2 added the NICs; version 1 streams (no NICs) are still read. */
#define VMCONFIG_VERSION 2

/* What a stream says the machine was: filled by vmconfig_load into storage
 * that outlives the VM (cfg's pointers point into it). */
struct vmconfig {
	struct vm_config cfg;
	struct disk_opts disks[VM_DISKS_MAX];
	struct net_opts nets[NET_NICS_MAX];	/* the back ends are reopened by name */
	char vconsole[4096];
	char cmdline[4096];
	char kernel[4096];	/* QEMU engine: the boot files */
	char initrd[4096];
};

/* vmconfig_save: (cfg) as the "config" section's payload. */
int vmconfig_save(const struct vm_config *cfg, struct buf *out);
/* vmconfig_load: parse it; 0 or -EINVAL with (err) set. */
int vmconfig_load(const void *data, size_t len, uint32_t version, struct vmconfig *out,
		  struct err *err);
/* vmconfig_read: read header and "config" section from (s) (the start of a
 * snapshot or an incoming migration). */
int vmconfig_read(struct stream *s, struct vmconfig *out, struct err *err);

/* vmstate_quiesce: stop the vCPUs (vm_pause) and finish the devices' work in
 * flight. The monitor's thread. */
void vmstate_quiesce(struct vm *vm);

/* vmstate_save_devices: the "cpu.N", "kvm", "dev.*" and "virtio.*"
 * sections of a quiesced VM. */
int vmstate_save_devices(struct vm *vm, struct stream *s, struct err *err);

/* vmstate_read_cpuid: the "cpuid" section, checked against this host;
 * *out for vm_create_restore(). */
int vmstate_read_cpuid(struct stream *s, int kvm_fd, struct kvm_cpuid2 **out, struct err *err);

/* Guest RAM in a stream: a "ram" section (descriptor: u64 size, u32
 * encoding RAM_ENC_*, u32 0) then, by encoding, the bulk data (raw), "ramz"
 * sections (zstd chunks) or "pages" sections (migration). */
#define RAM_VERSION	1
#define RAM_ENC_RAW	0
#define RAM_ENC_ZSTD	1
#define RAM_ENC_PAGES	2

/* vmstate_ram_desc: the "ram" section's 16-byte descriptor. */
void vmstate_ram_desc(uint8_t d[16], uint64_t size, uint32_t enc);

/* How a loader takes guest RAM sections: (cb) gets each "ram", "ramz" or
 * "pages" section (with the stream positioned after its descriptor); 0 or -errno
 * with (err) set. */
typedef int (*vmstate_ram_cb)(void *arg, struct vm *vm, struct stream *s,
			      const struct section *sec, struct err *err);

/* vmstate_load: read sections up to the end marker into (vm), created by
 * vm_create_restore and not running; every section the VM needs must come
 * exactly once, anything unknown is refused. */
int vmstate_load(struct vm *vm, struct stream *s, vmstate_ram_cb ram, void *arg,
		 struct err *err);

#endif
