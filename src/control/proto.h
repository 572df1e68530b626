/* SPDX-License-Identifier: MIT */
/* proto.h: the wire format of the control socket (docs/control-protocol.md),
 * as pure functions: one JSON object per line, QMP-shaped so people who know
 * QEMU's monitor read it at a glance.
 *   request  {"execute": "NAME", "arguments": {...}, "id": ANY}
 *   reply    {"return": {...}, "id": ANY}
 *            {"error": {"class": "...", "desc": "...", "errno": N}, "id": ANY} */
#ifndef DOMUS_CONTROL_PROTO_H
#define DOMUS_CONTROL_PROTO_H

#include <stddef.h>

struct json_object;
struct err;

#define CONTROL_PROTO_VERSION	1
/* Longest request or reply line, newline included. */
#define CONTROL_LINE_MAX	65536

/* control_proto_parse_request: parse one request line (without its newline).
 * On success *cmd points into *msg (valid until json_object_put(*msg)), *args
 * is the arguments object (a new empty one, owned by *msg, when absent) and
 * *id the request's id or NULL. Returns 0, or -EINVAL with (err) saying what
 * is wrong; *msg is then NULL. */
int control_proto_parse_request(const char *line, size_t len, struct json_object **msg,
				const char **cmd, struct json_object **args, struct json_object **id,
				struct err *err);

/* control_proto_error_class: the "class" string for a positive errno. */
const char *control_proto_error_class(int code);

/* control_proto_reply: the reply line (newline-terminated, malloc'd) for a
 * request with (id) (may be NULL): success with (ret) (NULL: {}) when (code)
 * is 0, else an error with (code) (positive errno) and (desc). NULL when out
 * of memory. Takes no reference on (id) or (ret). */
char *control_proto_reply(struct json_object *id, int code, const char *desc,
			  struct json_object *ret);

/* control_proto_request: a request line (newline-terminated, malloc'd) for
 * (cmd) with (args) (may be NULL); takes no reference on (args). */
char *control_proto_request(const char *cmd, struct json_object *args, long id);

/* control_proto_parse_reply: parse a reply line. On success 0 and *ret a new
 * reference to the "return" object; on an error reply -errno (the server's,
 * EIO if absent) with (err) holding the server's description. */
int control_proto_parse_reply(const char *line, size_t len, struct json_object **ret,
			      struct err *err);

#endif
