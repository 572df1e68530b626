/* SPDX-License-Identifier: MIT */
/* oci_cli.c: domus-oci, the OCI runtime command line (the verbs and global
 * flags runc and crun accept), over container.c. Errors are one line on
 * stderr and, with --log, one record in the log file (JSON with
 * --log-format json, which is how Podman's conmon reads them). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <json-c/json.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/err.h"
#include "common/log.h"
#include "container.h"
#include "oci.h"
#include "spec.h"
#include "state.h"

struct oci_global {
	const char *root;
	const char *log;
	const char *log_format;
	bool systemd_cgroup;
	bool debug;
};

static struct oci_global g = { .root = STATE_ROOT_DEFAULT, .log_format = "text" };

static void oci_log(const char *level, const char *msg)
{
	char ts[64];
	struct timespec t;
	struct tm tm;
	FILE *f;

	if (g.log == NULL)
		return;
	f = fopen(g.log, "ae");
	if (f == NULL)
		return;
	clock_gettime(CLOCK_REALTIME, &t);
	gmtime_r(&t.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (strcmp(g.log_format, "json") == 0) {
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "level", json_object_new_string(level));
		json_object_object_add(o, "msg", json_object_new_string(msg));
		json_object_object_add(o, "time", json_object_new_string(ts));
		fprintf(f, "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		json_object_put(o);
	} else {
		fprintf(f, "time=\"%s\" level=%s msg=\"%s\"\n", ts, level, msg);
	}
	fclose(f);
}

/* the one place domus-oci reports an error */
static int fail(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(int status, const char *fmt, ...)
{
	char msg[ERR_MSG_MAX + 128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "domus-oci: %s\n", msg);
	oci_log("error", msg);
	return status;
}

static void warn_err(const struct err *w)
{
	if (w->code == 0)
		return;
	fprintf(stderr, "domus-oci: warning: %s\n", w->msg);
	oci_log("warning", w->msg);
}

static int fail_err(const struct err *e)
{
	return fail(1, "%s", e->msg[0] ? e->msg : "failed");
}

static int need_id(int argc, char **argv, const char *verb, const char **id)
{
	if (optind >= argc) {
		fail(2, "%s: missing container id", verb);
		return -1;
	}
	*id = argv[optind++];
	return 0;
}

static int bundle_abs(const char *bundle, char *out, size_t size, struct err *err)
{
	if (realpath(bundle ? bundle : ".", out) == NULL)
		return err_setsys(err, errno, "bundle %s", bundle ? bundle : ".");
	(void)size;
	return 0;
}

static int load_config(const char *bundle, char **text, size_t *len, struct oci_spec **s,
		       struct err *err)
{
	char path[PATH_MAX + 16];
	int r;

	xsnprintf(path, sizeof(path), "%s/config.json", bundle);
	if ((r = read_file(path, text, len)) < 0)
		return err_setsys(err, -r, "%s", path);
	if ((r = spec_parse(*text, *len, "config.json", s, err))) {
		free(*text);
		*text = NULL;
	}
	return r;
}

enum { OPT_BUNDLE = 'b', OPT_CONSOLE = 256, OPT_PIDFILE, OPT_NOPIVOT, OPT_NOKEYRING,
       OPT_PRESERVE, OPT_DETACH = 'd', OPT_KEEP };

static const struct option create_opts[] = {
	{ "bundle", required_argument, NULL, OPT_BUNDLE },
	{ "console-socket", required_argument, NULL, OPT_CONSOLE },
	{ "pid-file", required_argument, NULL, OPT_PIDFILE },
	{ "no-pivot", no_argument, NULL, OPT_NOPIVOT },
	{ "no-new-keyring", no_argument, NULL, OPT_NOKEYRING },
	{ "preserve-fds", required_argument, NULL, OPT_PRESERVE },
	{ "detach", no_argument, NULL, OPT_DETACH },
	{ "keep", no_argument, NULL, OPT_KEEP },
	{ NULL, 0, NULL, 0 },
};

static int create_or_run(int argc, char **argv, bool run)
{
	struct ctr_opts o = { .root = g.root };
	const char *bundle = NULL;
	char babs[PATH_MAX], *text = NULL;
	struct oci_spec *s = NULL;
	struct err err = { 0 }, warn = { 0 };
	bool detach = false, keep = false;
	size_t len;
	int c, master = -1, status;
	pid_t pid;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+b:d", create_opts, NULL)) != -1) {
		switch (c) {
		case OPT_BUNDLE: bundle = optarg; break;
		case OPT_CONSOLE: o.console_socket = optarg; break;
		case OPT_PIDFILE: o.pid_file = optarg; break;
		case OPT_NOPIVOT: case OPT_NOKEYRING: break;
		case OPT_PRESERVE: o.preserve_fds = atoi(optarg); break;
		case OPT_DETACH: detach = true; break;
		case OPT_KEEP: keep = true; break;
		default: return fail(2, "%s: bad option (see domus-oci --help)", argv[0]);
		}
	}
	if (need_id(argc, argv, argv[0], &o.id) < 0)
		return 2;
	if (g.systemd_cgroup)
		return fail(1, "--systemd-cgroup: the systemd cgroup manager is not supported; "
			       "use the cgroupfs manager");
	if (bundle_abs(bundle, babs, sizeof(babs), &err) ||
	    load_config(babs, &text, &len, &s, &err))
		return fail_err(&err);
	o.bundle = babs;
	o.foreground = run && !detach && !o.console_socket;
	if (ctr_create(&o, s, text, len, &master, &pid, &err)) {
		spec_free(s);
		free(text);
		return fail_err(&err);
	}
	spec_free(s);
	free(text);
	if (!run)
		return 0;
	if (ctr_start(g.root, o.id, &warn, &err)) {
		ctr_delete(g.root, o.id, true, NULL, NULL);
		return fail_err(&err);
	}
	warn_err(&warn);
	if (detach)
		return 0;
	status = ctr_wait(pid, master);
	if (master >= 0)
		close(master);
	memset(&warn, 0, sizeof(warn));
	if (!keep && ctr_delete(g.root, o.id, true, &warn, &err))
		fail(1, "%s", err.msg);
	warn_err(&warn);
	return status;
}

