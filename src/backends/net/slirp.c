/* SPDX-License-Identifier: MIT */
/* slirp.c: the user-mode NAT back end (--net user): libslirp, the TCP/IP stack
 * in a process that QEMU also uses, gives the guest DHCP, DNS and outgoing
 * connections through ordinary host sockets, and host port forwards into the
 * guest, with no root and no bridge.
 *
 * libslirp is not thread-safe and wants a poll loop of its own; it runs on a
 * thread here, and talks to virtio-net through a datagram socket pair, one
 * frame per datagram. virtio-net sees the same kind of descriptor as a TAP
 * (without the virtio-net header), and the socket buffers are the queue
 * between the two threads. */
#include <errno.h>
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <slirp/libslirp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/err.h"
#include "netdev.h"

#define SLIRP_POLL_MAX	256		/* descriptors libslirp may ask for */
#define SLIRP_SOCKBUF	(4 << 20)	/* frames queued each way */

struct slirp_timer {
	struct slirp_timer *next;
	SlirpTimerCb cb;
	void *cb_opaque;
	int64_t expire_ms;		/* -1: not armed */
};

struct slirp_be {
	struct netdev nd;
	Slirp *slirp;
	int sock;			/* our end of the pair */
	int stop_fd;			/* eventfd: the thread ends */
	pthread_t thread;
	bool started;
	struct slirp_timer *timers;
	struct pollfd pfd[SLIRP_POLL_MAX];
	unsigned npfd;
	uint8_t frame[NET_FRAME_MAX];
};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* --- libslirp's callbacks (all on our thread) ------------------------------- */

static ssize_t cb_send_packet(const void *buf, size_t len, void *opaque)
{
	struct slirp_be *s = opaque;

	/* A full queue toward the guest drops the frame, as a NIC would; TCP
	 * retransmits. */
	if (send(s->sock, buf, len, MSG_DONTWAIT) < 0 && errno != EAGAIN && errno != ENOBUFS)
		return -errno;
	return (ssize_t)len;
}

static void cb_guest_error(const char *msg, void *opaque)
{
	(void)opaque;
	(void)msg;	/* the guest's own mistake: not ours to log per frame */
}

static int64_t cb_clock_get_ns(void *opaque)
{
	(void)opaque;
	return now_ns();
}

static void *cb_timer_new(SlirpTimerCb cb, void *cb_opaque, void *opaque)
{
	struct slirp_be *s = opaque;
	struct slirp_timer *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return NULL;
	t->cb = cb;
	t->cb_opaque = cb_opaque;
	t->expire_ms = -1;
	t->next = s->timers;
	s->timers = t;
	return t;
}

static void cb_timer_free(void *timer, void *opaque)
{
	struct slirp_be *s = opaque;

	for (struct slirp_timer **p = &s->timers; *p; p = &(*p)->next) {
		if (*p == timer) {
			*p = ((struct slirp_timer *)timer)->next;
			free(timer);
			return;
		}
	}
}

static void cb_timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
	(void)opaque;
	((struct slirp_timer *)timer)->expire_ms = expire_ms;
}

static void cb_register_poll_fd(int fd, void *opaque)
{
	(void)fd;
	(void)opaque;	/* we ask for the descriptors each round (pollfds_fill) */
}

static void cb_notify(void *opaque)
{
	(void)opaque;	/* only our thread calls libslirp: it is awake */
}

static const SlirpCb slirp_callbacks = {
	.send_packet = cb_send_packet,
	.guest_error = cb_guest_error,
	.clock_get_ns = cb_clock_get_ns,
	.timer_new = cb_timer_new,
	.timer_free = cb_timer_free,
	.timer_mod = cb_timer_mod,
	.register_poll_fd = cb_register_poll_fd,
	.unregister_poll_fd = cb_register_poll_fd,
	.notify = cb_notify,
};

static int add_poll(int fd, int events, void *opaque)
{
	struct slirp_be *s = opaque;
	short ev = 0;

	if (s->npfd == SLIRP_POLL_MAX)
		return -1;	/* libslirp skips a socket it cannot poll this round */
	if (events & SLIRP_POLL_IN)
		ev |= POLLIN;
	if (events & SLIRP_POLL_OUT)
		ev |= POLLOUT;
	if (events & SLIRP_POLL_PRI)
		ev |= POLLPRI;
	s->pfd[s->npfd] = (struct pollfd){ .fd = fd, .events = ev };
	return (int)s->npfd++;
}

static int get_revents(int idx, void *opaque)
{
	struct slirp_be *s = opaque;
	short re;
	int ev = 0;

	if (idx < 0 || (unsigned)idx >= s->npfd)
		return 0;
	re = s->pfd[idx].revents;
	if (re & POLLIN)
		ev |= SLIRP_POLL_IN;
	if (re & POLLOUT)
		ev |= SLIRP_POLL_OUT;
	if (re & POLLPRI)
		ev |= SLIRP_POLL_PRI;
	if (re & POLLERR)
		ev |= SLIRP_POLL_ERR;
	if (re & POLLHUP)
		ev |= SLIRP_POLL_HUP;
	return ev;
}

/* --- the thread --------------------------------------------------------------- */

static int next_timeout(struct slirp_be *s, uint32_t slirp_ms)
{
	int64_t now = now_ns() / 1000000, t = slirp_ms == UINT32_MAX ? -1 : (int64_t)slirp_ms;

	for (struct slirp_timer *tm = s->timers; tm; tm = tm->next) {
		if (tm->expire_ms < 0)
			continue;
		int64_t d = tm->expire_ms > now ? tm->expire_ms - now : 0;
		if (t < 0 || d < t)
			t = d;
	}
	return t > 1000 ? 1000 : (int)t;
}

