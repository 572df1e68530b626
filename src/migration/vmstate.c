/* SPDX-License-Identifier: MIT */
/* vmstate.c: the sections of a VM: configuration, CPUID, vCPUs, KVM's
 * irqchip/PIT/clock, the legacy devices and PCI bus (through dev_ops) and
 * the virtio devices (through their transport). The loader checks that the
 * stream describes this very machine: each section once, none unknown. */
#include "vmstate.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arch/x86/cpuid.h"
#include "common/buf.h"
#include "common/err.h"
#include "devices/virtio/pci.h"
#include "kvmstate.h"
#include "stream.h"
#include "vmm/vm.h"

/* --- configuration ------------------------------------------------------------------- */

static void put_str(struct buf *b, const char *s)
{
	size_t n = s ? strlen(s) : 0;

	buf_put_u16(b, (uint16_t)n);
	buf_append(b, s, n);
}

static bool get_str(struct buf_reader *r, char *out, size_t cap)
{
	uint16_t n;

	if (!buf_get_u16(r, &n) || n >= cap || !buf_get(r, out, n))
		return false;
	out[n] = '\0';
	return strlen(out) == n;	/* no NUL inside */
}

int vmconfig_save(const struct vm_config *cfg, struct buf *out)
{
	buf_put_u64(out, cfg->memory_mib);
	buf_put_u32(out, cfg->vcpus);
	buf_put_u32(out, cfg->nr_disks);
	for (unsigned i = 0; i < cfg->nr_disks; i++) {
		const struct disk_opts *d = &cfg->disk_opts[i];
		put_str(out, d->path);
		buf_put_u8(out, d->readonly);
		buf_put_u8(out, d->direct);
		put_str(out, d->serial);
	}
	put_str(out, cfg->vconsole_path);
	put_str(out, cfg->cmdline);
	/* the NICs: back end kind and name, the MAC, user mode's forwards */
	buf_put_u32(out, cfg->nr_nets);
	for (unsigned i = 0; i < cfg->nr_nets; i++) {
		const struct net_opts *n = &cfg->net_opts[i];
		buf_put_u8(out, (uint8_t)n->kind);
		put_str(out, n->ifname);
		buf_append(out, n->mac, 6);
		buf_put_u8(out, (uint8_t)n->nr_fwd);
		for (unsigned f = 0; f < n->nr_fwd; f++) {
			buf_put_u8(out, n->fwd[f].udp);
			buf_append(out, &n->fwd[f].host_addr, 4);
			buf_put_u16(out, n->fwd[f].host_port);
			buf_append(out, &n->fwd[f].guest_addr, 4);
			buf_put_u16(out, n->fwd[f].guest_port);
		}
	}
	/* which engine made it; the QEMU engine also needs the boot files (QEMU
	 * rebuilds its option ROMs from them and checks they match) */
	buf_put_u8(out, cfg->engine == ENGINE_QEMU ? 1 : 0);
	put_str(out, cfg->engine == ENGINE_QEMU ? cfg->kernel : NULL);
	put_str(out, cfg->engine == ENGINE_QEMU ? cfg->initrd : NULL);
	return out->failed ? -ENOMEM : 0;
}

int vmconfig_load(const void *data, size_t len, uint32_t version, struct vmconfig *out,
		  struct err *err)
{
	struct buf_reader r;
	uint64_t mem;
	uint32_t vcpus, nd;

