/* SPDX-License-Identifier: MIT */
/* kvmstate.c: vCPU and VM state out of KVM and back. A vCPU section is a
 * list of records (u32 id, u32 length, bytes), one per KVM_GET_* call, so a
 * reader can tell what is there and check each size against this kernel's
 * structure. The order of KVM_SET_* on load follows what KVM needs: the
 * general registers and XSAVE, XCRs, then the special registers (CR4 before
 * features that depend on it), MSRs, MP state, local APIC (then the TSC
 * deadline MSR, which only a local APIC in TSC-deadline mode takes), events
 * last. */
#include "kvmstate.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "common/buf.h"
#include "common/err.h"

#define MSR_TSC_DEADLINE 0x000006e0

enum rec {
	REC_REGS = 1,
	REC_SREGS = 2,
	REC_XSAVE = 3,
	REC_XCRS = 4,
	REC_MSRS = 5,
	REC_LAPIC = 6,
	REC_EVENTS = 7,
	REC_MP_STATE = 8,
	REC_DEBUGREGS = 9,
	REC_FPU = 10,
	REC_MAX
};

static const char *const rec_name[REC_MAX] = {
	[REC_REGS] = "registers", [REC_SREGS] = "special registers", [REC_XSAVE] = "XSAVE",
	[REC_XCRS] = "XCRs", [REC_MSRS] = "MSRs", [REC_LAPIC] = "local APIC",
	[REC_EVENTS] = "pending events", [REC_MP_STATE] = "MP state",
	[REC_DEBUGREGS] = "debug registers", [REC_FPU] = "FPU",
};

/* The MSRs that make up a running x86 Linux guest's CPU state (beyond
 * what SREGS holds: EFER, APIC base). Kept when this KVM lists them. In
 * load order: the TSC first (the rest is relative to it), async PF's
 * interrupt vector before its enable. */
static const uint32_t msr_wanted[] = {
	0x00000010,	/* IA32_TSC */
	0x0000003b,	/* IA32_TSC_ADJUST */
	0x00000174, 0x00000175, 0x00000176,	/* SYSENTER_CS/ESP/EIP */
	0xc0000081, 0xc0000082, 0xc0000083, 0xc0000084,	/* STAR LSTAR CSTAR SFMASK */
	0xc0000102,	/* KERNEL_GS_BASE */
	0xc0000103,	/* TSC_AUX */
	0x000001a0,	/* MISC_ENABLE */
	0x00000277,	/* PAT */
	MSR_TSC_DEADLINE,
	0x00000048,	/* SPEC_CTRL */
	0x0000017a,	/* MCG_STATUS */
	0x0000017b,	/* MCG_CTL */
	0x000002ff,	/* MTRR_DEF_TYPE */
	0x00000200, 0x00000201, 0x00000202, 0x00000203, 0x00000204, 0x00000205,
	0x00000206, 0x00000207, 0x00000208, 0x00000209, 0x0000020a, 0x0000020b,
	0x0000020c, 0x0000020d, 0x0000020e, 0x0000020f,	/* MTRR variable */
	0x00000250, 0x00000258, 0x00000259,
	0x00000268, 0x00000269, 0x0000026a, 0x0000026b, 0x0000026c, 0x0000026d,
	0x0000026e, 0x0000026f,	/* MTRR fixed */
	0x00000011, 0x00000012,	/* KVM wall clock, system time (old) */
	0x4b564d00, 0x4b564d01,	/* KVM wall clock, system time (kvmclock) */
	0x4b564d06,	/* ASYNC_PF_INT */
	0x4b564d02,	/* ASYNC_PF_EN */
	0x4b564d03,	/* STEAL_TIME */
	0x4b564d04,	/* PV_EOI_EN */
	0x4b564d05,	/* POLL_CONTROL */
	0xc0010015,	/* AMD HWCR */
	0xc001011f,	/* AMD VIRT_SPEC_CTRL */
};

#define NR_WANTED (sizeof(msr_wanted) / sizeof(msr_wanted[0]))

/* msr_list: the wanted MSRs this KVM knows, in msr_wanted order. */
static unsigned msr_list(int kvm_fd, uint32_t *out)
{
	struct kvm_msr_list probe = { .nmsrs = 0 };
	struct kvm_msr_list *l;
	unsigned n = 0;

	if (ioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, &probe) < 0 && errno != E2BIG)
		return 0;
	l = calloc(1, sizeof(*l) + probe.nmsrs * sizeof(uint32_t));
	if (l == NULL)
		return 0;
	l->nmsrs = probe.nmsrs;
	if (ioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, l) < 0) {
		free(l);
		return 0;
	}
	for (unsigned w = 0; w < NR_WANTED; w++)
		for (unsigned i = 0; i < l->nmsrs; i++)
			if (l->indices[i] == msr_wanted[w]) {
				out[n++] = msr_wanted[w];
				break;
			}
	free(l);
	return n;
}