static int oci_create(int argc, char **argv)
{
	return create_or_run(argc, argv, false);
}

static int oci_run(int argc, char **argv)
{
	return create_or_run(argc, argv, true);
}

static int oci_start(int argc, char **argv)
{
	struct err err = { 0 }, warn = { 0 };
	const char *id;

	optind = 1;
	if (need_id(argc, argv, "start", &id) < 0)
		return 2;
	if (ctr_start(g.root, id, &warn, &err))
		return fail_err(&err);
	warn_err(&warn);
	return 0;
}

static int oci_state(int argc, char **argv)
{
	struct ctr_state st;
	struct err err = { 0 };
	const char *id;
	char *json;

	optind = 1;
	if (need_id(argc, argv, "state", &id) < 0)
		return 2;
	if (state_read(g.root, id, &st, &err))
		return fail_err(&err);
	json = state_json(&st, true);
	if (json == NULL)
		return fail(1, "out of memory");
	printf("%s\n", json);
	free(json);
	return 0;
}

static int oci_kill(int argc, char **argv)
{
	static const struct option opts[] = { { "all", no_argument, NULL, 'a' },
					      { NULL, 0, NULL, 0 } };
	struct err err = { 0 };
	const char *id;
	bool all = false;
	int c, sig = SIGTERM;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+a", opts, NULL)) != -1) {
		if (c != 'a')
			return fail(2, "kill: bad option");
		all = true;
	}
	if (need_id(argc, argv, "kill", &id) < 0)
		return 2;
	if (optind < argc && (sig = ctr_signal_parse(argv[optind])) < 0)
		return fail(2, "kill: unknown signal '%s'", argv[optind]);
	if (ctr_kill(g.root, id, sig, all, &err))
		return fail_err(&err);
	return 0;
}

