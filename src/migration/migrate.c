/* SPDX-License-Identifier: MIT */
/* migrate.c: pre-copy live migration over TCP, both sides.
 *
 * source → destination: one VM state stream: header, "config", "cpuid",
 * then (after the destination accepted the CPU) "ram" (encoding pages) and
 * "pages" sections round after round, then, with the guest stopped, the last
 * "pages", the vCPU/KVM/device sections and the end marker; later a "go"
 * section. destination → source: sections "accept" or "refuse" (reason),
 * "ready" or "fail" (reason) once everything is loaded, "started" just
 * before the guest runs there. The source ends only after "started"; before
 * it sends "go", any failure resumes the guest at the source, and a
 * destination that never got "go" destroys what it built. After "go": a
 * "fail" or the connection's end (no "started": the guest did not run
 * there) resumes it too; only silence leaves it paused (it may run there). */
#include "migrate.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/uio.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "backends/disk/disk.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/ev.h"
#include "common/log.h"
#include "snapshot.h"
#include "stream.h"
#include "vmm/vm.h"
#include "vmstate.h"

#define PAGE			4096u
#define PAGES_PER_SECTION	256u
#define PAGE_ZERO		1u	/* entry flag: an all-zero page, no data */
#define IO_TIMEOUT_S		10	/* a destination silent this long is dead */
#define MAX_ROUNDS		30

enum { MIG_ACTIVE = 1, MIG_COMPLETED, MIG_FAILED };

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static bool page_zero(const uint8_t *p)
{
	const uint64_t *q = (const uint64_t *)(const void *)p;
	uint64_t acc = 0;

	/* most pages with data show it in their first bytes */
	if (q[0] | q[1] | q[2] | q[3] | q[4] | q[5] | q[6] | q[7])
		return false;
	/* else no early exit: the compiler turns this into vector ORs */
	for (unsigned i = 8; i < PAGE / 8; i++)
		acc |= q[i];
	return acc == 0;
}

