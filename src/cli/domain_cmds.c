/* SPDX-License-Identifier: MIT */
/* domain_cmds.c: list, define, undefine, start, create, shutdown, reboot,
 * reset, destroy, suspend, resume, dominfo, domstats, autostart - virsh's
 * verbs over our config directory (domain/store.c), run directory
 * (domain/runtime.c) and each domain's control socket. */
#include "domain_cmds.h"

#include <errno.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/err.h"
#include "common/log.h"
#include "common/parse.h"
#include "domain/domcfg.h"
#include "domain/paths.h"
#include "domain/runtime.h"
#include "domain/store.h"
#include "domain/supervisor.h"
#include "engine/engine.h"

#define DESTROY_WAIT_MS		15000

static void print_warning(void *ctx, const char *msg)
{
	(void)ctx;
	log_warnx("%s", msg);
}

static int fail(const struct err *err)
{
	log_error("%s", err->msg);
	return VM_EXIT_ERROR;
}

static int usage(const char *text)
{
	log_error("usage: domus %s", text);
	return VM_EXIT_USAGE;
}

static int get_paths(struct dom_paths *p)
{
	struct err err = { 0 };

	if (dom_paths_get(p, &err) < 0) {
		log_error("%s", err.msg);
		return -1;
	}
	return 0;
}

/* Flags and one name: "--flag" entries of (flags) that were seen are set. */
struct opt {
	const char *name;
	bool has_arg;
	bool seen;
	const char *val;
};

static int parse_opts(int argc, char **argv, struct opt *opts, size_t nopts, const char **pos,
		      size_t npos, size_t *got)
{
	*got = 0;
	for (int i = 1; i < argc; i++) {
		if (argv[i][0] == '-' && argv[i][1] != '\0') {
			size_t k;
			const char *eq = strchr(argv[i], '=');
			size_t len = eq ? (size_t)(eq - argv[i]) : strlen(argv[i]);
			for (k = 0; k < nopts; k++)
				if (strlen(opts[k].name) == len && strncmp(opts[k].name, argv[i], len) == 0)
					break;
			if (k == nopts) {
				log_error("%s: unknown option '%.*s'", argv[0], (int)len, argv[i]);
				return -1;
			}
			opts[k].seen = true;
			if (opts[k].has_arg) {
				if (eq)
					opts[k].val = eq + 1;
				else if (i + 1 < argc)
					opts[k].val = argv[++i];
				else {
					log_error("%s: option %s needs a value", argv[0], opts[k].name);
					return -1;
				}
			}
			continue;
		}
		if (*got == npos) {
			log_error("%s: unexpected argument '%s'", argv[0], argv[i]);
			return -1;
		}
		pos[(*got)++] = argv[i];
	}
	return 0;
}

/* A domain named by name, id or uuid, as virsh accepts, into (name). */
static int resolve(const struct dom_paths *p, const char *arg, char *name, size_t size)
{
	char **names;
	size_t n;

	if (domcfg_valid_name(arg) && (domstore_exists(p, arg) || domrt_active(p, arg))) {
		snprintf(name, size, "%s", arg);
		return 0;
	}
	bool numeric = arg[0] && strspn(arg, "0123456789") == strlen(arg);
	if (domrt_list(p, &names, &n, NULL) == 0) {
		for (size_t i = 0; i < n; i++) {
			struct dom_state st;
			if (domrt_read_state(p, names[i], &st, NULL) < 0)
				continue;
			if ((numeric && st.id == atoi(arg) && domrt_active(p, names[i])) ||
			    strcasecmp(st.uuid, arg) == 0 || strcmp(names[i], arg) == 0) {
				snprintf(name, size, "%s", names[i]);
				domstore_free_list(names, n);
				return 0;
			}
		}
		domstore_free_list(names, n);
	}
	if (domcfg_valid_uuid(arg) && domstore_list(p, &names, &n, NULL) == 0) {
		for (size_t i = 0; i < n; i++) {
			struct domain_config *c = malloc(sizeof(*c));
			bool hit = c && domstore_load(p, names[i], c, NULL, NULL, NULL) == 0 &&
				   strcasecmp(c->uuid, arg) == 0;
			free(c);
			if (hit) {
				snprintf(name, size, "%s", names[i]);
				domstore_free_list(names, n);
				return 0;
			}
		}
		domstore_free_list(names, n);
	}
	log_error("failed to get domain '%s': no domain with a matching name, id or uuid", arg);
	return -1;
}

