/* SPDX-License-Identifier: MIT */
/* control.c: the control socket server (one listening socket, a few clients,
 * one request in flight per client) and its blocking client. */
#include "control.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/err.h"
#include "common/ev.h"
#include "proto.h"

#define CONTROL_CLIENTS_MAX	16
#define CONTROL_NAME_MAX	64

struct control_cmd {
	char name[CONTROL_NAME_MAX];
	control_fn fn;
	void *ctx;
};

struct control_client {
	struct control_server *srv;	/* NULL once the server closed */
	int fd;
	bool busy;		/* a deferred request is in flight: input waits */
	bool dead;		/* hung up: freed when no request is in flight */
	char *in;
	size_t in_len;
};

struct control_req {
	struct control_client *client;
	struct json_object *id;
};

struct control_server {
	struct ev_loop *loop;
	char *path;
	dev_t dev;
	ino_t ino;
	int listen_fd;
	struct control_cmd *cmds;
	size_t nr_cmds;
	struct control_client *clients[CONTROL_CLIENTS_MAX];
};

static struct control_cmd *find_cmd(struct control_server *s, const char *name)
{
	for (size_t i = 0; i < s->nr_cmds; i++)
		if (strcmp(s->cmds[i].name, name) == 0)
			return &s->cmds[i];
	return NULL;
}

int control_register(struct control_server *s, const char *name, control_fn fn, void *ctx)
{
	struct control_cmd *c = find_cmd(s, name), *n;

	if (strlen(name) >= CONTROL_NAME_MAX)
		return -EINVAL;
	if (c == NULL) {
		n = realloc(s->cmds, (s->nr_cmds + 1) * sizeof(*n));
		if (n == NULL)
			return -ENOMEM;
		s->cmds = n;
		c = &s->cmds[s->nr_cmds++];
		snprintf(c->name, sizeof(c->name), "%s", name);
	}
	c->fn = fn;
	c->ctx = ctx;
	return 0;
}

void control_unregister(struct control_server *s, const char *name)
{
	struct control_cmd *c = find_cmd(s, name);

	if (c == NULL)
		return;
	size_t i = (size_t)(c - s->cmds);
	memmove(c, c + 1, (s->nr_cmds - i - 1) * sizeof(*c));
	s->nr_cmds--;
}

/* --- built-in commands ------------------------------------------------------ */
static int cmd_query_commands(struct control_req *req, struct json_object *args,
			      struct json_object *reply, void *ctx, struct err *err)
{
	struct control_server *s = ctx;
	struct json_object *list = json_object_new_array();

	(void)req;
	(void)args;
	(void)err;
	for (size_t i = 0; i < s->nr_cmds; i++)
		json_object_array_add(list, json_object_new_string(s->cmds[i].name));
	json_object_object_add(reply, "commands", list);
	return 0;
}

static int cmd_query_version(struct control_req *req, struct json_object *args,
			     struct json_object *reply, void *ctx, struct err *err)
{
	(void)req;
	(void)args;
	(void)ctx;
	(void)err;
	json_object_object_add(reply, "version", json_object_new_string(DOMUS_VERSION));
	json_object_object_add(reply, "protocol", json_object_new_int(CONTROL_PROTO_VERSION));
	return 0;
}

/* --- clients ---------------------------------------------------------------- */
static void client_free(struct control_client *c)
{
	if (c->fd >= 0) {
		if (c->srv)
			ev_del(c->srv->loop, c->fd);
		close(c->fd);
	}
	if (c->srv) {
		for (size_t i = 0; i < CONTROL_CLIENTS_MAX; i++)
			if (c->srv->clients[i] == c)
				c->srv->clients[i] = NULL;
	}
	free(c->in);
	free(c);
}

/* Replies are small and the client is waiting for them: a blocking send with
 * a bound is simpler than an output queue, and a client that stops reading
 * only loses its own connection. */
static void client_send(struct control_client *c, const char *line)
{
	size_t len = strlen(line);

	while (len > 0 && !c->dead) {
		ssize_t n = send(c->fd, line, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			struct pollfd p = { .fd = c->fd, .events = POLLOUT };
			if (poll(&p, 1, 1000) <= 0)
				c->dead = true;
			continue;
		}
		if (n <= 0) {
			c->dead = true;
			break;
		}
		line += n;
		len -= (size_t)n;
	}
}

static void client_answer(struct control_client *c, struct json_object *id, int r,
			  struct json_object *reply, const struct err *err)
{
	char *line = control_proto_reply(id, r < 0 ? -r : 0,
					 r < 0 && err && err->code ? err->msg : NULL, reply);

	if (line)
		client_send(c, line);
	free(line);
}

static void client_process(struct control_client *c);

void control_req_finish(struct control_req *req, int r, struct json_object *reply,
			const struct err *err)
{
	struct control_client *c = req->client;

	if (!c->dead)
		client_answer(c, req->id, r, reply, err);
	json_object_put(req->id);
	free(req);
	c->busy = false;
	if (c->dead || c->srv == NULL) {
		client_free(c);
		return;
	}
	ev_mod(c->srv->loop, c->fd, EPOLLIN);
	client_process(c);	/* requests that arrived meanwhile */
}