static int oci_delete(int argc, char **argv)
{
	static const struct option opts[] = { { "force", no_argument, NULL, 'f' },
					      { NULL, 0, NULL, 0 } };
	struct err err = { 0 }, warn = { 0 };
	const char *id;
	bool force = false;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+f", opts, NULL)) != -1) {
		if (c != 'f')
			return fail(2, "delete: bad option");
		force = true;
	}
	if (need_id(argc, argv, "delete", &id) < 0)
		return 2;
	if (ctr_delete(g.root, id, force, &warn, &err)) {
		/* runc's contract: --force on a missing container is not an error */
		if (force && err.code == ENOENT)
			return 0;
		return fail_err(&err);
	}
	warn_err(&warn);
	return 0;
}

static int add_env(char ***env, const char *kv)
{
	size_t n = 0, klen = strcspn(kv, "=");
	char **v;

	for (; *env && (*env)[n]; n++) {
		if (strncmp((*env)[n], kv, klen) == 0 && (*env)[n][klen] == '=') {
			free((*env)[n]);
			(*env)[n] = strdup(kv);
			return (*env)[n] ? 0 : -ENOMEM;
		}
	}
	v = realloc(*env, (n + 2) * sizeof(char *));
	if (v == NULL)
		return -ENOMEM;
	v[n] = strdup(kv);
	v[n + 1] = NULL;
	*env = v;
	return v[n] ? 0 : -ENOMEM;
}

static int oci_exec(int argc, char **argv)
{
	enum { E_PROCESS = 300, E_CONSOLE, E_PIDFILE, E_CWD, E_PRESERVE, E_NNP, E_CAP, E_LABEL };
	static const struct option opts[] = {
		{ "process", required_argument, NULL, 'p' },
		{ "console-socket", required_argument, NULL, E_CONSOLE },
		{ "pid-file", required_argument, NULL, E_PIDFILE },
		{ "cwd", required_argument, NULL, E_CWD },
		{ "env", required_argument, NULL, 'e' },
		{ "tty", no_argument, NULL, 't' },
		{ "user", required_argument, NULL, 'u' },
		{ "detach", no_argument, NULL, 'd' },
		{ "preserve-fds", required_argument, NULL, E_PRESERVE },
		{ "no-new-privs", no_argument, NULL, E_NNP },
		{ "cap", required_argument, NULL, 'c' },
		{ "process-label", required_argument, NULL, E_LABEL },
		{ "apparmor", required_argument, NULL, E_LABEL },
		{ NULL, 0, NULL, 0 },
	};
	struct ctr_exec_opts eo = { 0 };
	struct oci_process proc = { 0 };
	struct oci_spec *s = NULL;
	struct err err = { 0 };
	const char *id, *process_file = NULL, *cwd = NULL, *user = NULL;
	char **envs = NULL, path[PATH_MAX], *text;
	size_t n_env = 0, len;
	bool tty = false, nnp = false;
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+p:e:tu:dc:", opts, NULL)) != -1) {
		switch (c) {
		case 'p': process_file = optarg; break;
		case E_CONSOLE: eo.console_socket = optarg; break;
		case E_PIDFILE: eo.pid_file = optarg; break;
		case E_CWD: cwd = optarg; break;
		case 'e': {
			char **nv = realloc(envs, (n_env + 2) * sizeof(char *));
			if (nv == NULL)
				return fail(1, "out of memory");
			envs = nv;
			envs[n_env++] = optarg;
			envs[n_env] = NULL;
			break;
		}
		case 't': tty = true; break;
		case 'u': user = optarg; break;
		case 'd': eo.detach = true; break;
		case E_PRESERVE: eo.preserve_fds = atoi(optarg); break;
		case E_NNP: nnp = true; break;
		case 'c': case E_LABEL: break;
		default: free(envs); return fail(2, "exec: bad option");
		}
	}
	if (need_id(argc, argv, "exec", &id) < 0) {
		free(envs);
		return 2;
	}
	if (process_file) {
		if ((r = read_file(process_file, &text, &len)) < 0) {
			free(envs);
			return fail(1, "%s: %s", process_file, strerror(-r));
		}
		r = spec_parse_process(text, len, process_file, &proc, &err);
		free(text);
		if (r) {
			free(envs);
			return fail_err(&err);
		}
	} else {
		if (optind >= argc) {
			free(envs);
			return fail(2, "exec: no command (give one, or --process FILE)");
		}
		state_path(path, sizeof(path), g.root, id, "config.json");
		if ((r = read_file(path, &text, &len)) < 0) {
			free(envs);
			return fail(1, "container %s does not exist", id);
		}
		r = spec_parse(text, len, path, &s, &err);
		free(text);
		if (r) {
			free(envs);
			return fail_err(&err);
		}
		/* the container's process, with our args */
		proc = s->process;
		memset(&s->process, 0, sizeof(s->process));
		for (size_t i = 0; proc.args && proc.args[i]; i++)
			free(proc.args[i]);
		free(proc.args);
		proc.args = calloc((size_t)(argc - optind) + 1, sizeof(char *));
		for (int i = optind; proc.args && i < argc; i++)
			proc.args[i - optind] = strdup(argv[i]);
		proc.terminal = tty;
	}
	for (size_t i = 0; i < n_env; i++)
		add_env(&proc.env, envs[i]);
	free(envs);
	if (cwd) {
		free(proc.cwd);
		proc.cwd = strdup(cwd);
	}
	if (user) {
		unsigned uid, gid;
		int k = sscanf(user, "%u:%u", &uid, &gid);
		if (k < 1) {
			spec_process_free(&proc);
			spec_free(s);
			return fail(2, "exec: --user wants UID[:GID]");
		}
		proc.uid = uid;
		proc.gid = k == 2 ? gid : proc.gid;
	}
	if (nnp)
		proc.no_new_privs = true;
	if (proc.args == NULL) {
		spec_free(s);
		return fail(1, "out of memory");
	}
	eo.process = &proc;
	r = ctr_exec(g.root, id, &eo, &err);
	spec_process_free(&proc);
	spec_free(s);
	if (r < 0)
		return fail_err(&err);
	return r;
}