/* A domain with a live process (running, paused, or preserved). */
static int need_active(const struct dom_paths *p, const char *name)
{
	if (!domrt_active(p, name)) {
		log_error("domain '%s' is not running", name);
		return -1;
	}
	return 0;
}

static bool wait_inactive(const struct dom_paths *p, const char *name, int ms)
{
	for (int t = 0; t < ms; t += 50) {
		if (!domrt_active(p, name))
			return true;
		usleep(50000);
	}
	return !domrt_active(p, name);
}

/* --- list ------------------------------------------------------------------------ */
static int add_name(char ***v, size_t *n, const char *s)
{
	for (size_t i = 0; i < *n; i++)
		if (strcmp((*v)[i], s) == 0)
			return 0;
	char **nv = realloc(*v, (*n + 2) * sizeof(**v));
	if (nv == NULL)
		return -ENOMEM;
	*v = nv;
	nv[*n] = strdup(s);
	if (nv[*n] == NULL)
		return -ENOMEM;
	(*n)++;
	nv[*n] = NULL;
	return 0;
}

char **domain_names(void)
{
	struct dom_paths p;
	char **a = NULL, **b = NULL, **out = NULL;
	size_t na = 0, nb = 0, n = 0;

	if (dom_paths_get(&p, NULL) < 0)
		return NULL;
	domstore_list(&p, &a, &na, NULL);
	domrt_list(&p, &b, &nb, NULL);
	for (size_t i = 0; i < na; i++)
		add_name(&out, &n, a[i]);
	for (size_t i = 0; i < nb; i++)
		add_name(&out, &n, b[i]);
	domstore_free_list(a, na);
	domstore_free_list(b, nb);
	return out;
}

struct row {
	char name[DOM_NAME_MAX];
	int id;
	const char *state;
};

static int cmp_row(const void *x, const void *y)
{
	const struct row *a = x, *b = y;

	if ((a->id < 0) != (b->id < 0))
		return a->id < 0 ? 1 : -1;
	if (a->id != b->id)
		return a->id < b->id ? -1 : 1;
	return strcmp(a->name, b->name);
}

int cmd_list(int argc, char **argv)
{
	struct opt opts[] = { { "--all", false, false, NULL }, { "--inactive", false, false, NULL } };
	struct dom_paths p;
	char **names = NULL;
	size_t n = 0, got;
	struct row *rows;

	if (parse_opts(argc, argv, opts, 2, NULL, 0, &got) < 0)
		return usage("list [--all] [--inactive]");
	if (get_paths(&p) < 0)
		return VM_EXIT_ERROR;
	names = domain_names();
	for (n = 0; names && names[n]; n++)
		;
	rows = calloc(n + 1, sizeof(*rows));
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		struct dom_state st;
		const char *state = domrt_view(&p, names[i], &st);
		bool active = strcmp(state, "shut off") != 0 || domrt_active(&p, names[i]);
		bool show = opts[0].seen || (opts[1].seen ? !active : active);
		if (!show)
			continue;
		snprintf(rows[k].name, sizeof(rows[k].name), "%s", names[i]);
		rows[k].id = active && st.id > 0 && domrt_active(&p, names[i]) ? st.id : -1;
		rows[k].state = state;
		k++;
	}
	qsort(rows, k, sizeof(*rows), cmp_row);
	printf(" %-5s%-32s%s\n", "Id", "Name", "State");
	printf("-----------------------------------------------\n");
	for (size_t i = 0; i < k; i++) {
		char id[16];
		if (rows[i].id > 0)
			snprintf(id, sizeof(id), "%d", rows[i].id);
		else
			snprintf(id, sizeof(id), "-");
		printf(" %-5s%-32s%s\n", id, rows[i].name, rows[i].state);
	}
	printf("\n");
	free(rows);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return 0;
}

