/* SPDX-License-Identifier: MIT */
/* net.c: virtio-net with one receive/transmit queue pair and a control queue,
 * on a back end that moves one frame per read/write (backends/net/netdev.h).
 *
 * There is no vhost-net on our hosts, so the data path is built to cost the
 * read or write of each frame and little else:
 *  - transmit: each chain's device-readable segments (virtio-net header +
 *    frame) go to the TAP as they are, one writev, no copy: the TAP takes the
 *    same header (IFF_VNET_HDR), so checksum and TSO offloads pass through;
 *  - receive: we keep receive chains popped ahead ("held") and readv the next
 *    frame straight into them, enough for the largest frame the guest may get;
 *    with mergeable buffers one frame spans as many chains as it needs. Only
 *    when the guest has not posted enough room for a maximum frame is a frame
 *    read into a bounce buffer first, and copied once it is known to fit;
 *  - one interrupt per batch of frames, kicks suppressed while a batch runs,
 *    and the TAP watched edge-triggered, so nothing needs re-arming.
 *
 * Everything from the guest is untrusted: the queue layer checks every
 * descriptor against guest RAM; here every length is bounded and a chain of
 * the wrong shape is returned unused or its frame dropped, never trusted. */
#include "net.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include "backends/net/netdev.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/ev.h"
#include "common/iov.h"
#include "virtio.h"

#define NET_QUEUE_SIZE		256
#define HDR_LEN			NET_VNET_HDR_LEN
/* Receive chains and their segments kept popped ahead. A 64 KiB frame in
 * 4 KiB buffers needs 17; more lets one readv serve small and big alike. */
#define RX_HELD_MAX		256
#define RX_IOV_MAX		1024	/* what one readv may take (IOV_MAX) */
/* Frames per call before we come back through the loop, so one busy NIC
 * cannot hold the monitor. */
#define RX_BUDGET		256
#define TX_ROUNDS_MAX		4
/* Transmit completions are signalled this long after they are published,
 * not at once: most are reaped meanwhile by the guest itself (Linux frees
 * sent buffers when it transmits again and when it polls for received
 * frames), and then no interrupt is needed at all. An interrupt costs the
 * guest an injection, often an interrupt-window exit and an EOI exit; on a
 * busy link this saves most of them. Receive interrupts are not delayed (latency). */
#define TX_IRQ_DELAY_NS		250000
/* Control commands carry a few bytes; MAC tables the most (6 bytes an
 * entry). Longer commands are refused. */
#define CTRL_MAX		(64 * 1024)

struct rx_chain {
	uint16_t head;
	uint16_t iov_first;	/* into held_iov */
	uint16_t nr_iov;
	uint32_t len;		/* writable bytes, capped */
};

struct virtio_net {
	struct virtio_dev vdev;
	struct netdev *nd;
	struct ev_loop *loop;
	uint8_t mac[6];
	uint16_t status;	/* VIRTIO_NET_S_* */
	unsigned offloads;	/* NET_OFF_* the back end was told */

	/* receive */
	struct rx_chain held[RX_HELD_MAX];
	unsigned nr_held;
	/* an unusable chain was pushed back after the first held one: the held
	 * chains are no longer the ring's last pops (quiesce cannot unpop) */
	bool held_gap;
	unsigned held_iovs;
	uint64_t held_bytes;
	struct iovec held_iov[RX_IOV_MAX + 1024];	/* a last chain may overshoot */
	struct iovec rx_iov[RX_IOV_MAX];		/* held_iov past our own header */
	uint8_t *bounce;		/* HDR_LEN + NET_FRAME_MAX */
	size_t bounce_len;		/* a frame waiting in it (0: none) */

	/* transmit */
	bool tx_blocked;		/* the back end said EAGAIN: tx_req waits */
	int tx_irq_fd;			/* timerfd: the delayed completion interrupt */
	bool tx_irq_armed;
	struct vq_req tx_req;
	struct iovec tx_iov[VQ_MAX_SEGS];

	struct vq_req req;		/* scratch: receive and control chains */
	uint8_t *ctrl_buf;		/* CTRL_MAX */
	struct virtio_net_stats stats;
};

/* --- features and offloads -------------------------------------------------- */

static bool has(const struct virtio_net *n, uint64_t f)
{
	return (n->vdev.driver_features & f) != 0;
}

/* The offloads the guest accepts on receive, from feature bits (f). */
static unsigned offloads_of(uint64_t f)
{
	unsigned off = 0;

	if (f & VIRTIO_NET_F_GUEST_CSUM)
		off |= NET_OFF_CSUM;
	if (f & VIRTIO_NET_F_GUEST_TSO4)
		off |= NET_OFF_TSO4;
	if (f & VIRTIO_NET_F_GUEST_TSO6)
		off |= NET_OFF_TSO6;
	if (f & VIRTIO_NET_F_GUEST_ECN)
		off |= NET_OFF_TSO_ECN;
	return off;
}