static void sock_timeouts(int fd)
{
	struct timeval tv = { .tv_sec = IO_TIMEOUT_S };
	int one = 1;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* split "HOST:PORT" (or "PORT" when (host_optional)) */
static int split_addr(const char *addr, char *host, size_t hcap, char *port, size_t pcap,
		      bool host_optional)
{
	const char *colon = strrchr(addr, ':');

	if (colon == NULL) {
		if (!host_optional)
			return -EINVAL;
		snprintf(host, hcap, "0.0.0.0");
		snprintf(port, pcap, "%s", addr);
	} else {
		if ((size_t)(colon - addr) >= hcap)
			return -EINVAL;
		snprintf(host, hcap, "%.*s", (int)(colon - addr), addr);
		snprintf(port, pcap, "%s", colon + 1);
	}
	if (host[0] == '[') {	/* [v6] */
		size_t n = strlen(host);
		if (n < 2 || host[n - 1] != ']')
			return -EINVAL;
		memmove(host, host + 1, n - 2);
		host[n - 2] = '\0';
	}
	return port[0] ? 0 : -EINVAL;
}

static int send_msg(struct stream *tx, const char *name, const char *text)
{
	int r = stream_put_section(tx, name, 1, text ? text : "", text ? strlen(text) : 0);

	return r < 0 ? r : stream_flush(tx);
}

/* Read a reply section: 0 for (want), else with (err) saying why: -EPROTO
 * the peer refused or failed (or sent nonsense), -ETIMEDOUT it said nothing
 * for IO_TIMEOUT_S (a dead link looks like this), -EPIPE the connection
 * ended (the peer closed it or its process died). */
static int expect_msg(struct stream *rx, const char *want, const char *peer, struct err *err)
{
	struct section sec;
	struct err e = { 0 };
	int r = stream_get_section(rx, &sec, &e);

	if (r == -EAGAIN || r == -EWOULDBLOCK)
		return err_set(err, ETIMEDOUT, "%s did not answer for %d s", peer, IO_TIMEOUT_S);
	if (r <= 0)
		return err_set(err, EPIPE, "%s went away (%s)", peer, r < 0 ? e.msg : "end");
	if (strcmp(sec.name, want) == 0)
		return 0;
	if (strcmp(sec.name, "refuse") == 0 || strcmp(sec.name, "fail") == 0)
		return err_set(err, EPROTO, "%s: %.*s", peer, (int)sec.len, (const char *)sec.data);
	return err_set(err, EPROTO, "%s sent '%s', expected '%s'", peer, sec.name, want);
}

/* Tests: DOMUS_TEST_MIGRATE_FAULT=POINT makes the destination fail at POINT
 * (die-before-ready, die-after-go: exit at once; mute-after-go: run the
 * guest but never answer, as if the link dropped right after "go"). */
static bool fault_at(const char *point)
{
	const char *f = getenv("DOMUS_TEST_MIGRATE_FAULT");

	return f != NULL && strcmp(f, point) == 0;
}

/* --- source ----------------------------------------------------------------------- */

struct migrate_out {
	struct vm *vm;
	struct ev_loop *loop;
	struct migrate_opts o;
	char target[300];
	int sock, evfd, tfd;
	pthread_t thread;
	bool thread_running;
	bool finished;		/* done or failed: nothing more will happen */
	bool paused;		/* failed with the outcome unknown: the guest stays paused */
	bool sock_watched;	/* awaiting "started" from the loop */
	double t_pause, t_sent, t_ready;	/* the stop-and-copy's steps */
	uint64_t last_round;	/* pages sent with the guest stopped */
	_Atomic bool cancel;
	struct stream tx, rx;
	uint64_t *bitmap;
	size_t words;
	uint64_t npages;
	int result;		/* of the pre-copy thread */
	struct err err;
	/* progress (read by query-migrate on the loop thread while the
	 * pre-copy thread writes them: approximate, never used for decisions) */
	_Atomic int state;	/* MIG_ACTIVE, MIG_COMPLETED, MIG_FAILED */
	double downtime_ms, t_end;
	uint64_t remaining;	/* dirty pages after the last round */
	double expected_ms;
	unsigned rounds;
	uint64_t pages_sent, zero_sent;
	double t_start, bw;	/* bytes per ms of the last round */
};

/* send_pages: the pages set in (bm) (cleared as they go): their current
 * contents, zero pages as a flag (or not at all in the first round: the
 * destination's RAM starts zeroed). */
static int send_pages(struct migrate_out *m, uint64_t *bm, bool first)
{
	uint8_t *sec = malloc(4 + PAGES_PER_SECTION * (8 + PAGE));
	uint32_t n = 0;
	size_t len = 4;
	int r = 0;

	if (sec == NULL)
		return -ENOMEM;
	for (size_t w = 0; w < m->words && r == 0; w++) {
		uint64_t bits = bm[w];
		bm[w] = 0;
		while (bits && r == 0) {
			unsigned b = (unsigned)__builtin_ctzll(bits);
			uint64_t pg = w * 64 + b, e;
			const uint8_t *p = m->vm->mem.base + pg * PAGE;

			bits &= bits - 1;
			if (pg >= m->npages)
				break;
			e = pg << 12;
			if (page_zero(p)) {
				if (first)
					continue;
				e |= PAGE_ZERO;
				memcpy(sec + len, &e, 8);
				len += 8;
				m->zero_sent++;
			} else {
				memcpy(sec + len, &e, 8);
				memcpy(sec + len + 8, p, PAGE);
				len += 8 + PAGE;
			}
			m->pages_sent++;
			if (++n == PAGES_PER_SECTION) {
				memcpy(sec, &n, 4);
				r = stream_put_section(&m->tx, "pages", 1, sec, len);
				n = 0;
				len = 4;
				if (atomic_load(&m->cancel))
					r = -ECANCELED;
			}
		}
	}
	if (r == 0 && n > 0) {
		memcpy(sec, &n, 4);
		r = stream_put_section(&m->tx, "pages", 1, sec, len);
	}
	free(sec);
	return r;
}

static uint64_t popcount_bm(const uint64_t *bm, size_t words)
{
	uint64_t n = 0;

	for (size_t i = 0; i < words; i++)
		n += (uint64_t)__builtin_popcountll(bm[i]);
	return n;
}

/* The first round: every page that may hold data (the memfd's holes are
 * zero on both sides and not sent). */
static void mark_all_data(struct migrate_out *m)
{
	const struct gmem *mem = &m->vm->mem;

	for (uint64_t pg = 0; pg < m->npages; pg++) {
		if (!mem->file_mapped && pg % 512 == 0) {
			off_t d = lseek(mem->fd, (off_t)(pg * PAGE), SEEK_DATA);
			if (d < 0)
				break;
			if ((uint64_t)d > pg * PAGE) {
				pg = (uint64_t)d / PAGE - 1;
				continue;
			}
		}
		/* zero pages are found (and skipped) when sent */
		m->bitmap[pg / 64] |= 1ULL << (pg % 64);
	}
}

static void *precopy_thread(void *arg)
{
	struct migrate_out *m = arg;
	uint8_t desc[16];
	int r;

	r = snapshot_put_preamble(m->vm, &m->tx, &m->err);
	if (r == 0 && (r = stream_flush(&m->tx)) < 0)
		err_setsys(&m->err, -r, "sending to %s", m->target);
	if (r == 0)
		r = expect_msg(&m->rx, "accept", m->target, &m->err);
	if (r == 0)
		r = vm_dirty_log(m->vm, true, &m->err);
	if (r < 0)
		goto out;
	vmstate_ram_desc(desc, m->vm->mem.size, RAM_ENC_PAGES);
	r = stream_put_section(&m->tx, "ram", RAM_VERSION, desc, 16);
	mark_all_data(m);
	uint64_t prev_dirty = UINT64_MAX;
	for (m->rounds = 1; r == 0; m->rounds++) {
		double t0 = now_ms();
		uint64_t before = m->tx.offset, dirty = popcount_bm(m->bitmap, m->words);

		r = send_pages(m, m->bitmap, m->rounds == 1);
		/* The round ends when the destination has the pages, not when the
		 * socket took them: else the buffers' backlog (megabytes) would
		 * drain during the downtime, and the rate would be the buffers'. */
		if (r == 0 && (r = stream_put_section(&m->tx, "sync", 1, "", 0)) == 0)
			r = stream_flush(&m->tx);
		if (r < 0) {
			err_setsys(&m->err, -r, "sending memory to %s", m->target);
			break;
		}
		r = expect_msg(&m->rx, "synced", m->target, &m->err);
		if (r < 0)
			break;
		double dt = now_ms() - t0;
		if (dt < 0.001)
			dt = 0.001;
		if (m->tx.offset > before)
			m->bw = (double)(m->tx.offset - before) / dt;
		r = vm_dirty_take(m->vm, m->bitmap, &m->err);
		if (r < 0)
			break;
		dirty = popcount_bm(m->bitmap, m->words);
		double expect = m->bw > 0 ? dirty * (double)(PAGE + 8) / m->bw : 0;
		m->remaining = dirty;
		m->expected_ms = expect;
		log_info("migrate: round %u: %llu pages sent (%.0f MiB/s), %llu dirty "
			 "(%llu KiB) remaining, expected downtime %.1f ms",
			 m->rounds, (unsigned long long)m->pages_sent, m->bw * 1000 / 1048576,
			 (unsigned long long)dirty, (unsigned long long)dirty * 4,
			 expect);
		/* Under the limit, go on while rounds still shrink what is left
		 * (each costs a round trip): the downtime gets as short as the
		 * guest's dirtying rate allows, not just short enough. */
		if (m->rounds >= m->o.max_rounds ||
		    (expect <= m->o.downtime_ms &&
		     (dirty <= 64 || (prev_dirty != UINT64_MAX && dirty * 10 >= prev_dirty * 9))))
			break;
		prev_dirty = dirty;
		if (atomic_load(&m->cancel)) {
			r = err_set(&m->err, ECANCELED, "cancelled");
			break;
		}
	}
out:
	m->result = r;
	uint64_t one = 1;
	if (write(m->evfd, &one, sizeof(one)) < 0) {
		/* cannot happen with a fresh eventfd */
	}
	return NULL;
}

/* The disks' locks: the source lets go just before "go", and takes them
 * back if the guest stays. */
static void disks_unlock(struct vm *vm)
{
	for (unsigned i = 0; vm->cfg->disks && i < vm->cfg->nr_disks; i++)
		disk_unlock(vm->cfg->disks[i]);
}

static int disks_lock(struct vm *vm, unsigned wait_ms, struct err *err)
{
	for (unsigned i = 0; vm->cfg->disks && i < vm->cfg->nr_disks; i++) {
		int r;
		for (unsigned t = 0;; t += 20) {
			struct err e = { 0 };
			r = disk_lock(vm->cfg->disks[i], &e);
			if (r == 0)
				break;
			if (t >= wait_ms)
				return err_set(err, -r, "%s", e.msg);
			usleep(20000);
		}
	}
	return 0;
}

static void fail_resume(struct migrate_out *m, bool paused, const char *msg)
{
	struct err e = { 0 };

	if (paused && disks_lock(m->vm, 0, &e) < 0)
		log_error("migrate: %s (the guest goes on without the lock)", e.msg);
	vm_dirty_log(m->vm, false, &e);
	if (paused && vm_thaw(m->vm, &e) < 0) {
		log_error("migrate: %s; and the guest cannot resume: %s", msg, e.msg);
		ev_stop(m->loop, -EIO);
	} else {
		log_error("migrate: failed, the guest goes on here: %s", msg);
	}
	if (msg != m->err.msg)
		snprintf(m->err.msg, sizeof(m->err.msg), "%s", msg);
	atomic_store(&m->state, MIG_FAILED);
	m->t_end = now_ms();
	m->finished = true;
	if (m->sock >= 0) {
		close(m->sock);
		m->sock = -1;
	}
}

/* (Re)arm the migration's timer: (handler) in (secs) seconds. */
static void arm_timer(struct migrate_out *m, int secs, ev_cb handler)
{
	struct itimerspec its = { .it_value = { .tv_sec = secs } };

	if (m->tfd < 0)
		m->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	else
		ev_del(m->loop, m->tfd);
	if (m->tfd < 0 || timerfd_settime(m->tfd, 0, &its, NULL) < 0 ||
	    ev_add(m->loop, m->tfd, EPOLLIN, handler, m) < 0)
		handler(m->loop, -1, 0, m);	/* no timer: at once */
}

static void on_post_migrate(struct ev_loop *loop, int fd, uint32_t events, void *arg)
{
	(void)fd;
	(void)events;
	(void)arg;
	ev_stop(loop, VM_EXIT_MIGRATED);
}

/* after_go: the destination's answer to "go" (r: expect_msg's). */
static void after_go(struct migrate_out *m, int r, struct err *err)
{
	/* the answer's timer is done with (a level-triggered timerfd left
	 * readable would spin the loop) */
	if (m->tfd >= 0)
		ev_del(m->loop, m->tfd);
	if (m->sock_watched) {
		ev_del(m->loop, m->sock);
		m->sock_watched = false;
	}
	if (r == -EPROTO || r == -EPIPE) {
		/* The destination failed, or its end closed without "started":
		 * it sends that before any vCPU runs and keeps the connection
		 * open until then, so the guest did not run there. */
		fail_resume(m, true, err->msg);
		return;
	}
	if (r < 0) {
		/* Silence: "go" may have arrived and the guest may run there.
		 * Two copies must never run: it stays paused here, as libvirt
		 * leaves a source whose destination it lost; the administrator
		 * resumes or destroys it (domus resume / destroy). */
		struct err e = { 0 };
		vm_dirty_log(m->vm, false, &e);
		snprintf(m->err.msg, sizeof(m->err.msg),
			 "%.300s after the switch-over: the guest is paused here and may be running "
			 "on the destination (resume it here only if it is not)", err->msg);
		log_error("migrate: %s", m->err.msg);
		m->paused = true;
		atomic_store(&m->state, MIG_FAILED);
		m->t_end = now_ms();
		m->finished = true;
		return;
	}
	double t_end = now_ms();
	m->downtime_ms = t_end - m->t_pause;
	m->t_end = t_end;
	m->remaining = 0;
	atomic_store(&m->state, MIG_COMPLETED);
	/* The guest runs at the destination; this VM stays paused a moment so
	 * `domus migrate` can read the outcome (query-migrate ends it at
	 * once), as QEMU's source waits in "postmigrate". */
	arm_timer(m, 3, on_post_migrate);
	log_info("migrate: done in %.0f ms, %u rounds, %llu pages (%llu zero), %.1f MiB sent; "
		 "downtime %.1f ms (%llu pages in the last round, state sent in %.1f ms, "
		 "destination ready %.1f ms later, running %.1f ms after that)",
		 t_end - m->t_start, m->rounds, (unsigned long long)m->pages_sent,
		 (unsigned long long)m->zero_sent, (double)m->tx.bytes_io / 1048576,
		 t_end - m->t_pause, (unsigned long long)m->last_round, m->t_sent - m->t_pause,
		 m->t_ready - m->t_sent, t_end - m->t_ready);
	m->finished = true;
}

static void on_started_reply(struct ev_loop *loop, int fd, uint32_t events, void *arg)
{
	struct migrate_out *m = arg;
	struct err err = { 0 };

	(void)loop;
	(void)fd;
	(void)events;
	after_go(m, expect_msg(&m->rx, "started", m->target, &err), &err);
}

static void on_started_timeout(struct ev_loop *loop, int fd, uint32_t events, void *arg)
{
	struct migrate_out *m = arg;
	struct err err = { 0 };

	(void)loop;
	(void)fd;
	(void)events;
	err_set(&err, ETIMEDOUT, "%s did not answer for %d s", m->target, IO_TIMEOUT_S);
	after_go(m, -ETIMEDOUT, &err);
}

/* On the loop's thread: the pre-copy thread is done; stop and copy. */
static void on_switchover(struct ev_loop *loop, int fd, uint32_t events, void *arg)
{
	struct migrate_out *m = arg;
	struct err err = { 0 };
	uint64_t v;
	double t_pause;
	int r;

	(void)events;
	if (read(fd, &v, sizeof(v)) != sizeof(v))
		return;
	ev_del(loop, fd);
	pthread_join(m->thread, NULL);
	m->thread_running = false;
	if (m->result < 0) {
		fail_resume(m, false, m->err.msg);
		return;
	}
	t_pause = now_ms();
	vmstate_quiesce(m->vm);
	r = vm_dirty_take(m->vm, m->bitmap, &err);
	uint64_t last = popcount_bm(m->bitmap, m->words);
	if (r == 0 && (r = send_pages(m, m->bitmap, false)) < 0)
		err_setsys(&err, -r, "sending memory to %s", m->target);
	if (r == 0)
		r = vmstate_save_devices(m->vm, &m->tx, &err);
	if (r == 0 && ((r = stream_put_end(&m->tx)) < 0 || (r = stream_flush(&m->tx)) < 0))
		err_setsys(&err, -r, "sending to %s", m->target);
	double t_sent = now_ms();
	if (r == 0)
		r = expect_msg(&m->rx, "ready", m->target, &err);
	double t_ready = now_ms();
	/* Past this point the destination may run the guest: "go" is the
	 * commit. A failure to send it still resumes here (the destination,
	 * without "go", gives up). */
	if (r == 0)
		disks_unlock(m->vm);
	if (r == 0 && (r = send_msg(&m->tx, "go", NULL)) < 0)
		err_setsys(&err, -r, "sending to %s", m->target);
	if (r < 0) {
		fail_resume(m, true, err.msg);
		return;
	}
	/* The answer is awaited from the loop, so the control socket (domus
	 * migrate asking for progress) is served meanwhile. */
	m->t_pause = t_pause;
	m->t_sent = t_sent;
	m->t_ready = t_ready;
	m->last_round = last;
	if (ev_add(loop, m->sock, EPOLLIN, on_started_reply, m) < 0) {
		r = expect_msg(&m->rx, "started", m->target, &err);
		after_go(m, r, &err);
		return;
	}
	m->sock_watched = true;
	arm_timer(m, IO_TIMEOUT_S, on_started_timeout);
}

int migrate_out_start(struct vm *vm, struct ev_loop *loop, const struct migrate_opts *o,
		      struct migrate_out **out, struct err *err)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL;
	char host[256], port[32];
	struct migrate_out *m;
	int r;

	if (split_addr(o->target, host, sizeof(host), port, sizeof(port), false) < 0)
		return err_set(err, EINVAL, "'%s': expected HOST:PORT", o->target);
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return err_set(err, ENOMEM, "out of memory");
	m->vm = vm;
	m->loop = loop;
	m->o = *o;
	if (m->o.max_rounds == 0)
		m->o.max_rounds = MAX_ROUNDS;
	snprintf(m->target, sizeof(m->target), "%s", o->target);
	m->o.target = m->target;
	m->sock = m->evfd = m->tfd = -1;
	m->npages = vm->mem.size / PAGE;
	m->words = (size_t)(m->npages + 63) / 64;
	m->bitmap = calloc(m->words, sizeof(uint64_t));
	m->t_start = now_ms();
	if (m->bitmap == NULL) {
		r = err_set(err, ENOMEM, "out of memory");
		goto fail;
	}
	r = getaddrinfo(host, port, &hints, &res);
	if (r != 0) {
		r = err_set(err, EHOSTUNREACH, "%s: %s", o->target, gai_strerror(r));
		goto fail;
	}
	m->sock = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (m->sock < 0 || connect(m->sock, res->ai_addr, res->ai_addrlen) < 0) {
		r = err_setsys(err, errno, "cannot connect to %s", o->target);
		goto fail;
	}
	sock_timeouts(m->sock);
	if (stream_open(&m->tx, m->sock, true) < 0 || stream_open(&m->rx, m->sock, false) < 0) {
		r = err_set(err, ENOMEM, "out of memory");
		goto fail;
	}
	m->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (m->evfd < 0 || ev_add(loop, m->evfd, EPOLLIN, on_switchover, m) < 0) {
		r = err_setsys(err, errno, "eventfd");
		goto fail;
	}
	r = pthread_create(&m->thread, NULL, precopy_thread, m);
	if (r != 0) {
		ev_del(loop, m->evfd);
		r = err_set(err, r, "cannot start the migration thread");
		goto fail;
	}
	m->thread_running = true;
	atomic_store(&m->state, MIG_ACTIVE);
	freeaddrinfo(res);
	log_info("migrate: to %s, downtime limit %u ms", m->target, m->o.downtime_ms);
	*out = m;
	return 0;
fail:
	if (res)
		freeaddrinfo(res);
	migrate_out_free(m);
	return r;
}