/* --- define / undefine -------------------------------------------------------------- */
int cmd_define(int argc, char **argv)
{
	struct dom_paths p;
	struct err err = { 0 };
	struct domain_config *cfg;
	const char *file;
	char *text;
	size_t len, got;
	int r;

	if (parse_opts(argc, argv, NULL, 0, &file, 1, &got) < 0 || got != 1)
		return usage("define FILE");
	if (get_paths(&p) < 0)
		return VM_EXIT_ERROR;
	if (domstore_read_file(file, &text, &len, &err) < 0)
		return fail(&err);
	cfg = malloc(sizeof(*cfg));
	r = cfg ? domstore_define(&p, text, len, file, cfg, print_warning, NULL, &err) :
		  err_set(&err, ENOMEM, "out of memory");
	free(text);
	if (r == 0)
		printf("Domain '%s' defined from %s\n", cfg->name, file);
	free(cfg);
	return r < 0 ? fail(&err) : 0;
}

int cmd_undefine(int argc, char **argv)
{
	struct dom_paths p;
	struct err err = { 0 };
	const char *arg;
	char name[DOM_NAME_MAX];
	size_t got;

	if (parse_opts(argc, argv, NULL, 0, &arg, 1, &got) < 0 || got != 1)
		return usage("undefine DOMAIN");
	if (get_paths(&p) < 0 || resolve(&p, arg, name, sizeof(name)) < 0)
		return VM_EXIT_ERROR;
	if (domstore_undefine(&p, name, &err) < 0)
		return fail(&err);
	printf("Domain '%s' has been undefined\n", name);
	return 0;
}

/* --- start / create ---------------------------------------------------------------- */

static int start_one(const struct dom_paths *p, const char *name, bool console)
{
	struct err err = { 0 };
	struct domain_config *cfg = malloc(sizeof(*cfg));
	char path[DOM_DIR_MAX + 80];
	int r;

	if (cfg == NULL)
		return VM_EXIT_ERROR;
	dom_path(path, sizeof(path), p->etc, name, ".cfg");
	r = domstore_load(p, name, cfg, print_warning, NULL, &err);
	if (r == 0)
		r = domsup_start(p, cfg, path, true, &err);
	free(cfg);
	if (r < 0) {
		log_error("failed to start domain '%s': %s", name, err.msg);
		return VM_EXIT_ERROR;
	}
	printf("Domain '%s' started\n", name);
	fflush(stdout);
	return console ? console_attach(name) : 0;
}

int cmd_start(int argc, char **argv)
{
	struct opt opts[] = { { "--console", false, false, NULL },
			      { "--autostart", false, false, NULL } };
	struct dom_paths p;
	const char *arg = NULL;
	size_t got;

	if (parse_opts(argc, argv, opts, 2, &arg, 1, &got) < 0 || (got != 1 && !opts[1].seen))
		return usage("start DOMAIN [--console] | start --autostart");
	if (get_paths(&p) < 0)
		return VM_EXIT_ERROR;
	if (opts[1].seen) {
		/* at boot: every domain marked autostart that is not running */
		char **names;
		size_t n;
		int status = 0;
		if (domstore_list(&p, &names, &n, NULL) < 0)
			return VM_EXIT_ERROR;
		for (size_t i = 0; i < n; i++)
			if (domstore_is_autostart(&p, names[i]) && !domrt_active(&p, names[i]) &&
			    start_one(&p, names[i], false) != 0)
				status = VM_EXIT_ERROR;
		domstore_free_list(names, n);
		return status;
	}
	if (!domcfg_valid_name(arg) || !domstore_exists(&p, arg)) {
		char name[DOM_NAME_MAX];
		if (resolve(&p, arg, name, sizeof(name)) < 0)
			return VM_EXIT_ERROR;
		if (!domstore_exists(&p, name)) {
			log_error("domain '%s' is not defined (running transient domains cannot be "
				  "started again)", name);
			return VM_EXIT_ERROR;
		}
		return start_one(&p, name, opts[0].seen);
	}
	return start_one(&p, arg, opts[0].seen);
}

