/* SPDX-License-Identifier: MIT */
/* queue.c: the split virtqueue: ring validation, chain walking, used ring and notifications. */
#include "queue.h"

#include <endian.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/err.h"
#include "vmm/gmem.h"

/* Descriptor flags (virtio 1.2, "The Virtqueue Descriptor Table"). Other bits are ignored. */
#define VIRTQ_DESC_F_NEXT	1
#define VIRTQ_DESC_F_WRITE	2
#define VIRTQ_DESC_F_INDIRECT	4

/* Ring flags. */
#define VIRTQ_AVAIL_F_NO_INTERRUPT	1
#define VIRTQ_USED_F_NO_NOTIFY		1

#define DESC_SIZE	16	/* struct virtq_desc: le64 addr, le32 len, le16 flags, le16 next */
#define USED_ELEM_SIZE	8	/* struct virtq_used_elem: le32 id, le32 len */
#define RING_HDR	4	/* le16 flags, le16 idx before each ring */

/* Saved state: flag bits of the first byte. */
#define SAVE_ENABLED	0x01
#define SAVE_EVENT_IDX	0x02
#define SAVE_INDIRECT	0x04
#define SAVE_BROKEN	0x08
#define SAVE_NOTIFY_OFF	0x10
#define SAVE_FLAGS	0x1f

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

/* --- guest ring access --------------------------------------------------------
 * The driver writes its rings from other CPUs while we read them, so ring
 * fields are read with atomic loads (vq_enable checked their alignment) and
 * each is read once into a local that is then both checked and used. */

static uint16_t load16(const uint8_t *p)
{
	return le16toh(__atomic_load_n((const uint16_t *)(const void *)p, __ATOMIC_RELAXED));
}

static void store16(uint8_t *p, uint16_t v)
{
	__atomic_store_n((uint16_t *)(void *)p, htole16(v), __ATOMIC_RELAXED);
}

static void store32(uint8_t *p, uint32_t v)
{
	__atomic_store_n((uint32_t *)(void *)p, htole32(v), __ATOMIC_RELAXED);
}

static uint16_t *avail_idx_ptr(const struct virtqueue *vq)
{
	return (uint16_t *)(void *)(vq->avail + 2);
}

/* avail->idx, ordered before every later read of the avail ring and of the
 * descriptors. Pairs with the driver's write barrier between filling the
 * descriptors and the ring entry and storing avail->idx ("Updating idx"). */
static uint16_t load_avail_idx(const struct virtqueue *vq)
{
	return le16toh(__atomic_load_n(avail_idx_ptr(vq), __ATOMIC_ACQUIRE));
}

/* used_event (in the avail ring) and avail_event (in the used ring) sit
 * right after the rings. */
static uint8_t *used_event_ptr(const struct virtqueue *vq)
{
	return vq->avail + RING_HDR + 2 * (size_t)vq->size;
}

static uint8_t *avail_event_ptr(const struct virtqueue *vq)
{
	return vq->used + RING_HDR + USED_ELEM_SIZE * (size_t)vq->size;
}

/* Copy one descriptor out of guest memory. An indirect table has no
 * alignment requirement, so this is a memcpy rather than atomic loads; the
 * compiler barrier keeps the compiler from re-reading guest memory in place
 * of the copy later (a double fetch the guest could race). */
static void read_desc(const uint8_t *p, struct desc *d)
{
	uint8_t raw[DESC_SIZE];
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;

	memcpy(raw, p, sizeof(raw));
	__asm__ __volatile__("" ::: "memory");
	memcpy(&addr, raw, 8);
	memcpy(&len, raw + 8, 4);
	memcpy(&flags, raw + 12, 2);
	memcpy(&next, raw + 14, 2);
	d->addr = le64toh(addr);
	d->len = le32toh(len);
	d->flags = le16toh(flags);
	d->next = le16toh(next);
}

/* --- set-up ------------------------------------------------------------------ */

void vq_reset(struct virtqueue *vq)
{
	memset(vq, 0, sizeof(*vq));
}

/* Host pointer to a ring of (len) bytes at (gpa) aligned to (align), or NULL
 * with *err set. The gpa alignment is the spec's rule; the host pointer's is
 * what the atomic accesses need (the same for guest RAM, whose regions are
 * page-aligned on both sides, but it is checked where it matters). */