static void put_rec(struct buf *out, uint32_t id, const void *p, size_t len)
{
	buf_put_u32(out, id);
	buf_put_u32(out, (uint32_t)len);
	buf_append(out, p, len);
}

static int vcpu_get(int fd, unsigned long req, void *p, const char *what, struct err *err)
{
	if (ioctl(fd, req, p) < 0)
		return err_setsys(err, errno, "vCPU state: %s", what);
	return 0;
}

int kvmstate_save_vcpu(int kvm_fd, int fd, struct buf *out, struct err *err)
{
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_xcrs xcrs;
	struct kvm_lapic_state lapic;
	struct kvm_vcpu_events events;
	struct kvm_mp_state mp;
	struct kvm_debugregs dbg;
	uint32_t idx[NR_WANTED];
	struct kvm_msrs *msrs = NULL;
	void *xsave = NULL;
	int xsize, r;
	unsigned n;

	memset(&xcrs, 0, sizeof(xcrs));
	if ((r = vcpu_get(fd, KVM_GET_REGS, &regs, "KVM_GET_REGS", err)) < 0 ||
	    (r = vcpu_get(fd, KVM_GET_SREGS, &sregs, "KVM_GET_SREGS", err)) < 0 ||
	    (r = vcpu_get(fd, KVM_GET_LAPIC, &lapic, "KVM_GET_LAPIC", err)) < 0 ||
	    (r = vcpu_get(fd, KVM_GET_VCPU_EVENTS, &events, "KVM_GET_VCPU_EVENTS", err)) < 0 ||
	    (r = vcpu_get(fd, KVM_GET_MP_STATE, &mp, "KVM_GET_MP_STATE", err)) < 0 ||
	    (r = vcpu_get(fd, KVM_GET_DEBUGREGS, &dbg, "KVM_GET_DEBUGREGS", err)) < 0)
		return r;
	put_rec(out, REC_REGS, &regs, sizeof(regs));
	put_rec(out, REC_SREGS, &sregs, sizeof(sregs));

	/* XSAVE: the larger KVM_GET_XSAVE2 buffer when the kernel has it (AMX). */
	xsize = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);
	if (xsize < (int)sizeof(struct kvm_xsave))
		xsize = sizeof(struct kvm_xsave);
	xsave = calloc(1, (size_t)xsize);
	if (xsave == NULL)
		return err_set(err, ENOMEM, "out of memory");
	if (ioctl(fd, xsize > (int)sizeof(struct kvm_xsave) ? KVM_GET_XSAVE2 : KVM_GET_XSAVE,
		  xsave) == 0) {
		put_rec(out, REC_XSAVE, xsave, (size_t)xsize);
	} else {
		struct kvm_fpu fpu;
		if ((r = vcpu_get(fd, KVM_GET_FPU, &fpu, "KVM_GET_FPU", err)) < 0)
			goto out;
		put_rec(out, REC_FPU, &fpu, sizeof(fpu));
	}
	if (ioctl(fd, KVM_GET_XCRS, &xcrs) == 0)
		put_rec(out, REC_XCRS, &xcrs, sizeof(xcrs));

	/* MSRs one ioctl, then one by one if KVM stopped early (it returns the
	 * number it read): an MSR this vCPU refuses is left out. */
	n = msr_list(kvm_fd, idx);
	msrs = calloc(1, sizeof(*msrs) + n * sizeof(struct kvm_msr_entry));
	if (msrs == NULL) {
		r = err_set(err, ENOMEM, "out of memory");
		goto out;
	}
	unsigned got = 0;
	for (unsigned i = 0; i < n; i++) {
		union {
			struct kvm_msrs h;
			uint8_t raw[sizeof(struct kvm_msrs) + sizeof(struct kvm_msr_entry)];
		} one;
		memset(&one, 0, sizeof(one));
		one.h.nmsrs = 1;
		one.h.entries[0].index = idx[i];
		if (ioctl(fd, KVM_GET_MSRS, &one) == 1)
			msrs->entries[got++] = one.h.entries[0];
	}
	msrs->nmsrs = got;
	put_rec(out, REC_MSRS, msrs, sizeof(*msrs) + got * sizeof(struct kvm_msr_entry));
	put_rec(out, REC_MP_STATE, &mp, sizeof(mp));
	put_rec(out, REC_LAPIC, &lapic, sizeof(lapic));
	put_rec(out, REC_EVENTS, &events, sizeof(events));
	put_rec(out, REC_DEBUGREGS, &dbg, sizeof(dbg));
	r = out->failed ? err_set(err, ENOMEM, "out of memory") : 0;