int cmd_create(int argc, char **argv)
{
	struct opt opts[] = { { "--console", false, false, NULL } };
	struct dom_paths p;
	struct err err = { 0 };
	struct domain_config *cfg;
	const char *file;
	char real[4096];
	size_t got;
	int r;

	if (parse_opts(argc, argv, opts, 1, &file, 1, &got) < 0 || got != 1)
		return usage("create FILE [--console]");
	if (get_paths(&p) < 0)
		return VM_EXIT_ERROR;
	cfg = malloc(sizeof(*cfg));
	if (cfg == NULL)
		return VM_EXIT_ERROR;
	r = domstore_load_file(file, cfg, print_warning, NULL, &err);
	if (r == 0 && domstore_exists(&p, cfg->name)) {
		struct domain_config *old = malloc(sizeof(*old));
		if (old && domstore_load(&p, cfg->name, old, NULL, NULL, NULL) == 0 && cfg->uuid[0] &&
		    strcmp(old->uuid, cfg->uuid) != 0)
			r = err_set(&err, EEXIST, "domain '%s' already exists with uuid %s",
				    cfg->name, old->uuid);
		free(old);
	}
	if (r == 0 && !cfg->uuid[0])
		r = domstore_new_uuid(cfg->uuid, &err);
	if (r == 0)
		r = domsup_start(&p, cfg, realpath(file, real) ? real : file, false, &err);
	if (r < 0) {
		free(cfg);
		log_error("failed to create domain from %s: %s", file, err.msg);
		return VM_EXIT_ERROR;
	}
	printf("Domain '%s' created from %s\n", cfg->name, file);
	fflush(stdout);
	char name[DOM_NAME_MAX];
	snprintf(name, sizeof(name), "%s", cfg->name);
	free(cfg);
	return opts[0].seen ? console_attach(name) : 0;
}

/* --- power ---------------------------------------------------------------------- */
static int destroy_name(const struct dom_paths *p, const char *name, bool quiet)
{
	struct dom_state st;
	struct json_object *reply;
	bool had_state = domrt_read_state(p, name, &st, NULL) == 0;

	if (!domrt_active(p, name)) {
		if (!had_state) {
			log_error("domain '%s' is not running", name);
			return VM_EXIT_ERROR;
		}
		domrt_cleanup(p, name);	/* a crashed domain's remains */
	} else {
		domrt_set_intent(p, name, "destroy");
		if (had_state && st.supervisor > 0)
			kill(st.supervisor, SIGTERM);
		if (!wait_inactive(p, name, 3000)) {
			/* no supervisor (killed): ask the monitor itself */
			if (domrt_call(p, name, "quit", NULL, &reply, 2000, NULL) == 0)
				json_object_put(reply);
			if (had_state && st.monitor > 0 && !wait_inactive(p, name, 2000))
				kill(st.monitor, SIGKILL);
		}
		if (!wait_inactive(p, name, DESTROY_WAIT_MS)) {
			log_error("failed to destroy domain '%s': its processes do not end", name);
			return VM_EXIT_ERROR;
		}
		domrt_cleanup(p, name);
	}
	if (!quiet)
		printf("Domain '%s' destroyed\n", name);
	return 0;
}

int cmd_destroy(int argc, char **argv)
{
	struct opt opts[] = { { "--graceful", false, false, NULL } };
	struct dom_paths p;
	const char *arg;
	char name[DOM_NAME_MAX];
	size_t got;

	if (parse_opts(argc, argv, opts, 1, &arg, 1, &got) < 0 || got != 1)
		return usage("destroy DOMAIN");
	if (get_paths(&p) < 0 || resolve(&p, arg, name, sizeof(name)) < 0)
		return VM_EXIT_ERROR;
	return destroy_name(&p, name, false);
}

/* (cmd) on the domain's control socket; prints "Domain 'NAME' (done)". */
static int simple_call(int argc, char **argv, const char *cmd, const char *intent,
		       const char *done)
{
	struct dom_paths p;
	struct err err = { 0 };
	struct json_object *reply;
	const char *arg;
	char name[DOM_NAME_MAX];
	size_t got;

	if (parse_opts(argc, argv, NULL, 0, &arg, 1, &got) < 0 || got != 1) {
		char u[64];
		snprintf(u, sizeof(u), "%s DOMAIN", argv[0]);
		return usage(u);
	}
	if (get_paths(&p) < 0 || resolve(&p, arg, name, sizeof(name)) < 0 ||
	    need_active(&p, name) < 0)
		return VM_EXIT_ERROR;
	if (intent)
		domrt_set_intent(&p, name, intent);
	if (domrt_call(&p, name, cmd, NULL, &reply, 5000, &err) < 0) {
		if (intent)
			domrt_set_intent(&p, name, NULL);
		log_error("failed to %s domain '%s': %s", argv[0], name, err.msg);
		return VM_EXIT_ERROR;
	}
	json_object_put(reply);
	printf("Domain '%s' %s\n", name, done);
	return 0;
}

