/* SPDX-License-Identifier: MIT */
/* console.c: terminal/pipe front end of the guest console. Input is read into
 * a ring only while it has room, so a fast pipe is throttled instead of lost;
 * the serial device pulls from the ring when the guest can take bytes. */
#include "console.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "chardev.h"
#include "common/err.h"
#include "common/ev.h"

#define CONSOLE_RING	65536
/* Guest output waiting for the terminal: enough for a whole boot log, so a
 * slow reader (a pty nobody reads for a while) doesn't stall the vCPUs. */
#define CONSOLE_OUT_RING	(256 * 1024)
/* How long console_free waits for the last output to reach a stuck terminal. */
#define CONSOLE_FLUSH_MS	5000
#define CTRL_A		0x01

struct console {
	struct chardev cd;	/* first: console_of() relies on it */
	struct ev_loop *loop;
	int in_fd, out_fd;
	bool tty;
	bool in_watched;	/* in_fd is in the loop (paused when the ring is full) */
	bool in_eof;
	bool in_file;		/* in_fd is a regular file: epoll can't watch it */
	bool escape;		/* the previous terminal byte was Ctrl-A */
	int wake_fd;		/* eventfd: the device freed room in a full ring */
	pthread_mutex_t lock;	/* ring */
	uint8_t ring[CONSOLE_RING];
	size_t head, len;
	/* Output: producers (vCPU threads, the loop) append to out_ring; the
	 * writer thread does the blocking write()s, in batches. */
	pthread_mutex_t out_lock;
	pthread_cond_t out_cond;	/* writer: data or stop; producers: room */
	uint8_t *out_ring;
	size_t out_head, out_len;
	bool out_stop;			/* console_free: drain, then end */
	bool out_dead;			/* the output is gone (closed pipe): discard */
	pthread_t writer;
	bool writer_started;
	void (*quit)(void *);
	void *quit_arg;
};

/* --- terminal state, global because restoring it must work from atexit and
 * from fatal signal handlers --------------------------------------------- */
static struct termios saved_termios;
static volatile sig_atomic_t saved_fd = -1;

void console_restore_terminal(void)
{
	int fd = saved_fd;
	if (fd >= 0) {
		tcsetattr(fd, TCSAFLUSH, &saved_termios);
		saved_fd = -1;
	}
}

static void fatal_signal(int sig)
{
	console_restore_terminal();
	signal(sig, SIG_DFL);
	raise(sig);
}