static void run_timers(struct slirp_be *s)
{
	int64_t now = now_ns() / 1000000;
	bool again = true;

	/* A callback may re-arm or free timers: start over after each one. */
	while (again) {
		again = false;
		for (struct slirp_timer *tm = s->timers; tm; tm = tm->next) {
			if (tm->expire_ms >= 0 && tm->expire_ms <= now) {
				tm->expire_ms = -1;
				tm->cb(tm->cb_opaque);
				again = true;
				break;
			}
		}
	}
}

static void *slirp_thread(void *arg)
{
	struct slirp_be *s = arg;

	for (;;) {
		uint32_t slirp_ms = UINT32_MAX;
		int r;

		s->npfd = 0;
		add_poll(s->stop_fd, SLIRP_POLL_IN, s);
		add_poll(s->sock, SLIRP_POLL_IN, s);
		slirp_pollfds_fill(s->slirp, &slirp_ms, add_poll, s);
		r = poll(s->pfd, s->npfd, next_timeout(s, slirp_ms));
		if (r < 0 && errno != EINTR)
			break;
		if (r > 0 && s->pfd[0].revents)
			break;
		/* frames from the guest */
		for (unsigned i = 0; r > 0 && i < 256 && (s->pfd[1].revents & POLLIN); i++) {
			ssize_t n = recv(s->sock, s->frame, sizeof(s->frame), MSG_DONTWAIT);
			if (n <= 0)
				break;
			slirp_input(s->slirp, s->frame, (int)n);
		}
		slirp_pollfds_poll(s->slirp, r < 0, get_revents, s);
		run_timers(s);
	}
	return NULL;
}

/* --- netdev_ops ------------------------------------------------------------------ */

static void slirp_close(struct netdev *nd)
{
	struct slirp_be *s = (struct slirp_be *)nd;
	uint64_t one = 1;

	if (s->started) {
		if (write(s->stop_fd, &one, sizeof(one)) < 0) {
			/* cannot fail for a fresh eventfd */
		}
		pthread_join(s->thread, NULL);
	}
	if (s->slirp)
		slirp_cleanup(s->slirp);
	while (s->timers) {
		struct slirp_timer *t = s->timers;
		s->timers = t->next;
		free(t);
	}
	if (s->nd.fd >= 0)
		close(s->nd.fd);
	if (s->sock >= 0)
		close(s->sock);
	if (s->stop_fd >= 0)
		close(s->stop_fd);
	free(s);
}

static const struct netdev_ops slirp_ops = {
	.name = "user",
	.close = slirp_close,
};

int netdev_slirp_open(const struct net_opts *opts, struct netdev **out, struct err *err)
{
	SlirpConfig cfg = {
		.version = 1,
		.in_enabled = true,
		.if_mtu = 1500,
		.if_mru = 1500,
	};
	int pair[2], buf = SLIRP_SOCKBUF, r;
	struct slirp_be *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return err_set(err, ENOMEM, "--net user: out of memory");
	s->nd.ops = &slirp_ops;
	s->nd.fd = s->sock = s->stop_fd = -1;
	s->nd.mtu = 1500;
	memcpy(s->nd.mac, opts->mac, 6);
	/* QEMU's addresses, which users of -netdev user know: the guest gets
	 * 10.0.2.15 by DHCP, the host is 10.0.2.2, DNS 10.0.2.3. */
	inet_pton(AF_INET, "10.0.2.0", &cfg.vnetwork);
	inet_pton(AF_INET, "255.255.255.0", &cfg.vnetmask);
	inet_pton(AF_INET, "10.0.2.2", &cfg.vhost);
	inet_pton(AF_INET, "10.0.2.15", &cfg.vdhcp_start);
	inet_pton(AF_INET, "10.0.2.3", &cfg.vnameserver);
	cfg.vhostname = "domus-guest";

	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair) < 0) {
		r = err_setsys(err, errno, "--net user: socketpair");
		goto fail;
	}
	s->nd.fd = pair[0];
	s->sock = pair[1];
	for (int i = 0; i < 2; i++) {
		setsockopt(pair[i], SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
		setsockopt(pair[i], SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	}
	s->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (s->stop_fd < 0) {
		r = err_setsys(err, errno, "--net user: eventfd");
		goto fail;
	}
	s->slirp = slirp_new(&cfg, &slirp_callbacks, s);
	if (s->slirp == NULL) {
		r = err_set(err, ENOMEM, "--net user: libslirp failed to start");
		goto fail;
	}
	for (unsigned i = 0; i < opts->nr_fwd; i++) {
		const struct net_hostfwd *f = &opts->fwd[i];
		char a[INET_ADDRSTRLEN];

		if (slirp_add_hostfwd(s->slirp, f->udp, f->host_addr, f->host_port, f->guest_addr,
				      f->guest_port) < 0) {
			inet_ntop(AF_INET, &f->host_addr, a, sizeof(a));
			r = err_set(err, EADDRINUSE, "--net user: cannot forward %s %s:%u to the "
				    "guest (the port is in use, or needs root)",
				    f->udp ? "udp" : "tcp", a, f->host_port);
			goto fail;
		}
	}
	r = pthread_create(&s->thread, NULL, slirp_thread, s);
	if (r != 0) {
		r = err_set(err, r, "--net user: cannot start its thread: %s", strerror(r));
		goto fail;
	}
	s->started = true;
	*out = &s->nd;
	return 0;
fail:
	slirp_close(&s->nd);
	return r;
}