int cmd_suspend(int argc, char **argv)
{
	return simple_call(argc, argv, "pause", NULL, "suspended");
}

int cmd_resume(int argc, char **argv)
{
	return simple_call(argc, argv, "resume", NULL, "resumed");
}

int cmd_reboot(int argc, char **argv)
{
	return simple_call(argc, argv, "shutdown", "reboot", "is being rebooted");
}

int cmd_reset(int argc, char **argv)
{
	return simple_call(argc, argv, "reset", NULL, "was reset");
}

int cmd_shutdown(int argc, char **argv)
{
	struct opt opts[] = { { "--timeout", true, false, NULL } };
	struct dom_paths p;
	struct err err = { 0 };
	struct json_object *reply;
	const char *arg;
	char name[DOM_NAME_MAX];
	uint64_t timeout = 0;
	size_t got;

	if (parse_opts(argc, argv, opts, 1, &arg, 1, &got) < 0 || got != 1)
		return usage("shutdown DOMAIN [--timeout SECONDS]");
	if (opts[0].seen && (parse_u64(opts[0].val, &timeout) < 0 || timeout == 0)) {
		log_error("shutdown: --timeout '%s': expected a number of seconds", opts[0].val);
		return VM_EXIT_USAGE;
	}
	if (get_paths(&p) < 0 || resolve(&p, arg, name, sizeof(name)) < 0 ||
	    need_active(&p, name) < 0)
		return VM_EXIT_ERROR;
	domrt_set_intent(&p, name, "shutdown");
	if (domrt_call(&p, name, "shutdown", NULL, &reply, 5000, &err) < 0) {
		if (!opts[0].seen) {
			domrt_set_intent(&p, name, NULL);
			log_error("failed to shutdown domain '%s': %s", name, err.msg);
			return VM_EXIT_ERROR;
		}
	} else {
		json_object_put(reply);
	}
	if (!opts[0].seen) {
		printf("Domain '%s' is being shutdown\n", name);
		return 0;
	}
	if (wait_inactive(&p, name, (int)(timeout > 3600 ? 3600000 : timeout * 1000))) {
		printf("Domain '%s' is shut down\n", name);
		return 0;
	}
	log_warnx("domain '%s' did not shut down within %llu s: destroying it", name,
		  (unsigned long long)timeout);
	if (destroy_name(&p, name, true) != 0)
		return VM_EXIT_ERROR;
	printf("Domain '%s' destroyed after the shutdown timeout\n", name);
	return 0;
}

/* --- information ------------------------------------------------------------------ */
struct info {
	const char *state;
	struct dom_state st;
	struct domain_config cfg;
	bool have_cfg;
	struct json_object *status;	/* query-status, or NULL */
};

static void gather(const struct dom_paths *p, const char *name, struct info *in)
{
	in->state = domrt_view(p, name, &in->st);
	in->status = NULL;
	in->have_cfg = false;
	if (in->st.config[0])
		in->have_cfg = domstore_load_file(in->st.config, &in->cfg, NULL, NULL, NULL) == 0;
	if (!in->have_cfg)
		in->have_cfg = domstore_load(p, name, &in->cfg, NULL, NULL, NULL) == 0;
	if (domrt_active(p, name))
		domrt_call(p, name, "query-status", NULL, &in->status, 2000, NULL);
}

static int64_t jget(struct json_object *o, const char *k)
{
	struct json_object *v;

	return o && json_object_object_get_ex(o, k, &v) ? json_object_get_int64(v) : -1;
}