static int apply_offloads(struct virtio_net *n, unsigned off)
{
	int r = 0;

	if (!n->nd->vnet_hdr)
		off = 0;
	if (n->nd->ops->set_offloads && off != n->offloads)
		r = n->nd->ops->set_offloads(n->nd, off);
	if (r == 0)
		n->offloads = off;
	return r;
}

/* The largest frame the back end may hand us for this guest. */
static size_t max_frame(const struct virtio_net *n)
{
	if (n->offloads & (NET_OFF_TSO4 | NET_OFF_TSO6))
		return NET_FRAME_MAX;
	return (size_t)n->nd->mtu + 18;	/* Ethernet header, VLAN tag, no FCS */
}

/* --- receive: back end → guest ---------------------------------------------- */

static bool rx_usable(const struct virtio_net *n)
{
	const struct virtqueue *vq = &n->vdev.vqs[VIRTIO_NET_RXQ];

	return (n->vdev.status & VIRTIO_STATUS_DRIVER_OK) && vq->enabled && !vq->broken;
}

/* rx_topup: pop receive chains until (need) bytes are held. Returns 1 when
 * they are, 0 when the ring ran dry first, -EINVAL when it is broken.
 * Without mergeable buffers a frame must fit one chain: only the first held
 * chain counts then. */
static int rx_topup(struct virtio_net *n, size_t need, bool *pushed)
{
	struct virtqueue *vq = &n->vdev.vqs[VIRTIO_NET_RXQ];
	bool mrg = has(n, VIRTIO_NET_F_MRG_RXBUF);

	for (;;) {
		if (mrg ? n->held_bytes >= need : (n->nr_held > 0 && n->held[0].len >= need))
			return 1;
		if (!mrg && n->nr_held > 0)
			return 1;	/* the first chain is all we may use */
		if (n->nr_held == RX_HELD_MAX || n->held_iovs >= RX_IOV_MAX)
			return 1;	/* as much as one readv can take */
		int r = vq_pop(vq, &n->req);
		if (r <= 0)
			return r;
		struct vq_req *q = &n->req;
		uint64_t len = q->in_len;
		if (q->nr_in == 0 || len < HDR_LEN) {
			/* No room even for the header: hand it back unused. */
			vq_push(vq, q->head, 0);
			*pushed = true;
			n->held_gap = n->nr_held > 0;
			continue;
		}
		struct rx_chain *c = &n->held[n->nr_held++];
		c->head = q->head;
		c->iov_first = (uint16_t)n->held_iovs;
		c->nr_iov = (uint16_t)q->nr_in;
		c->len = len > NET_FRAME_MAX + HDR_LEN ? NET_FRAME_MAX + HDR_LEN : (uint32_t)len;
		memcpy(&n->held_iov[n->held_iovs], vq_req_in(q), q->nr_in * sizeof(struct iovec));
		n->held_iovs += q->nr_in;
		n->held_bytes += c->len;
	}
}

/* rx_target: the held segments one frame may use and their room (*room):
 * with mergeable buffers every whole chain within one readv's reach, else
 * the first chain alone. */
static unsigned rx_target(struct virtio_net *n, uint64_t *room)
{
	unsigned cnt = 0;

	*room = 0;
	for (unsigned i = 0; i < n->nr_held; i++) {
		const struct rx_chain *c = &n->held[i];

		if (c->iov_first + c->nr_iov > RX_IOV_MAX)
			break;
		cnt = c->iov_first + c->nr_iov;
		*room += c->len;
		if (!has(n, VIRTIO_NET_F_MRG_RXBUF))
			break;
	}
	return cnt;
}

static void rx_forget(struct virtio_net *n, unsigned k);

/* rx_complete: a frame of (total) bytes, header included, is in the held
 * chains from the start: set num_buffers, push the chains it used and
 * forget them. */
