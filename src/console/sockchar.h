/* SPDX-License-Identifier: MIT */
/* sockchar.h: a chardev whose host side is a listening UNIX socket (a second
 * guest console one can attach to with `socat - UNIX-CONNECT:path`). */
#ifndef DOMUS_SOCKCHAR_H
#define DOMUS_SOCKCHAR_H

struct sockchar;
struct chardev;
struct ev_loop;
struct err;

/* Bytes of guest output kept while no client reads it (replayed to the next
 * client), and of client input kept until the device pulls it. */
#define SOCKCHAR_RING	65536

/* sockchar_open: listen on a UNIX stream socket at (path), mode 0600, served
 * by (loop) (watches are added and removed on the loop's thread: call from
 * it). An existing socket nobody listens on is replaced; a live one, or any
 * other kind of file, is refused. One client at a time: a second connection
 * gets a one-line "busy" message and is closed. Guest output goes to the
 * client and is never blocked on: while no client is connected, or one does
 * not read, it is kept in a SOCKCHAR_RING-byte ring with the oldest bytes
 * dropped, and the ring is replayed when a client connects (like a console
 * log). Client input is buffered in a ring of the same size, and the client
 * is not read while it is full (backpressure, nothing lost); a disconnect
 * keeps what was buffered and waits for the next client. Returns 0 and the
 * endpoint in *out, or -errno with (err) set to one line naming the path. */
int sockchar_open(const char *path, struct ev_loop *loop, struct sockchar **out, struct err *err);

/* sockchar_chardev: the chardev to hand a device. Its write() and read() may
 * be called from any thread and never block; input_ready is called on the
 * loop's thread with no sockchar lock held. */
struct chardev *sockchar_chardev(struct sockchar *s);

/* sockchar_close: disconnect the client, stop listening, remove the socket
 * file (if it is still the one we made) and free (s). Loop thread; the device
 * must no longer use the chardev. NULL is ignored. */
void sockchar_close(struct sockchar *s);

#endif
