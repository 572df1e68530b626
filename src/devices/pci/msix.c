/* SPDX-License-Identifier: MIT */
/* msix.c: MSI-X table, PBA and capability; delivery through eventfds bound
 * to MSI routes with KVM_IRQFD.
 *
 * Masking is done by unbinding: while a vector cannot deliver (masked,
 * function masked, MSI-X off, bus mastering off) its eventfd is not bound to
 * KVM, so writes to it (msix_notify(), or a backend that was handed the fd)
 * accumulate in the eventfd's counter. That counter is the pending bit; when
 * the vector can deliver again the counter is drained, the fd bound, and one
 * interrupt sent if anything was pending. So nobody has to take a lock or
 * look at the mask to signal a vector. */
#include "devices/pci/msix.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/buf.h"
#include "devices/pci/pci.h"
#include "vmm/irqroute.h"

#define CAP_LEN			12
#define CAP_CTRL		2
#define CAP_TABLE		4
#define CAP_PBA			8
#define CTRL_WMASK		(MSIX_CTRL_ENABLE | MSIX_CTRL_FMASK)
#define ENTRY_ADDR_LO		0
#define ENTRY_ADDR_HI		4
#define ENTRY_DATA		8
#define ENTRY_CTRL		12
#define OFFSET_LIMIT		(1ULL << 32)

struct msix_vec {
	int fd;			/* eventfd: its counter holds undelivered events */
	int gsi;		/* routed as this vector's message while bound */
	bool bound;		/* irqfd assigned: KVM delivers writes to fd */
	bool pending;		/* events drained from fd while unbound, not yet sent */
};