static uint8_t *map_ring(const struct gmem *mem, uint64_t gpa, uint64_t len, uint64_t align,
			 int *err)
{
	uint8_t *p;

	if (gpa & (align - 1)) {
		*err = -EINVAL;
		return NULL;
	}
	p = gmem_ptr(mem, gpa, len);
	if (p == NULL) {
		*err = -EFAULT;
		return NULL;
	}
	if ((uintptr_t)p & (align - 1)) {
		*err = -EINVAL;
		return NULL;
	}
	return p;
}

/* [a, a + alen) and [b, b + blen) share a byte (both lie in RAM: no overflow). */
static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

int vq_enable(struct virtqueue *vq, const struct gmem *mem, uint16_t size, uint64_t desc_gpa,
	      uint64_t avail_gpa, uint64_t used_gpa, uint64_t features)
{
	uint8_t *desc, *avail, *used;
	int err = 0;

	vq_reset(vq);
	/* A power of two, so that index & (size - 1) is the slot and the 16-bit
	 * free-running indices wrap cleanly over it. */
	if (size == 0 || size > VQ_MAX_SIZE || (size & (size - 1)) != 0)
		return -EINVAL;
	/* Whole rings, event fields included (the spec's size table), so that no later
	 * access needs a check: size <= 32768 keeps every length far from overflow. */
	desc = map_ring(mem, desc_gpa, (uint64_t)DESC_SIZE * size, 16, &err);
	if (desc == NULL)
		return err;
	avail = map_ring(mem, avail_gpa, RING_HDR + 2 * (uint64_t)size + 2, 2, &err);
	if (avail == NULL)
		return err;
	used = map_ring(mem, used_gpa, RING_HDR + USED_ELEM_SIZE * (uint64_t)size + 2, 4, &err);
	if (used == NULL)
		return err;
	/* Rings that overlap would let the device's own writes (used elements,
	 * notification flags) move avail->idx: a device could then chase its
	 * own tail forever. No correct driver does it. */
	if (overlaps(desc_gpa, (uint64_t)DESC_SIZE * size, avail_gpa,
		     RING_HDR + 2 * (uint64_t)size + 2) ||
	    overlaps(desc_gpa, (uint64_t)DESC_SIZE * size, used_gpa,
		     RING_HDR + USED_ELEM_SIZE * (uint64_t)size + 2) ||
	    overlaps(avail_gpa, RING_HDR + 2 * (uint64_t)size + 2, used_gpa,
		     RING_HDR + USED_ELEM_SIZE * (uint64_t)size + 2))
		return -EINVAL;
	vq->mem = mem;
	vq->size = size;
	vq->desc_gpa = desc_gpa;
	vq->avail_gpa = avail_gpa;
	vq->used_gpa = used_gpa;
	vq->event_idx = (features & VQ_FEATURE_EVENT_IDX) != 0;
	vq->indirect = (features & VQ_FEATURE_INDIRECT_DESC) != 0;
	vq->desc = desc;
	vq->avail = avail;
	vq->used = used;
	vq->enabled = true;
	return 0;
}

/* --- taking chains ----------------------------------------------------------- */

static int mark_broken(struct virtqueue *vq)
{
	vq->broken = true;
	return -EINVAL;
}

/* Walk the chain starting at (head) into (req). Every step is bounded: at
 * most size descriptors in the ring's table plus at most VQ_MAX_SEGS in one
 * indirect table, whatever the guest wrote. */