out:
	free(msrs);
	free(xsave);
	return r;
}

int kvmstate_load_vcpu(int fd, unsigned id, const void *data, size_t len, uint32_t version,
		       struct err *err)
{
	struct buf_reader r;
	const uint8_t *rec[REC_MAX] = { 0 };
	uint32_t rlen[REC_MAX] = { 0 };
	static const unsigned long set_req[REC_MAX] = {
		[REC_REGS] = KVM_SET_REGS, [REC_SREGS] = KVM_SET_SREGS,
		[REC_XSAVE] = KVM_SET_XSAVE, [REC_XCRS] = KVM_SET_XCRS,
		[REC_MSRS] = KVM_SET_MSRS, [REC_LAPIC] = KVM_SET_LAPIC,
		[REC_EVENTS] = KVM_SET_VCPU_EVENTS, [REC_MP_STATE] = KVM_SET_MP_STATE,
		[REC_DEBUGREGS] = KVM_SET_DEBUGREGS, [REC_FPU] = KVM_SET_FPU,
	};
	static const size_t want[REC_MAX] = {
		[REC_REGS] = sizeof(struct kvm_regs), [REC_SREGS] = sizeof(struct kvm_sregs),
		[REC_XCRS] = sizeof(struct kvm_xcrs), [REC_LAPIC] = sizeof(struct kvm_lapic_state),
		[REC_EVENTS] = sizeof(struct kvm_vcpu_events),
		[REC_MP_STATE] = sizeof(struct kvm_mp_state),
		[REC_DEBUGREGS] = sizeof(struct kvm_debugregs), [REC_FPU] = sizeof(struct kvm_fpu),
	};
	static const enum rec order[] = { REC_REGS, REC_XSAVE, REC_FPU, REC_XCRS, REC_SREGS,
					  REC_MSRS, REC_MP_STATE, REC_LAPIC, REC_EVENTS,
					  REC_DEBUGREGS };
	struct kvm_msr_entry deadline = { 0 };
	bool has_deadline = false;

