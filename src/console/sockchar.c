/* SPDX-License-Identifier: MIT */
/* sockchar.c: a chardev served on a listening UNIX socket, one client at a
 * time. Output must never block the caller (a vCPU thread or the event loop),
 * so it is sent without waiting and whatever the socket does not take goes to
 * a ring that EPOLLOUT drains; with no client the same ring is the console
 * log the next client sees first. Input is read into a ring only while it has
 * room and pulled by the device, as console.c does for the terminal.
 *
 * Threads: the loop thread accepts, reads, drains and closes; write() and
 * read() come from any thread. All state is under (lock); only the loop
 * thread changes the client fd and its watch (ev.h is not thread-safe), other
 * threads ask it to through (wake_fd). input_ready is called without the lock,
 * since the device calls read() under its own lock. */
#include "sockchar.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "chardev.h"
#include "common/err.h"
#include "common/ev.h"

#define READ_CHUNK	16384
#define BUSY_MSG	"domus: console busy: another client is connected\n"

struct ring {
	uint8_t data[SOCKCHAR_RING];
	size_t head, len;
};

struct sockchar {
	struct chardev cd;	/* first: sockchar_of() relies on it */
	struct ev_loop *loop;
	char *path;
	dev_t dev;		/* the socket file we made: removed on close only */
	ino_t ino;		/* if it is still that one */
	int listen_fd;
	int wake_fd;		/* eventfd: another thread needs the watch changed */
	pthread_mutex_t lock;	/* everything below */
	int client_fd;		/* -1: no client */
	bool client_watched;	/* client_fd is in the loop */
	bool client_hup;	/* it hung up while the input ring was full: unwatched until room */
	bool client_dead;	/* a send failed: the peer is gone, reading will tell */
	bool client_eof;	/* it shut down its sending side: not read any more */
	uint32_t client_events;	/* what the watch asks for */
	bool wake_pending;
	struct ring in;		/* client → device */
	struct ring out;	/* device → client, and the log while none is connected */
};

static struct sockchar *sockchar_of(struct chardev *cd)
{
	return (struct sockchar *)cd;
}

/* --- rings ------------------------------------------------------------------ */

static size_t ring_room(const struct ring *r)
{
	return SOCKCHAR_RING - r->len;
}

/* ring_put: append (len) <= ring_room() bytes. */
static void ring_put(struct ring *r, const uint8_t *p, size_t len)
{
	size_t tail = (r->head + r->len) % SOCKCHAR_RING;
	size_t first = SOCKCHAR_RING - tail < len ? SOCKCHAR_RING - tail : len;

	memcpy(r->data + tail, p, first);
	memcpy(r->data, p + first, len - first);
	r->len += len;
}

/* ring_put_lossy: append (len) bytes, dropping the oldest ones to make room
 * (output only: a console log keeps its newest part). */
static void ring_put_lossy(struct ring *r, const uint8_t *p, size_t len)
{
	if (len >= SOCKCHAR_RING) {
		p += len - SOCKCHAR_RING;
		len = SOCKCHAR_RING;
		r->head = r->len = 0;
	} else if (len > ring_room(r)) {
		size_t drop = len - ring_room(r);
		r->head = (r->head + drop) % SOCKCHAR_RING;
		r->len -= drop;
	}
	ring_put(r, p, len);
}

static size_t ring_get(struct ring *r, uint8_t *p, size_t len)
{
	size_t n = len < r->len ? len : r->len;
	size_t first = SOCKCHAR_RING - r->head < n ? SOCKCHAR_RING - r->head : n;

	memcpy(p, r->data + r->head, first);
	memcpy(p + first, r->data, n - first);
	r->head = (r->head + n) % SOCKCHAR_RING;
	r->len -= n;
	return n;
}

/* --- the client (lock held) ---------------------------------------------------- */

/* send_some: send what the socket takes now, never waiting. Returns the
 * bytes sent; a failure other than "full" marks the client dead. */
static size_t send_some(struct sockchar *s, const uint8_t *p, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = send(s->client_fd, p + done, len - done, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n > 0) {
			done += (size_t)n;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else {
			if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
				s->client_dead = true;
			break;
		}
	}
	return done;
}

/* flush_out: send the output ring; what remains waits for EPOLLOUT. Bytes
 * not sent when the client goes stay for the next one. */