	memset(out, 0, sizeof(*out));
	if (version != VMCONFIG_VERSION && version != 1)
		return err_set(err, ENOTSUP, "machine configuration version %u (this domus reads %u)",
			       version, VMCONFIG_VERSION);
	buf_reader_init(&r, data, len);
	if (!buf_get_u64(&r, &mem) || !buf_get_u32(&r, &vcpus) || !buf_get_u32(&r, &nd))
		goto bad;
	if (mem < VM_MEMORY_MIN_MIB || mem > (1ULL << 22) || vcpus < 1 ||
	    vcpus > VM_VCPUS_MAX || nd > VM_DISKS_MAX)
		goto bad;
	for (unsigned i = 0; i < nd; i++) {
		struct disk_opts *d = &out->disks[i];
		uint8_t ro, direct;
		if (!get_str(&r, d->path, sizeof(d->path)) || d->path[0] == '\0' ||
		    !buf_get_u8(&r, &ro) || !buf_get_u8(&r, &direct) || ro > 1 || direct > 1 ||
		    !get_str(&r, d->serial, sizeof(d->serial)))
			goto bad;
		d->readonly = ro;
		d->direct = direct;
	}
	uint8_t qemu;
	uint32_t nn = 0;
	if (!get_str(&r, out->vconsole, sizeof(out->vconsole)) ||
	    !get_str(&r, out->cmdline, sizeof(out->cmdline)))
		goto bad;
	if (version >= 2 && (!buf_get_u32(&r, &nn) || nn > NET_NICS_MAX))
		goto bad;
	for (unsigned i = 0; i < nn; i++) {
		struct net_opts *n = &out->nets[i];
		uint8_t kind, nf;
		if (!buf_get_u8(&r, &kind) || kind > NET_USER ||
		    !get_str(&r, n->ifname, sizeof(n->ifname)) ||
		    (kind != NET_USER && n->ifname[0] == '\0') || !buf_get(&r, n->mac, 6) ||
		    (n->mac[0] & 1) || !buf_get_u8(&r, &nf) || nf > NET_HOSTFWD_MAX ||
		    (nf && kind != NET_USER))
			goto bad;
		n->kind = (enum net_backend_kind)kind;
		n->mac_given = true;
		n->nr_fwd = nf;
		for (unsigned f = 0; f < nf; f++) {
			struct net_hostfwd *h = &n->fwd[f];
			uint8_t udp;
			if (!buf_get_u8(&r, &udp) || udp > 1 || !buf_get(&r, &h->host_addr, 4) ||
			    !buf_get_u16(&r, &h->host_port) || !buf_get(&r, &h->guest_addr, 4) ||
			    !buf_get_u16(&r, &h->guest_port))
				goto bad;
			h->udp = udp;
		}
		for (unsigned j = 0; j < i; j++)
			if (memcmp(out->nets[j].mac, n->mac, 6) == 0)
				goto bad;
	}
	if (!buf_get_u8(&r, &qemu) ||
	    qemu > 1 || !get_str(&r, out->kernel, sizeof(out->kernel)) ||
	    !get_str(&r, out->initrd, sizeof(out->initrd)) || r.off != r.len ||
	    (qemu && out->kernel[0] == '\0'))
		goto bad;
	out->cfg.memory_mib = mem;
	out->cfg.vcpus = vcpus;
	out->cfg.nr_disks = nd;
	out->cfg.disk_opts = out->disks;
	out->cfg.vconsole_path = out->vconsole[0] ? out->vconsole : NULL;
	out->cfg.cmdline = out->cmdline;
	out->cfg.net_opts = out->nets;
	out->cfg.nr_nets = nn;
	out->cfg.engine = qemu ? ENGINE_QEMU : ENGINE_KVM;
	out->cfg.kernel = out->kernel[0] ? out->kernel : NULL;
	out->cfg.initrd = out->initrd[0] ? out->initrd : NULL;
	return 0;
bad:
	return err_set(err, EINVAL, "VM state stream corrupt: bad machine configuration");
}

int vmconfig_read(struct stream *s, struct vmconfig *out, struct err *err)
{
	struct section sec;
	int r = stream_get_header(s, err);

	if (r < 0)
		return r;
	r = stream_get_section(s, &sec, err);
	if (r < 0)
		return r;
	if (r == 0 || strcmp(sec.name, "config") != 0)
		return err_set(err, EINVAL, "VM state stream corrupt: it does not start with the "
					    "machine configuration");
	return vmconfig_load(sec.data, sec.len, sec.version, out, err);
}

void vmstate_ram_desc(uint8_t d[16], uint64_t size, uint32_t enc)
{
	struct buf b;

	buf_init(&b);
	buf_put_u64(&b, size);
	buf_put_u32(&b, enc);
	buf_put_u32(&b, 0);
	memcpy(d, b.data, 16);
	buf_free(&b);
}

/* --- the VM's parts ------------------------------------------------------------------ */

/* The virtio transports in a fixed order, with their section names. */
static unsigned virtio_list(struct vm *vm, struct virtio_pci **vp, char (*name)[32])
{
	unsigned n = 0;

	if (vm->rng_pci) {
		vp[n] = vm->rng_pci;
		snprintf(name[n++], 32, "virtio.rng");
	}
	for (unsigned i = 0; i < vm->nr_blk; i++) {
		vp[n] = vm->blk_pci[i];
		snprintf(name[n++], 32, "virtio.blk%u", i);
	}
	for (unsigned i = 0; i < vm->nr_net; i++) {
		vp[n] = vm->net_pci[i];
		snprintf(name[n++], 32, "virtio.net%u", i);
	}
	if (vm->vcon_pci) {
		vp[n] = vm->vcon_pci;
		snprintf(name[n++], 32, "virtio.console");
	}
	return n;
}

#define VIRTIO_LIST_MAX (2 + VM_DISKS_MAX + NET_NICS_MAX)

void vmstate_quiesce(struct vm *vm)
{
	struct virtio_pci *vp[VIRTIO_LIST_MAX];
	char names[VIRTIO_LIST_MAX][32];
	unsigned n;

	vm_freeze(vm);
	n = virtio_list(vm, vp, names);
	for (unsigned i = 0; i < n; i++)
		virtio_pci_quiesce(vp[i]);
}