	if (version != KVMSTATE_VCPU_VERSION)
		return err_set(err, ENOTSUP, "vCPU %u state version %u (this domus reads %u)", id,
			       version, KVMSTATE_VCPU_VERSION);
	buf_reader_init(&r, data, len);
	while (r.off < r.len) {
		uint32_t rid, l;
		if (!buf_get_u32(&r, &rid) || !buf_get_u32(&r, &l) || l > r.len - r.off)
			return err_set(err, EINVAL, "vCPU %u state: truncated record", id);
		if (rid == 0 || rid >= REC_MAX || rec[rid])
			return err_set(err, EINVAL, "vCPU %u state: unknown or repeated record %u", id,
				       rid);
		/* Prevents a short or long record from being handed to KVM. */
		if (rid == REC_XSAVE ? (l < sizeof(struct kvm_xsave) || l > (1u << 20))
		    : rid == REC_MSRS ? (l < sizeof(struct kvm_msrs) ||
					 (l - sizeof(struct kvm_msrs)) % sizeof(struct kvm_msr_entry))
		    : l != want[rid])
			return err_set(err, EINVAL, "vCPU %u state: %s record has %u bytes", id,
				       rec_name[rid], l);
		rec[rid] = (const uint8_t *)data + r.off;
		rlen[rid] = l;
		r.off += l;
	}
	if (!rec[REC_REGS] || !rec[REC_SREGS] || !rec[REC_LAPIC] || !rec[REC_MSRS] ||
	    !rec[REC_MP_STATE] || !rec[REC_EVENTS] || (!rec[REC_XSAVE] && !rec[REC_FPU]))
		return err_set(err, EINVAL, "vCPU %u state: a record is missing", id);
	for (size_t k = 0; k < sizeof(order) / sizeof(order[0]); k++) {
		enum rec w = order[k];
		void *copy;
		int res;

		if (!rec[w])
			continue;
		/* KVM wants aligned structures and may write some back */
		copy = calloc(1, rlen[w] < sizeof(struct kvm_xsave) && w == REC_XSAVE ?
					 sizeof(struct kvm_xsave) : rlen[w]);
		if (copy == NULL)
			return err_set(err, ENOMEM, "out of memory");
		memcpy(copy, rec[w], rlen[w]);
		if (w == REC_MSRS) {
			struct kvm_msrs *m = copy;
			uint32_t n = (uint32_t)((rlen[w] - sizeof(*m)) / sizeof(struct kvm_msr_entry));
			if (m->nmsrs != n) {
				uint32_t said = m->nmsrs;
				free(copy);
				return err_set(err, EINVAL, "vCPU %u state: MSR count %u, %u present",
					       id, said, n);
			}
			/* TSC_DEADLINE waits for the local APIC: KVM ignores it
			 * unless the APIC timer is in TSC-deadline mode, which
			 * KVM_SET_LAPIC sets (and then clears the deadline). Lost,
			 * the guest's next timer interrupt would never come. */
			for (uint32_t i = 0; i < n; i++) {
				if (m->entries[i].index != MSR_TSC_DEADLINE)
					continue;
				deadline = m->entries[i];
				has_deadline = true;
				m->entries[i] = m->entries[n - 1];
				m->nmsrs = --n;
				break;
			}
			res = ioctl(fd, KVM_SET_MSRS, m);
			if (res >= 0 && (uint32_t)res != n) {
				uint32_t bad = m->entries[res].index;
				free(m);
				return err_set(err, EINVAL, "vCPU %u state: this KVM refuses MSR 0x%x",
					       id, bad);
			}
		} else {
			res = ioctl(fd, set_req[w], copy);
		}
		free(copy);
		if (res < 0)
			return err_setsys(err, errno, "vCPU %u state: setting %s", id, rec_name[w]);
		if (w == REC_LAPIC && has_deadline) {
			struct kvm_msrs *one = calloc(1, sizeof(*one) + sizeof(deadline));
			if (one == NULL)
				return err_set(err, ENOMEM, "out of memory");
			one->nmsrs = 1;
			one->entries[0] = deadline;
			res = ioctl(fd, KVM_SET_MSRS, one);
			free(one);
			if (res != 1)
				return err_set(err, EINVAL, "vCPU %u state: this KVM refuses the "
							    "TSC deadline", id);
		}
	}
	return 0;
}

/* --- VM: irqchip, PIT, clock ----------------------------------------------------------- */

int kvmstate_save_vm(int vm_fd, struct buf *out, struct err *err)
{
	struct kvm_pit_state2 pit;
	struct kvm_clock_data clock;

	for (unsigned chip = 0; chip < 3; chip++) {
		struct kvm_irqchip ic = { .chip_id = chip };
		if (ioctl(vm_fd, KVM_GET_IRQCHIP, &ic) < 0)
			return err_setsys(err, errno, "VM state: KVM_GET_IRQCHIP %u", chip);
		buf_append(out, &ic, sizeof(ic));
	}
	if (ioctl(vm_fd, KVM_GET_PIT2, &pit) < 0)
		return err_setsys(err, errno, "VM state: KVM_GET_PIT2");
	buf_append(out, &pit, sizeof(pit));
	memset(&clock, 0, sizeof(clock));
	if (ioctl(vm_fd, KVM_GET_CLOCK, &clock) < 0)
		return err_setsys(err, errno, "VM state: KVM_GET_CLOCK");
	buf_put_u64(out, clock.clock);
	return out->failed ? err_set(err, ENOMEM, "out of memory") : 0;
}

int kvmstate_load_vm(int vm_fd, const void *data, size_t len, uint32_t version, struct err *err)
{
	const size_t want = 3 * sizeof(struct kvm_irqchip) + sizeof(struct kvm_pit_state2) + 8;
	const uint8_t *p = data;
	struct kvm_pit_state2 pit;
	struct kvm_clock_data clock;

	if (version != KVMSTATE_VM_VERSION)
		return err_set(err, ENOTSUP, "VM state version %u (this domus reads %u)", version,
			       KVMSTATE_VM_VERSION);
	if (len != want)
		return err_set(err, EINVAL, "VM state: %zu bytes, expected %zu", len, want);
	for (unsigned chip = 0; chip < 3; chip++) {
		struct kvm_irqchip ic;
		memcpy(&ic, p, sizeof(ic));
		p += sizeof(ic);
		if (ic.chip_id != chip)
			return err_set(err, EINVAL, "VM state: irqchip %u out of place", ic.chip_id);
		if (ioctl(vm_fd, KVM_SET_IRQCHIP, &ic) < 0)
			return err_setsys(err, errno, "VM state: KVM_SET_IRQCHIP %u", chip);
	}
	memcpy(&pit, p, sizeof(pit));
	p += sizeof(pit);
	if (ioctl(vm_fd, KVM_SET_PIT2, &pit) < 0)
		return err_setsys(err, errno, "VM state: KVM_SET_PIT2");
	memset(&clock, 0, sizeof(clock));
	memcpy(&clock.clock, p, 8);
	if (ioctl(vm_fd, KVM_SET_CLOCK, &clock) < 0)
		return err_setsys(err, errno, "VM state: KVM_SET_CLOCK");
	return 0;
}

