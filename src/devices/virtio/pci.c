/* SPDX-License-Identifier: MIT */
/* pci.c: virtio over PCI, modern layout. Everything lives in BAR 4:
 *
 *   0x0000 common configuration     0x3000 notifications, 4 bytes per queue
 *   0x1000 ISR status               0x4000 MSI-X table
 *   0x2000 device configuration     0x5000 MSI-X pending bits
 *
 * Queue notifications are KVM ioeventfds on the notify addresses, so a kick
 * costs the vCPU no exit to user space; the event loop serves them. The same
 * addresses also work as plain MMIO (before an ioeventfd is bound). */
#include "pci.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/ev.h"
#include "devices/pci/msix.h"
#include "devices/pci/pci.h"
#include "virtio.h"
#include "vmm/iobus.h"

#define VP_BAR			4
#define VP_BAR_SIZE		0x8000
#define VP_COMMON		0x0000
#define VP_COMMON_LEN		0x40
#define VP_ISR			0x1000
#define VP_ISR_LEN		4
#define VP_DEVICE		0x2000
#define VP_DEVICE_LEN		0x1000
#define VP_NOTIFY		0x3000
#define VP_NOTIFY_MULT		4
#define VP_MSIX_TABLE		0x4000
#define VP_MSIX_PBA		0x5000

#define VIRTIO_PCI_VENDOR	0x1af4
#define VIRTIO_PCI_DEVICE_BASE	0x1040

/* virtio_pci_cap cfg_type */
#define CAP_COMMON	1
#define CAP_NOTIFY	2
#define CAP_ISR		3
#define CAP_DEVICE	4

/* common configuration registers (virtio 1.2, 4.1.4.3) */
#define CC_DFSELECT	0x00
#define CC_DF		0x04
#define CC_GFSELECT	0x08
#define CC_GF		0x0c
#define CC_MSIX		0x10
#define CC_NUMQ		0x12
#define CC_STATUS	0x14
#define CC_CFGGEN	0x15
#define CC_Q_SELECT	0x16
#define CC_Q_SIZE	0x18
#define CC_Q_MSIX	0x1a
#define CC_Q_ENABLE	0x1c
#define CC_Q_NOFF	0x1e
#define CC_Q_DESCLO	0x20
#define CC_Q_DESCHI	0x24
#define CC_Q_AVAILLO	0x28
#define CC_Q_AVAILHI	0x2c
#define CC_Q_USEDLO	0x30
#define CC_Q_USEDHI	0x34

struct vp_queue_regs {
	uint16_t size;
	uint64_t desc, avail, used;
};

struct vp_kick {
	struct virtio_pci *vp;
	unsigned q;
	int fd;			/* eventfd bound with KVM_IOEVENTFD */
	uint64_t bound_addr;	/* where it is bound; 0: not bound */
};

struct virtio_pci {
	struct virtio_dev *vdev;
	struct virtio_pci_config cfg;
	struct pci_dev *pdev;
	uint32_t dfselect, gfselect;
	uint16_t q_select;
	struct vp_queue_regs qregs[VIRTIO_MAX_QUEUES];
	struct vp_kick kicks[VIRTIO_MAX_QUEUES];
};

static uint64_t transport_features(void)
{
	return VIRTIO_F_VERSION_1 | VQ_FEATURE_INDIRECT_DESC | VQ_FEATURE_EVENT_IDX;
}

static uint64_t offered_features(const struct virtio_dev *vdev)
{
	return vdev->host_features | transport_features();
}

/* --- interrupts --------------------------------------------------------------- */
static void vp_signal_queue(struct virtio_dev *vdev, unsigned q)
{
	struct virtio_pci *vp = vdev->transport;
	uint16_t vec = vdev->queue_vector[q];

	vdev->isr |= 1;
	if (vec != VIRTIO_NO_VECTOR)
		msix_notify(vp->pdev, vec);
}

static void vp_signal_config(struct virtio_dev *vdev)
{
	struct virtio_pci *vp = vdev->transport;

	vdev->isr |= 2;
	if (vdev->config_vector != VIRTIO_NO_VECTOR)
		msix_notify(vp->pdev, vdev->config_vector);
}