static int terminal_raw(int fd, struct err *err)
{
	static const int fatal[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT };
	static bool hooks;
	struct termios t;

	if (tcgetattr(fd, &saved_termios) < 0)
		return err_setsys(err, errno, "console: tcgetattr");
	t = saved_termios;
	/* Like cfmakeraw, but keep output processing: the guest's "\n" after a
	 * "\r" is harmless and our own messages stay readable. ISIG off so
	 * Ctrl-C reaches the guest. */
	t.c_iflag &= ~(tcflag_t)(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
	t.c_lflag &= ~(tcflag_t)(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
	t.c_cflag &= ~(tcflag_t)(CSIZE | PARENB);
	t.c_cflag |= CS8;
	t.c_oflag |= OPOST;
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	if (!hooks) {
		hooks = true;
		atexit(console_restore_terminal);
		for (size_t i = 0; i < ARRAY_SIZE(fatal); i++)
			signal(fatal[i], fatal_signal);
	}
	saved_fd = fd;
	if (tcsetattr(fd, TCSANOW, &t) < 0) {
		saved_fd = -1;
		return err_setsys(err, errno, "console: tcsetattr");
	}
	return 0;
}

/* --- output ------------------------------------------------------------------ */
/* Writes block (we never set O_NONBLOCK on a descriptor we share with the
 * shell); that happens here, in a thread of its own, so a vCPU writing to the
 * UART only waits when the ring is full: lossless, and cheap per byte. */
static void *con_writer(void *arg)
{
	struct console *con = arg;

	pthread_mutex_lock(&con->out_lock);
	for (;;) {
		while (con->out_len == 0 && !con->out_stop)
			pthread_cond_wait(&con->out_cond, &con->out_lock);
		if (con->out_len == 0)
			break;
		size_t chunk = CONSOLE_OUT_RING - con->out_head;
		if (chunk > con->out_len)
			chunk = con->out_len;
		const uint8_t *p = con->out_ring + con->out_head;
		pthread_mutex_unlock(&con->out_lock);
		ssize_t n = write(con->out_fd, p, chunk);
		pthread_mutex_lock(&con->out_lock);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0) {
			/* output gone (closed pipe): the guest keeps running */
			con->out_dead = true;
			n = (ssize_t)con->out_len;
			chunk = (size_t)n;
		}
		con->out_head = (con->out_head + (size_t)n) % CONSOLE_OUT_RING;
		con->out_len -= (size_t)n;
		pthread_cond_broadcast(&con->out_cond);
	}
	pthread_mutex_unlock(&con->out_lock);
	return NULL;
}

static void con_write(struct chardev *cd, const void *buf, size_t len)
{
	struct console *con = (struct console *)cd;
	const uint8_t *p = buf;

	pthread_mutex_lock(&con->out_lock);
	while (len > 0 && !con->out_dead) {
		while (con->out_len == CONSOLE_OUT_RING && !con->out_dead)
			pthread_cond_wait(&con->out_cond, &con->out_lock);
		if (con->out_dead)
			break;
		size_t tail = (con->out_head + con->out_len) % CONSOLE_OUT_RING;
		size_t room = CONSOLE_OUT_RING - con->out_len;
		size_t n = len < room ? len : room;
		if (n > CONSOLE_OUT_RING - tail)
			n = CONSOLE_OUT_RING - tail;
		memcpy(con->out_ring + tail, p, n);
		if (con->out_len == 0)
			pthread_cond_broadcast(&con->out_cond);
		con->out_len += n;
		p += n;
		len -= n;
	}
	pthread_mutex_unlock(&con->out_lock);
}

/* Let the writer finish what is buffered (bounded: a terminal nobody reads
 * must not keep us from exiting), then end it. */
static void con_stop_writer(struct console *con)
{
	struct timespec deadline;

	if (!con->writer_started)
		return;
	pthread_mutex_lock(&con->out_lock);
	con->out_stop = true;
	pthread_cond_broadcast(&con->out_cond);
	pthread_mutex_unlock(&con->out_lock);
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += CONSOLE_FLUSH_MS / 1000;
	if (pthread_timedjoin_np(con->writer, NULL, &deadline) != 0) {
		pthread_cancel(con->writer);	/* stuck in write(): a cancellation point */
		pthread_join(con->writer, NULL);
	}
	con->writer_started = false;
}

/* --- input ------------------------------------------------------------------- */
static size_t con_read(struct chardev *cd, void *buf, size_t len)
{
	struct console *con = (struct console *)cd;
	uint8_t *out = buf;
	size_t n = 0;
	bool was_full;

	pthread_mutex_lock(&con->lock);
	was_full = con->len == CONSOLE_RING;
	while (n < len && con->len > 0) {
		out[n++] = con->ring[con->head];
		con->head = (con->head + 1) % CONSOLE_RING;
		con->len--;
	}
	pthread_mutex_unlock(&con->lock);
	if (was_full && n > 0) {
		uint64_t one = 1;	/* wake the loop to read input again */
		if (write(con->wake_fd, &one, sizeof(one)) < 0) {
			/* eventfd counter saturated: a wakeup is pending anyway */
		}
	}
	return n;
}

static const struct chardev_ops console_chardev_ops = {
	.write = con_write,
	.read = con_read,
};

/* ring_put: append (len) bytes (the caller checked room). Returns whether the
 * ring was empty before, i.e. whether the device needs a nudge. */
static bool ring_put(struct console *con, const uint8_t *p, size_t len)
{
	bool was_empty;

	pthread_mutex_lock(&con->lock);
	was_empty = con->len == 0;
	for (size_t i = 0; i < len; i++)
		con->ring[(con->head + con->len + i) % CONSOLE_RING] = p[i];
	con->len += len;
	pthread_mutex_unlock(&con->lock);
	return was_empty;
}

static size_t ring_room(struct console *con)
{
	pthread_mutex_lock(&con->lock);
	size_t room = CONSOLE_RING - con->len;
	pthread_mutex_unlock(&con->lock);
	return room;
}

static void con_help(struct console *con)
{
	static const char help[] = "\r\nC-a h    print this help\r\n"
				   "C-a x    exit domus (the guest is stopped)\r\n"
				   "C-a C-a  send C-a to the guest\r\n";
	con_write(&con->cd, help, sizeof(help) - 1);
}

/* Filter terminal input for escapes; returns the number of bytes kept in (p). */
static size_t con_escapes(struct console *con, uint8_t *p, size_t n, bool *quit)
{
	size_t out = 0;

	for (size_t i = 0; i < n; i++) {
		uint8_t c = p[i];
		if (con->escape) {
			con->escape = false;
			if (c == 'x' || c == 'X') {
				*quit = true;
				return out;
			}
			if (c == 'h' || c == 'H' || c == '?') {
				con_help(con);
				continue;
			}
			if (c != CTRL_A)
				continue;	/* unknown escape: swallowed, as QEMU does */
		} else if (c == CTRL_A) {
			con->escape = true;
			continue;
		}
		p[out++] = c;
	}
	return out;
}

static void con_watch_input(struct console *con, bool on)
{
	if (con->in_eof || con->in_watched == on)
		return;
	if (ev_mod(con->loop, con->in_fd, on ? EPOLLIN : 0) == 0)
		con->in_watched = on;
}

static void con_on_input(struct ev_loop *loop, int fd, uint32_t events, void *arg)
{
	struct console *con = arg;
	uint8_t buf[4096];
	size_t room = ring_room(con);
	bool quit = false;
	ssize_t n;

	(void)loop;
	(void)events;
	if (room == 0) {
		con_watch_input(con, false);
		return;
	}
	n = read(fd, buf, room < sizeof(buf) ? room : sizeof(buf));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		/* End of input: the guest keeps running (poweroff ends it). */
		ev_del(con->loop, fd);
		con->in_eof = true;
		return;
	}
	size_t keep = con->tty ? con_escapes(con, buf, (size_t)n, &quit) : (size_t)n;
	if (keep > 0 && ring_put(con, buf, keep) && con->cd.input_ready)
		con->cd.input_ready(con->cd.dev);
	if (quit && con->quit)
		con->quit(con->quit_arg);
	if (ring_room(con) == 0)
		con_watch_input(con, false);
}