static void rx_complete(struct virtio_net *n, size_t total)
{
	struct virtqueue *vq = &n->vdev.vqs[VIRTIO_NET_RXQ];
	size_t left = total;
	unsigned k = 0;
	uint16_t nbuf;

	while (left > 0 && k < n->nr_held) {
		size_t l = n->held[k].len < left ? n->held[k].len : left;
		left -= l;
		k++;
	}
	nbuf = (uint16_t)k;	/* little-endian host (x86) */
	iov_from_buf(n->held_iov, n->held[0].nr_iov, offsetof(struct virtio_net_hdr, num_buffers),
		     &nbuf, sizeof(nbuf));
	left = total;
	for (unsigned i = 0; i < k; i++) {
		size_t l = n->held[i].len < left ? n->held[i].len : left;
		vq_push(vq, n->held[i].head, (uint32_t)l);
		left -= l;
	}
	n->stats.rx_packets++;
	n->stats.rx_bytes += total - HDR_LEN;
	rx_forget(n, k);
}

/* rx_forget: the first (k) held chains were pushed: the rest move up. */
static void rx_forget(struct virtio_net *n, unsigned k)
{
	unsigned first = k < n->nr_held ? n->held[k].iov_first : n->held_iovs;
	for (unsigned i = 0; i < k; i++)
		n->held_bytes -= n->held[i].len;
	memmove(n->held, n->held + k, (n->nr_held - k) * sizeof(n->held[0]));
	n->nr_held -= k;
	if (n->nr_held == 0)
		n->held_gap = false;
	memmove(n->held_iov, n->held_iov + first, (n->held_iovs - first) * sizeof(struct iovec));
	n->held_iovs -= first;
	for (unsigned i = 0; i < n->nr_held; i++)
		n->held[i].iov_first = (uint16_t)(n->held[i].iov_first - first);
}

/* rx_read_direct: read the next frame straight into the held chains. Returns
 * its length with the header, 0 when the back end has none, -errno. */
