/* SPDX-License-Identifier: MIT */
/* control.h: the per-VM control socket: JSON lines (proto.h) over a UNIX
 * stream socket, served on the monitor's event loop, dispatched through a
 * table of named commands that subsystems register (the domain monitor's
 * pause/resume/shutdown/..., later save and migrate). The protocol is in
 * docs/control-protocol.md.
 *
 * Threads: everything here runs on the loop's thread. */
#ifndef DOMUS_CONTROL_H
#define DOMUS_CONTROL_H

struct ev_loop;
struct err;
struct json_object;
struct control_server;
struct control_req;

/* Returned by a handler that answers later, with control_req_finish(). */
#define CONTROL_DEFERRED 1

/* A command handler. (args) is the request's "arguments" object (never NULL;
 * borrowed for the call). Answer now: add members to (reply) (an empty object
 * that becomes "return") and return 0, or return -errno with (err) set (an
 * "error" reply). Answer later: keep (req) and return CONTROL_DEFERRED; the
 * client's next request waits until control_req_finish(req, ...). (ctx) is
 * what was registered. */
typedef int (*control_fn)(struct control_req *req, struct json_object *args,
			  struct json_object *reply, void *ctx, struct err *err);

/* control_server_open: listen at (path) (mode 0600; a stale socket nobody
 * listens on is replaced, a live one refused) and serve on (loop). The
 * built-in commands "query-commands" and "query-version" are registered.
 * Returns 0 and *out, or -errno with (err) naming the path. */
int control_server_open(const char *path, struct ev_loop *loop, struct control_server **out,
			struct err *err);

/* control_register: add command (name) (at most 63 characters, copied) with
 * (fn, ctx). Registering a name again replaces its handler. 0 or -ENOMEM. */
int control_register(struct control_server *s, const char *name, control_fn fn, void *ctx);

/* control_unregister: remove (name); later requests get CommandNotFound. */
void control_unregister(struct control_server *s, const char *name);

/* control_req_finish: answer a deferred request: (r) 0 with (reply) (may be
 * NULL; borrowed) or -errno with (err). Frees (req); the client may be gone
 * already (then the answer is dropped). */
void control_req_finish(struct control_req *req, int r, struct json_object *reply,
			const struct err *err);

/* control_server_close: drop clients, stop listening, remove the socket file
 * (if it is still ours). Deferred requests still pending become no-ops when
 * finished. NULL is ignored. */
void control_server_close(struct control_server *s);

/* control_call: client side, blocking: connect to (path), send (cmd) with
 * (args) (may be NULL), wait up to (timeout_ms) (-1: forever) for the reply.
 * Returns 0 and *reply (a new reference to the "return" object), or -errno
 * with (err): ECONNREFUSED/ENOENT when nobody listens, ETIMEDOUT, or the
 * server's error and its description. */
int control_call(const char *path, const char *cmd, struct json_object *args,
		 struct json_object **reply, int timeout_ms, struct err *err);

#endif