/* --- CPUID ----------------------------------------------------------------------------- */

int kvmstate_save_cpuid(const struct kvm_cpuid2 *cpuid, struct buf *out)
{
	buf_put_u32(out, cpuid->nent);
	buf_append(out, cpuid->entries, cpuid->nent * sizeof(cpuid->entries[0]));
	return out->failed ? -ENOMEM : 0;
}

static const struct kvm_cpuid_entry2 *find_leaf(const struct kvm_cpuid2 *c, uint32_t fn,
						uint32_t idx)
{
	for (unsigned i = 0; i < c->nent; i++)
		if (c->entries[i].function == fn &&
		    (!(c->entries[i].flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) ||
		     c->entries[i].index == idx))
			return &c->entries[i];
	return NULL;
}

int kvmstate_check_cpuid(const void *data, size_t len, uint32_t version,
			 const struct kvm_cpuid2 *supported, struct kvm_cpuid2 **out,
			 struct err *err)
{
	/* The feature words: a bit set in the guest's table must be one this
	 * KVM can give it, or the guest would fault (or worse) on the first
	 * instruction that uses it. */
	static const struct {
		uint32_t fn, idx;
		uint8_t reg;	/* 0 eax 1 ebx 2 ecx 3 edx */
	} words[] = {
		{ 1, 0, 2 }, { 1, 0, 3 }, { 7, 0, 1 }, { 7, 0, 2 }, { 7, 0, 3 }, { 7, 1, 0 },
		{ 0xd, 1, 0 }, { 0x80000001, 0, 2 }, { 0x80000001, 0, 3 },
		{ 0x80000008, 0, 1 }, { 0x40000001, 0, 0 },
	};
	static const char *const regn[] = { "eax", "ebx", "ecx", "edx" };
	struct kvm_cpuid2 *c;
	uint32_t nent;
	char missing[300] = "";
	size_t ml = 0;

	if (version != KVMSTATE_CPUID_VERSION || len < 4)
		return err_set(err, EINVAL, "CPUID section: version %u, %zu bytes", version, len);
	memcpy(&nent, data, 4);
	if (nent == 0 || nent > 1024 || len != 4 + nent * sizeof(struct kvm_cpuid_entry2))
		return err_set(err, EINVAL, "CPUID section: %u entries in %zu bytes", nent, len);
	c = calloc(1, sizeof(*c) + nent * sizeof(struct kvm_cpuid_entry2));
	if (c == NULL)
		return err_set(err, ENOMEM, "out of memory");
	c->nent = nent;
	memcpy(c->entries, (const uint8_t *)data + 4, nent * sizeof(struct kvm_cpuid_entry2));
	for (size_t w = 0; w < sizeof(words) / sizeof(words[0]); w++) {
		const struct kvm_cpuid_entry2 *g = find_leaf(c, words[w].fn, words[w].idx);
		const struct kvm_cpuid_entry2 *h = find_leaf(supported, words[w].fn, words[w].idx);
		uint32_t gv, hv;

		if (g == NULL)
			continue;
		gv = words[w].reg == 0 ? g->eax : words[w].reg == 1 ? g->ebx
			: words[w].reg == 2 ? g->ecx : g->edx;
		hv = h == NULL ? 0 : words[w].reg == 0 ? h->eax : words[w].reg == 1 ? h->ebx
			: words[w].reg == 2 ? h->ecx : h->edx;
		if ((gv & ~hv) && ml < sizeof(missing) - 60)
			ml += (size_t)snprintf(missing + ml, sizeof(missing) - ml,
					       "%sleaf 0x%x.%u %s bits 0x%08x", ml ? ", " : "",
					       words[w].fn, words[w].idx, regn[words[w].reg],
					       gv & ~hv);
	}
	if (ml) {
		free(c);
		return err_set(err, ENOTSUP, "this host's CPU lacks features the guest uses: %s",
			       missing);
	}
	*out = c;
	return 0;
}
