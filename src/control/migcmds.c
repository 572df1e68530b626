/* SPDX-License-Identifier: MIT */
/* migcmds.c: save {"file", "compress"}, migrate {"uri": "HOST:PORT",
 * "downtime-ms"} and query-migrate. migrate answers once the migration has
 * started; query-migrate reports its progress and outcome (as QMP's does). */
#include "migcmds.h"

#include <errno.h>
#include <json-c/json.h>
#include <string.h>

#include "common/err.h"
#include "control.h"
#include "engine/engine.h"
#include "vmcmds.h"

static int need_op(struct vmcmds *vc, const void *op, struct err *err)
{
	if (vc->ctl == NULL || vc->ctl->ops == NULL)
		return err_set(err, EAGAIN, "no VM is running right now (starting or rebooting)");
	if (op == NULL)
		return err_set(err, ENOTSUP, "this engine cannot do that");
	return 0;
}

static int cmd_save(struct control_req *req, struct json_object *args,
		    struct json_object *reply, void *ctx, struct err *err)
{
	struct vmcmds *vc = ctx;
	struct json_object *f, *c;
	int r = need_op(vc, vc->ctl && vc->ctl->ops ? (const void *)vc->ctl->ops->save : NULL, err);

	(void)req;
	(void)reply;
	if (r < 0)
		return r;
	if (!json_object_object_get_ex(args, "file", &f) || !json_object_is_type(f, json_type_string) ||
	    json_object_get_string_len(f) == 0)
		return err_set(err, EINVAL, "save: 'file' (a path) is required");
	bool compress = json_object_object_get_ex(args, "compress", &c) && json_object_get_boolean(c);
	return vc->ctl->ops->save(vc->ctl->opaque, json_object_get_string(f), compress, err);
}

static int cmd_migrate(struct control_req *req, struct json_object *args,
		       struct json_object *reply, void *ctx, struct err *err)
{
	struct vmcmds *vc = ctx;
	struct json_object *u, *d;
	unsigned downtime = 30;
	int r = need_op(vc, vc->ctl && vc->ctl->ops ? (const void *)vc->ctl->ops->migrate : NULL,
			err);

	(void)req;
	(void)reply;
	if (r < 0)
		return r;
	if (!json_object_object_get_ex(args, "uri", &u) || !json_object_is_type(u, json_type_string))
		return err_set(err, EINVAL, "migrate: 'uri' (HOST:PORT) is required");
	if (json_object_object_get_ex(args, "downtime-ms", &d)) {
		int64_t v = json_object_get_int64(d);
		if (!json_object_is_type(d, json_type_int) || v < 1 || v > 600000)
			return err_set(err, EINVAL, "migrate: 'downtime-ms' must be 1-600000");
		downtime = (unsigned)v;
	}
	return vc->ctl->ops->migrate(vc->ctl->opaque, json_object_get_string(u), downtime, err);
}

static int cmd_query_migrate(struct control_req *req, struct json_object *args,
			     struct json_object *reply, void *ctx, struct err *err)
{
	struct vmcmds *vc = ctx;
	struct migrate_status st;
	int r = need_op(vc, vc->ctl && vc->ctl->ops ? (const void *)vc->ctl->ops->query_migrate
						     : NULL,
			err);

	(void)req;
	(void)args;
	if (r < 0)
		return r;
	r = vc->ctl->ops->query_migrate(vc->ctl->opaque, &st, err);
	if (r < 0)
		return r;
	json_object_object_add(reply, "status", json_object_new_string(st.state));
	if (st.error[0])
		json_object_object_add(reply, "error", json_object_new_string(st.error));
	if (st.paused)
		json_object_object_add(reply, "guest-paused", json_object_new_boolean(1));
	json_object_object_add(reply, "rounds", json_object_new_int((int)st.rounds));
	json_object_object_add(reply, "total-ms", json_object_new_int64((int64_t)st.total_ms));
	json_object_object_add(reply, "ram-total", json_object_new_int64((int64_t)st.ram_total));
	json_object_object_add(reply, "ram-sent", json_object_new_int64((int64_t)st.ram_sent));
	json_object_object_add(reply, "ram-remaining",
			       json_object_new_int64((int64_t)st.ram_remaining));
	json_object_object_add(reply, "bytes-sent", json_object_new_int64((int64_t)st.bytes_sent));
	json_object_object_add(reply, "mib-per-s", json_object_new_double(st.mib_per_s));
	json_object_object_add(reply, "expected-downtime-ms",
			       json_object_new_double(st.expected_downtime_ms));
	json_object_object_add(reply, "downtime-ms", json_object_new_double(st.downtime_ms));
	return 0;
}

int migcmds_register(struct control_server *s, struct vmcmds *vc)
{
	if (control_register(s, "save", cmd_save, vc) < 0 ||
	    control_register(s, "migrate", cmd_migrate, vc) < 0 ||
	    control_register(s, "query-migrate", cmd_query_migrate, vc) < 0)
		return -ENOMEM;
	return 0;
}