int cmd_dominfo(int argc, char **argv)
{
	struct dom_paths p;
	const char *arg;
	char name[DOM_NAME_MAX];
	struct info *in;
	size_t got;

	if (parse_opts(argc, argv, NULL, 0, &arg, 1, &got) < 0 || got != 1)
		return usage("dominfo DOMAIN");
	if (get_paths(&p) < 0 || resolve(&p, arg, name, sizeof(name)) < 0)
		return VM_EXIT_ERROR;
	in = calloc(1, sizeof(*in));
	if (in == NULL)
		return VM_EXIT_ERROR;
	gather(&p, name, in);
	bool active = domrt_active(&p, name);
	if (active && in->st.id > 0)
		printf("%-16s%d\n", "Id:", in->st.id);
	else
		printf("%-16s%s\n", "Id:", "-");
	printf("%-16s%s\n", "Name:", name);
	printf("%-16s%s\n", "UUID:", in->have_cfg && in->cfg.uuid[0] ? in->cfg.uuid : in->st.uuid);
	printf("%-16s%s\n", "OS Type:", "linux");
	printf("%-16s%s\n", "State:", in->state);
	if (in->have_cfg)
		printf("%-16s%u\n", "CPU(s):", in->cfg.vcpus);
	int64_t cpu = jget(in->status, "cpu-time-ns");
	if (cpu >= 0)
		printf("%-16s%.1fs\n", "CPU time:", (double)cpu / 1e9);
	if (in->have_cfg) {
		uint64_t max = in->cfg.maxmem_mib ? in->cfg.maxmem_mib : in->cfg.memory_mib;
		printf("%-16s%llu KiB\n", "Max memory:", (unsigned long long)max * 1024);
		printf("%-16s%llu KiB\n", "Used memory:", (unsigned long long)in->cfg.memory_mib * 1024);
	}
	printf("%-16s%s\n", "Persistent:", domstore_exists(&p, name) ? "yes" : "no");
	printf("%-16s%s\n", "Autostart:", domstore_is_autostart(&p, name) ? "enable" : "disable");
	if (in->status) {
		struct json_object *v;
		if (json_object_object_get_ex(in->status, "engine", &v))
			printf("%-16s%s\n", "Engine:", json_object_get_string(v));
		printf("%-16s%lld\n", "Monitor PID:", (long long)in->st.monitor);
	}
	if (active && in->st.started > 0 && strcmp(in->state, "running") == 0) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		printf("%-16s%.0fs\n", "Uptime:", (double)ts.tv_sec - in->st.started);
	}
	if (in->have_cfg) {
		printf("%-16s%s\n", "On poweroff:", dom_action_name(in->cfg.on_poweroff));
		printf("%-16s%s\n", "On reboot:", dom_action_name(in->cfg.on_reboot));
		printf("%-16s%s\n", "On crash:", dom_action_name(in->cfg.on_crash));
	}
	if (in->st.reason[0] && strcmp(in->state, "running") != 0)
		printf("%-16s%s\n", "Reason:", in->st.reason);
	printf("\n");
	json_object_put(in->status);
	free(in);
	return 0;
}

/* virsh's state numbers (virDomainState) */
static int state_number(const char *s)
{
	if (strcmp(s, "running") == 0 || strcmp(s, "in shutdown") == 0)
		return strcmp(s, "running") == 0 ? 1 : 4;
	if (strcmp(s, "paused") == 0)
		return 3;
	if (strcmp(s, "crashed") == 0)
		return 6;
	return 5;	/* shut off */
}

