/* SPDX-License-Identifier: MIT */
/* net_args.c: parsing of --net bridge=NAME | tap=NAME | user, with options. */
#include "net_args.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/err.h"

#define NET_FORMS "bridge=NAME, tap=NAME or user"

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int net_parse_mac(const char *s, size_t len, uint8_t mac[6], const char **why)
{
	uint8_t m[6];

	if (len != 17) {
		*why = "expected six hex bytes like 00:16:3e:12:34:56";
		return -EINVAL;
	}
	for (unsigned i = 0; i < 6; i++) {
		int hi = hexval(s[3 * i]), lo = hexval(s[3 * i + 1]);

		if (hi < 0 || lo < 0 || (i < 5 && s[3 * i + 2] != ':')) {
			*why = "expected six hex bytes like 00:16:3e:12:34:56";
			return -EINVAL;
		}
		m[i] = (uint8_t)(hi << 4 | lo);
	}
	if (m[0] & 1) {
		*why = "it is a multicast address (the low bit of the first byte is set)";
		return -EINVAL;
	}
	if ((m[0] | m[1] | m[2] | m[3] | m[4] | m[5]) == 0) {
		*why = "the all-zero address belongs to no NIC";
		return -EINVAL;
	}
	memcpy(mac, m, 6);
	return 0;
}

/* A port 1..65535, all of (s, len). */
static int take_port(const char *s, size_t len, uint16_t *port)
{
	unsigned v = 0;

	if (len == 0 || len > 5)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v == 0 || v > 65535)
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