/* A regular file is always readable: read it whenever the ring has room (at
 * start, then each time the device drains a full ring). */
static void con_fill_from_file(struct console *con)
{
	for (;;) {
		uint8_t buf[4096];
		size_t room = ring_room(con);
		ssize_t n;

		if (room == 0 || con->in_eof)
			return;
		n = read(con->in_fd, buf, room < sizeof(buf) ? room : sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			con->in_eof = true;
			return;
		}
		if (ring_put(con, buf, (size_t)n) && con->cd.input_ready)
			con->cd.input_ready(con->cd.dev);
	}
}

static void con_on_wake(struct ev_loop *loop, int fd, uint32_t events, void *arg)
{
	struct console *con = arg;
	uint64_t v;

	(void)loop;
	(void)events;
	if (read(fd, &v, sizeof(v)) < 0) {
		/* spurious wakeup */
	}
	if (con->in_file)
		con_fill_from_file(con);
	else
		con_watch_input(con, true);
}

struct console *console_new(struct ev_loop *loop, int in_fd, int out_fd, struct err *err)
{
	struct console *con = calloc(1, sizeof(*con));
	int r;

	if (con == NULL) {
		err_set(err, ENOMEM, "console: out of memory");
		return NULL;
	}
	con->cd.ops = &console_chardev_ops;
	con->loop = loop;
	con->in_fd = in_fd;
	con->out_fd = out_fd;
	pthread_mutex_init(&con->lock, NULL);
	pthread_mutex_init(&con->out_lock, NULL);
	pthread_cond_init(&con->out_cond, NULL);
	con->out_ring = malloc(CONSOLE_OUT_RING);
	if (con->out_ring == NULL) {
		err_set(err, ENOMEM, "console: out of memory");
		goto err_free;
	}
	con->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (con->wake_fd < 0) {
		err_setsys(err, errno, "console: eventfd");
		goto err_free;
	}
	if (ev_add(loop, con->wake_fd, EPOLLIN, con_on_wake, con) < 0) {
		err_set(err, EIO, "console: cannot watch eventfd");
		goto err_close;
	}
	con->tty = isatty(in_fd);
	if (con->tty && terminal_raw(in_fd, err) < 0)
		goto err_del;
	r = pthread_create(&con->writer, NULL, con_writer, con);
	if (r != 0) {
		err_setsys(err, r, "console: output thread");
		goto err_tty;
	}
	con->writer_started = true;
	/* epoll refuses regular files and /dev/null (EPERM): read those as
	 * the ring drains instead. */
	r = ev_add(loop, in_fd, EPOLLIN, con_on_input, con);
	if (r == -EPERM) {
		con->in_file = true;
		con_fill_from_file(con);
	} else if (r < 0) {
		err_set(err, -r, "console: cannot watch standard input");
		goto err_tty;
	} else {
		con->in_watched = true;
	}
	return con;

err_tty:
	con_stop_writer(con);
	console_restore_terminal();
err_del:
	ev_del(loop, con->wake_fd);
err_close:
	close(con->wake_fd);
err_free:
	free(con->out_ring);
	free(con);
	return NULL;
}

void console_free(struct console *con)
{
	if (con == NULL)
		return;
	if (con->in_watched || !con->in_eof)
		ev_del(con->loop, con->in_fd);
	ev_del(con->loop, con->wake_fd);
	close(con->wake_fd);
	con_stop_writer(con);	/* the guest's last words before the terminal's reset */
	if (con->tty)
		console_restore_terminal();
	pthread_mutex_destroy(&con->lock);
	pthread_mutex_destroy(&con->out_lock);
	pthread_cond_destroy(&con->out_cond);
	free(con->out_ring);
	free(con);
}

struct chardev *console_chardev(struct console *con)
{
	return &con->cd;
}

void console_on_quit(struct console *con, void (*fn)(void *arg), void *arg)
{
	con->quit = fn;
	con->quit_arg = arg;
}

bool console_is_tty(const struct console *con)
{
	return con->tty;
}