static ssize_t rx_read_direct(struct virtio_net *n)
{
	uint64_t room;
	unsigned cnt = rx_target(n, &room);
	ssize_t r;

	(void)room;
	if (n->nd->vnet_hdr) {
		r = readv(n->nd->fd, n->held_iov, (int)cnt);
	} else {
		unsigned c = iov_slice(n->held_iov, cnt, HDR_LEN, UINT64_MAX, n->rx_iov);
		r = readv(n->nd->fd, n->rx_iov, (int)c);
		if (r >= 0) {
			struct virtio_net_hdr h = { 0 };
			iov_from_buf(n->held_iov, cnt, 0, &h, HDR_LEN);
			r += HDR_LEN;
		}
	}
	if (r < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
	if (r <= HDR_LEN)
		return -EPROTO;	/* a runt from the back end: nothing to deliver */
	return r;
}

/* rx_read_bounce: the next frame into the bounce buffer. Same returns. */
static ssize_t rx_read_bounce(struct virtio_net *n)
{
	size_t off = n->nd->vnet_hdr ? 0 : HDR_LEN;
	ssize_t r = read(n->nd->fd, n->bounce + off, HDR_LEN + NET_FRAME_MAX - off);

	if (r < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
	if (!n->nd->vnet_hdr) {
		memset(n->bounce, 0, HDR_LEN);
		r += HDR_LEN;
	}
	if (r <= HDR_LEN)
		return -EPROTO;
	return r;
}

/* rx_deliver_bounce: the frame in the bounce buffer into held chains, if they
 * can take it. Returns 1 delivered (or dropped: it can never fit), 0 wait. */
static int rx_deliver_bounce(struct virtio_net *n, bool *pushed)
{
	uint64_t room;
	unsigned cnt;
	int r = rx_topup(n, n->bounce_len, pushed);

	if (r < 0)
		return r;
	if (n->nr_held == 0)
		return 0;
	cnt = rx_target(n, &room);
	if (room < n->bounce_len) {
		if (has(n, VIRTIO_NET_F_MRG_RXBUF) && n->nr_held < RX_HELD_MAX &&
		    n->held_iovs < RX_IOV_MAX)
			return 0;	/* more buffers will come */
		/* The guest's buffers cannot hold this frame (receive buffers
		 * smaller than what it negotiated): a NIC drops it. Without
		 * mergeable buffers the chain it was for goes back empty, or
		 * every later frame of this size would meet it again. */
		n->stats.rx_dropped++;
		n->bounce_len = 0;
		if (!has(n, VIRTIO_NET_F_MRG_RXBUF)) {
			vq_push(&n->vdev.vqs[VIRTIO_NET_RXQ], n->held[0].head, 0);
			rx_forget(n, 1);
			*pushed = true;
		}
		return 1;
	}
	iov_from_buf(n->held_iov, cnt, 0, n->bounce, n->bounce_len);
	rx_complete(n, n->bounce_len);
	n->bounce_len = 0;
	*pushed = true;
	return 1;
}

/* rx_process: move frames from the back end into the guest until either has
 * none, at most RX_BUDGET; one interrupt for all. Device lock held. */
static void rx_process(struct virtio_net *n)
{
	struct virtio_dev *vdev = &n->vdev;
	size_t need;
	bool pushed = false;
	int r = 0;

	if (!rx_usable(n))
		return;
	/* Receive kicks only matter while a frame waits for buffers: the
	 * guest refilling a ring we still hold plenty of need not exit for
	 * it (each kick is an exit). They are asked for again when needed. */
	vq_disable_notify(&vdev->vqs[VIRTIO_NET_RXQ]);
	need = HDR_LEN + max_frame(n);
	for (unsigned budget = RX_BUDGET;; budget--) {
		uint64_t room = 0;
		ssize_t len;

		if (budget == 0) {
			/* Frames may still be waiting, and the edge-triggered
			 * watch will not fire for them: continue from the loop. */
			if (vdev->retry_queue)
				vdev->retry_queue(vdev, VIRTIO_NET_RXQ);
			break;
		}
		if (n->bounce_len) {
			r = rx_deliver_bounce(n, &pushed);
			if (r == 0 && vq_enable_notify(&vdev->vqs[VIRTIO_NET_RXQ]))
				continue;	/* buffers came as we asked for kicks */
			if (r <= 0)
				break;	/* wait for buffers: the receive kick resumes */
			continue;
		}
		r = rx_topup(n, need, &pushed);
		if (r < 0)
			break;
		if (n->nr_held > 0)
			rx_target(n, &room);
		if (room >= need) {
			len = rx_read_direct(n);
			if (len > 0) {
				rx_complete(n, (size_t)len);
				pushed = true;
			}
		} else {
			/* Too little room for a maximum frame: read the next one
			 * aside, and give it buffers once its size is known. */
			len = rx_read_bounce(n);
			if (len > 0)
				n->bounce_len = (size_t)len;
		}
		if (len > 0)
			continue;
		if (len == 0)
			break;	/* the back end is empty; its watch brings us back */
		n->stats.rx_dropped++;
		if (len != -EPROTO)
			break;	/* a back-end error: try again on its next event */
	}
	if (pushed)
		virtio_queue_done(vdev, VIRTIO_NET_RXQ);
	if (r < 0)
		virtio_queue_broken(vdev, VIRTIO_NET_RXQ);
}

/* --- transmit: guest → back end --------------------------------------------- */

/* tx_irq_arm: signal published transmit completions TX_IRQ_DELAY_NS from now,
 * if the guest still wants to hear of them then. Without a timer, at once. */
static void tx_irq_arm(struct virtio_net *n)
{
	struct itimerspec it = { .it_value.tv_nsec = TX_IRQ_DELAY_NS };

	if (n->tx_irq_armed)
		return;
	if (n->tx_irq_fd < 0 || timerfd_settime(n->tx_irq_fd, 0, &it, NULL) < 0) {
		virtio_queue_done(&n->vdev, VIRTIO_NET_TXQ);
		return;
	}
	n->tx_irq_armed = true;
}

static void net_on_tx_irq(struct ev_loop *loop, int fd, uint32_t events, void *arg)
{
	struct virtio_net *n = arg;
	struct virtqueue *vq = &n->vdev.vqs[VIRTIO_NET_TXQ];
	uint64_t ticks;

	(void)loop;
	(void)events;
	if (read(fd, &ticks, sizeof(ticks)) < 0) {
		/* EAGAIN: disarmed by a reset meanwhile */
	}
	pthread_mutex_lock(&n->vdev.lock);
	if (n->tx_irq_armed) {
		n->tx_irq_armed = false;
		if (vq->enabled && vq_should_notify(vq))
			n->vdev.signal_queue(&n->vdev, VIRTIO_NET_TXQ);
	}
	pthread_mutex_unlock(&n->vdev.lock);
}

/* tx_send: one chain's frame to the back end. 0: sent or dropped, -EAGAIN:
 * the back end is full, send it again when it is writable. */
static int tx_send(struct virtio_net *n, struct vq_req *req)
{
	struct iovec *iov = vq_req_out(req);
	unsigned cnt = req->nr_out;
	ssize_t r;

	if (req->out_len <= HDR_LEN || req->out_len > HDR_LEN + NET_FRAME_MAX) {
		n->stats.tx_dropped++;	/* no frame, or larger than any frame */
		return 0;
	}
	if (!n->nd->vnet_hdr) {
		cnt = iov_slice(iov, cnt, HDR_LEN, UINT64_MAX, n->tx_iov);
		iov = n->tx_iov;
	}
	r = writev(n->nd->fd, iov, (int)cnt);
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS))
		return -EAGAIN;
	if (r < 0) {
		/* The back end refused the frame (a malformed GSO header, a
		 * link down): the wire loses it, the guest goes on. */
		n->stats.tx_dropped++;
		return 0;
	}
	n->stats.tx_packets++;
	n->stats.tx_bytes += req->out_len - HDR_LEN;
	return 0;
}