/* A kick of our own: the queue's eventfd, served by the loop like the driver's. */
static void vp_retry_queue(struct virtio_dev *vdev, unsigned q)
{
	struct virtio_pci *vp = vdev->transport;
	uint64_t one = 1;

	if (q < vdev->nr_queues && vp->kicks[q].fd >= 0 &&
	    write(vp->kicks[q].fd, &one, sizeof(one)) < 0) {
		/* counter saturated: a kick is pending anyway */
	}
}

static void vp_signal_needs_reset(struct virtio_dev *vdev)
{
	vdev->status |= VIRTIO_STATUS_NEEDS_RESET;
	if (vdev->status & VIRTIO_STATUS_DRIVER_OK)
		vp_signal_config(vdev);
}

void virtio_queue_done(struct virtio_dev *vdev, unsigned q)
{
	vq_flush(&vdev->vqs[q]);
	if (vq_should_notify(&vdev->vqs[q]))
		vdev->signal_queue(vdev, q);
}

void virtio_queue_broken(struct virtio_dev *vdev, unsigned q)
{
	(void)q;
	vdev->signal_needs_reset(vdev);
}

/* --- queue notifications ------------------------------------------------------- */
static void vp_kick_queue(struct virtio_pci *vp, unsigned q)
{
	struct virtio_dev *vdev = vp->vdev;

	pthread_mutex_lock(&vdev->lock);
	if (q < vdev->nr_queues && vdev->vqs[q].enabled &&
	    (vdev->status & VIRTIO_STATUS_DRIVER_OK))
		vdev->ops->queue_notify(vdev, q);
	pthread_mutex_unlock(&vdev->lock);
}

static void vp_on_kick(struct ev_loop *loop, int fd, uint32_t events, void *arg)
{
	struct vp_kick *k = arg;
	uint64_t n;

	(void)loop;
	(void)events;
	if (read(fd, &n, sizeof(n)) == sizeof(n))
		vp_kick_queue(k->vp, k->q);
}

static int vp_ioeventfd(struct virtio_pci *vp, struct vp_kick *k, uint64_t addr, bool assign)
{
	struct kvm_ioeventfd io = {
		.addr = addr,
		.len = 2,	/* the driver writes the 16-bit queue index */
		.fd = k->fd,
		.flags = assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN,
	};

	return ioctl(vp->cfg.vm_fd, KVM_IOEVENTFD, &io) < 0 ? -errno : 0;
}

/* Bind each queue's kick eventfd to its notify address in the BAR's new
 * place (or unbind when the BAR stops decoding). Until bound, a kick is an
 * MMIO exit that vp_bar_write() handles: slower, never lost. */
static void vp_rebind_kicks(struct virtio_pci *vp, uint64_t bar_addr)
{
	for (unsigned q = 0; q < vp->vdev->nr_queues; q++) {
		struct vp_kick *k = &vp->kicks[q];
		if (k->bound_addr) {
			vp_ioeventfd(vp, k, k->bound_addr, false);
			k->bound_addr = 0;
		}
		if (bar_addr != PCI_BAR_UNMAPPED && vp->cfg.vm_fd >= 0) {
			uint64_t a = bar_addr + VP_NOTIFY + (uint64_t)q * VP_NOTIFY_MULT;
			if (vp_ioeventfd(vp, k, a, true) == 0)
				k->bound_addr = a;
		}
	}
}

static void vp_bar_moved(void *opaque, unsigned bar, uint64_t old_addr, uint64_t new_addr)
{
	(void)old_addr;
	if (bar == VP_BAR)
		vp_rebind_kicks(opaque, new_addr);
}

static const struct pci_dev_ops vp_pci_ops = {
	.bar_moved = vp_bar_moved,
};