static void flush_out(struct sockchar *s)
{
	while (s->out.len > 0 && !s->client_dead) {
		size_t chunk = SOCKCHAR_RING - s->out.head;
		size_t n;

		if (chunk > s->out.len)
			chunk = s->out.len;
		n = send_some(s, s->out.data + s->out.head, chunk);
		s->out.head = (s->out.head + n) % SOCKCHAR_RING;
		s->out.len -= n;
		if (n < chunk)
			return;
	}
}

static void on_client(struct ev_loop *loop, int fd, uint32_t events, void *arg);

/* client_rewatch: make the client's watch ask for what we can do now: read
 * while the input ring has room, write while output is waiting. Loop thread. */
static void client_rewatch(struct sockchar *s)
{
	uint32_t ev = 0;

	if (s->client_fd < 0)
		return;
	if (ring_room(&s->in) > 0 && !s->client_eof)
		ev |= EPOLLIN;
	if (s->out.len > 0 && !s->client_dead)
		ev |= EPOLLOUT;
	if (!s->client_watched) {
		/* After a hang-up epoll reports EPOLLHUP whatever we ask for:
		 * stay unwatched until we can read the rest. */
		if (s->client_hup && !(ev & EPOLLIN))
			return;
		if (ev_add(s->loop, s->client_fd, ev, on_client, s) == 0) {
			s->client_watched = true;
			s->client_events = ev;
		}
		return;
	}
	if (ev != s->client_events && ev_mod(s->loop, s->client_fd, ev) == 0)
		s->client_events = ev;
}

/* client_close: forget the client. Buffered input and unsent output stay:
 * the device still pulls the one, the next client gets the other. */
static void client_close(struct sockchar *s)
{
	if (s->client_fd < 0)
		return;
	if (s->client_watched)
		ev_del(s->loop, s->client_fd);
	close(s->client_fd);
	s->client_fd = -1;
	s->client_watched = s->client_hup = s->client_dead = s->client_eof = false;
	s->client_events = 0;
}

static void on_client(struct ev_loop *loop, int fd, uint32_t events, void *arg)
{
	struct sockchar *s = arg;
	bool gone = false, nudge = false;

	(void)loop;
	pthread_mutex_lock(&s->lock);
	if (events & EPOLLOUT)
		flush_out(s);
	if ((events & (EPOLLHUP | EPOLLERR)) && s->client_eof) {
		gone = true;	/* it had stopped sending; now it is gone */
	} else if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		size_t room = ring_room(&s->in);

		if (room > 0) {
			uint8_t buf[READ_CHUNK];
			ssize_t n = read(fd, buf, room < sizeof(buf) ? room : sizeof(buf));

			if (n > 0) {
				nudge = s->in.len == 0;
				ring_put(&s->in, buf, (size_t)n);
			} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
				gone = true;
			} else if (n == 0) {
				/* End of its input. A half close (`echo cmd |
				 * socat ...`) still reads the answer: keep
				 * sending until it hangs up entirely. */
				if (events & (EPOLLHUP | EPOLLERR))
					gone = true;
				s->client_eof = true;
			}
		} else if (events & (EPOLLHUP | EPOLLERR)) {
			/* Input full and the peer gone: what it sent before
			 * is still to be read, once the device makes room. */
			ev_del(s->loop, fd);
			s->client_watched = false;
			s->client_hup = true;
		}
	}
	if (gone)
		client_close(s);
	else
		client_rewatch(s);
	pthread_mutex_unlock(&s->lock);
	if (nudge && s->cd.input_ready)
		s->cd.input_ready(s->cd.dev);
}

/* client_left_clean: the client hung up and sent nothing we have not read:
 * a newcomer may take its place before the loop notices (a connect-and-close
 * probe, or a client that reconnects at once). */
static bool client_left_clean(struct sockchar *s)
{
	struct pollfd p = { .fd = s->client_fd, .events = POLLIN };
	int unread = 0;

	if (poll(&p, 1, 0) != 1 || !(p.revents & (POLLHUP | POLLERR)))
		return false;
	return ioctl(s->client_fd, FIONREAD, &unread) == 0 && unread == 0;
}

