/* SPDX-License-Identifier: MIT */
/* proto.c: encoding and decoding of control-socket messages (proto.h). */
#include "proto.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"

int control_proto_parse_request(const char *line, size_t len, struct json_object **msg,
				const char **cmd, struct json_object **args, struct json_object **id,
				struct err *err)
{
	struct json_tokener *tok;
	struct json_object *m, *v;

	*msg = NULL;
	*id = NULL;
	if (len == 0)
		return err_set(err, EINVAL, "empty request");
	if (len >= CONTROL_LINE_MAX)
		return err_set(err, EINVAL, "request longer than %d bytes", CONTROL_LINE_MAX);
	if (memchr(line, '\0', len))
		return err_set(err, EINVAL, "request contains a NUL byte");
	tok = json_tokener_new();
	if (tok == NULL)
		return err_set(err, ENOMEM, "out of memory");
	m = json_tokener_parse_ex(tok, line, (int)len);
	/* a complete value, and nothing after it but blanks */
	if (m != NULL && json_tokener_get_error(tok) == json_tokener_success) {
		size_t used = json_tokener_get_parse_end(tok);
		while (used < len && strchr(" \t\r", line[used]))
			used++;
		if (used != len) {
			json_object_put(m);
			m = NULL;
		}
	} else if (m != NULL) {
		json_object_put(m);
		m = NULL;
	}
	json_tokener_free(tok);
	if (m == NULL)
		return err_set(err, EINVAL, "request is not one JSON value");
	if (!json_object_is_type(m, json_type_object)) {
		json_object_put(m);
		return err_set(err, EINVAL, "request is not a JSON object");
	}
	json_object_object_get_ex(m, "id", id);
	if (!json_object_object_get_ex(m, "execute", &v) || !json_object_is_type(v, json_type_string)) {
		*msg = m;	/* kept so the caller can echo the id */
		return err_set(err, EINVAL, "request has no \"execute\" string");
	}
	*cmd = json_object_get_string(v);
	if (json_object_object_get_ex(m, "arguments", &v)) {
		if (!json_object_is_type(v, json_type_object)) {
			*msg = m;
			return err_set(err, EINVAL, "\"arguments\" is not an object");
		}
	} else {
		v = json_object_new_object();
		if (v == NULL || json_object_object_add(m, "arguments", v) < 0) {
			json_object_put(v);
			json_object_put(m);
			return err_set(err, ENOMEM, "out of memory");
		}
	}
	*args = v;
	*msg = m;
	return 0;
}

const char *control_proto_error_class(int code)
{
	switch (code) {
	case ENOENT:
		return "CommandNotFound";
	case EINVAL:
		return "InvalidArgument";
	case EBUSY:
	case EAGAIN:
		return "Busy";
	case ENOTSUP:
		return "NotSupported";
	case EPERM:
	case EACCES:
		return "PermissionDenied";
	default:
		return "GenericError";
	}
}

static char *dump_line(struct json_object *o)
{
	const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	size_t n = s ? strlen(s) : 0;
	char *line = s ? malloc(n + 2) : NULL;

	if (line) {
		memcpy(line, s, n);
		line[n] = '\n';
		line[n + 1] = '\0';
	}
	return line;
}

char *control_proto_reply(struct json_object *id, int code, const char *desc,
			  struct json_object *ret)
{
	struct json_object *o = json_object_new_object(), *e;
	char *line = NULL;

	if (o == NULL)
		return NULL;
	if (code == 0) {
		json_object_object_add(o, "return", ret ? json_object_get(ret) : json_object_new_object());
	} else {
		e = json_object_new_object();
		if (e == NULL)
			goto out;
		json_object_object_add(e, "class", json_object_new_string(control_proto_error_class(code)));
		json_object_object_add(e, "desc", json_object_new_string(desc ? desc : strerror(code)));
		json_object_object_add(e, "errno", json_object_new_int(code));
		json_object_object_add(o, "error", e);
	}
	if (id)
		json_object_object_add(o, "id", json_object_get(id));
	line = dump_line(o);
out:
	json_object_put(o);
	return line;
}

char *control_proto_request(const char *cmd, struct json_object *args, long id)
{
	struct json_object *o = json_object_new_object();
	char *line;

	if (o == NULL)
		return NULL;
	json_object_object_add(o, "execute", json_object_new_string(cmd));
	if (args)
		json_object_object_add(o, "arguments", json_object_get(args));
	json_object_object_add(o, "id", json_object_new_int64(id));
	line = dump_line(o);
	json_object_put(o);
	return line;
}

int control_proto_parse_reply(const char *line, size_t len, struct json_object **ret,
			      struct err *err)
{
	struct json_object *m, *v, *d;
	int r;

	*ret = NULL;
	m = json_tokener_parse(line);
	(void)len;
	if (m == NULL || !json_object_is_type(m, json_type_object)) {
		json_object_put(m);
		return err_set(err, EPROTO, "control: malformed reply");
	}
	if (json_object_object_get_ex(m, "return", &v)) {
		*ret = json_object_get(v);
		json_object_put(m);
		return 0;
	}
	if (!json_object_object_get_ex(m, "error", &v) || !json_object_is_type(v, json_type_object)) {
		json_object_put(m);
		return err_set(err, EPROTO, "control: reply has neither return nor error");
	}
	int code = EIO;
	if (json_object_object_get_ex(v, "errno", &d) && json_object_get_int(d) > 0)
		code = json_object_get_int(d);
	const char *desc = json_object_object_get_ex(v, "desc", &d) ? json_object_get_string(d) :
								       "unknown error";
	r = err_set(err, code, "%s", desc);
	json_object_put(m);
	return r;
}
