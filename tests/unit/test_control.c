/* SPDX-License-Identifier: MIT */
/* test_control.c: the control protocol's encoding (proto.c) and the server
 * and client (control.c) over a real UNIX socket: commands, errors, unknown
 * commands, malformed requests, deferred replies. */
#include <errno.h>
#include <json-c/json.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/err.h"
#include "common/ev.h"
#include "control/control.h"
#include "control/proto.h"

static void test_parse_request(void **state)
{
	struct json_object *msg, *args, *id;
	const char *cmd;
	struct err e = { 0 };
	const char *line = "{\"execute\":\"pause\",\"arguments\":{\"x\":1},\"id\":7}";

	(void)state;
	assert_int_equal(control_proto_parse_request(line, strlen(line), &msg, &cmd, &args, &id, &e), 0);
	assert_string_equal(cmd, "pause");
	assert_int_equal(json_object_get_int(json_object_object_get(args, "x")), 1);
	assert_int_equal(json_object_get_int(id), 7);
	json_object_put(msg);
	/* no arguments: an empty object */
	line = "{\"execute\":\"resume\"}";
	assert_int_equal(control_proto_parse_request(line, strlen(line), &msg, &cmd, &args, &id, &e), 0);
	assert_non_null(args);
	assert_null(id);
	json_object_put(msg);
	static const struct {
		const char *line, *needle;
	} bads[] = {
		{ "garbage", "not one JSON value" },
		{ "[1,2]", "not a JSON object" },
		{ "{\"id\":1}", "no \"execute\" string" },
		{ "{\"execute\":3}", "no \"execute\" string" },
		{ "{\"execute\":\"x\",\"arguments\":[]}", "\"arguments\" is not an object" },
		{ "{\"execute\":\"x\"} trailing", "not one JSON value" },
		{ "", "empty" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(bads); i++) {
		memset(&e, 0, sizeof(e));
		assert_int_equal(control_proto_parse_request(bads[i].line, strlen(bads[i].line), &msg,
							     &cmd, &args, &id, &e), -EINVAL);
		if (strstr(e.msg, bads[i].needle) == NULL)
			fail_msg("'%s': '%s' lacks '%s'", bads[i].line, e.msg, bads[i].needle);
		json_object_put(msg);
	}
}

static void test_reply_encoding(void **state)
{
	struct json_object *id = json_object_new_int(3), *ret = json_object_new_object(), *r2;
	struct err e = { 0 };
	char *line;

	(void)state;
	json_object_object_add(ret, "status", json_object_new_string("running"));
	line = control_proto_reply(id, 0, NULL, ret);
	assert_string_equal(line, "{\"return\":{\"status\":\"running\"},\"id\":3}\n");
	assert_int_equal(control_proto_parse_reply(line, strlen(line), &r2, &e), 0);
	assert_string_equal(json_object_get_string(json_object_object_get(r2, "status")), "running");
	json_object_put(r2);
	free(line);
	line = control_proto_reply(id, EBUSY, "the VM is paused", NULL);
	assert_string_equal(line, "{\"error\":{\"class\":\"Busy\",\"desc\":\"the VM is paused\","
				  "\"errno\":16},\"id\":3}\n");
	assert_int_equal(control_proto_parse_reply(line, strlen(line), &r2, &e), -EBUSY);
	assert_string_equal(e.msg, "the VM is paused");
	free(line);
	line = control_proto_request("quit", NULL, 9);
	assert_string_equal(line, "{\"execute\":\"quit\",\"id\":9}\n");
	free(line);
	json_object_put(id);
	json_object_put(ret);
}

/* --- server and client over a socket --------------------------------------------- */
struct fixture {
	char path[108];
	struct ev_loop *loop;
	struct control_server *srv;
	struct control_req *held;
	int calls;
	volatile int done;
};

static int h_echo(struct control_req *req, struct json_object *args, struct json_object *reply,
		  void *ctx, struct err *err)
{
	struct fixture *f = ctx;
	struct json_object *v;

	(void)req;
	f->calls++;
	if (!json_object_object_get_ex(args, "text", &v))
		return err_set(err, EINVAL, "echo: no text");
	json_object_object_add(reply, "text", json_object_get(v));
	return 0;
}

static int h_later(struct control_req *req, struct json_object *args, struct json_object *reply,
		   void *ctx, struct err *err)
{
	struct fixture *f = ctx;

	(void)args;
	(void)reply;
	(void)err;
	f->held = req;
	return CONTROL_DEFERRED;
}

struct call {
	const char *path, *cmd;
	struct json_object *args, *reply;
	struct err err;
	int r;
	volatile int finished;
};

static void *caller(void *arg)
{
	struct call *c = arg;

	c->r = control_call(c->path, c->cmd, c->args, &c->reply, 5000, &c->err);
	c->finished = 1;
	return NULL;
}

/* Run (cmd) from a client thread while the loop serves it here. */
static int call(struct fixture *f, const char *cmd, struct json_object *args,
		struct json_object **reply, struct err *err)
{
	struct call c = { .path = f->path, .cmd = cmd, .args = args };
	pthread_t t;

	pthread_create(&t, NULL, caller, &c);
	for (int i = 0; i < 500 && !c.finished; i++) {
		ev_run_once(f->loop, 10);
		if (f->held) {
			struct json_object *r = json_object_new_object();
			json_object_object_add(r, "late", json_object_new_boolean(1));
			control_req_finish(f->held, 0, r, NULL);
			json_object_put(r);
			f->held = NULL;
		}
	}
	pthread_join(t, NULL);
	*reply = c.reply;
	*err = c.err;
	return c.r;
}

static void test_server_roundtrip(void **state)
{
	struct fixture f = { 0 };
	struct json_object *args, *reply;
	struct err e = { 0 };

	(void)state;
	snprintf(f.path, sizeof(f.path), "/tmp/domus-test-control-%d.sock", (int)getpid());
	f.loop = ev_loop_new();
	assert_int_equal(control_server_open(f.path, f.loop, &f.srv, &e), 0);
	assert_int_equal(control_register(f.srv, "echo", h_echo, &f), 0);
	assert_int_equal(control_register(f.srv, "later", h_later, &f), 0);
	/* a second server on a live socket: refused */
	struct control_server *other;
	memset(&e, 0, sizeof(e));
	assert_int_equal(control_server_open(f.path, f.loop, &other, &e), -EADDRINUSE);

	args = json_object_new_object();
	json_object_object_add(args, "text", json_object_new_string("hello"));
	assert_int_equal(call(&f, "echo", args, &reply, &e), 0);
	assert_string_equal(json_object_get_string(json_object_object_get(reply, "text")), "hello");
	json_object_put(reply);
	json_object_put(args);
	/* a handler's error */
	assert_int_equal(call(&f, "echo", NULL, &reply, &e), -EINVAL);
	assert_string_equal(e.msg, "echo: no text");
	/* unknown command */
	assert_int_equal(call(&f, "frobnicate", NULL, &reply, &e), -ENOENT);
	assert_non_null(strstr(e.msg, "unknown command 'frobnicate'"));
	/* a deferred reply */
	assert_int_equal(call(&f, "later", NULL, &reply, &e), 0);
	assert_true(json_object_get_boolean(json_object_object_get(reply, "late")));
	json_object_put(reply);
	/* built-ins */
	assert_int_equal(call(&f, "query-commands", NULL, &reply, &e), 0);
	assert_non_null(strstr(json_object_to_json_string(reply), "\"echo\""));
	json_object_put(reply);
	assert_int_equal(f.calls, 2);
	control_server_close(f.srv);
	assert_int_equal(access(f.path, F_OK), -1);	/* the socket file is gone */
	memset(&e, 0, sizeof(e));
	assert_int_equal(control_call(f.path, "echo", NULL, &reply, 1000, &e), -ENOENT);
	ev_loop_free(f.loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_request),
		cmocka_unit_test(test_reply_encoding),
		cmocka_unit_test(test_server_roundtrip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
