/* SPDX-License-Identifier: MIT */
/* kvmstate.h: the state KVM holds for a VM, as stream sections: each vCPU
 * (registers, special registers, XSAVE, XCRs, MSRs incl. TSC and kvmclock,
 * local APIC, pending events, MP state, debug registers), the in-kernel
 * irqchip (both PICs, the IOAPIC), the PIT and the KVM clock; and the CPUID
 * the guest sees, with the check that a destination can offer it. */
#ifndef DOMUS_KVMSTATE_H
#define DOMUS_KVMSTATE_H

#include <stddef.h>
#include <stdint.h>

struct buf;
struct err;
struct kvm_cpuid2;

#define KVMSTATE_VCPU_VERSION	1
#define KVMSTATE_VM_VERSION	1
#define KVMSTATE_CPUID_VERSION	1

/* kvmstate_save_vcpu: vCPU (fd)'s state into (out); (kvm_fd) for the MSR
 * list. The vCPU must not be running. 0 or -errno with (err) set. */
int kvmstate_save_vcpu(int kvm_fd, int fd, struct buf *out, struct err *err);
/* kvmstate_load_vcpu: apply state saved by kvmstate_save_vcpu. Checks every
 * record's size; 0 or -errno with (err) naming what was refused. */
int kvmstate_load_vcpu(int fd, unsigned id, const void *data, size_t len, uint32_t version,
		       struct err *err);

/* kvmstate_save_vm / kvmstate_load_vm: irqchip, PIT and clock of (vm_fd).
 * Load the VM part before running the vCPUs (it sets the clock). */
int kvmstate_save_vm(int vm_fd, struct buf *out, struct err *err);
int kvmstate_load_vm(int vm_fd, const void *data, size_t len, uint32_t version, struct err *err);

/* kvmstate_save_cpuid: the CPUID table the guest runs with. */
int kvmstate_save_cpuid(const struct kvm_cpuid2 *cpuid, struct buf *out);
/* kvmstate_check_cpuid: parse a saved table and check that (supported)
 * (this host's KVM) offers every feature bit it sets; on success *out is
 * the saved table (the guest keeps seeing the same CPU), caller frees. On a
 * missing feature: -ENOTSUP with the leaves and bits in (err). */
int kvmstate_check_cpuid(const void *data, size_t len, uint32_t version,
			 const struct kvm_cpuid2 *supported, struct kvm_cpuid2 **out,
			 struct err *err);

#endif