static int put_buf(struct stream *s, const char *name, uint32_t version, struct buf *b,
		   struct err *err)
{
	int r;

	if (b->failed)
		return err_set(err, ENOMEM, "out of memory");
	r = stream_put_section(s, name, version, b->data, b->len);
	if (r < 0)
		return err_setsys(err, -r, "writing the VM state (%s)", name);
	return 0;
}

int vmstate_save_devices(struct vm *vm, struct stream *s, struct err *err)
{
	struct virtio_pci *vp[VIRTIO_LIST_MAX];
	char names[VIRTIO_LIST_MAX][32];
	struct buf b;
	char name[64];
	unsigned n;
	int r = 0;

	buf_init(&b);
	for (unsigned i = 0; i < vm->nr_vcpus && r == 0; i++) {
		b.len = 0;
		r = kvmstate_save_vcpu(vm->kvm_fd, vm->vcpus[i].fd, &b, err);
		snprintf(name, sizeof(name), "cpu.%u", i);
		if (r == 0)
			r = put_buf(s, name, KVMSTATE_VCPU_VERSION, &b, err);
	}
	if (r == 0) {
		b.len = 0;
		r = kvmstate_save_vm(vm->vm_fd, &b, err);
		if (r == 0)
			r = put_buf(s, "kvm", KVMSTATE_VM_VERSION, &b, err);
	}
	for (unsigned i = 0; i < vm->nr_devs && r == 0; i++) {
		const struct dev_ops *ops = vm->devs[i].ops;
		b.len = 0;
		if (ops->save == NULL)
			continue;
		r = ops->save(vm->devs[i].dev, &b);
		if (r < 0) {
			r = err_setsys(err, -r, "saving device %s", ops->name);
			break;
		}
		snprintf(name, sizeof(name), "dev.%s", ops->name);
		r = put_buf(s, name, ops->version, &b, err);
	}
	n = virtio_list(vm, vp, names);
	for (unsigned i = 0; i < n && r == 0; i++) {
		b.len = 0;
		r = virtio_pci_save(vp[i], &b);
		if (r < 0)
			r = err_setsys(err, -r, "saving %s", names[i]);
		else
			r = put_buf(s, names[i], VIRTIO_PCI_STATE_VERSION, &b, err);
	}
	buf_free(&b);
	return r;
}

int vmstate_read_cpuid(struct stream *s, int kvm_fd, struct kvm_cpuid2 **out, struct err *err)
{
	struct section sec;
	struct kvm_cpuid2 *sup;
	int r = stream_get_section(s, &sec, err);

	if (r < 0)
		return r;
	if (r == 0 || strcmp(sec.name, "cpuid") != 0)
		return err_set(err, EINVAL, "VM state stream corrupt: no CPUID section after the "
					    "configuration");
	sup = cpuid_supported(kvm_fd, err);
	if (sup == NULL)
		return -ENOMEM;
	/* Tests: DOMUS_TEST_HIDE_CPUID="FN.INDEX.REG:MASK" (REG eax..edx) makes
	 * this host pretend it lacks those feature bits, to check a destination
	 * with a lesser CPU refuses the guest. */
	const char *hide = getenv("DOMUS_TEST_HIDE_CPUID");
	unsigned fn, idx;
	char reg[4];
	unsigned long mask;
	if (hide && sscanf(hide, "%x.%u.e%1[a-d]x:%lx", &fn, &idx, reg, &mask) == 4) {
		for (unsigned i = 0; i < sup->nent; i++) {
			struct kvm_cpuid_entry2 *e = &sup->entries[i];
			if (e->function != fn || e->index != idx)
				continue;
			uint32_t *rp = reg[0] == 'a' ? &e->eax : reg[0] == 'b' ? &e->ebx
				     : reg[0] == 'c' ? &e->ecx : &e->edx;
			*rp &= ~(uint32_t)mask;
		}
	}
	r = kvmstate_check_cpuid(sec.data, sec.len, sec.version, sup, out, err);
	free(sup);
	return r;
}