static void tx_process(struct virtio_net *n)
{
	struct virtio_dev *vdev = &n->vdev;
	struct virtqueue *vq = &vdev->vqs[VIRTIO_NET_TXQ];
	bool pushed = false;
	int r = 0;

	if (vq->broken || !vq->enabled)
		return;
	for (unsigned round = 1;; round++) {
		vq_disable_notify(vq);
		for (unsigned budget = vq->size; budget > 0; budget--) {
			if (!n->tx_blocked) {
				r = vq_pop(vq, &n->tx_req);
				if (r <= 0)
					break;
			}
			if (tx_send(n, &n->tx_req) == -EAGAIN) {
				/* Keep the chain; the back end's EPOLLOUT resumes. */
				n->tx_blocked = true;
				goto out;
			}
			n->tx_blocked = false;
			vq_push(vq, n->tx_req.head, 0);
			pushed = true;
		}
		if (r < 0)
			break;
		if (!vq_enable_notify(vq))
			break;
		if (round == TX_ROUNDS_MAX) {
			if (vdev->retry_queue)
				vdev->retry_queue(vdev, VIRTIO_NET_TXQ);
			break;
		}
	}
out:
	if (pushed) {
		vq_flush(vq);
		tx_irq_arm(n);
	}
	if (r < 0)
		virtio_queue_broken(vdev, VIRTIO_NET_TXQ);
}

/* --- control queue ------------------------------------------------------------ */

static void config_changed(struct virtio_net *n)
{
	n->vdev.config_generation++;
	if ((n->vdev.status & VIRTIO_STATUS_DRIVER_OK) && n->vdev.signal_config)
		n->vdev.signal_config(&n->vdev);
}

/* A MAC table: le32 entries, then 6 bytes each. Returns its size or 0. */
static size_t mac_table_len(const uint8_t *p, size_t len)
{
	uint32_t entries;

	if (len < 4)
		return 0;
	memcpy(&entries, p, 4);
	if (entries > (len - 4) / 6)
		return 0;
	return 4 + (size_t)entries * 6;
}

static uint8_t ctrl_command(struct virtio_net *n, const uint8_t *cmd, size_t len)
{
	const uint8_t *d = cmd + 2;
	size_t dl = len - 2;

	switch (cmd[0]) {
	case VIRTIO_NET_CTRL_RX:
		/* promiscuous, all-multicast, ...: one on/off byte. We do not
		 * filter (the bridge or TAP delivers what is for us, and the
		 * guest's stack drops the rest), so every mode is honoured. */
		return cmd[1] <= 5 && dl == 1 ? VIRTIO_NET_OK : VIRTIO_NET_ERR;
	case VIRTIO_NET_CTRL_MAC:
		if (cmd[1] == VIRTIO_NET_CTRL_MAC_ADDR_SET && dl == 6 && !(d[0] & 1)) {
			memcpy(n->mac, d, 6);
			return VIRTIO_NET_OK;
		}
		if (cmd[1] == VIRTIO_NET_CTRL_MAC_TABLE_SET) {
			size_t a = mac_table_len(d, dl);
			size_t b = a ? mac_table_len(d + a, dl - a) : 0;
			return a && b && a + b == dl ? VIRTIO_NET_OK : VIRTIO_NET_ERR;
		}
		return VIRTIO_NET_ERR;
	case VIRTIO_NET_CTRL_ANNOUNCE:
		if (cmd[1] != VIRTIO_NET_CTRL_ANNOUNCE_ACK || dl != 0)
			return VIRTIO_NET_ERR;
		n->status &= (uint16_t)~VIRTIO_NET_S_ANNOUNCE;
		return VIRTIO_NET_OK;
	case VIRTIO_NET_CTRL_GUEST_OFFLOADS: {
		uint64_t f;
		if (cmd[1] != VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET || dl != 8)
			return VIRTIO_NET_ERR;
		memcpy(&f, d, 8);
		/* only offloads the driver negotiated may be turned on */
		if (f & ~n->vdev.driver_features)
			return VIRTIO_NET_ERR;
		return apply_offloads(n, offloads_of(f)) == 0 ? VIRTIO_NET_OK : VIRTIO_NET_ERR;
	}
	}
	return VIRTIO_NET_ERR;
}