static int walk_chain(const struct virtqueue *vq, uint16_t head, struct vq_req *req)
{
	const uint8_t *table = vq->desc;
	uint32_t table_len = vq->size;	/* entries in the table being walked */
	uint32_t idx = head, seen = 0;
	bool in_indirect = false, writable_seen = false;
	unsigned nr = 0, nr_out = 0;
	uint64_t out_len = 0, in_len = 0;

	/* Prevents reading past the descriptor table. */
	if (head >= vq->size)
		return -EINVAL;
	for (;;) {
		struct desc d;
		bool writable;

		/* Prevents a loop (a->b->a, a->a) from hanging us: a chain that
		 * visits more entries than its table has revisits one. This also
		 * caps a chain at the queue size, as the spec requires. */
		if (seen++ == table_len)
			return -EINVAL;
		read_desc(table + (size_t)idx * DESC_SIZE, &d);

		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			/* Prevents the driver using a layout we never agreed on. */
			if (!vq->indirect)
				return -EINVAL;
			/* Prevents unbounded nesting: one table per chain
			 * ("Indirect Descriptors"). */
			if (in_indirect)
				return -EINVAL;
			/* The table ends the chain (same section): with NEXT too, what
			 * follows would be ambiguous. WRITE is ignored, as the spec says. */
			if (d.flags & VIRTQ_DESC_F_NEXT)
				return -EINVAL;
			/* Prevents an empty table (nothing to walk), a partial
			 * descriptor at its end, and a table longer than a chain may be. */
			if (d.len == 0 || d.len % DESC_SIZE != 0 || d.len / DESC_SIZE > VQ_MAX_SEGS)
				return -EINVAL;
			/* Prevents reading the table from outside RAM. */
			table = gmem_ptr(vq->mem, d.addr, d.len);
			if (table == NULL)
				return -EINVAL;
			table_len = d.len / DESC_SIZE;
			idx = 0;
			seen = 0;
			in_indirect = true;
			continue;
		}

		writable = (d.flags & VIRTQ_DESC_F_WRITE) != 0;
		/* Prevents mixing the parts: readable buffers come first
		 * ("Message Framing"), which lets one iovec array hold both. */
		if (!writable && writable_seen)
			return -EINVAL;
		writable_seen = writable_seen || writable;
		/* A zero-length buffer carries no bytes: no segment, no address to check. */
		if (d.len > 0) {
			void *p;

			/* Prevents overrunning req->iov (and preadv's IOV_MAX). */
			if (nr == VQ_MAX_SEGS)
				return -EINVAL;
			/* Prevents the device touching anything but guest RAM:
			 * gmem_ptr also refuses addr + len overflowing, and ranges
			 * straddling the end of RAM or a hole. */
			p = gmem_ptr(vq->mem, d.addr, d.len);
			if (p == NULL)
				return -EINVAL;
			req->iov[nr].iov_base = p;
			req->iov[nr].iov_len = d.len;
			nr++;
			/* Cannot overflow with VQ_MAX_SEGS * 4 GiB, but the totals are
			 * guest-controlled sizes, so they are checked anyway. */
			if (writable) {
				if (ckd_add(&in_len, in_len, (uint64_t)d.len))
					return -EINVAL;
			} else {
				nr_out++;
				if (ckd_add(&out_len, out_len, (uint64_t)d.len))
					return -EINVAL;
			}
		}
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			break;
		/* Prevents reading past the (indirect) table. */
		if (d.next >= table_len)
			return -EINVAL;
		idx = d.next;
	}
	req->head = head;
	req->nr_out = nr_out;
	req->nr_in = nr - nr_out;
	req->out_len = out_len;
	req->in_len = in_len;
	return 0;
}

int vq_pop(struct virtqueue *vq, struct vq_req *req)
{
	uint16_t avail_idx, head;

	if (vq->broken)
		return -EINVAL;
	if (!vq->enabled)
		return 0;
	avail_idx = load_avail_idx(vq);
	if (avail_idx == vq->last_avail) {
		if (!vq->event_idx || vq->notify_off)
			return 0;
		/* Ask for a kick when the driver fills the slot we wait on, then
		 * look again: the driver may have stored avail->idx and read the
		 * old avail_event in between, and would then not kick. The full
		 * barrier orders our avail_event store before the avail->idx
		 * load; it pairs with the driver's barrier between its avail->idx
		 * store and its avail_event load ("Notifying The Device"). */
		store16(avail_event_ptr(vq), vq->last_avail);
		gmem_mark_dirty(vq->mem, avail_event_ptr(vq), 2);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		avail_idx = load_avail_idx(vq);
		if (avail_idx == vq->last_avail)
			return 0;
	}
	/* Prevents treating stale slots as new buffers: the driver can never
	 * have more than size buffers outstanding, so a bigger jump (or avail->idx
	 * going backwards) is a lie. */
	if ((uint16_t)(avail_idx - vq->last_avail) > vq->size)
		return mark_broken(vq);
	/* Ordered after the avail->idx acquire load above. */
	head = load16(vq->avail + RING_HDR + 2 * (size_t)(vq->last_avail & (vq->size - 1)));
	if (walk_chain(vq, head, req) < 0)
		return mark_broken(vq);
	vq->last_avail++;
	return 1;
}

