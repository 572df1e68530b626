/* SPDX-License-Identifier: MIT */
/* test_sockchar.c: the UNIX-socket chardev with real sockets and a real event
 * loop, pumped for short slices of time. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/err.h"
#include "common/ev.h"
#include "console/chardev.h"
#include "console/sockchar.h"

#define BIG	100000	/* more than the 64 KiB rings */

struct t {
	char dir[64];
	char path[96];
	struct ev_loop *loop;
	struct sockchar *s;
	struct chardev *cd;
	int ready;		/* input_ready calls */
	uint8_t *big;		/* BIG bytes of a pattern */
	uint8_t *got;		/* room for 4 * BIG */
};

static void count_ready(void *arg)
{
	struct t *t = arg;

	t->ready++;
}

/* --- helpers ------------------------------------------------------------------- */

static void stop_cb(struct ev_loop *loop, int fd, uint32_t events, void *arg)
{
	(void)fd;
	(void)events;
	(void)arg;
	ev_stop(loop, 0);
}

/* pump: run the loop for (ms) milliseconds. */
static void pump(struct t *t, int ms)
{
	struct itimerspec its = { .it_value = { .tv_sec = ms / 1000,
						.tv_nsec = (long)(ms % 1000) * 1000000 } };
	int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);

	assert_true(tfd >= 0);
	assert_int_equal(timerfd_settime(tfd, 0, &its, NULL), 0);
	assert_int_equal(ev_add(t->loop, tfd, EPOLLIN, stop_cb, NULL), 0);
	assert_int_equal(ev_run(t->loop), 0);
	ev_del(t->loop, tfd);
	close(tfd);
}