static void ctrl_process(struct virtio_net *n)
{
	struct virtio_dev *vdev = &n->vdev;
	struct virtqueue *vq = &vdev->vqs[VIRTIO_NET_CTRLQ];
	struct vq_req *req = &n->req;
	bool pushed = false;
	int r = 0;

	if (vq->broken)
		return;
	for (unsigned budget = vq->size; budget > 0; budget--) {
		uint8_t ack = VIRTIO_NET_ERR;
		uint32_t written = 0;

		r = vq_pop(vq, req);
		if (r <= 0)
			break;
		if (req->out_len >= 2 && req->out_len <= CTRL_MAX) {
			size_t len = iov_to_buf(vq_req_out(req), req->nr_out, 0, n->ctrl_buf, CTRL_MAX);
			ack = ctrl_command(n, n->ctrl_buf, len);
		}
		if (req->in_len >= 1)
			written = (uint32_t)iov_from_buf(vq_req_in(req), req->nr_in, 0, &ack, 1);
		vq_push(vq, req->head, written);
		pushed = true;
	}
	if (pushed)
		virtio_queue_done(vdev, VIRTIO_NET_CTRLQ);
	if (r < 0)
		virtio_queue_broken(vdev, VIRTIO_NET_CTRLQ);
}

/* --- the back end's descriptor ------------------------------------------------ */

static void net_on_backend(struct ev_loop *loop, int fd, uint32_t events, void *arg)
{
	struct virtio_net *n = arg;

	(void)loop;
	(void)fd;
	pthread_mutex_lock(&n->vdev.lock);
	if ((events & EPOLLOUT) && n->tx_blocked)
		tx_process(n);
	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
		rx_process(n);
	pthread_mutex_unlock(&n->vdev.lock);
}

/* --- virtio_dev_ops ------------------------------------------------------------ */

static void net_queue_notify(struct virtio_dev *vdev, unsigned q)
{
	struct virtio_net *n = vdev->priv;

	switch (q) {
	case VIRTIO_NET_RXQ: rx_process(n); break;
	case VIRTIO_NET_TXQ: tx_process(n); break;
	case VIRTIO_NET_CTRLQ: ctrl_process(n); break;
	}
}

static void net_config_read(struct virtio_dev *vdev, unsigned off, void *data, unsigned size)
{
	struct virtio_net *n = vdev->priv;
	uint8_t cfg[VIRTIO_NET_CONFIG_SIZE];
	uint16_t pairs = 1, mtu = (uint16_t)n->nd->mtu;

	memcpy(cfg, n->mac, 6);
	memcpy(cfg + 6, &n->status, 2);
	memcpy(cfg + 8, &pairs, 2);
	memcpy(cfg + 10, &mtu, 2);
	memcpy(data, cfg + off, size);
}

static void net_driver_ok(struct virtio_dev *vdev)
{
	struct virtio_net *n = vdev->priv;

	/* What the TAP may now give us: the receive offloads negotiated. */
	apply_offloads(n, offloads_of(vdev->driver_features));
	/* Frames that queued up while the driver was not ready. */
	rx_process(n);
}

static void net_reset(struct virtio_dev *vdev)
{
	struct virtio_net *n = vdev->priv;

	/* Held chains and a blocked transmit chain belong to the old rings. */
	n->nr_held = 0;
	n->held_gap = false;
	n->held_iovs = 0;
	n->held_bytes = 0;
	n->tx_blocked = false;
	if (n->tx_irq_armed) {
		struct itimerspec off = { 0 };
		timerfd_settime(n->tx_irq_fd, 0, &off, NULL);
		n->tx_irq_armed = false;
	}
	n->bounce_len = 0;
	n->status &= VIRTIO_NET_S_LINK_UP;
	apply_offloads(n, 0);
}

/* quiesce: for a snapshot or a migration. Held receive chains go back to
 * the ring (popped again here or on the destination); a transmit chain
 * waiting for the back end goes back too; a delayed transmit interrupt is
 * sent now. A frame waiting in the bounce buffer is part of the state. */
static void net_quiesce(struct virtio_dev *vdev)
{
	struct virtio_net *n = vdev->priv;
	struct virtqueue *rxq = &vdev->vqs[VIRTIO_NET_RXQ], *txq = &vdev->vqs[VIRTIO_NET_TXQ];

	if (n->held_gap) {
		/* not the ring's last pops (a hostile or odd driver): return
		 * them empty, as a NIC that dropped nothing into them */
		for (unsigned i = 0; i < n->nr_held; i++)
			vq_push(rxq, n->held[i].head, 0);
		virtio_queue_done(vdev, VIRTIO_NET_RXQ);
	} else {
		for (unsigned i = 0; i < n->nr_held; i++)
			vq_unpop(rxq);
	}
	n->nr_held = 0;
	n->held_gap = false;
	n->held_iovs = 0;
	n->held_bytes = 0;
	if (n->tx_blocked) {
		vq_unpop(txq);
		n->tx_blocked = false;
	}
	if (n->tx_irq_armed) {
		struct itimerspec off = { 0 };
		timerfd_settime(n->tx_irq_fd, 0, &off, NULL);
		n->tx_irq_armed = false;
		if (txq->enabled && vq_should_notify(txq))
			vdev->signal_queue(vdev, VIRTIO_NET_TXQ);
	}
}