/* --- returning chains -------------------------------------------------------- */

/* Live migration: the pages a chain's writable buffers and the used ring
 * occupy are written by us, not by a vCPU, so KVM's dirty log misses them:
 * note them in the gmem's own bitmap. The chain is walked again here (the
 * device may not keep it); if the driver changed it meanwhile it only
 * loses its own data, and over-marking costs a page resent. */
static void mark_dirty_chain(struct virtqueue *vq, uint16_t head)
{
	static __thread struct vq_req *scratch;

	if (atomic_load_explicit(&((struct gmem *)vq->mem)->dirty, memory_order_relaxed) == NULL)
		return;
	gmem_mark_dirty(vq->mem, vq->used, RING_HDR + USED_ELEM_SIZE * (size_t)vq->size + 2);
	if (scratch == NULL && (scratch = malloc(sizeof(*scratch))) == NULL)
		return;
	if (walk_chain(vq, head, scratch) < 0)
		return;
	for (unsigned i = 0; i < scratch->nr_in; i++)
		gmem_mark_dirty(vq->mem, vq_req_in(scratch)[i].iov_base,
				vq_req_in(scratch)[i].iov_len);
}

void vq_unpop(struct virtqueue *vq)
{
	if (vq->enabled)
		vq->last_avail--;
}

void vq_push(struct virtqueue *vq, uint16_t head, uint32_t written)
{
	uint8_t *elem;

	if (!vq->enabled)
		return;
	/* Heads come from vq_pop(), so this is a device bug; the driver would
	 * otherwise be handed an id it never made available. */
	if (head >= vq->size) {
		vq->broken = true;
		return;
	}
	elem = vq->used + RING_HDR + USED_ELEM_SIZE * (size_t)(vq->used_idx & (vq->size - 1));
	store32(elem, head);
	store32(elem + 4, written);
	vq->used_idx++;
	mark_dirty_chain(vq, head);
}

void vq_flush(struct virtqueue *vq)
{
	if (!vq->enabled)
		return;
	/* Release: the device's writes to the buffers and the used elements
	 * become visible before the new used->idx. Pairs with the driver's read
	 * barrier between loading used->idx and reading the used elements and
	 * buffers ("Receiving Used Buffers From The Device"). */
	__atomic_store_n((uint16_t *)(void *)(vq->used + 2), htole16(vq->used_idx),
			 __ATOMIC_RELEASE);
	vq->used_published = vq->used_idx;
	gmem_mark_dirty(vq->mem, vq->used, RING_HDR);
}

bool vq_should_notify(struct virtqueue *vq)
{
	uint16_t old = vq->signalled_used, new = vq->used_published, event;

	if (!vq->enabled)
		return false;
	vq->signalled_used = new;
	if (new == old)
		return false;
	/* Full barrier: our used->idx store (vq_flush) before the load of
	 * used_event / avail->flags. Pairs with the driver's barrier between
	 * re-enabling interrupts (storing used_event or clearing NO_INTERRUPT)
	 * and re-reading used->idx: one of us sees the other's store, so an
	 * interrupt is never lost. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!vq->event_idx)
		return !(load16(vq->avail) & VIRTQ_AVAIL_F_NO_INTERRUPT);
	/* Notify if used_event lies in (old, new]: the driver asked to hear
	 * about the element at index used_event ("Used Buffer Notification
	 * Suppression"). 16-bit arithmetic, so it holds across wraparound. */
	event = load16(used_event_ptr(vq));
	return (uint16_t)(new - event - 1) < (uint16_t)(new - old);
}

/* --- available buffer notifications ------------------------------------------ */