struct msix {
	pthread_mutex_t lock;	/* after the PCI bus lock, before irqroute's */
	struct pci_dev *dev;
	struct irqroute *rt;
	unsigned nr;
	unsigned table_bar, pba_bar;
	uint64_t table_off, table_len, pba_off, pba_len;
	uint16_t ctrl;		/* MSIX_CTRL_ENABLE | MSIX_CTRL_FMASK */
	bool bus_master;
	uint8_t *table;		/* nr entries of MSIX_ENTRY_SIZE bytes */
	struct msix_vec *vec;
};

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void wr32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void signal_fd(int fd)
{
	uint64_t one = 1;

	if (write(fd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is saturated, the event is there already */
	}
}

/* drain: empty (fd)'s counter; true if it held any events. */
static bool drain(int fd)
{
	uint64_t n = 0;

	return read(fd, &n, sizeof(n)) == (ssize_t)sizeof(n) && n > 0;
}

static bool can_deliver(const struct msix *m, unsigned i)
{
	return (m->ctrl & MSIX_CTRL_ENABLE) && !(m->ctrl & MSIX_CTRL_FMASK) && m->bus_master &&
	       !(rd32(m->table + i * MSIX_ENTRY_SIZE + ENTRY_CTRL) & MSIX_VECTOR_MASKED);
}

static void unbind(struct msix *m, struct msix_vec *v)
{
	if (!v->bound)
		return;
	/* After this returns KVM has no injection of (fd) in flight. */
	irqroute_irqfd_deassign(m->rt, v->fd, (unsigned)v->gsi);
	v->bound = false;
}

/* sync_vector: make vector (i)'s binding and route match the table and the
 * masks. Lock held. */
static void sync_vector(struct msix *m, unsigned i)
{
	struct msix_vec *v = &m->vec[i];
	const uint8_t *e = m->table + i * MSIX_ENTRY_SIZE;

	if (!can_deliver(m, i)) {
		unbind(m, v);
		return;
	}
	/* Route first: an interrupt must never go out with an old message. A
	 * message KVM refuses cannot be delivered: the vector stays unbound
	 * and its events stay pending. */
	uint64_t addr = rd32(e + ENTRY_ADDR_LO) | (uint64_t)rd32(e + ENTRY_ADDR_HI) << 32;

	if (irqroute_msi_set(m->rt, (unsigned)v->gsi, addr, rd32(e + ENTRY_DATA)) < 0) {
		unbind(m, v);
		return;
	}
	if (v->bound)
		return;
	v->pending |= drain(v->fd);
	if (irqroute_irqfd_assign(m->rt, v->fd, (unsigned)v->gsi) < 0)
		return;
	v->bound = true;
	if (v->pending) {
		v->pending = false;
		signal_fd(v->fd);
	}
}

static void sync_all(struct msix *m)
{
	for (unsigned i = 0; i < m->nr; i++)
		sync_vector(m, i);
}

static bool vector_pending(struct msix *m, unsigned i)
{
	struct msix_vec *v = &m->vec[i];

	if (v->bound)
		return false;	/* KVM delivers at once */
	v->pending |= drain(v->fd);
	return v->pending;
}

/* --- BAR side: table and PBA -------------------------------------------------------- */

static int hit(uint64_t start, uint64_t len, uint64_t off, unsigned size)
{
	if (off >= start + len || off + size <= start)
		return 0;
	return off >= start && off + size <= start + len ? 1 : -1;
}

int msix_owns(const struct msix *m, unsigned bar, uint64_t off, unsigned size)
{
	int r = 0;

	if (bar == m->table_bar)
		r = hit(m->table_off, m->table_len, off, size);
	if (r == 0 && bar == m->pba_bar)
		r = hit(m->pba_off, m->pba_len, off, size);
	return r;
}

static bool in_table(const struct msix *m, unsigned bar, uint64_t off, unsigned size)
{
	return bar == m->table_bar && hit(m->table_off, m->table_len, off, size) > 0;
}

void msix_bar_read(struct msix *m, unsigned bar, uint64_t off, void *data, unsigned size)
{
	uint8_t *out = data;

	pthread_mutex_lock(&m->lock);
	if (in_table(m, bar, off, size)) {
		memcpy(out, m->table + (off - m->table_off), size);
	} else if (bar == m->pba_bar && hit(m->pba_off, m->pba_len, off, size) > 0) {
		for (unsigned k = 0; k < size; k++) {
			uint64_t first = (off - m->pba_off + k) * 8;

			out[k] = 0;
			for (unsigned b = 0; b < 8; b++)
				if (first + b < m->nr && vector_pending(m, (unsigned)(first + b)))
					out[k] |= (uint8_t)(1u << b);
		}
	} else {
		memset(out, 0xff, size);
	}
	pthread_mutex_unlock(&m->lock);
}

void msix_bar_write(struct msix *m, unsigned bar, uint64_t off, const void *data, unsigned size)
{
	uint64_t rel, first, last;

	/* The PBA is read-only. */
	if (size == 0 || !in_table(m, bar, off, size))
		return;
	rel = off - m->table_off;
	first = rel / MSIX_ENTRY_SIZE;
	last = (rel + size - 1) / MSIX_ENTRY_SIZE;
	pthread_mutex_lock(&m->lock);
	memcpy(m->table + rel, data, size);
	for (uint64_t i = first; i <= last; i++) {
		uint8_t *e = m->table + i * MSIX_ENTRY_SIZE;

		/* Address bits 1:0 and vector control bits 31:1 read 0. */
		wr32(e + ENTRY_ADDR_LO, rd32(e + ENTRY_ADDR_LO) & ~3u);
		wr32(e + ENTRY_CTRL, rd32(e + ENTRY_CTRL) & MSIX_VECTOR_MASKED);
		sync_vector(m, (unsigned)i);
	}
	pthread_mutex_unlock(&m->lock);
}

/* --- config side: the capability ----------------------------------------------------- */

static void cap_image(const struct msix *m, uint8_t img[CAP_LEN])
{
	memset(img, 0, CAP_LEN);
	img[CAP_CTRL] = (uint8_t)(m->nr - 1);
	img[CAP_CTRL + 1] = (uint8_t)((((m->nr - 1) & MSIX_CTRL_SIZE_MASK) | m->ctrl) >> 8);
	wr32(img + CAP_TABLE, (uint32_t)m->table_off | m->table_bar);
	wr32(img + CAP_PBA, (uint32_t)m->pba_off | m->pba_bar);
}

static void cap_read(void *opaque, unsigned off, void *data, unsigned size)
{
	struct msix *m = opaque;
	uint8_t img[CAP_LEN];

	if (off >= CAP_LEN || size > CAP_LEN - off)
		return;
	pthread_mutex_lock(&m->lock);
	cap_image(m, img);
	pthread_mutex_unlock(&m->lock);
	memcpy(data, img + off, size);
}

static void cap_write(void *opaque, unsigned off, const void *data, unsigned size)
{
	struct msix *m = opaque;
	const uint8_t *in = data;
	unsigned hi = CAP_CTRL + 1;	/* the byte holding Enable and Function Mask */

	if (off > hi || off + size <= hi)
		return;
	pthread_mutex_lock(&m->lock);
	uint16_t ctrl = (uint16_t)((in[hi - off] << 8) & CTRL_WMASK);

	if (ctrl != m->ctrl) {
		m->ctrl = ctrl;
		sync_all(m);
	}
	pthread_mutex_unlock(&m->lock);
}

static const struct pci_cap_ops msix_cap_ops = {
	.read = cap_read,
	.write = cap_write,
};

/* --- lifecycle ---------------------------------------------------------------------- */

static void power_on(struct msix *m)
{
	m->ctrl = 0;
	memset(m->table, 0, (size_t)m->nr * MSIX_ENTRY_SIZE);
	for (unsigned i = 0; i < m->nr; i++) {
		wr32(m->table + i * MSIX_ENTRY_SIZE + ENTRY_CTRL, MSIX_VECTOR_MASKED);
		unbind(m, &m->vec[i]);
		drain(m->vec[i].fd);
		m->vec[i].pending = false;
	}
}

void msix_reset(struct msix *m)
{
	pthread_mutex_lock(&m->lock);
	power_on(m);
	pthread_mutex_unlock(&m->lock);
}

void msix_set_bus_master(struct msix *m, bool on)
{
	pthread_mutex_lock(&m->lock);
	if (m->bus_master != on) {
		m->bus_master = on;
		sync_all(m);
	}
	pthread_mutex_unlock(&m->lock);
}

void msix_free(struct msix *m)
{
	if (m == NULL)
		return;
	for (unsigned i = 0; m->vec && i < m->nr; i++) {
		struct msix_vec *v = &m->vec[i];

		unbind(m, v);
		if (v->gsi >= 0)
			irqroute_msi_free(m->rt, (unsigned)v->gsi);
		if (v->fd >= 0)
			close(v->fd);
	}
	pthread_mutex_destroy(&m->lock);
	free(m->vec);
	free(m->table);
	free(m);
}

static bool range_ok(const struct pci_dev *dev, unsigned bar, uint64_t off, uint64_t len)
{
	uint64_t size = pci_dev_bar_size(dev, bar);

	return size != 0 && off % 8 == 0 && off < OFFSET_LIMIT && off <= size &&
	       len <= size - off;
}

int msix_init(struct pci_dev *dev, struct irqroute *rt, unsigned nr, unsigned table_bar,
	      uint64_t table_off, unsigned pba_bar, uint64_t pba_off)
{
	struct msix *m;
	uint64_t tlen = (uint64_t)nr * MSIX_ENTRY_SIZE, plen = ((uint64_t)nr + 63) / 64 * 8;
	int r;

	if (dev == NULL || rt == NULL || nr == 0 || nr > MSIX_MAX_VECTORS ||
	    table_bar >= PCI_NR_BARS || pba_bar >= PCI_NR_BARS ||
	    !range_ok(dev, table_bar, table_off, tlen) || !range_ok(dev, pba_bar, pba_off, plen) ||
	    (table_bar == pba_bar && table_off < pba_off + plen && pba_off < table_off + tlen))
		return -EINVAL;
	if (pci_dev_msix(dev))
		return -EEXIST;
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return -ENOMEM;
	r = -pthread_mutex_init(&m->lock, NULL);
	if (r < 0) {
		free(m);
		return r;
	}
	m->dev = dev;
	m->rt = rt;
	m->nr = nr;
	m->table_bar = table_bar;
	m->table_off = table_off;
	m->table_len = tlen;
	m->pba_bar = pba_bar;
	m->pba_off = pba_off;
	m->pba_len = plen;
	m->bus_master = pci_dev_command(dev) & PCI_COMMAND_MASTER;
	m->table = calloc(nr, MSIX_ENTRY_SIZE);
	m->vec = calloc(nr, sizeof(*m->vec));
	if (m->table == NULL || m->vec == NULL) {
		r = -ENOMEM;
		goto err;
	}
	for (unsigned i = 0; i < nr; i++)
		m->vec[i].fd = m->vec[i].gsi = -1;
	for (unsigned i = 0; i < nr; i++) {
		m->vec[i].fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (m->vec[i].fd < 0) {
			r = -errno;
			goto err;
		}
		r = irqroute_msi_alloc(rt);
		if (r < 0)
			goto err;
		m->vec[i].gsi = r;
	}
	power_on(m);
	r = pci_dev_add_cap(dev, PCI_CAP_ID_MSIX, NULL, CAP_LEN, &msix_cap_ops, m);
	if (r < 0)
		goto err;
	pci_dev_set_msix(dev, m);
	return 0;
err:
	msix_free(m);
	return r;
}

/* --- users -------------------------------------------------------------------------- */

int msix_notify(struct pci_dev *dev, unsigned vector)
{
	int fd = msix_vector_fd(dev, vector);
	uint64_t one = 1;

	if (fd < 0)
		return fd;
	if (write(fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		return -errno;
	return 0;
}

int msix_vector_fd(struct pci_dev *dev, unsigned vector)
{
	struct msix *m = dev ? pci_dev_msix(dev) : NULL;

	/* nr and the fds never change after msix_init(): no lock. */
	if (m == NULL || vector >= m->nr)
		return -EINVAL;
	return m->vec[vector].fd;
}

unsigned msix_nr_vectors(struct pci_dev *dev)
{
	struct msix *m = dev ? pci_dev_msix(dev) : NULL;

	return m ? m->nr : 0;
}

bool msix_enabled(struct pci_dev *dev)
{
	struct msix *m = dev ? pci_dev_msix(dev) : NULL;
	bool on;

	if (m == NULL)
		return false;
	pthread_mutex_lock(&m->lock);
	on = m->ctrl & MSIX_CTRL_ENABLE;
	pthread_mutex_unlock(&m->lock);
	return on;
}

/* --- state ---------------------------------------------------------------------------- */

/* Layout: ctrl (u16), nr (u32), the table (nr * 16 bytes), then the pending
 * bits (ceil(nr / 8) bytes, vector 0 in bit 0 of the first). */
void msix_save(struct msix *m, struct buf *out)
{
	pthread_mutex_lock(&m->lock);
	buf_put_u16(out, m->ctrl);
	buf_put_u32(out, m->nr);
	buf_append(out, m->table, (size_t)m->nr * MSIX_ENTRY_SIZE);
	for (unsigned i = 0; i < m->nr; i += 8) {
		uint8_t byte = 0;

		for (unsigned b = 0; b < 8 && i + b < m->nr; b++)
			if (vector_pending(m, i + b))
				byte |= (uint8_t)(1u << b);
		buf_put_u8(out, byte);
	}
	pthread_mutex_unlock(&m->lock);
}

bool msix_load(struct msix *m, struct buf_reader *r)
{
	size_t tlen = (size_t)m->nr * MSIX_ENTRY_SIZE, plen = (m->nr + 7) / 8;
	uint8_t *table = malloc(tlen), *pend = malloc(plen);
	uint16_t ctrl;
	uint32_t nr;
	bool ok;

	ok = table && pend && buf_get_u16(r, &ctrl) && buf_get_u32(r, &nr) && nr == m->nr &&
	     !(ctrl & ~CTRL_WMASK) && buf_get(r, table, tlen) && buf_get(r, pend, plen);
	pthread_mutex_lock(&m->lock);
	power_on(m);
	if (ok) {
		m->ctrl = ctrl;
		memcpy(m->table, table, tlen);
		for (unsigned i = 0; i < m->nr; i++) {
			uint8_t *e = m->table + i * MSIX_ENTRY_SIZE;

			wr32(e + ENTRY_ADDR_LO, rd32(e + ENTRY_ADDR_LO) & ~3u);
			wr32(e + ENTRY_CTRL, rd32(e + ENTRY_CTRL) & MSIX_VECTOR_MASKED);
			m->vec[i].pending = pend[i / 8] >> (i % 8) & 1;
		}
		sync_all(m);
	}
	pthread_mutex_unlock(&m->lock);
	free(table);
	free(pend);
	return ok;
}