/* State, after the transport's part: MAC (the driver may have set it),
 * status, the receive offloads in force (the driver may have changed them
 * through the control queue), and a received frame still waiting for
 * buffers: u8 mac[6], u16 status, u32 offloads, u32 len + frame. */
static int net_save(struct virtio_dev *vdev, struct buf *out)
{
	struct virtio_net *n = vdev->priv;

	buf_append(out, n->mac, 6);
	buf_put_u16(out, n->status);
	buf_put_u32(out, n->offloads);
	buf_put_u32(out, (uint32_t)n->bounce_len);
	buf_append(out, n->bounce, n->bounce_len);
	return out->failed ? -ENOMEM : 0;
}

static int net_load(struct virtio_dev *vdev, struct buf_reader *r)
{
	struct virtio_net *n = vdev->priv;
	uint8_t mac[6];
	uint16_t status;
	uint32_t off, blen;

	if (!buf_get(r, mac, 6) || (mac[0] & 1) || !buf_get_u16(r, &status) ||
	    (status & ~(VIRTIO_NET_S_LINK_UP | VIRTIO_NET_S_ANNOUNCE)) || !buf_get_u32(r, &off) ||
	    (off & ~(NET_OFF_CSUM | NET_OFF_TSO4 | NET_OFF_TSO6 | NET_OFF_TSO_ECN)) ||
	    !buf_get_u32(r, &blen) || blen > HDR_LEN + NET_FRAME_MAX ||
	    (blen != 0 && blen <= HDR_LEN) || !buf_get(r, n->bounce, blen))
		return -EINVAL;
	/* only offloads the driver negotiated can be in force */
	if (off & ~offloads_of(vdev->driver_features))
		return -EINVAL;
	memcpy(n->mac, mac, 6);
	n->status = status;
	n->bounce_len = blen;
	n->offloads = ~0u;	/* unknown: the back end is told in any case */
	if (apply_offloads(n, off) < 0)
		return -EINVAL;
	return 0;
}

static void net_destroy(struct virtio_dev *vdev)
{
	struct virtio_net *n = vdev->priv;

	ev_del(n->loop, n->nd->fd);
	if (n->tx_irq_fd >= 0) {
		ev_del(n->loop, n->tx_irq_fd);
		close(n->tx_irq_fd);
	}
	pthread_mutex_destroy(&vdev->lock);
	free(n->bounce);
	free(n->ctrl_buf);
	free(n);
}

static const struct virtio_dev_ops net_ops = {
	.name = "virtio-net",
	.device_id = 1,
	.class_code = 0x020000,	/* network controller, Ethernet */
	.queue_notify = net_queue_notify,
	.config_read = net_config_read,
	.reset = net_reset,
	.driver_ok = net_driver_ok,
	.destroy = net_destroy,
	.quiesce = net_quiesce,
	.save = net_save,
	.load = net_load,
};

int virtio_net_create(struct netdev *nd, struct ev_loop *loop, struct virtio_dev **out,
		      struct err *err)
{
	struct virtio_net *n = calloc(1, sizeof(*n));
	int r;