void migrate_out_cancel(struct migrate_out *m)
{
	if (m == NULL)
		return;
	atomic_store(&m->cancel, true);
	if (m->sock >= 0)
		shutdown(m->sock, SHUT_RDWR);
	if (m->thread_running) {
		pthread_join(m->thread, NULL);
		m->thread_running = false;
		ev_del(m->loop, m->evfd);
		struct err e = { 0 };
		vm_dirty_log(m->vm, false, &e);
	}
}

void migrate_out_free(struct migrate_out *m)
{
	if (m == NULL)
		return;
	migrate_out_cancel(m);
	stream_close(&m->tx);
	stream_close(&m->rx);
	if (m->sock_watched)
		ev_del(m->loop, m->sock);
	if (m->sock >= 0)
		close(m->sock);
	if (m->evfd >= 0)
		close(m->evfd);
	if (m->tfd >= 0) {
		ev_del(m->loop, m->tfd);
		close(m->tfd);
	}
	free(m->bitmap);
	free(m);
}

bool migrate_out_finished(const struct migrate_out *m)
{
	return m->finished;
}

bool migrate_out_left_paused(const struct migrate_out *m)
{
	return m != NULL && m->paused;
}

int migrate_out_resume(struct migrate_out *m, struct err *err)
{
	int r;

	if (!migrate_out_left_paused(m))
		return 0;
	r = disks_lock(m->vm, 0, err);
	if (r < 0)
		return err_set(err, -r, "%s (is the guest running on the destination?)", err->msg);
	r = vm_thaw(m->vm, err);
	if (r < 0)
		return r;
	m->paused = false;
	log_info("migrate: the guest resumes here after the failed migration");
	return 1;
}