/* --- device status and reset ----------------------------------------------------- */
static void vp_reset(struct virtio_pci *vp)
{
	struct virtio_dev *vdev = vp->vdev;

	if (vdev->ops->reset)
		vdev->ops->reset(vdev);
	for (unsigned q = 0; q < vdev->nr_queues; q++) {
		vq_reset(&vdev->vqs[q]);
		vdev->queue_vector[q] = VIRTIO_NO_VECTOR;
		vp->qregs[q] = (struct vp_queue_regs){ .size = vdev->queue_max };
	}
	vdev->config_vector = VIRTIO_NO_VECTOR;
	vdev->driver_features = 0;
	vdev->status = 0;
	vdev->isr = 0;
	vp->dfselect = vp->gfselect = 0;
	vp->q_select = 0;
}

static void vp_write_status(struct virtio_pci *vp, uint8_t status)
{
	struct virtio_dev *vdev = vp->vdev;

	if (status == 0) {
		vp_reset(vp);
		return;
	}
	/* FEATURES_OK only sticks if we can live with what the driver chose;
	 * a modern driver must accept VERSION_1. */
	if ((status & VIRTIO_STATUS_FEATURES_OK) && !(vdev->status & VIRTIO_STATUS_FEATURES_OK)) {
		uint64_t f = vdev->driver_features;
		if ((f & ~offered_features(vdev)) || !(f & VIRTIO_F_VERSION_1))
			status &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK;
	}
	bool now_ok = (status & VIRTIO_STATUS_DRIVER_OK) && !(vdev->status & VIRTIO_STATUS_DRIVER_OK);
	vdev->status = (uint8_t)(status | (vdev->status & VIRTIO_STATUS_NEEDS_RESET));
	if (now_ok && vdev->ops->driver_ok)
		vdev->ops->driver_ok(vdev);
}

static void vp_queue_enable(struct virtio_pci *vp, unsigned q)
{
	struct virtio_dev *vdev = vp->vdev;
	struct vp_queue_regs *r = &vp->qregs[q];

	if (vq_enable(&vdev->vqs[q], vp->cfg.mem, r->size, r->desc, r->avail, r->used,
		      vdev->driver_features) < 0)
		vp_signal_needs_reset(vdev);
}

/* --- common configuration -------------------------------------------------------- */
static uint32_t vp_common_read(struct virtio_pci *vp, unsigned off)
{
	struct virtio_dev *vdev = vp->vdev;
	unsigned q = vp->q_select;
	bool qok = q < vdev->nr_queues;
	struct vp_queue_regs *r = qok ? &vp->qregs[q] : NULL;

	switch (off) {
	case CC_DFSELECT: return vp->dfselect;
	case CC_DF:
		return vp->dfselect < 2 ? (uint32_t)(offered_features(vdev) >> (32 * vp->dfselect)) : 0;
	case CC_GFSELECT: return vp->gfselect;
	case CC_GF:
		return vp->gfselect < 2 ? (uint32_t)(vdev->driver_features >> (32 * vp->gfselect)) : 0;
	case CC_MSIX: return vdev->config_vector;
	case CC_NUMQ: return vdev->nr_queues;
	case CC_STATUS: return vdev->status;
	case CC_CFGGEN: return vdev->config_generation;
	case CC_Q_SELECT: return vp->q_select;
	case CC_Q_SIZE: return qok ? r->size : 0;	/* 0: no such queue */
	case CC_Q_MSIX: return qok ? vdev->queue_vector[q] : VIRTIO_NO_VECTOR;
	case CC_Q_ENABLE: return qok ? vdev->vqs[q].enabled : 0;
	case CC_Q_NOFF: return qok ? q : 0;
	case CC_Q_DESCLO: return qok ? (uint32_t)r->desc : 0;
	case CC_Q_DESCHI: return qok ? (uint32_t)(r->desc >> 32) : 0;
	case CC_Q_AVAILLO: return qok ? (uint32_t)r->avail : 0;
	case CC_Q_AVAILHI: return qok ? (uint32_t)(r->avail >> 32) : 0;
	case CC_Q_USEDLO: return qok ? (uint32_t)r->used : 0;
	case CC_Q_USEDHI: return qok ? (uint32_t)(r->used >> 32) : 0;
	}
	return 0;
}

static void set_lo(uint64_t *v, uint32_t lo)
{
	*v = (*v & ~0xffffffffULL) | lo;
}