static int oci_list(int argc, char **argv)
{
	static const struct option opts[] = { { "format", required_argument, NULL, 'f' },
					      { "quiet", no_argument, NULL, 'q' },
					      { NULL, 0, NULL, 0 } };
	const char *format = "table";
	struct json_object *arr = json_object_new_array();
	bool quiet = false;
	struct dirent *de;
	DIR *d;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+f:q", opts, NULL)) != -1) {
		if (c == 'f')
			format = optarg;
		else if (c == 'q')
			quiet = true;
		else
			return fail(2, "list: bad option");
	}
	d = opendir(g.root);
	if (!quiet && strcmp(format, "json") != 0)
		printf("%-24s %-8s %-10s %-40s %s\n", "ID", "PID", "STATUS", "BUNDLE", "CREATED");
	while (d && (de = readdir(d)) != NULL) {
		struct ctr_state st;
		enum ctr_status s;
		if (de->d_name[0] == '.' || state_read(g.root, de->d_name, &st, NULL))
			continue;
		s = state_status(&st);
		if (quiet) {
			printf("%s\n", st.id);
		} else if (strcmp(format, "json") == 0) {
			char *j = state_json(&st, false);
			json_object_array_add(arr, json_tokener_parse(j));
			free(j);
		} else {
			printf("%-24s %-8d %-10s %-40s %s\n", st.id, s == CTR_STOPPED ? 0 : st.pid,
			       state_status_name(s), st.bundle, st.created);
		}
	}
	if (d)
		closedir(d);
	if (!quiet && strcmp(format, "json") == 0)
		printf("%s\n",
		       json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PLAIN |
							    JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(arr);
	return 0;
}