	if (n == NULL)
		return err_set(err, ENOMEM, "virtio-net: out of memory");
	n->bounce = malloc(HDR_LEN + NET_FRAME_MAX);
	n->ctrl_buf = malloc(CTRL_MAX);
	if (n->bounce == NULL || n->ctrl_buf == NULL) {
		r = err_set(err, ENOMEM, "virtio-net: out of memory");
		goto fail;
	}
	n->vdev.ops = &net_ops;
	n->vdev.priv = n;
	n->vdev.host_features = VIRTIO_NET_F_MAC | VIRTIO_NET_F_MTU | VIRTIO_NET_F_MRG_RXBUF |
				VIRTIO_NET_F_STATUS | VIRTIO_NET_F_CTRL_VQ | VIRTIO_NET_F_CTRL_RX |
				VIRTIO_NET_F_GUEST_ANNOUNCE | VIRTIO_NET_F_CTRL_MAC_ADDR;
	if (nd->vnet_hdr && (nd->offloads & NET_OFF_CSUM)) {
		/* The TAP checksums and segments what the guest hands it, and
		 * hands the guest what it may still need to checksum/segment. */
		n->vdev.host_features |= VIRTIO_NET_F_CSUM | VIRTIO_NET_F_GUEST_CSUM |
					 VIRTIO_NET_F_CTRL_GUEST_OFFLOADS |
					 VIRTIO_NET_F_HOST_TSO4 | VIRTIO_NET_F_HOST_TSO6 |
					 VIRTIO_NET_F_HOST_ECN | VIRTIO_NET_F_GUEST_TSO4 |
					 VIRTIO_NET_F_GUEST_TSO6 | VIRTIO_NET_F_GUEST_ECN;
	}
	n->vdev.config_size = VIRTIO_NET_CONFIG_SIZE;
	n->vdev.nr_queues = 3;
	n->vdev.queue_max = NET_QUEUE_SIZE;
	pthread_mutex_init(&n->vdev.lock, NULL);
	n->nd = nd;
	n->loop = loop;
	memcpy(n->mac, nd->mac, 6);
	n->status = VIRTIO_NET_S_LINK_UP;
	n->tx_irq_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (n->tx_irq_fd >= 0 && ev_add(loop, n->tx_irq_fd, EPOLLIN, net_on_tx_irq, n) < 0) {
		close(n->tx_irq_fd);
		n->tx_irq_fd = -1;	/* completions are then signalled at once */
	}
	/* Edge-triggered: we read until EAGAIN or until the guest has no room,
	 * and a kick of the receive queue resumes; nothing to re-arm. */
	r = ev_add(loop, nd->fd, EPOLLIN | EPOLLOUT | EPOLLET, net_on_backend, n);
	if (r < 0) {
		err_set(err, -r, "virtio-net: cannot watch the back end: %s", strerror(-r));
		pthread_mutex_destroy(&n->vdev.lock);
		if (n->tx_irq_fd >= 0) {
			ev_del(loop, n->tx_irq_fd);
			close(n->tx_irq_fd);
		}
		goto fail;
	}
	*out = &n->vdev;
	return 0;
fail:
	free(n->bounce);
	free(n->ctrl_buf);
	free(n);
	return r;
}

void virtio_net_set_link(struct virtio_dev *vdev, bool up)
{
	struct virtio_net *n = vdev->priv;

	pthread_mutex_lock(&vdev->lock);
	if (up != !!(n->status & VIRTIO_NET_S_LINK_UP)) {
		n->status ^= VIRTIO_NET_S_LINK_UP;
		config_changed(n);
	}
	pthread_mutex_unlock(&vdev->lock);
}

/* A RARP request from the guest's MAC (what QEMU sends for a guest that
 * cannot announce itself): switches and bridges learn where the MAC is now. */
static void send_rarp(struct virtio_net *n)
{
	uint8_t f[HDR_LEN + 60] = { 0 };
	uint8_t *e = f + HDR_LEN;
	static const uint8_t arp_hdr[8] = { 0, 1, 0x08, 0, 6, 4, 0, 3 };	/* reverse request */

	memset(e, 0xff, 6);
	memcpy(e + 6, n->mac, 6);
	e[12] = 0x80;	/* ethertype 0x8035: RARP */
	e[13] = 0x35;
	memcpy(e + 14, arp_hdr, 8);
	memcpy(e + 22, n->mac, 6);	/* sender */
	memcpy(e + 32, n->mac, 6);	/* target */
	size_t off = n->nd->vnet_hdr ? 0 : HDR_LEN;
	if (write(n->nd->fd, f + off, sizeof(f) - off) < 0) {
		/* a full or broken back end: the guest's own traffic will do */
	}
}

void virtio_net_announce(struct virtio_dev *vdev)
{
	struct virtio_net *n = vdev->priv;

	pthread_mutex_lock(&vdev->lock);
	if (has(n, VIRTIO_NET_F_GUEST_ANNOUNCE) && has(n, VIRTIO_NET_F_CTRL_VQ) &&
	    (vdev->status & VIRTIO_STATUS_DRIVER_OK)) {
		n->status |= VIRTIO_NET_S_ANNOUNCE;
		config_changed(n);
	} else {
		send_rarp(n);
	}
	pthread_mutex_unlock(&vdev->lock);
}

void virtio_net_get_stats(struct virtio_dev *vdev, struct virtio_net_stats *out)
{
	struct virtio_net *n = vdev->priv;

	pthread_mutex_lock(&vdev->lock);
	*out = n->stats;
	pthread_mutex_unlock(&vdev->lock);
}