static void on_listen(struct ev_loop *loop, int fd, uint32_t events, void *arg)
{
	struct sockchar *s = arg;

	(void)loop;
	(void)events;
	for (;;) {
		int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (c < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			/* EAGAIN: done. Out of fds: the connection stays in
			 * the backlog and epoll reports it again, so the loop
			 * spins until an fd is freed (a documented limit). */
			return;
		}
		pthread_mutex_lock(&s->lock);
		if (s->client_fd >= 0 && client_left_clean(s))
			client_close(s);
		if (s->client_fd >= 0) {
			pthread_mutex_unlock(&s->lock);
			/* one client at a time: say why, then hang up */
			ssize_t n = send(c, BUSY_MSG, sizeof(BUSY_MSG) - 1,
					 MSG_DONTWAIT | MSG_NOSIGNAL);
			(void)n;	/* it may have left already */
			close(c);
			continue;
		}
		s->client_fd = c;
		flush_out(s);	/* replay the log */
		client_rewatch(s);
		if (!s->client_watched)
			client_close(s);	/* cannot watch it (ENOMEM): drop it */
		pthread_mutex_unlock(&s->lock);
	}
}

static void on_wake(struct ev_loop *loop, int fd, uint32_t events, void *arg)
{
	struct sockchar *s = arg;
	uint64_t v;

	(void)loop;
	(void)events;
	if (read(fd, &v, sizeof(v)) < 0) {
		/* spurious wakeup */
	}
	pthread_mutex_lock(&s->lock);
	s->wake_pending = false;
	if (s->client_fd >= 0)
		flush_out(s);
	client_rewatch(s);
	pthread_mutex_unlock(&s->lock);
}

static void wake_loop(struct sockchar *s)
{
	uint64_t one = 1;

	if (write(s->wake_fd, &one, sizeof(one)) < 0) {
		/* counter saturated: a wakeup is pending anyway */
	}
}

/* --- chardev_ops --------------------------------------------------------------- */

/* sc_write: guest output. Sent at once when nothing is queued before it;
 * otherwise, or for what the socket does not take, queued in the output ring.
 * If the client does not read (or none is connected) and the ring is full,
 * the oldest output is dropped: the guest must never wait on a client. */
static void sc_write(struct chardev *cd, const void *buf, size_t len)
{
	struct sockchar *s = sockchar_of(cd);
	const uint8_t *p = buf;
	bool wake = false;

	pthread_mutex_lock(&s->lock);
	if (s->client_fd >= 0 && !s->client_dead && s->out.len == 0) {
		size_t n = send_some(s, p, len);
		p += n;
		len -= n;
	}
	if (len > 0)
		ring_put_lossy(&s->out, p, len);
	/* The loop must arm EPOLLOUT for what was queued, or notice the
	 * client died; without a client the ring just waits for one. */
	if (s->client_fd >= 0 && !s->wake_pending &&
	    (s->client_dead || (s->out.len > 0 && !(s->client_events & EPOLLOUT)))) {
		s->wake_pending = true;
		wake = true;
	}
	pthread_mutex_unlock(&s->lock);
	if (wake)
		wake_loop(s);
}

/* sc_read: take buffered client input. Draining a full ring wakes the loop
 * to read the client again. */
static size_t sc_read(struct chardev *cd, void *buf, size_t len)
{
	struct sockchar *s = sockchar_of(cd);
	bool was_full;
	size_t n;

	pthread_mutex_lock(&s->lock);
	was_full = ring_room(&s->in) == 0;
	n = ring_get(&s->in, buf, len);
	pthread_mutex_unlock(&s->lock);
	if (was_full && n > 0)
		wake_loop(s);
	return n;
}

static const struct chardev_ops sockchar_chardev_ops = {
	.write = sc_write,
	.read = sc_read,
};

/* --- the socket file ------------------------------------------------------------- */

/* clear_path: make room for our socket at (path): nothing there is fine, a
 * socket nobody accepts on is a leftover of a dead domus and is removed; a
 * live socket or any other file is refused. */
static int clear_path(const char *path, struct err *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, r;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		return err_setsys(err, errno, "console socket %s", path);
	}
	if (!S_ISSOCK(st.st_mode))
		return err_set(err, EEXIST, "console socket %s: exists and is not a socket", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return err_setsys(err, errno, "console socket %s: socket", path);
	memcpy(sa.sun_path, path, strlen(path));
	r = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ? errno : 0;
	close(fd);
	if (r == 0 || r == EAGAIN)	/* EAGAIN: listening, its backlog full */
		return err_set(err, EADDRINUSE, "console socket %s: in use by another process",
			       path);
	if (r != ECONNREFUSED)
		return err_setsys(err, r, "console socket %s", path);
	if (unlink(path) < 0 && errno != ENOENT)
		return err_setsys(err, errno, "console socket %s: removing the stale socket", path);
	return 0;
}