static int oci_spec(int argc, char **argv)
{
	static const struct option opts[] = { { "bundle", required_argument, NULL, 'b' },
					      { "rootless", no_argument, NULL, 'r' },
					      { NULL, 0, NULL, 0 } };
	const char *bundle = ".";
	char path[PATH_MAX], *text;
	bool rootless = false;
	int c, fd;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+b:", opts, NULL)) != -1) {
		if (c == 'b')
			bundle = optarg;
		else if (c == 'r')
			rootless = true;
		else
			return fail(2, "spec: bad option");
	}
	xsnprintf(path, sizeof(path), "%s/config.json", bundle);
	text = spec_default_json(rootless);
	if (text == NULL)
		return fail(1, "out of memory");
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		free(text);
		return fail(1, "%s: %s", path, strerror(errno));
	}
	if (write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
		close(fd);
		free(text);
		return fail(1, "%s: write failed", path);
	}
	close(fd);
	free(text);
	return 0;
}

static struct json_object *strv_json(const char *const *v, size_t n)
{
	struct json_object *a = json_object_new_array();

	for (size_t i = 0; i < n; i++)
		json_object_array_add(a, json_object_new_string(v[i]));
	return a;
}

static int oci_features(int argc, char **argv)
{
	static const char *const hooks[] = { "prestart", "createRuntime", "createContainer",
					     "startContainer", "poststart", "poststop" };
	static const char *const mount_opts[] = {
		"async", "atime", "bind", "dev", "diratime", "dirsync", "exec", "mand", "noatime",
		"nodev", "nodiratime", "noexec", "nomand", "norelatime", "nostrictatime",
		"nosuid", "private", "rbind", "relatime", "remount", "ro", "rprivate", "rshared",
		"rslave", "runbindable", "rw", "shared", "slave", "strictatime", "suid", "sync",
		"unbindable" };
	static const char *const ns[] = { "cgroup", "ipc", "mount", "network", "pid", "time",
					  "user", "uts" };
	static const char *const actions[] = { "SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO",
					       "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
					       "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG",
					       "SCMP_ACT_TRACE", "SCMP_ACT_TRAP" };
	static const char *const ops[] = { "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT",
					   "SCMP_CMP_LE", "SCMP_CMP_LT", "SCMP_CMP_MASKED_EQ",
					   "SCMP_CMP_NE" };
	static const char *const archs[] = { "SCMP_ARCH_X86_64", "SCMP_ARCH_X86",
					     "SCMP_ARCH_X32" };
	struct json_object *o = json_object_new_object(), *lx = json_object_new_object();
	struct json_object *cg = json_object_new_object(), *sc = json_object_new_object();
	struct json_object *caps;

	(void)argc;
	(void)argv;
	json_object_object_add(o, "ociVersionMin", json_object_new_string("1.0.0"));
	json_object_object_add(o, "ociVersionMax", json_object_new_string("1.1.0"));
	json_object_object_add(o, "hooks", strv_json(hooks, ARRAY_SIZE(hooks)));
	json_object_object_add(o, "mountOptions", strv_json(mount_opts, ARRAY_SIZE(mount_opts)));
	json_object_object_add(lx, "namespaces", strv_json(ns, ARRAY_SIZE(ns)));
	{
		static const char *const cap_list[] = {
			"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER",
			"CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP",
			"CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
			"CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
			"CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
			"CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
			"CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD",
			"CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP",
			"CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
			"CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
			"CAP_CHECKPOINT_RESTORE" };
		caps = strv_json(cap_list, ARRAY_SIZE(cap_list));
	}
	json_object_object_add(lx, "capabilities", caps);
	json_object_object_add(cg, "v1", json_object_new_boolean(1));
	json_object_object_add(cg, "v2", json_object_new_boolean(1));
	json_object_object_add(cg, "systemd", json_object_new_boolean(0));
	json_object_object_add(cg, "systemdUser", json_object_new_boolean(0));
	json_object_object_add(lx, "cgroup", cg);
	json_object_object_add(sc, "enabled", json_object_new_boolean(1));
	json_object_object_add(sc, "actions", strv_json(actions, ARRAY_SIZE(actions)));
	json_object_object_add(sc, "operators", strv_json(ops, ARRAY_SIZE(ops)));
	json_object_object_add(sc, "archs", strv_json(archs, ARRAY_SIZE(archs)));
	json_object_object_add(lx, "seccomp", sc);
	json_object_object_add(o, "linux", lx);
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
								  JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return 0;
}