static void set_hi(uint64_t *v, uint32_t hi)
{
	*v = (*v & 0xffffffffULL) | (uint64_t)hi << 32;
}

static uint16_t valid_vector(const struct virtio_dev *vdev, uint32_t v)
{
	/* vectors 0..nr_queues exist; anything else reads back as NO_VECTOR,
	 * which tells the driver the assignment failed */
	return v <= vdev->nr_queues ? (uint16_t)v : VIRTIO_NO_VECTOR;
}

static void vp_common_write(struct virtio_pci *vp, unsigned off, uint32_t v)
{
	struct virtio_dev *vdev = vp->vdev;
	unsigned q = vp->q_select;
	bool qok = q < vdev->nr_queues;
	/* queue registers may only change while the queue is disabled */
	bool qw = qok && !vdev->vqs[q].enabled;
	struct vp_queue_regs *r = qok ? &vp->qregs[q] : NULL;

	switch (off) {
	case CC_DFSELECT: vp->dfselect = v; break;
	case CC_GFSELECT: vp->gfselect = v; break;
	case CC_GF:
		/* features are fixed once FEATURES_OK is set */
		if (vp->gfselect < 2 && !(vdev->status & VIRTIO_STATUS_FEATURES_OK)) {
			if (vp->gfselect == 0)
				set_lo(&vdev->driver_features, v);
			else
				set_hi(&vdev->driver_features, v);
		}
		break;
	case CC_MSIX: vdev->config_vector = valid_vector(vdev, v); break;
	case CC_STATUS: vp_write_status(vp, (uint8_t)v); break;
	case CC_Q_SELECT: vp->q_select = (uint16_t)v; break;
	case CC_Q_SIZE:
		/* a power of two up to queue_max; vq_enable checks it again */
		if (qw)
			r->size = v && v <= vdev->queue_max && !(v & (v - 1)) ? (uint16_t)v : r->size;
		break;
	case CC_Q_MSIX:
		if (qok)
			vdev->queue_vector[q] = valid_vector(vdev, v);
		break;
	case CC_Q_ENABLE:
		if (qw && v == 1)
			vp_queue_enable(vp, q);
		break;
	case CC_Q_DESCLO: if (qw) set_lo(&r->desc, v); break;
	case CC_Q_DESCHI: if (qw) set_hi(&r->desc, v); break;
	case CC_Q_AVAILLO: if (qw) set_lo(&r->avail, v); break;
	case CC_Q_AVAILHI: if (qw) set_hi(&r->avail, v); break;
	case CC_Q_USEDLO: if (qw) set_lo(&r->used, v); break;
	case CC_Q_USEDHI: if (qw) set_hi(&r->used, v); break;
	}
}

/* Register widths: the spec gives each field's size; an access of another
 * size or alignment is ignored (reads as 0). */
static unsigned common_width(unsigned off)
{
	switch (off) {
	case CC_MSIX: case CC_NUMQ: case CC_Q_SELECT: case CC_Q_SIZE: case CC_Q_MSIX:
	case CC_Q_ENABLE: case CC_Q_NOFF:
		return 2;
	case CC_STATUS: case CC_CFGGEN:
		return 1;
	}
	return off < 0x38 && off % 4 == 0 ? 4 : 0;
}

/* --- BAR 4 ---------------------------------------------------------------------- */
static void vp_bar_read(void *opaque, uint64_t off, void *data, unsigned size)
{
	struct virtio_pci *vp = opaque;
	struct virtio_dev *vdev = vp->vdev;
	uint32_t v = 0;

	memset(data, 0, size);
	pthread_mutex_lock(&vdev->lock);
	if (off < VP_COMMON + VP_COMMON_LEN) {
		if (common_width((unsigned)off) == size)
			v = vp_common_read(vp, (unsigned)off);
		memcpy(data, &v, size > 4 ? 4 : size);
	} else if (off == VP_ISR && size == 1) {
		/* reading ISR acknowledges it */
		*(uint8_t *)data = vdev->isr;
		vdev->isr = 0;
	} else if (off >= VP_DEVICE && off - VP_DEVICE + size <= vdev->config_size) {
		if (vdev->ops->config_read)
			vdev->ops->config_read(vdev, (unsigned)(off - VP_DEVICE), data, size);
	}
	pthread_mutex_unlock(&vdev->lock);
}