void migrate_out_status(const struct migrate_out *m, struct migrate_status *out)
{
	int st = atomic_load(&((struct migrate_out *)m)->state);

	memset(out, 0, sizeof(*out));
	snprintf(out->state, sizeof(out->state), "%s",
		 st == MIG_COMPLETED ? "completed" : st == MIG_FAILED ? "failed" : "active");
	if (st == MIG_FAILED)
		snprintf(out->error, sizeof(out->error), "%.255s", m->err.msg);
	out->paused = m->paused;
	out->rounds = m->rounds;
	out->total_ms = (uint64_t)((m->t_end ? m->t_end : now_ms()) - m->t_start);
	out->ram_total = m->vm->mem.size;
	out->ram_sent = m->pages_sent * PAGE;
	out->ram_remaining = m->remaining * PAGE;
	out->bytes_sent = m->tx.bytes_io;
	out->mib_per_s = m->bw * 1000 / 1048576;
	out->expected_downtime_ms = m->expected_ms;
	out->downtime_ms = m->downtime_ms;
}

/* --- destination ------------------------------------------------------------------ */

struct migrate_in {
	int sock;
	bool accepted;		/* the VM was built here and the source told so */
	struct stream rx, tx;
	struct vmconfig vc;
	struct vm_incoming inc;
	uint64_t pages;
	double t0, t_loaded, t_go;
};