struct oci_verb {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
};

static int oci_help(int argc, char **argv);

static const struct oci_verb oci_verbs[] = {
	{ "create", oci_create, "create a container from a bundle; its process waits for start" },
	{ "start", oci_start, "run the process of a created container" },
	{ "state", oci_state, "print a container's state (JSON)" },
	{ "kill", oci_kill, "send a signal (default TERM) to a container's process" },
	{ "delete", oci_delete, "remove a stopped container (--force: any)" },
	{ "run", oci_run, "create + start, wait for the process, delete" },
	{ "exec", oci_exec, "run another process in a running container" },
	{ "list", oci_list, "list containers" },
	{ "spec", oci_spec, "write a default config.json" },
	{ "features", oci_features, "print what this runtime supports (JSON)" },
	{ "help", oci_help, "this list" },
};

static int oci_help(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("usage: domus-oci [--root DIR] [--log FILE] [--log-format text|json] "
	       "[--debug] VERB [OPTIONS] ID\n\nverbs:\n");
	for (size_t i = 0; i < ARRAY_SIZE(oci_verbs); i++)
		printf("  %-10s %s\n", oci_verbs[i].name, oci_verbs[i].summary);
	printf("\nSee docs/containers.md.\n");
	return 0;
}

int oci_main(int argc, char **argv)
{
	enum { G_ROOT = 400, G_LOG, G_LOGFMT, G_SYSTEMD, G_DEBUG, G_ROOTLESS, G_VERSION, G_HELP,
	       G_CRIU };
	static const struct option opts[] = {
		{ "root", required_argument, NULL, G_ROOT },
		{ "log", required_argument, NULL, G_LOG },
		{ "log-format", required_argument, NULL, G_LOGFMT },
		{ "log-level", required_argument, NULL, G_CRIU },
		{ "systemd-cgroup", no_argument, NULL, G_SYSTEMD },
		{ "debug", no_argument, NULL, G_DEBUG },
		{ "rootless", required_argument, NULL, G_ROOTLESS },
		{ "criu", required_argument, NULL, G_CRIU },
		{ "cgroup-manager", required_argument, NULL, G_CRIU },
		{ "version", no_argument, NULL, G_VERSION },
		{ "help", no_argument, NULL, G_HELP },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+vh", opts, NULL)) != -1) {
		switch (c) {
		case G_ROOT: g.root = optarg; break;
		case G_LOG: g.log = optarg; break;
		case G_LOGFMT:
			if (strcmp(optarg, "json") && strcmp(optarg, "text"))
				return fail(2, "--log-format: expected text or json, got '%s'",
					    optarg);
			g.log_format = optarg;
			break;
		case G_SYSTEMD: g.systemd_cgroup = true; break;
		case G_DEBUG: g.debug = true; log_set_level(LOG_DEBUG); break;
		case G_ROOTLESS: case G_CRIU: break;
		case 'v':
		case G_VERSION:
			printf("domus-oci version %s\nspec: 1.0.2\n", DOMUS_VERSION);
			return 0;
		case 'h':
		case G_HELP: return oci_help(0, NULL);
		default: return fail(2, "unknown global option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc) {
		oci_help(0, NULL);
		return 2;
	}
	for (size_t i = 0; i < ARRAY_SIZE(oci_verbs); i++)
		if (strcmp(argv[optind], oci_verbs[i].name) == 0)
			return oci_verbs[i].fn(argc - optind, argv + optind);
	return fail(2, "unknown command '%s' (see domus-oci help)", argv[optind]);
}