static int client(struct t *t)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	strcpy(sa.sun_path, t->path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* recv_n: read from (fd) until (want) bytes, EOF, 2 s, or 100 ms without
 * anything new once something came, pumping the loop meanwhile. Returns the
 * bytes read. */
static size_t recv_n(struct t *t, int fd, uint8_t *buf, size_t want)
{
	size_t got = 0;
	int idle = 0;

	for (int i = 0; i < 200 && got < want && (got == 0 || idle < 10); i++) {
		ssize_t n = recv(fd, buf + got, want - got, MSG_DONTWAIT);
		if (n == 0)
			break;
		if (n > 0) {
			got += (size_t)n;
			idle = 0;
			continue;
		}
		assert_true(errno == EAGAIN);
		idle++;
		pump(t, 10);
	}
	return got;
}

/* send_all: send (len) bytes, pumping while the socket is full. */
static void send_all(struct t *t, int fd, const uint8_t *p, size_t len)
{
	for (int i = 0; i < 200 && len > 0; i++) {
		ssize_t n = send(fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		assert_true(errno == EAGAIN);
		pump(t, 10);
	}
	assert_int_equal(len, 0);
}

/* read_all: pull everything buffered through the chardev, as a device would. */
static size_t read_all(struct t *t, uint8_t *buf, size_t max)
{
	size_t got = 0, n;

	while (got < max && (n = chardev_read(t->cd, buf + got, max - got)) > 0)
		got += n;
	return got;
}

static void open_it(struct t *t)
{
	struct err e = { 0 };

	assert_int_equal(sockchar_open(t->path, t->loop, &t->s, &e), 0);
	assert_int_equal(e.code, 0);
	t->cd = sockchar_chardev(t->s);
	chardev_attach(t->cd, count_ready, t);
}

static int setup(void **state)
{
	struct t *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return -1;
	strcpy(t->dir, "/tmp/domus-sockchar-XXXXXX");
	if (mkdtemp(t->dir) == NULL)
		return -1;
	snprintf(t->path, sizeof(t->path), "%s/console.sock", t->dir);
	t->loop = ev_loop_new();
	t->big = malloc(BIG);
	t->got = malloc(4 * BIG);
	if (t->loop == NULL || t->big == NULL || t->got == NULL)
		return -1;
	for (size_t i = 0; i < BIG; i++)
		t->big[i] = (uint8_t)(i * 7 + i / 251);
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct t *t = *state;

	sockchar_close(t->s);
	unlink(t->path);
	rmdir(t->dir);
	ev_loop_free(t->loop);
	free(t->big);
	free(t->got);
	free(t);
	return 0;
}

/* --- tests --------------------------------------------------------------------- */

static void test_open_close(void **state)
{
	struct t *t = *state;
	struct stat st;

	open_it(t);
	assert_int_equal(lstat(t->path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	sockchar_close(t->s);
	t->s = NULL;
	assert_int_equal(lstat(t->path, &st), -1);
	assert_int_equal(errno, ENOENT);
}

static void test_refuse_file(void **state)
{
	struct t *t = *state;
	struct err e = { 0 };
	struct sockchar *s = NULL;
	struct stat st;
	int fd = open(t->path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(sockchar_open(t->path, t->loop, &s, &e), -EEXIST);
	assert_null(s);
	assert_non_null(strstr(e.msg, t->path));
	assert_null(strchr(e.msg, '\n'));
	assert_int_equal(lstat(t->path, &st), 0);	/* left alone */
	assert_true(S_ISREG(st.st_mode));
	unlink(t->path);

	/* a path too long for sun_path */
	char longp[200];
	memset(longp, 'a', sizeof(longp) - 1);
	longp[sizeof(longp) - 1] = '\0';
	struct err e2 = { 0 };
	assert_int_equal(sockchar_open(longp, t->loop, &s, &e2), -ENAMETOOLONG);
	assert_true(e2.msg[0] != '\0');
}

static void test_stale_and_live_socket(void **state)
{
	struct t *t = *state;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct err e = { 0 };
	struct sockchar *s2 = NULL;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	/* a socket file nobody listens on: replaced */
	strcpy(sa.sun_path, t->path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	open_it(t);
	/* a live one (ours): refused, and left working */
	assert_int_equal(sockchar_open(t->path, t->loop, &s2, &e), -EADDRINUSE);
	assert_non_null(strstr(e.msg, t->path));
	fd = client(t);
	pump(t, 10);
	chardev_write(t->cd, "still", 5);
	assert_int_equal(recv_n(t, fd, t->got, 5), 5);
	assert_memory_equal(t->got, "still", 5);
	close(fd);
}

static void test_output_to_client(void **state)
{
	struct t *t = *state;
	int fd;

	open_it(t);
	fd = client(t);
	pump(t, 10);
	chardev_write(t->cd, "hello, ", 7);
	chardev_write(t->cd, "client", 6);
	assert_int_equal(recv_n(t, fd, t->got, 13), 13);
	assert_memory_equal(t->got, "hello, client", 13);
	close(fd);
}

static void test_replay(void **state)
{
	struct t *t = *state;
	int fd;

	open_it(t);
	/* output with nobody connected is kept for the first client */
	chardev_write(t->cd, "[boot] ", 7);
	chardev_write(t->cd, "log\n", 4);
	fd = client(t);
	assert_int_equal(recv_n(t, fd, t->got, 11), 11);
	assert_memory_equal(t->got, "[boot] log\n", 11);
	chardev_write(t->cd, "live", 4);
	assert_int_equal(recv_n(t, fd, t->got, 4), 4);
	assert_memory_equal(t->got, "live", 4);
	close(fd);
	pump(t, 10);

	/* more than the ring while disconnected: the newest 64 KiB remain */
	chardev_write(t->cd, t->big, 1000);
	chardev_write(t->cd, t->big + 1000, BIG - 1000);
	fd = client(t);
	assert_int_equal(recv_n(t, fd, t->got, BIG), SOCKCHAR_RING);
	assert_memory_equal(t->got, t->big + BIG - SOCKCHAR_RING, SOCKCHAR_RING);
	close(fd);
}

static void test_input(void **state)
{
	struct t *t = *state;
	uint8_t buf[16];
	int fd;

	open_it(t);
	assert_int_equal(chardev_read(t->cd, buf, sizeof(buf)), 0);
	fd = client(t);
	send_all(t, fd, (const uint8_t *)"abc", 3);
	pump(t, 20);
	assert_int_equal(t->ready, 1);
	send_all(t, fd, (const uint8_t *)"def", 3);
	pump(t, 20);
	assert_int_equal(t->ready, 1);	/* only when the buffer was empty */
	assert_int_equal(chardev_read(t->cd, buf, 4), 4);
	assert_memory_equal(buf, "abcd", 4);
	assert_int_equal(chardev_read(t->cd, buf, sizeof(buf)), 2);
	assert_memory_equal(buf, "ef", 2);
	assert_int_equal(chardev_read(t->cd, buf, sizeof(buf)), 0);
	close(fd);
}

static void test_backpressure(void **state)
{
	struct t *t = *state;
	size_t n;
	int fd;

	open_it(t);
	fd = client(t);
	pump(t, 10);
	send_all(t, fd, t->big, BIG);
	pump(t, 50);
	/* the ring is full and the client is not read any more: nothing lost */
	n = read_all(t, t->got, 4 * BIG);
	assert_int_equal(n, SOCKCHAR_RING);
	assert_memory_equal(t->got, t->big, SOCKCHAR_RING);
	assert_int_equal(t->ready, 1);
	/* drained: reading resumes */
	pump(t, 50);
	n = read_all(t, t->got, 4 * BIG);
	assert_int_equal(n, BIG - SOCKCHAR_RING);
	assert_memory_equal(t->got, t->big + SOCKCHAR_RING, BIG - SOCKCHAR_RING);
	assert_int_equal(t->ready, 2);
	close(fd);
}

static void test_hangup_while_full(void **state)
{
	struct t *t = *state;
	size_t n;
	int fd;

	open_it(t);
	fd = client(t);
	pump(t, 10);
	send_all(t, fd, t->big, BIG);
	close(fd);	/* gone, with input still unread behind a full ring */
	pump(t, 50);
	n = read_all(t, t->got, 4 * BIG);
	assert_int_equal(n, SOCKCHAR_RING);
	pump(t, 50);
	n += read_all(t, t->got + n, 4 * BIG - n);
	assert_int_equal(n, BIG);
	assert_memory_equal(t->got, t->big, BIG);
	/* and the next client is served */
	fd = client(t);
	pump(t, 10);
	chardev_write(t->cd, "next", 4);
	assert_int_equal(recv_n(t, fd, t->got, 4), 4);
	assert_memory_equal(t->got, "next", 4);
	close(fd);
}

static void test_busy_and_reconnect(void **state)
{
	struct t *t = *state;
	uint8_t buf[128];
	size_t n;
	int a, b;

	open_it(t);
	a = client(t);
	pump(t, 10);
	send_all(t, a, (const uint8_t *)"x", 1);
	b = client(t);
	n = recv_n(t, b, buf, sizeof(buf) - 1);	/* a message, then EOF */
	buf[n] = '\0';
	assert_non_null(strstr((char *)buf, "busy"));
	assert_non_null(strchr((char *)buf, '\n'));
	close(b);
	/* the first client is unaffected */
	chardev_write(t->cd, "to a", 4);
	assert_int_equal(recv_n(t, a, buf, 4), 4);
	assert_memory_equal(buf, "to a", 4);
	/* it leaves; its input stays for the device; the next one takes over */
	close(a);
	pump(t, 20);
	chardev_write(t->cd, "meanwhile", 9);
	b = client(t);
	assert_int_equal(recv_n(t, b, buf, 9), 9);
	assert_memory_equal(buf, "meanwhile", 9);
	assert_int_equal(chardev_read(t->cd, buf, sizeof(buf)), 1);
	assert_int_equal(buf[0], 'x');
	close(b);
}

static void test_slow_client(void **state)
{
	struct t *t = *state;
	size_t n, total = 4 * BIG;
	int fd;

	open_it(t);
	fd = client(t);
	pump(t, 10);
	/* the client reads nothing: writes still return at once, dropping
	 * the oldest queued output; the newest output is what it gets last */
	for (int i = 0; i < 20; i++)
		chardev_write(t->cd, t->big, BIG);
	n = recv_n(t, fd, t->got, total);
	assert_true(n >= SOCKCHAR_RING);
	assert_true(n < total);
	assert_memory_equal(t->got + n - SOCKCHAR_RING, t->big + BIG - SOCKCHAR_RING,
			    SOCKCHAR_RING);
	close(fd);
}

static void test_half_close(void **state)
{
	struct t *t = *state;
	uint8_t buf[16];
	int fd;

	open_it(t);
	fd = client(t);
	send_all(t, fd, (const uint8_t *)"cmd\n", 4);
	shutdown(fd, SHUT_WR);	/* `echo cmd | socat - UNIX-CONNECT:...` */
	pump(t, 20);
	assert_int_equal(chardev_read(t->cd, buf, sizeof(buf)), 4);
	assert_memory_equal(buf, "cmd\n", 4);
	chardev_write(t->cd, "answer", 6);
	assert_int_equal(recv_n(t, fd, buf, 6), 6);
	assert_memory_equal(buf, "answer", 6);
	close(fd);
	pump(t, 20);
	/* gone now: output is kept for the next client */
	chardev_write(t->cd, "later", 5);
	fd = client(t);
	assert_int_equal(recv_n(t, fd, buf, 5), 5);
	assert_memory_equal(buf, "later", 5);
	close(fd);
}

static void *writer(void *arg)
{
	struct t *t = arg;
	char line[16];

	for (int i = 0; i < 2000; i++) {
		int n = snprintf(line, sizeof(line), "%05d\n", i);
		chardev_write(t->cd, line, (size_t)n);
	}
	return NULL;
}

static void test_write_from_thread(void **state)
{
	struct t *t = *state;
	pthread_t th;
	char want[16];
	size_t n;
	int fd;

	/* a vCPU thread writing while the loop runs: every byte arrives in
	 * order (12 KB, less than the ring: nothing to drop) */
	open_it(t);
	fd = client(t);
	pump(t, 10);
	assert_int_equal(pthread_create(&th, NULL, writer, t), 0);
	n = recv_n(t, fd, t->got, 2000 * 6);
	assert_int_equal(pthread_join(th, NULL), 0);
	n += recv_n(t, fd, t->got + n, 2000 * 6 - n);
	assert_int_equal(n, 2000 * 6);
	for (int i = 0; i < 2000; i++) {
		snprintf(want, sizeof(want), "%05d\n", i);
		assert_memory_equal(t->got + 6 * i, want, 6);
	}
	close(fd);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_open_close),
		T(test_refuse_file),
		T(test_stale_and_live_socket),
		T(test_output_to_client),
		T(test_replay),
		T(test_input),
		T(test_backpressure),
		T(test_hangup_while_full),
		T(test_busy_and_reconnect),
		T(test_slow_client),
		T(test_half_close),
		T(test_write_from_thread),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