int migrate_in_accept(const char *addr, struct migrate_in **out, struct err *err)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE }, *res = NULL;
	char host[256], port[32];
	struct migrate_in *m;
	int ls = -1, one = 1, r;

	if (split_addr(addr, host, sizeof(host), port, sizeof(port), true) < 0)
		return err_set(err, EINVAL, "'%s': expected PORT or HOST:PORT", addr);
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return err_set(err, ENOMEM, "out of memory");
	m->sock = -1;
	r = getaddrinfo(host, port, &hints, &res);
	if (r != 0) {
		r = err_set(err, EINVAL, "%s: %s", addr, gai_strerror(r));
		goto fail;
	}
	ls = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (ls < 0) {
		r = err_setsys(err, errno, "socket");
		goto fail;
	}
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(ls, res->ai_addr, res->ai_addrlen) < 0 || listen(ls, 1) < 0) {
		r = err_setsys(err, errno, "cannot listen on %s", addr);
		goto fail;
	}
	log_info("migrate-receive: waiting on %s", addr);
	m->sock = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
	if (m->sock < 0) {
		r = err_setsys(err, errno, "accept");
		goto fail;
	}
	close(ls);
	ls = -1;
	m->t0 = now_ms();
	sock_timeouts(m->sock);
	if (stream_open(&m->rx, m->sock, false) < 0 || stream_open(&m->tx, m->sock, true) < 0) {
		r = err_set(err, ENOMEM, "out of memory");
		goto fail;
	}
	r = vmconfig_read(&m->rx, &m->vc, err);
	if (r < 0)
		goto fail;
	/* the source holds the disks' locks until the switch-over */
	for (unsigned i = 0; i < m->vc.cfg.nr_disks; i++)
		m->vc.disks[i].unlocked = true;
	freeaddrinfo(res);
	*out = m;
	return 0;