static void client_request(struct control_client *c, const char *line, size_t len)
{
	struct json_object *msg, *args = NULL, *id, *reply;
	struct control_req *req;
	struct err err = { 0 };
	const char *cmd;
	int r;

	r = control_proto_parse_request(line, len, &msg, &cmd, &args, &id, &err);
	if (r < 0) {
		client_answer(c, id, r, NULL, &err);
		json_object_put(msg);
		return;
	}
	struct control_cmd *k = find_cmd(c->srv, cmd);
	if (k == NULL) {
		err_set(&err, ENOENT, "unknown command '%s' (see query-commands)", cmd);
		client_answer(c, id, -ENOENT, NULL, &err);
		json_object_put(msg);
		return;
	}
	req = calloc(1, sizeof(*req));
	reply = json_object_new_object();
	if (req == NULL || reply == NULL) {
		free(req);
		json_object_put(reply);
		err_set(&err, ENOMEM, "out of memory");
		client_answer(c, id, -ENOMEM, NULL, &err);
		json_object_put(msg);
		return;
	}
	req->client = c;
	req->id = id ? json_object_get(id) : NULL;
	r = k->fn(req, args, reply, k->ctx, &err);
	if (r == CONTROL_DEFERRED) {
		c->busy = true;
		ev_mod(c->srv->loop, c->fd, 0);
	} else {
		if (r < 0 && err.code == 0)
			err_set(&err, -r, "%s: %s", cmd, strerror(-r));
		client_answer(c, id, r < 0 ? r : 0, reply, &err);
		json_object_put(req->id);
		free(req);
	}
	json_object_put(reply);
	json_object_put(msg);
}

/* Handle the complete lines buffered, one request at a time. */
static void client_process(struct control_client *c)
{
	char *nl;

	while (!c->busy && !c->dead && (nl = memchr(c->in, '\n', c->in_len)) != NULL) {
		size_t len = (size_t)(nl - c->in);
		char *line = c->in;

		*nl = '\0';
		if (len > 0 && line[len - 1] == '\r')
			len--;
		if (len > 0)
			client_request(c, line, len);
		c->in_len -= (size_t)(nl + 1 - c->in);
		memmove(c->in, nl + 1, c->in_len);
	}
}

static void client_on_input(struct ev_loop *loop, int fd, uint32_t events, void *arg)
{
	struct control_client *c = arg;
	ssize_t n;

	(void)loop;
	if (c->busy) {
		/* epoll reports a hang-up even on a paused watch: stop watching,
		 * and let control_req_finish free the client */
		if (events & (EPOLLHUP | EPOLLERR)) {
			c->dead = true;
			ev_del(c->srv->loop, c->fd);
		}
		return;
	}
	n = read(fd, c->in + c->in_len, CONTROL_LINE_MAX - c->in_len);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		client_free(c);
		return;
	}
	c->in_len += (size_t)n;
	client_process(c);
	if (c->dead) {
		if (!c->busy)
			client_free(c);
		return;
	}
	if (c->in_len == CONTROL_LINE_MAX) {
		struct err err = { 0 };
		err_set(&err, EINVAL, "request longer than %d bytes", CONTROL_LINE_MAX);
		client_answer(c, NULL, -EINVAL, NULL, &err);
		client_free(c);
	}
}