int cmd_domstats(int argc, char **argv)
{
	struct dom_paths p;
	const char *args[64];
	size_t got;
	char **names = NULL;
	int status = 0;

	if (parse_opts(argc, argv, NULL, 0, args, ARRAY_SIZE(args), &got) < 0)
		return usage("domstats [DOMAIN...]");
	if (get_paths(&p) < 0)
		return VM_EXIT_ERROR;
	if (got == 0) {
		names = domain_names();
		for (size_t i = 0; names && names[i] && got < ARRAY_SIZE(args); i++)
			if (domrt_active(&p, names[i]))
				args[got++] = names[i];
	}
	for (size_t i = 0; i < got; i++) {
		char name[DOM_NAME_MAX];
		struct info *in = calloc(1, sizeof(*in));
		if (in == NULL || resolve(&p, args[i], name, sizeof(name)) < 0) {
			free(in);
			status = VM_EXIT_ERROR;
			continue;
		}
		gather(&p, name, in);
		printf("Domain: '%s'\n", name);
		printf("  state.state=%d\n", state_number(in->state));
		int64_t cpu = jget(in->status, "cpu-time-ns");
		if (cpu >= 0)
			printf("  cpu.time=%lld\n", (long long)cpu);
		if (in->have_cfg) {
			uint64_t max = in->cfg.maxmem_mib ? in->cfg.maxmem_mib : in->cfg.memory_mib;
			printf("  balloon.current=%llu\n", (unsigned long long)in->cfg.memory_mib * 1024);
			printf("  balloon.maximum=%llu\n", (unsigned long long)max * 1024);
			printf("  vcpu.current=%u\n  vcpu.maximum=%u\n", in->cfg.vcpus, in->cfg.vcpus);
			printf("  net.count=%u\n", in->cfg.nr_vifs);
			for (unsigned k = 0; k < in->cfg.nr_vifs; k++)
				printf("  net.%u.spec=%s\n", k, in->cfg.vifs[k].spec);
			printf("  block.count=%u\n", in->cfg.nr_disks);
			for (unsigned k = 0; k < in->cfg.nr_disks; k++) {
				printf("  block.%u.name=vd%c\n", k, 'a' + k);
				printf("  block.%u.path=%s\n", k, in->cfg.disks[k].target);
			}
		}
		int64_t boots = jget(in->status, "boots");
		if (boots >= 0)
			printf("  domus.boots=%lld\n", (long long)boots);
		printf("  domus.restarts=%u\n\n", in->st.restarts);
		json_object_put(in->status);
		free(in);
	}
	for (size_t i = 0; names && names[i]; i++)
		free(names[i]);
	free(names);
	return status;
}

/* domstate, domid, domuuid: one value each, as virsh prints them. */
static int one_value(int argc, char **argv, int what)
{
	struct dom_paths p;
	const char *arg;
	char name[DOM_NAME_MAX];
	size_t got;
	struct info *in;

	if (parse_opts(argc, argv, NULL, 0, &arg, 1, &got) < 0 || got != 1) {
		log_error("usage: domus %s DOMAIN", argv[0]);
		return VM_EXIT_USAGE;
	}
	if (get_paths(&p) < 0 || resolve(&p, arg, name, sizeof(name)) < 0)
		return VM_EXIT_ERROR;
	in = calloc(1, sizeof(*in));
	if (in == NULL)
		return VM_EXIT_ERROR;
	gather(&p, name, in);
	if (what == 0) {
		printf("%s\n", in->state);
		if (in->st.reason[0] && strcmp(in->state, "running") != 0)
			printf("(%s)\n", in->st.reason);
	} else if (what == 1) {
		if (domrt_active(&p, name) && in->st.id > 0)
			printf("%d\n", in->st.id);
		else
			printf("-\n");
	} else {
		printf("%s\n", in->have_cfg && in->cfg.uuid[0] ? in->cfg.uuid : in->st.uuid);
	}
	printf("\n");
	json_object_put(in->status);
	free(in);
	return 0;
}

int cmd_domstate(int argc, char **argv)
{
	return one_value(argc, argv, 0);
}

int cmd_domid(int argc, char **argv)
{
	return one_value(argc, argv, 1);
}

int cmd_domuuid(int argc, char **argv)
{
	return one_value(argc, argv, 2);
}

int cmd_autostart(int argc, char **argv)
{
	struct opt opts[] = { { "--disable", false, false, NULL } };
	struct dom_paths p;
	struct err err = { 0 };
	const char *arg;
	char name[DOM_NAME_MAX];
	size_t got;

	if (parse_opts(argc, argv, opts, 1, &arg, 1, &got) < 0 || got != 1)
		return usage("autostart DOMAIN [--disable]");
	if (get_paths(&p) < 0 || resolve(&p, arg, name, sizeof(name)) < 0)
		return VM_EXIT_ERROR;
	if (domstore_autostart(&p, name, !opts[0].seen, &err) < 0)
		return fail(&err);
	printf("Domain '%s' %s as autostarted\n", name, opts[0].seen ? "unmarked" : "marked");
	return 0;
}