fail:
	if (res)
		freeaddrinfo(res);
	if (ls >= 0)
		close(ls);
	migrate_in_free(m);
	return r;
}

struct vm_config *migrate_in_config(struct migrate_in *m)
{
	return &m->vc.cfg;
}

void migrate_in_refuse(struct migrate_in *m, const char *why)
{
	if (!m->accepted)
		send_msg(&m->tx, "refuse", why);
}

/* (n) pages from (iov) at page (first) of the memfd; 0 or -1 (errno). */
static int write_run(struct vm *vm, uint64_t first, struct iovec *iov, unsigned n)
{
	off_t at = (off_t)(first * PAGE);
	size_t left = (size_t)n * PAGE;

	while (left > 0) {
		ssize_t w = pwritev(vm->mem.fd, iov, (int)n, at);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		at += w;
		left -= (size_t)w;
		/* a short write: skip what went (whole pages, then a part) */
		while (n && (size_t)w >= iov->iov_len) {
			w -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n && w) {
			iov->iov_base = (uint8_t *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

/* The pages as they come. */
static int in_ram_cb(void *arg, struct vm *vm, struct stream *s, const struct section *sec,
		     struct err *err)
{
	struct migrate_in *m = arg;
	uint64_t npages = vm->mem.size / PAGE;
	uint32_t n;
	size_t off = 4;

	(void)s;
	if (strcmp(sec->name, "sync") == 0) {
		/* everything before it is in guest RAM now */
		int r = send_msg(&m->tx, "synced", NULL);
		return r < 0 ? err_setsys(err, -r, "the source went away") : 0;
	}
	if (strcmp(sec->name, "ram") == 0) {
		struct buf_reader r;
		uint64_t size;
		uint32_t enc, zero;
		buf_reader_init(&r, sec->data, sec->len);
		if (!buf_get_u64(&r, &size) || !buf_get_u32(&r, &enc) || !buf_get_u32(&r, &zero) ||
		    size != vm->mem.size || enc != RAM_ENC_PAGES || (sec->flags & STREAM_F_BULK))
			return err_set(err, EINVAL, "migration stream: bad RAM descriptor");
		return 0;
	}
	if (strcmp(sec->name, "pages") != 0 || sec->len < 4)
		return err_set(err, EINVAL, "migration stream: unexpected section %s", sec->name);
	memcpy(&n, sec->data, 4);
	/* Written into the memfd with pwritev, a run of consecutive pages per
	 * call: the kernel allocates the pages without a fault per page (which
	 * a memcpy into the mapping would take); zero pages become holes. */
	struct iovec iov[PAGES_PER_SECTION];
	unsigned niov = 0;
	uint64_t run_start = 0;
	for (uint32_t i = 0; i <= n; i++) {
		uint64_t e = 0, pg = UINT64_MAX;
		if (i < n) {
			if (sec->len - off < 8)
				return err_set(err, EINVAL, "migration stream: pages section truncated");
			memcpy(&e, sec->data + off, 8);
			off += 8;
			pg = e >> 12;
			/* Prevents a write outside guest RAM. */
			if (pg >= npages || (e & 0xfff & ~PAGE_ZERO))
				return err_set(err, EINVAL, "migration stream: page %llu out of range",
					       (unsigned long long)pg);
			if (!(e & PAGE_ZERO) && sec->len - off < PAGE)
				return err_set(err, EINVAL, "migration stream: pages section truncated");
		}
		/* the run ends: a gap, a zero page, a full iovec, or the end */
		if (niov && (i == n || (e & PAGE_ZERO) || pg != run_start + niov ||
			     niov == PAGES_PER_SECTION)) {
			if (write_run(vm, run_start, iov, niov) < 0)
				return err_setsys(err, errno, "writing guest memory");
			niov = 0;
		}
		if (i == n)
			break;
		if (e & PAGE_ZERO) {
			if (fallocate(vm->mem.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				      (off_t)(pg * PAGE), PAGE) < 0)
				memset(vm->mem.base + pg * PAGE, 0, PAGE);
		} else {
			if (niov == 0)
				run_start = pg;
			iov[niov].iov_base = (void *)(sec->data + off);
			iov[niov++].iov_len = PAGE;
			off += PAGE;
		}
		m->pages++;
	}
	if (off != sec->len)
		return err_set(err, EINVAL, "migration stream: pages section has trailing bytes");
	return 0;
}

static int in_load(void *arg, struct vm *vm, struct err *err)
{
	struct migrate_in *m = arg;
	int r = send_msg(&m->tx, "accept", NULL);

	if (r < 0)
		return err_setsys(err, -r, "the source went away");
	m->accepted = true;
	r = vmstate_load(vm, &m->rx, in_ram_cb, m, err);
	if (r < 0) {
		send_msg(&m->tx, "fail", err->msg);
		return r;
	}
	if (fault_at("die-before-ready"))
		_exit(9);
	m->t_loaded = now_ms();
	r = send_msg(&m->tx, "ready", NULL);
	if (r < 0)
		return err_setsys(err, -r, "the source went away");
	/* Without "go" the source keeps the guest: we must not run it. */
	r = expect_msg(&m->rx, "go", "the source", err);
	if (r < 0)
		return r;
	m->t_go = now_ms();
	if (fault_at("die-after-go"))
		_exit(9);
	/* The source let go of the disks before "go". */
	r = disks_lock(vm, 2000, err);
	if (r < 0) {
		send_msg(&m->tx, "fail", err->msg);
		return r;
	}
	/* "started" goes before the first vCPU runs: a source that reads the
	 * end of the connection instead knows the guest never ran here. */
	if (fault_at("mute-after-go"))
		return 0;
	if (send_msg(&m->tx, "started", NULL) < 0)
		log_error("migrate-receive: the source did not hear that the guest runs here");
	return 0;
}

static int in_started(void *arg, struct vm *vm, struct err *err)
{
	struct migrate_in *m = arg;

	(void)vm;
	(void)err;
	double t = now_ms();
	log_info("migrate-receive: guest running here, %llu pages received in %.0f ms "
		 "(\"go\" %.1f ms after ready, running %.1f ms after \"go\")",
		 (unsigned long long)m->pages, t - m->t0, m->t_go - m->t_loaded, t - m->t_go);
	if (!fault_at("mute-after-go")) {
		close(m->sock);
		m->sock = -1;
	}
	return 0;
}

int migrate_in_check_cpu(struct migrate_in *m, int kvm_fd, struct err *err)
{
	struct kvm_cpuid2 *cpuid = NULL;
	int r = vmstate_read_cpuid(&m->rx, kvm_fd, &cpuid, err);

	if (r < 0) {
		send_msg(&m->tx, "refuse", err->msg);
		return r;
	}
	/* "accept" waits until the VM is built (in_load): a missing bridge or
	 * disk here is then refused before any memory is sent. */
	m->inc.cpuid = cpuid;
	m->inc.load = in_load;
	m->inc.started = in_started;
	m->inc.arg = m;
	m->vc.cfg.incoming = &m->inc;
	return 0;
}

void migrate_in_free(struct migrate_in *m)
{
	if (m == NULL)
		return;
	free(m->inc.cpuid);
	stream_close(&m->rx);
	stream_close(&m->tx);
	if (m->sock >= 0)
		close(m->sock);
	free(m);
}

int migrate_in_qemu(struct migrate_in *m, struct err *err)
{
	int r = send_msg(&m->tx, "accept", NULL);

	if (r < 0)
		return err_setsys(err, -r, "the source went away");
	m->accepted = true;
	/* from here the socket carries QEMU's own migration stream */
	m->vc.cfg.qemu_incoming_fd = m->sock;
	return 0;
}
