/* SPDX-License-Identifier: MIT */
/* cpuid.h: the CPUID a vCPU reports: what KVM supports, with our topology
 * (one package, nr_vcpus cores, one thread each, APIC ID = vCPU index), the
 * hypervisor bit and KVM's paravirtual leaves (kvmclock...). */
#ifndef DOMUS_X86_CPUID_H
#define DOMUS_X86_CPUID_H

struct kvm_cpuid2;
struct err;

/* cpuid_supported: KVM_GET_SUPPORTED_CPUID on (kvm_fd); caller frees. */
struct kvm_cpuid2 *cpuid_supported(int kvm_fd, struct err *err);

/* cpuid_for_vcpu: a copy of (base) patched for vCPU (id) of (nr); caller frees.
 * Pure: no ioctl, so it is unit-testable. */
struct kvm_cpuid2 *cpuid_for_vcpu(const struct kvm_cpuid2 *base, unsigned id, unsigned nr);

#endif