static void vp_bar_write(void *opaque, uint64_t off, const void *data, unsigned size)
{
	struct virtio_pci *vp = opaque;
	struct virtio_dev *vdev = vp->vdev;
	uint32_t v = 0;

	if (off >= VP_NOTIFY && off < VP_NOTIFY + (uint64_t)VIRTIO_MAX_QUEUES * VP_NOTIFY_MULT) {
		/* a kick that reached us as MMIO (no ioeventfd bound yet) */
		vp_kick_queue(vp, (unsigned)((off - VP_NOTIFY) / VP_NOTIFY_MULT));
		return;
	}
	memcpy(&v, data, size > 4 ? 4 : size);
	pthread_mutex_lock(&vdev->lock);
	if (off < VP_COMMON + VP_COMMON_LEN) {
		if (common_width((unsigned)off) == size)
			vp_common_write(vp, (unsigned)off, v);
	} else if (off >= VP_DEVICE && off - VP_DEVICE + size <= vdev->config_size) {
		if (vdev->ops->config_write)
			vdev->ops->config_write(vdev, (unsigned)(off - VP_DEVICE), data, size);
	}
	pthread_mutex_unlock(&vdev->lock);
}

static const struct io_ops vp_bar_ops = {
	.read = vp_bar_read,
	.write = vp_bar_write,
};

/* --- state ---------------------------------------------------------------------- */

void virtio_pci_quiesce(struct virtio_pci *vp)
{
	struct virtio_dev *vdev = vp->vdev;

	pthread_mutex_lock(&vdev->lock);
	if (vdev->ops->quiesce)
		vdev->ops->quiesce(vdev);
	pthread_mutex_unlock(&vdev->lock);
	/* If the VM goes on here (a failed migration), what the device gave
	 * back or left waiting is served at the next loop turn. */
	for (unsigned q = 0; q < vdev->nr_queues; q++)
		if (vdev->vqs[q].enabled)
			vp_retry_queue(vdev, q);
}

/* Layout, version 1: device_id u16, nr_queues u16, host_features u64,
 * driver_features u64, status u8, config_generation u8, config_vector u16,
 * isr u8, dfselect u32, gfselect u32, q_select u16; per queue: size u16,
 * desc u64, avail u64, used u64, vector u16, vq_save(); then the device's
 * part as u32 length + bytes. */
int virtio_pci_save(struct virtio_pci *vp, struct buf *out)
{
	struct virtio_dev *vdev = vp->vdev;
	struct buf dev;
	int r = 0;

	buf_init(&dev);
	pthread_mutex_lock(&vdev->lock);
	buf_put_u16(out, vdev->ops->device_id);
	buf_put_u16(out, vdev->nr_queues);
	buf_put_u64(out, offered_features(vdev));
	buf_put_u64(out, vdev->driver_features);
	buf_put_u8(out, vdev->status);
	buf_put_u8(out, vdev->config_generation);
	buf_put_u16(out, vdev->config_vector);
	buf_put_u8(out, vdev->isr);
	buf_put_u32(out, vp->dfselect);
	buf_put_u32(out, vp->gfselect);
	buf_put_u16(out, vp->q_select);
	for (unsigned q = 0; q < vdev->nr_queues && r == 0; q++) {
		const struct vp_queue_regs *qr = &vp->qregs[q];
		buf_put_u16(out, qr->size);
		buf_put_u64(out, qr->desc);
		buf_put_u64(out, qr->avail);
		buf_put_u64(out, qr->used);
		buf_put_u16(out, vdev->queue_vector[q]);
		r = vq_save(&vdev->vqs[q], out);
	}
	if (r == 0 && vdev->ops->save)
		r = vdev->ops->save(vdev, &dev);
	pthread_mutex_unlock(&vdev->lock);
	if (r == 0) {
		buf_put_u32(out, (uint32_t)dev.len);
		buf_append(out, dev.data, dev.len);
	}
	buf_free(&dev);
	if (r == 0 && (out->failed || dev.failed))
		r = -ENOMEM;
	return r;
}