/* listen_at: a listening socket at (path), mode 0600 from the start: the
 * mode is set on the socket before bind() creates the file (bind applies the
 * umask on top, which can only remove bits). Records the file's identity. */
static int listen_at(struct sockchar *s, struct err *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, r;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return err_setsys(err, errno, "console socket %s: socket", s->path);
	memcpy(sa.sun_path, s->path, strlen(s->path));
	if (fchmod(fd, 0600) < 0) {
		r = err_setsys(err, errno, "console socket %s: fchmod", s->path);
		goto err_close;
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = err_setsys(err, errno, "console socket %s: bind", s->path);
		goto err_close;
	}
	if (lstat(s->path, &st) < 0) {
		r = err_setsys(err, errno, "console socket %s", s->path);
		goto err_unlink;
	}
	/* a kernel that ignored the socket's own mode: fix the file's */
	if ((st.st_mode & 07777) != 0600 && chmod(s->path, 0600) < 0) {
		r = err_setsys(err, errno, "console socket %s: chmod", s->path);
		goto err_unlink;
	}
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	if (listen(fd, 4) < 0) {
		r = err_setsys(err, errno, "console socket %s: listen", s->path);
		goto err_unlink;
	}
	s->listen_fd = fd;
	return 0;

err_unlink:
	unlink(s->path);
err_close:
	close(fd);
	return r;
}

/* remove_ours: unlink the socket file if it is still the one we bound (a
 * later domus may have replaced it). */
static void remove_ours(const struct sockchar *s)
{
	struct stat st;

	if (lstat(s->path, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_dev == s->dev &&
	    st.st_ino == s->ino)
		unlink(s->path);
}

int sockchar_open(const char *path, struct ev_loop *loop, struct sockchar **out, struct err *err)
{
	struct sockaddr_un sa;
	struct sockchar *s;
	int r;

	if (path[0] == '\0')
		return err_set(err, EINVAL, "console socket: empty path");
	if (strlen(path) >= sizeof(sa.sun_path))
		return err_set(err, ENAMETOOLONG, "console socket %s: path longer than %zu bytes",
			       path, sizeof(sa.sun_path) - 1);
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return err_set(err, ENOMEM, "console socket %s: out of memory", path);
	s->path = strdup(path);
	if (s->path == NULL) {
		r = err_set(err, ENOMEM, "console socket %s: out of memory", path);
		goto err_free;
	}
	s->cd.ops = &sockchar_chardev_ops;
	s->loop = loop;
	s->listen_fd = s->wake_fd = s->client_fd = -1;
	r = pthread_mutex_init(&s->lock, NULL);
	if (r != 0) {
		r = err_setsys(err, r, "console socket %s: mutex", path);
		goto err_free;
	}
	r = clear_path(path, err);
	if (r < 0)
		goto err_mutex;
	r = listen_at(s, err);
	if (r < 0)
		goto err_mutex;
	s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->wake_fd < 0) {
		r = err_setsys(err, errno, "console socket %s: eventfd", path);
		goto err_listen;
	}
	r = ev_add(loop, s->listen_fd, EPOLLIN, on_listen, s);
	if (r < 0) {
		r = err_setsys(err, -r, "console socket %s: cannot watch it", path);
		goto err_wake;
	}
	r = ev_add(loop, s->wake_fd, EPOLLIN, on_wake, s);
	if (r < 0) {
		r = err_setsys(err, -r, "console socket %s: cannot watch its eventfd", path);
		goto err_del;
	}
	*out = s;
	return 0;

err_del:
	ev_del(loop, s->listen_fd);
err_wake:
	close(s->wake_fd);
err_listen:
	remove_ours(s);
	close(s->listen_fd);
err_mutex:
	pthread_mutex_destroy(&s->lock);
err_free:
	free(s->path);
	free(s);
	return r;
}

struct chardev *sockchar_chardev(struct sockchar *s)
{
	return &s->cd;
}

void sockchar_close(struct sockchar *s)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&s->lock);
	client_close(s);
	pthread_mutex_unlock(&s->lock);
	ev_del(s->loop, s->listen_fd);
	ev_del(s->loop, s->wake_fd);
	remove_ours(s);
	close(s->listen_fd);
	close(s->wake_fd);
	pthread_mutex_destroy(&s->lock);
	free(s->path);
	free(s);
}
