/* SPDX-License-Identifier: MIT */
/* ev.h: a small epoll event loop. One per process; the main thread runs it,
 * other threads wake it through eventfds they register. */
#ifndef DOMUS_EV_H
#define DOMUS_EV_H

#include <stdint.h>
#include <sys/epoll.h>

struct ev_loop;

/* Callback for an fd watch: (events) is the EPOLL* mask that fired. */
typedef void (*ev_cb)(struct ev_loop *loop, int fd, uint32_t events, void *arg);

struct ev_loop *ev_loop_new(void);
void ev_loop_free(struct ev_loop *loop);

/* ev_add: watch (fd) for (events) (EPOLLIN/EPOLLOUT); 0 or -errno. One watch per fd. */
int ev_add(struct ev_loop *loop, int fd, uint32_t events, ev_cb cb, void *arg);
/* ev_mod: change the events of a watched fd (0 pauses the watch). */
int ev_mod(struct ev_loop *loop, int fd, uint32_t events);
/* ev_del: stop watching (fd). Safe from inside a callback, even for the fd being served. */
int ev_del(struct ev_loop *loop, int fd);

/* ev_run: dispatch until ev_stop(); returns the code given to ev_stop, or -errno. */
int ev_run(struct ev_loop *loop);
/* ev_run_once: wait up to (timeout_ms) (-1: forever) for events and dispatch
 * them once; returns how many fired (0 on timeout) or -errno. For tests and
 * for draining a device before a snapshot. */
int ev_run_once(struct ev_loop *loop, int timeout_ms);
/* ev_stop: make ev_run return (code) after the current callback. Loop thread only;
 * other threads signal through an fd the loop watches. */
void ev_stop(struct ev_loop *loop, int code);

#endif