/* An IPv4 address, or empty for INADDR_ANY. */
static int take_addr(const char *s, size_t len, struct in_addr *a)
{
	char buf[INET_ADDRSTRLEN];

	if (len == 0) {
		a->s_addr = htonl(INADDR_ANY);
		return 0;
	}
	if (len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	return inet_pton(AF_INET, buf, a) == 1 ? 0 : -EINVAL;
}

/* [tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT */
static int parse_hostfwd(const char *v, size_t len, struct net_hostfwd *fwd)
{
	const char *end = v + len, *p = v, *c1, *dash, *c2;

	memset(fwd, 0, sizeof(*fwd));
	if (len >= 4 && strncmp(p, "tcp:", 4) == 0) {
		p += 4;
	} else if (len >= 4 && strncmp(p, "udp:", 4) == 0) {
		fwd->udp = true;
		p += 4;
	} else if (len >= 1 && *p == ':') {
		p += 1;	/* empty protocol: tcp */
	} else {
		return -EINVAL;
	}
	c1 = memchr(p, ':', (size_t)(end - p));
	dash = memchr(p, '-', (size_t)(end - p));
	if (c1 == NULL || dash == NULL || dash < c1)
		return -EINVAL;
	c2 = memchr(dash, ':', (size_t)(end - dash));
	if (c2 == NULL)
		return -EINVAL;
	if (take_addr(p, (size_t)(c1 - p), &fwd->host_addr) < 0 ||
	    take_port(c1 + 1, (size_t)(dash - c1 - 1), &fwd->host_port) < 0 ||
	    take_addr(dash + 1, (size_t)(c2 - dash - 1), &fwd->guest_addr) < 0 ||
	    take_port(c2 + 1, (size_t)(end - c2 - 1), &fwd->guest_port) < 0)
		return -EINVAL;
	return 0;
}

static int take_ifname(const char *spec, const char *what, const char *v, size_t len,
		       char name[IF_NAMESIZE], struct err *err)
{
	if (len == 0)
		return err_set(err, EINVAL, "--net '%s': %s needs an interface name", spec, what);
	if (len >= IF_NAMESIZE)
		return err_set(err, EINVAL, "--net '%s': interface name '%.*s' is longer than %d "
			       "characters", spec, (int)len, v, IF_NAMESIZE - 1);
	for (size_t i = 0; i < len; i++)
		if (v[i] <= ' ' || v[i] > '~' || v[i] == '/' || v[i] == ':')
			return err_set(err, EINVAL, "--net '%s': '%.*s' is not a valid interface "
				       "name", spec, (int)len, v);
	memcpy(name, v, len);
	name[len] = '\0';
	return 0;
}

int net_args_parse(const char *spec, struct net_opts *out, struct err *err)
{
	bool first = true;
	const char *s = spec;

	memset(out, 0, sizeof(*out));
	if (spec == NULL || *spec == '\0')
		return err_set(err, EINVAL, "--net: empty value (expected " NET_FORMS ")");
	/* Messages quote the value: keep them one printable line. */
	for (const char *c = spec; *c; c++)
		if ((unsigned char)*c < ' ' || *c == 0x7f)
			return err_set(err, EINVAL, "--net: control character in the value "
				       "(expected " NET_FORMS ")");
	for (;;) {
		const char *end = strchr(s, ',');
		size_t len = end ? (size_t)(end - s) : strlen(s);
		const char *eq = memchr(s, '=', len);
		size_t nlen = eq ? (size_t)(eq - s) : len;
		const char *v = eq ? eq + 1 : s + len;
		size_t vlen = eq ? len - nlen - 1 : 0;
		int r;

#define IS(name) (nlen == strlen(name) && strncmp(s, name, nlen) == 0)
		if (len == 0)
			return err_set(err, EINVAL, "--net '%s': empty option (a stray comma?)",
				       spec);
		if (first) {
			if (IS("bridge") && eq) {
				out->kind = NET_BRIDGE;
				r = take_ifname(spec, "bridge=", v, vlen, out->ifname, err);
			} else if (IS("tap") && eq) {
				out->kind = NET_TAP;
				r = take_ifname(spec, "tap=", v, vlen, out->ifname, err);
			} else if (IS("user") && !eq) {
				out->kind = NET_USER;
				r = 0;
			} else {
				return err_set(err, EINVAL, "--net '%s': expected " NET_FORMS
					       " first, then options", spec);
			}
			if (r < 0)
				return r;
			first = false;
		} else if (IS("mac")) {
			const char *why;

			if (out->mac_given)
				return err_set(err, EINVAL, "--net '%s': mac given twice", spec);
			if (net_parse_mac(v, vlen, out->mac, &why) < 0)
				return err_set(err, EINVAL, "--net '%s': bad MAC address '%.*s': %s",
					       spec, (int)vlen, v, why);
			out->mac_given = true;
		} else if (IS("hostfwd")) {
			if (out->kind != NET_USER)
				return err_set(err, EINVAL, "--net '%s': hostfwd= is for the user "
					       "(NAT) mode only", spec);
			if (out->nr_fwd == NET_HOSTFWD_MAX)
				return err_set(err, EINVAL, "--net '%s': more than %d hostfwd rules",
					       spec, NET_HOSTFWD_MAX);
			if (parse_hostfwd(v, vlen, &out->fwd[out->nr_fwd]) < 0)
				return err_set(err, EINVAL, "--net '%s': bad hostfwd '%.*s' (expected "
					       "tcp:[HOSTADDR]:PORT-[GUESTADDR]:PORT)", spec,
					       (int)vlen, v);
			for (unsigned i = 0; i < out->nr_fwd; i++) {
				const struct net_hostfwd *a = &out->fwd[i], *b = &out->fwd[out->nr_fwd];
				if (a->udp == b->udp && a->host_port == b->host_port &&
				    a->host_addr.s_addr == b->host_addr.s_addr)
					return err_set(err, EINVAL, "--net '%s': host port %u "
						       "forwarded twice", spec, b->host_port);
			}
			out->nr_fwd++;
		} else {
			return err_set(err, EINVAL, "--net '%s': unknown option '%.*s' (expected "
				       "mac=MAC%s)", spec, (int)len, s,
				       out->kind == NET_USER ? " or hostfwd=RULE" : "");
		}
#undef IS
		if (end == NULL)
			break;
		s = end + 1;
	}
	return 0;
}