static bool vp_load_locked(struct virtio_pci *vp, struct buf_reader *r)
{
	struct virtio_dev *vdev = vp->vdev;
	uint16_t id, nq, cvec, qsel;
	uint64_t host, drv;
	uint8_t status, gen, isr;
	uint32_t dfs, gfs, dlen;

	if (!buf_get_u16(r, &id) || !buf_get_u16(r, &nq) || !buf_get_u64(r, &host) ||
	    !buf_get_u64(r, &drv) || !buf_get_u8(r, &status) || !buf_get_u8(r, &gen) ||
	    !buf_get_u16(r, &cvec) || !buf_get_u8(r, &isr) || !buf_get_u32(r, &dfs) ||
	    !buf_get_u32(r, &gfs) || !buf_get_u16(r, &qsel))
		return false;
	/* Prevents loading another device, or features this one cannot honour:
	 * the driver already relies on what it negotiated. */
	if (id != vdev->ops->device_id || nq != vdev->nr_queues ||
	    host != offered_features(vdev) || (drv & ~host))
		return false;
	vdev->driver_features = drv;
	vdev->status = status;
	vdev->config_generation = gen;
	vdev->config_vector = valid_vector(vdev, cvec);
	vdev->isr = isr;
	vp->dfselect = dfs;
	vp->gfselect = gfs;
	vp->q_select = qsel;
	for (unsigned q = 0; q < nq; q++) {
		struct vp_queue_regs *qr = &vp->qregs[q];
		uint16_t vec;

		if (!buf_get_u16(r, &qr->size) || !buf_get_u64(r, &qr->desc) ||
		    !buf_get_u64(r, &qr->avail) || !buf_get_u64(r, &qr->used) ||
		    !buf_get_u16(r, &vec))
			return false;
		if (qr->size == 0 || qr->size > vdev->queue_max || (qr->size & (qr->size - 1)))
			return false;
		vdev->queue_vector[q] = valid_vector(vdev, vec);
		if (vq_load(&vdev->vqs[q], vp->cfg.mem, r) < 0)
			return false;
	}
	if (!buf_get_u32(r, &dlen) || dlen > r->len - r->off)
		return false;
	if (vdev->ops->load) {
		struct buf_reader dr;
		buf_reader_init(&dr, r->p + r->off, dlen);
		if (vdev->ops->load(vdev, &dr) < 0 || dr.off != dr.len)
			return false;
	} else if (dlen != 0) {
		return false;
	}
	r->off += dlen;
	return r->off == r->len;
}

int virtio_pci_load(struct virtio_pci *vp, const void *data, size_t len, uint32_t version)
{
	struct virtio_dev *vdev = vp->vdev;
	struct buf_reader r;
	bool ok;

	buf_reader_init(&r, data, data ? len : 0);
	pthread_mutex_lock(&vdev->lock);
	ok = version == VIRTIO_PCI_STATE_VERSION && data != NULL && vp_load_locked(vp, &r);
	if (!ok)
		vp_reset(vp);
	pthread_mutex_unlock(&vdev->lock);
	if (!ok)
		return -EINVAL;
	/* Buffers the driver made available before the snapshot (and that the
	 * device had not taken) get served: a kick of our own per queue. */
	for (unsigned q = 0; q < vdev->nr_queues; q++)
		if (vdev->vqs[q].enabled)
			vp_retry_queue(vdev, q);
	return 0;
}

/* --- creation ------------------------------------------------------------------- */
static int vp_add_cap(struct pci_dev *pdev, uint8_t type, uint32_t off, uint32_t len,
		      bool notify)
{
	uint8_t cap[20] = { 0 };
	uint32_t mult = VP_NOTIFY_MULT;

	/* struct virtio_pci_cap: vndr, next, len, cfg_type, bar, id, pad[2],
	 * offset, length (+ notify_off_multiplier for the notify cap) */
	cap[2] = notify ? 20 : 16;
	cap[3] = type;
	cap[4] = VP_BAR;
	memcpy(&cap[8], &off, 4);
	memcpy(&cap[12], &len, 4);
	if (notify)
		memcpy(&cap[16], &mult, 4);
	return pci_dev_add_cap(pdev, PCI_CAP_ID_VNDR, cap, cap[2], NULL, NULL);
}

