/* SPDX-License-Identifier: MIT */
/* ev.c: epoll event loop with deferred freeing of watches, so a callback may
 * remove any watch (its own included) while events for it are still queued. */
#include "ev.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

struct ev_watch {
	int fd;
	ev_cb cb;
	void *arg;
	bool dead;
	struct ev_watch *next;
};

struct ev_loop {
	int epfd;
	bool stop;
	int code;
	struct ev_watch *watches;
};

struct ev_loop *ev_loop_new(void)
{
	struct ev_loop *loop = calloc(1, sizeof(*loop));
	if (loop == NULL)
		return NULL;
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0) {
		free(loop);
		return NULL;
	}
	return loop;
}

static void ev_reap(struct ev_loop *loop)
{
	struct ev_watch **pp = &loop->watches;
	while (*pp) {
		struct ev_watch *w = *pp;
		if (w->dead) {
			*pp = w->next;
			free(w);
		} else {
			pp = &w->next;
		}
	}
}

void ev_loop_free(struct ev_loop *loop)
{
	if (loop == NULL)
		return;
	for (struct ev_watch *w = loop->watches; w; w = w->next)
		w->dead = true;
	ev_reap(loop);
	close(loop->epfd);
	free(loop);
}

static struct ev_watch *ev_find(struct ev_loop *loop, int fd)
{
	for (struct ev_watch *w = loop->watches; w; w = w->next)
		if (w->fd == fd && !w->dead)
			return w;
	return NULL;
}

int ev_add(struct ev_loop *loop, int fd, uint32_t events, ev_cb cb, void *arg)
{
	struct epoll_event ev = { .events = events };
	struct ev_watch *w;

	if (ev_find(loop, fd))
		return -EEXIST;
	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return -ENOMEM;
	w->fd = fd;
	w->cb = cb;
	w->arg = arg;
	ev.data.ptr = w;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int e = errno;
		free(w);
		return -e;
	}
	w->next = loop->watches;
	loop->watches = w;
	return 0;
}

int ev_mod(struct ev_loop *loop, int fd, uint32_t events)
{
	struct ev_watch *w = ev_find(loop, fd);
	struct epoll_event ev = { .events = events };

	if (w == NULL)
		return -ENOENT;
	ev.data.ptr = w;
	return epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
}

int ev_del(struct ev_loop *loop, int fd)
{
	struct ev_watch *w = ev_find(loop, fd);

	if (w == NULL)
		return -ENOENT;
	epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
	w->dead = true;		/* freed after the current dispatch round */
	return 0;
}

/* Wait up to (timeout_ms) and dispatch what fired (with (until_stop), not
 * past an ev_stop); returns how many fired, or -errno. */
static int ev_dispatch(struct ev_loop *loop, int timeout_ms, bool until_stop)
{
	struct epoll_event evs[16];
	int n;

	do
		n = epoll_wait(loop->epfd, evs, (int)(sizeof(evs) / sizeof(evs[0])), timeout_ms);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	for (int i = 0; i < n && !(until_stop && loop->stop); i++) {
		struct ev_watch *w = evs[i].data.ptr;
		if (!w->dead)
			w->cb(loop, w->fd, evs[i].events, w->arg);
	}
	ev_reap(loop);
	return n;
}

int ev_run(struct ev_loop *loop)
{
	loop->stop = false;
	while (!loop->stop) {
		int r = ev_dispatch(loop, -1, true);
		if (r < 0)
			return r;
	}
	return loop->code;
}

int ev_run_once(struct ev_loop *loop, int timeout_ms)
{
	return ev_dispatch(loop, timeout_ms, false);
}

void ev_stop(struct ev_loop *loop, int code)
{
	if (!loop->stop) {
		loop->stop = true;
		loop->code = code;
	}
}
