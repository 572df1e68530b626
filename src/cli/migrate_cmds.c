/* SPDX-License-Identifier: MIT */
/* migrate_cmds.c: `domus save NAME FILE`, `domus restore FILE` and
 * `domus migrate --live NAME HOST:PORT` (virsh's verbs). NAME is a domain
 * (its control socket under the run directory) or, with a '/' in it, the
 * path of a control socket (`domus run --control PATH`). */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "common/err.h"
#include "common/log.h"
#include "control/control.h"
#include "domain/paths.h"
#include "domain/runtime.h"
#include "engine/engine.h"

/* The control socket of (name). */
static int control_path_of(const char *name, char *out, size_t size)
{
	struct dom_paths p;
	struct err err = { 0 };

	if (strchr(name, '/')) {
		snprintf(out, size, "%s", name);
		return 0;
	}
	if (dom_paths_get(&p, &err) < 0 || domrt_file(&p, name, "control.sock", out, size) < 0) {
		log_error("%s", err.msg[0] ? err.msg : "run directory path too long");
		return -1;
	}
	return 0;
}

static int call(const char *name, const char *cmd, struct json_object *args,
		struct json_object **reply, int timeout_ms)
{
	char path[1024];
	struct err err = { 0 };
	int r;

	if (control_path_of(name, path, sizeof(path)) < 0) {
		json_object_put(args);
		return -1;
	}
	r = control_call(path, cmd, args, reply, timeout_ms, &err);
	json_object_put(args);
	/* the monitor is not there (its own errors, a refused connection to a
	 * migration's destination included, carry their description) */
	if ((r == -ENOENT || r == -ECONNREFUSED) && strstr(err.msg, "cannot connect to") == NULL) {
		log_error("%s: domain '%s' is not running", cmd, name);
		return -1;
	}
	if (r < 0) {
		log_error("%s: domain '%s': %s", cmd, name, err.msg);
		return -1;
	}
	return 0;
}

int cmd_save(int argc, char **argv)
{
	struct json_object *args, *reply = NULL;
	const char *name = NULL, *file = NULL;
	bool compress = false;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--compress") == 0)
			compress = true;
		else if (argv[i][0] == '-') {
			log_error("usage: domus save [--compress] NAME FILE");
			return VM_EXIT_USAGE;
		} else if (!name)
			name = argv[i];
		else if (!file)
			file = argv[i];
		else
			name = NULL, i = argc;
	}
	if (!name || !file) {
		log_error("usage: domus save [--compress] NAME FILE");
		return VM_EXIT_USAGE;
	}
	char abs[4096];
	if (file[0] != '/') {
		char cwd[3000];
		if (!getcwd(cwd, sizeof(cwd))) {
			log_error("save: %s", strerror(errno));
			return VM_EXIT_ERROR;
		}
		snprintf(abs, sizeof(abs), "%s/%s", cwd, file);
		file = abs;
	}
	args = json_object_new_object();
	json_object_object_add(args, "file", json_object_new_string(file));
	json_object_object_add(args, "compress", json_object_new_boolean(compress));
	if (call(name, "save", args, &reply, 600000) < 0)
		return VM_EXIT_ERROR;
	json_object_put(reply);
	printf("Domain '%s' saved to %s\n", name, file);
	return 0;
}

int cmd_restore(int argc, char **argv)
{
	char *args[8];
	int n = 0;

	if (argc != 2 || argv[1][0] == '-') {
		log_error("usage: domus restore FILE  (the guest runs in the foreground, "
			  "as with domus run --restore FILE)");
		return VM_EXIT_USAGE;
	}
	args[n++] = "run";
	args[n++] = "--restore";
	args[n++] = argv[1];
	args[n] = NULL;
	return cmd_run(n, args);
}

static double jd(struct json_object *o, const char *k)
{
	struct json_object *v;
	return json_object_object_get_ex(o, k, &v) ? json_object_get_double(v) : 0;
}

int cmd_migrate(int argc, char **argv)
{
	const char *name = NULL, *uri = NULL;
	long downtime = 30;
	struct json_object *args, *reply = NULL;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--live") == 0)
			continue;	/* the only kind there is */
		if (strcmp(argv[i], "--downtime") == 0 && i + 1 < argc) {
			char *end;
			downtime = strtol(argv[++i], &end, 10);
			if (*end || downtime < 1 || downtime > 600000) {
				log_error("migrate: --downtime %s: expected milliseconds (1-600000)",
					  argv[i]);
				return VM_EXIT_USAGE;
			}
		} else if (argv[i][0] == '-') {
			name = uri = NULL;
			break;
		} else if (!name) {
			name = argv[i];
		} else if (!uri) {
			uri = argv[i];
		} else {
			name = uri = NULL;
			break;
		}
	}
	if (!name || !uri) {
		log_error("usage: domus migrate --live [--downtime MS] NAME HOST:PORT");
		return VM_EXIT_USAGE;
	}
	args = json_object_new_object();
	json_object_object_add(args, "uri", json_object_new_string(uri));
	json_object_object_add(args, "downtime-ms", json_object_new_int((int)downtime));
	if (call(name, "migrate", args, &reply, 30000) < 0)
		return VM_EXIT_ERROR;
	json_object_put(reply);
	/* progress until it ends; the source monitor exits once it succeeded */
	for (unsigned last_round = 0;;) {
		struct json_object *st, *v;
		char path[1024];
		struct err err = { 0 };
		usleep(100000);
		if (control_path_of(name, path, sizeof(path)) < 0)
			return VM_EXIT_ERROR;
		int r = control_call(path, "query-migrate", NULL, &st, 5000, &err);
		if (r == -ETIMEDOUT) {
			continue;	/* busy (the stop-and-copy): ask again */
		}
		if (r < 0) {
			/* the monitor ended: it does so only after a migration succeeded */
			printf("Migration: the source VM has ended\n");
			return 0;
		}
		const char *s = json_object_object_get_ex(st, "status", &v) ? json_object_get_string(v)
									    : "?";
		unsigned rounds = (unsigned)jd(st, "rounds");
		if (rounds != last_round || strcmp(s, "active") != 0) {
			printf("Migration: %s, round %u, %.0f MiB sent, %.0f MiB/s, %.1f MiB "
			       "remaining, expected downtime %.1f ms\n",
			       s, rounds, jd(st, "bytes-sent") / 1048576, jd(st, "mib-per-s"),
			       jd(st, "ram-remaining") / 1048576, jd(st, "expected-downtime-ms"));
			last_round = rounds;
			fflush(stdout);	/* progress, also into a file or a pipe */
		}
		if (strcmp(s, "completed") == 0) {
			printf("Migration: completed in %.0f ms, downtime %.1f ms, %.1f MiB sent\n",
			       jd(st, "total-ms"), jd(st, "downtime-ms"),
			       jd(st, "bytes-sent") / 1048576);
			json_object_put(st);
			return 0;
		}
		if (strcmp(s, "failed") == 0) {
			struct json_object *p;
			bool paused = json_object_object_get_ex(st, "guest-paused", &p) &&
				      json_object_get_boolean(p);
			log_error(paused ? "migrate: outcome unknown: %s"
					 : "migrate: failed, the domain goes on here: %s",
				  json_object_object_get_ex(st, "error", &v) ? json_object_get_string(v)
									     : "?");
			json_object_put(st);
			return VM_EXIT_ERROR;
		}
		json_object_put(st);
	}
}