static void server_on_accept(struct ev_loop *loop, int fd, uint32_t events, void *arg)
{
	struct control_server *s = arg;
	struct control_client *c;
	size_t slot;
	int cfd;

	(void)events;
	cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (cfd < 0)
		return;
	for (slot = 0; slot < CONTROL_CLIENTS_MAX; slot++)
		if (s->clients[slot] == NULL)
			break;
	c = slot < CONTROL_CLIENTS_MAX ? calloc(1, sizeof(*c)) : NULL;
	if (c)
		c->in = malloc(CONTROL_LINE_MAX + 1);
	if (c == NULL || c->in == NULL) {
		static const char busy[] =
			"{\"error\":{\"class\":\"Busy\",\"desc\":\"too many clients\",\"errno\":16}}\n";
		if (send(cfd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
			/* it is being turned away anyway */
		}
		close(cfd);
		if (c)
			free(c);
		return;
	}
	c->srv = s;
	c->fd = cfd;
	if (ev_add(loop, cfd, EPOLLIN, client_on_input, c) < 0) {
		close(cfd);
		free(c->in);
		free(c);
		return;
	}
	s->clients[slot] = c;
}

/* Refuse a live socket, replace a stale one, refuse anything else. */
static int prepare_path(const char *path, struct err *err)
{
	struct stat st;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, r;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : err_setsys(err, errno, "control socket %s", path);
	if (!S_ISSOCK(st.st_mode))
		return err_set(err, EEXIST, "control socket %s: exists and is not a socket", path);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return err_setsys(err, errno, "control socket");
	r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	if (r == 0)
		return err_set(err, EADDRINUSE, "control socket %s: in use by another process", path);
	if (unlink(path) < 0 && errno != ENOENT)
		return err_setsys(err, errno, "control socket %s: cannot replace", path);
	return 0;
}

int control_server_open(const char *path, struct ev_loop *loop, struct control_server **out,
			struct err *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct control_server *s;
	struct stat st;
	mode_t old;
	int r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return err_set(err, ENAMETOOLONG, "control socket %s: path too long (max %zu)",
			       path, sizeof(sa.sun_path) - 1);
	r = prepare_path(path, err);
	if (r < 0)
		return r;
	s = calloc(1, sizeof(*s));
	if (s == NULL || (s->path = strdup(path)) == NULL) {
		free(s);
		return err_set(err, ENOMEM, "out of memory");
	}
	s->loop = loop;
	s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s->listen_fd < 0) {
		r = err_setsys(err, errno, "control socket");
		goto err_free;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	old = umask(0177);
	r = bind(s->listen_fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0) {
		r = err_setsys(err, errno, "control socket %s", path);
		goto err_close;
	}
	if (stat(path, &st) == 0) {
		s->dev = st.st_dev;
		s->ino = st.st_ino;
	}
	if (listen(s->listen_fd, 8) < 0 ||
	    (r = ev_add(loop, s->listen_fd, EPOLLIN, server_on_accept, s)) < 0) {
		r = err_setsys(err, r < 0 ? -r : errno, "control socket %s", path);
		goto err_unlink;
	}
	if (control_register(s, "query-commands", cmd_query_commands, s) < 0 ||
	    control_register(s, "query-version", cmd_query_version, s) < 0) {
		r = err_set(err, ENOMEM, "out of memory");
		ev_del(loop, s->listen_fd);
		goto err_unlink;
	}
	*out = s;
	return 0;

err_unlink:
	unlink(path);
err_close:
	close(s->listen_fd);
err_free:
	free(s->cmds);
	free(s->path);
	free(s);
	return r;
}

void control_server_close(struct control_server *s)
{
	struct stat st;

	if (s == NULL)
		return;
	for (size_t i = 0; i < CONTROL_CLIENTS_MAX; i++) {
		struct control_client *c = s->clients[i];
		if (c == NULL)
			continue;
		ev_del(s->loop, c->fd);
		c->srv = NULL;
		s->clients[i] = NULL;
		if (c->busy) {
			/* control_req_finish frees it */
			c->dead = true;
		} else {
			client_free(c);
		}
	}
	ev_del(s->loop, s->listen_fd);
	close(s->listen_fd);
	if (stat(s->path, &st) == 0 && st.st_dev == s->dev && st.st_ino == s->ino)
		unlink(s->path);
	free(s->cmds);
	free(s->path);
	free(s);
}

/* --- client ----------------------------------------------------------------- */
static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int control_call(const char *path, const char *cmd, struct json_object *args,
		 struct json_object **reply, int timeout_ms, struct err *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char *req = NULL, *buf = NULL;
	size_t len = 0;
	long long deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
	int fd, r;

	*reply = NULL;
	if (strlen(path) >= sizeof(sa.sun_path))
		return err_set(err, ENAMETOOLONG, "control socket %s: path too long", path);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return err_setsys(err, errno, "control socket");
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = err_setsys(err, errno, "control socket %s", path);
		goto out;
	}
	req = control_proto_request(cmd, args, 1);
	buf = malloc(CONTROL_LINE_MAX + 1);
	if (req == NULL || buf == NULL) {
		r = err_set(err, ENOMEM, "out of memory");
		goto out;
	}
	for (size_t off = 0, n = strlen(req); off < n;) {
		ssize_t w = send(fd, req + off, n - off, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			r = err_setsys(err, errno, "control socket %s: send", path);
			goto out;
		}
		off += (size_t)w;
	}
	for (;;) {
		char *nl = memchr(buf, '\n', len);
		if (nl) {
			*nl = '\0';
			r = control_proto_parse_reply(buf, (size_t)(nl - buf), reply, err);
			goto out;
		}
		if (len == CONTROL_LINE_MAX) {
			r = err_set(err, EPROTO, "control socket %s: reply too long", path);
			goto out;
		}
		int wait = -1;
		if (deadline >= 0) {
			long long left = deadline - now_ms();
			if (left <= 0) {
				r = err_set(err, ETIMEDOUT, "control socket %s: no reply to %s", path, cmd);
				goto out;
			}
			wait = (int)left;
		}
		struct pollfd p = { .fd = fd, .events = POLLIN };
		r = poll(&p, 1, wait);
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0)
			continue;	/* the deadline check says so */
		ssize_t n = read(fd, buf + len, CONTROL_LINE_MAX - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = err_set(err, ECONNRESET, "control socket %s: closed before replying to %s",
				    path, cmd);
			goto out;
		}
		len += (size_t)n;
	}
out:
	free(req);
	free(buf);
	close(fd);
	return r;
}