int vmstate_load(struct vm *vm, struct stream *s, vmstate_ram_cb ram, void *arg, struct err *err)
{
	struct virtio_pci *vp[VIRTIO_LIST_MAX];
	char vnames[VIRTIO_LIST_MAX][32];
	unsigned nv = virtio_list(vm, vp, vnames);
	/* what was seen: vCPUs, kvm, devices, virtio devices, RAM */
	bool *seen_cpu = calloc(vm->nr_vcpus, sizeof(bool));
	bool seen_dev[VM_MAX_DEVICES] = { 0 }, seen_virtio[VIRTIO_LIST_MAX] = { 0 };
	bool seen_kvm = false, seen_ram = false;
	struct section sec;
	int r;

	if (seen_cpu == NULL)
		return err_set(err, ENOMEM, "out of memory");
	bool trace = getenv("DOMUS_TRACE") != NULL;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while ((r = stream_get_section(s, &sec, err)) == 1) {
		unsigned id;
		char tail;

		if (trace) {
			/* for tuning the switch-over: what each section costs */
			clock_gettime(CLOCK_MONOTONIC, &t1);
			fprintf(stderr, "domus-trace: section %s after %.2f ms\n", sec.name,
				(t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6);
			t0 = t1;
		}

		if (strcmp(sec.name, "sync") == 0 && seen_ram) {
			/* a migration round ends: the RAM callback answers */
			r = ram(arg, vm, s, &sec, err);
			if (r < 0)
				goto out;
			continue;
		}
		if (strcmp(sec.name, "ram") == 0 || strcmp(sec.name, "ramz") == 0 ||
		    strcmp(sec.name, "pages") == 0) {
			/* the "ram" descriptor first, once; its chunks after it */
			if (seen_ram == (strcmp(sec.name, "ram") == 0)) {
				r = err_set(err, EINVAL, "VM state: unexpected section %s", sec.name);
				goto out;
			}
			r = ram(arg, vm, s, &sec, err);
			if (r < 0)
				goto out;
			seen_ram = true;
			continue;
		}
		if (sscanf(sec.name, "cpu.%u%c", &id, &tail) == 1) {
			if (id >= vm->nr_vcpus || seen_cpu[id]) {
				r = err_set(err, EINVAL, "VM state: unexpected section %s", sec.name);
				goto out;
			}
			r = kvmstate_load_vcpu(vm->vcpus[id].fd, id, sec.data, sec.len, sec.version, err);
			if (r < 0)
				goto out;
			seen_cpu[id] = true;
			continue;
		}
		if (strcmp(sec.name, "kvm") == 0 && !seen_kvm) {
			r = kvmstate_load_vm(vm->vm_fd, sec.data, sec.len, sec.version, err);
			if (r < 0)
				goto out;
			seen_kvm = true;
			continue;
		}
		if (strncmp(sec.name, "dev.", 4) == 0) {
			unsigned i;
			for (i = 0; i < vm->nr_devs; i++)
				if (vm->devs[i].ops->load && strcmp(vm->devs[i].ops->name, sec.name + 4) == 0)
					break;
			if (i == vm->nr_devs || seen_dev[i]) {
				r = err_set(err, EINVAL, "VM state: unexpected section %s (another "
							 "machine?)", sec.name);
				goto out;
			}
			r = vm->devs[i].ops->load(vm->devs[i].dev, sec.data, sec.len, sec.version);
			if (r < 0) {
				r = err_set(err, EINVAL, "VM state: device %s refuses its state "
							 "(version %u, %zu bytes)",
					    sec.name + 4, sec.version, sec.len);
				goto out;
			}
			seen_dev[i] = true;
			continue;
		}
		unsigned v;
		for (v = 0; v < nv; v++)
			if (strcmp(vnames[v], sec.name) == 0)
				break;
		if (v == nv || seen_virtio[v]) {
			r = err_set(err, EINVAL, "VM state: unexpected section %s (another machine?)",
				    sec.name);
			goto out;
		}
		r = virtio_pci_load(vp[v], sec.data, sec.len, sec.version);
		if (r < 0) {
			r = err_set(err, EINVAL, "VM state: %s refuses its state (another device "
						 "or feature set?)",
				    sec.name);
			goto out;
		}
		seen_virtio[v] = true;
	}
	if (r < 0)
		goto out;
	/* The end marker: everything must have been there. */
	r = -EINVAL;
	if (!seen_ram) {
		err_set(err, EINVAL, "VM state: no guest memory in the stream");
		goto out;
	}
	if (!seen_kvm) {
		err_set(err, EINVAL, "VM state: no irqchip/clock section");
		goto out;
	}
	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		if (!seen_cpu[i]) {
			err_set(err, EINVAL, "VM state: vCPU %u missing", i);
			goto out;
		}
	for (unsigned i = 0; i < vm->nr_devs; i++)
		if (vm->devs[i].ops->load && !seen_dev[i]) {
			err_set(err, EINVAL, "VM state: device %s missing", vm->devs[i].ops->name);
			goto out;
		}
	for (unsigned i = 0; i < nv; i++)
		if (!seen_virtio[i]) {
			err_set(err, EINVAL, "VM state: %s missing", vnames[i]);
			goto out;
		}
	r = 0;
out:
	free(seen_cpu);
	return r;
}