void vq_disable_notify(struct virtqueue *vq)
{
	if (!vq->enabled)
		return;
	vq->notify_off = true;
	/* With event idx, flags must stay 0 ("Available Buffer Notification
	 * Suppression"); avail_event is simply no longer advanced, so it falls
	 * behind and the driver stops kicking. */
	if (!vq->event_idx)
		store16(vq->used, VIRTQ_USED_F_NO_NOTIFY);
	gmem_mark_dirty(vq->mem, vq->used, RING_HDR);
}

bool vq_enable_notify(struct virtqueue *vq)
{
	if (!vq->enabled || vq->broken)
		return false;
	vq->notify_off = false;
	if (vq->event_idx)
		store16(avail_event_ptr(vq), vq->last_avail);
	else
		store16(vq->used, 0);
	gmem_mark_dirty(vq->mem, vq->used, RING_HDR);
	gmem_mark_dirty(vq->mem, avail_event_ptr(vq), 2);
	/* Full barrier: the store above before re-reading avail->idx. Pairs
	 * with the driver's barrier between storing avail->idx and reading
	 * used->flags / avail_event: either it kicks or we see its buffers. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return load_avail_idx(vq) != vq->last_avail;
}

/* --- state ------------------------------------------------------------------- */

/* Layout (little endian): u8 flags (SAVE_*), u16 size, u64 desc_gpa,
 * u64 avail_gpa, u64 used_gpa, u16 last_avail, u16 used_idx,
 * u16 used_published, u16 signalled_used. */
int vq_save(const struct virtqueue *vq, struct buf *out)
{
	uint8_t flags = 0;

	if (vq->enabled)
		flags |= SAVE_ENABLED;
	if (vq->event_idx)
		flags |= SAVE_EVENT_IDX;
	if (vq->indirect)
		flags |= SAVE_INDIRECT;
	if (vq->broken)
		flags |= SAVE_BROKEN;
	if (vq->notify_off)
		flags |= SAVE_NOTIFY_OFF;
	buf_put_u8(out, flags);
	buf_put_u16(out, vq->size);
	buf_put_u64(out, vq->desc_gpa);
	buf_put_u64(out, vq->avail_gpa);
	buf_put_u64(out, vq->used_gpa);
	buf_put_u16(out, vq->last_avail);
	buf_put_u16(out, vq->used_idx);
	buf_put_u16(out, vq->used_published);
	buf_put_u16(out, vq->signalled_used);
	return out->failed ? -ENOMEM : 0;
}

int vq_load(struct virtqueue *vq, const struct gmem *mem, struct buf_reader *r)
{
	struct virtqueue n;
	uint64_t desc, avail, used, features = 0;
	uint16_t size, last_avail, used_idx, used_published, signalled_used;
	uint8_t flags;

	vq_reset(vq);
	if (!buf_get_u8(r, &flags) || !buf_get_u16(r, &size) || !buf_get_u64(r, &desc) ||
	    !buf_get_u64(r, &avail) || !buf_get_u64(r, &used) || !buf_get_u16(r, &last_avail) ||
	    !buf_get_u16(r, &used_idx) || !buf_get_u16(r, &used_published) ||
	    !buf_get_u16(r, &signalled_used))
		return -EINVAL;
	if (flags & ~SAVE_FLAGS)
		return -EINVAL;
	if (!(flags & SAVE_ENABLED)) {
		/* A disabled queue is a reset one: anything else is corrupt. */
		if (flags || size || desc || avail || used || last_avail || used_idx ||
		    used_published || signalled_used)
			return -EINVAL;
		return 0;
	}
	if (flags & SAVE_EVENT_IDX)
		features |= VQ_FEATURE_EVENT_IDX;
	if (flags & SAVE_INDIRECT)
		features |= VQ_FEATURE_INDIRECT_DESC;
	/* The same checks as when the driver enabled it: the state may come
	 * from elsewhere (a migration stream) and is not trusted either. */
	if (vq_enable(&n, mem, size, desc, avail, used, features) < 0)
		return -EINVAL;
	n.broken = (flags & SAVE_BROKEN) != 0;
	n.notify_off = (flags & SAVE_NOTIFY_OFF) != 0;
	n.last_avail = last_avail;
	n.used_idx = used_idx;
	n.used_published = used_published;
	n.signalled_used = signalled_used;
	*vq = n;
	return 0;
}