int virtio_pci_create(struct virtio_dev *vdev, const struct virtio_pci_config *cfg,
		      struct virtio_pci **out)
{
	struct pci_dev_info info = {
		.vendor_id = VIRTIO_PCI_VENDOR,
		.device_id = (uint16_t)(VIRTIO_PCI_DEVICE_BASE + vdev->ops->device_id),
		.subsystem_vendor_id = VIRTIO_PCI_VENDOR,
		.subsystem_id = (uint16_t)(VIRTIO_PCI_DEVICE_BASE + vdev->ops->device_id),
		.revision = 1,
		.class_code = vdev->ops->class_code,
	};
	struct virtio_pci *vp;
	int r;

	if (vdev->nr_queues == 0 || vdev->nr_queues > VIRTIO_MAX_QUEUES ||
	    vdev->config_size > VP_DEVICE_LEN)
		return -EINVAL;
	vp = calloc(1, sizeof(*vp));
	if (vp == NULL)
		return -ENOMEM;
	vp->vdev = vdev;
	vp->cfg = *cfg;
	vdev->transport = vp;
	vdev->signal_queue = vp_signal_queue;
	vdev->signal_needs_reset = vp_signal_needs_reset;
	vdev->signal_config = vp_signal_config;
	vdev->retry_queue = vp_retry_queue;
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		vp->kicks[q].fd = -1;
	vp_reset(vp);

	r = pci_dev_add(cfg->bus, -1, &info, &vp_pci_ops, vp, &vp->pdev);
	if (r < 0)
		goto err;
	r = pci_dev_add_bar(vp->pdev, VP_BAR, VP_BAR_SIZE, PCI_BAR_MEM64, &vp_bar_ops, vp);
	if (r < 0)
		goto err;
	if ((r = vp_add_cap(vp->pdev, CAP_COMMON, VP_COMMON, VP_COMMON_LEN, false)) < 0 ||
	    (r = vp_add_cap(vp->pdev, CAP_ISR, VP_ISR, VP_ISR_LEN, false)) < 0 ||
	    (r = vp_add_cap(vp->pdev, CAP_NOTIFY, VP_NOTIFY,
			    (uint32_t)vdev->nr_queues * VP_NOTIFY_MULT, true)) < 0 ||
	    (vdev->config_size &&
	     (r = vp_add_cap(vp->pdev, CAP_DEVICE, VP_DEVICE, vdev->config_size, false)) < 0))
		goto err;
	r = msix_init(vp->pdev, cfg->rt, vdev->nr_queues + 1u, VP_BAR, VP_MSIX_TABLE, VP_BAR,
		      VP_MSIX_PBA);
	if (r < 0)
		goto err;
	for (unsigned q = 0; q < vdev->nr_queues; q++) {
		struct vp_kick *k = &vp->kicks[q];
		k->vp = vp;
		k->q = q;
		k->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (k->fd < 0) {
			r = -errno;
			goto err;
		}
		r = ev_add(cfg->loop, k->fd, EPOLLIN, vp_on_kick, k);
		if (r < 0) {
			close(k->fd);
			k->fd = -1;
			goto err;
		}
	}
	*out = vp;
	return 0;
err:
	virtio_pci_destroy(vp);
	return r;
}

void virtio_pci_destroy(struct virtio_pci *vp)
{
	if (vp == NULL)
		return;
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++) {
		struct vp_kick *k = &vp->kicks[q];
		if (k->fd < 0)
			continue;
		if (k->bound_addr)
			vp_ioeventfd(vp, k, k->bound_addr, false);
		ev_del(vp->cfg.loop, k->fd);
		close(k->fd);
	}
	vp->vdev->transport = NULL;
	free(vp);
}
