/* SPDX-License-Identifier: MIT */
/* vifspec.c: one `vif` entry of an xl.cfg (xl-network-configuration(5)'s
 * keys that mean something here) into struct dom_vif and the NIC spec of
 * `domus run --net`: bridge=NAME[,mac=MAC] or user[,mac=MAC][,hostfwd=R]. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/net/netdev.h"
#include "cli/net_args.h"
#include "common/err.h"
#include "domcfg.h"

static int check_mac(const char *m, struct err *err)
{
	unsigned b[6];
	char tail;

	if (strlen(m) != 17 || sscanf(m, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3],
				      &b[4], &b[5], &tail) != 6)
		return err_set(err, EINVAL, "mac '%s': expected six hex bytes, aa:bb:cc:dd:ee:ff", m);
	for (int i = 0; i < 17; i++)
		if ((i % 3 == 2) != (m[i] == ':') || (i % 3 != 2 && !isxdigit((unsigned char)m[i])))
			return err_set(err, EINVAL, "mac '%s': expected aa:bb:cc:dd:ee:ff", m);
	if (b[0] & 1)
		return err_set(err, EINVAL, "mac '%s': a multicast address (first byte odd)", m);
	if ((b[0] | b[1] | b[2] | b[3] | b[4] | b[5]) == 0)
		return err_set(err, EINVAL, "mac '%s': all zeros", m);
	return 0;
}

static int check_ifname(const char *what, const char *v, struct err *err)
{
	if (*v == '\0' || strlen(v) > 15)
		return err_set(err, EINVAL, "%s '%s': expected an interface name (1-15 characters)",
			       what, v);
	for (const char *p = v; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("_.-", *p))
			return err_set(err, EINVAL, "%s '%s': unexpected character '%c'", what, v, *p);
	return 0;
}

/* [tcp|udp]:[ADDR]:PORT-[ADDR]:PORT, QEMU's hostfwd, checked loosely: the
 * NIC layer checks it fully. */
static int check_hostfwd(const char *v, struct err *err)
{
	if ((strncmp(v, "tcp:", 4) != 0 && strncmp(v, "udp:", 4) != 0) || !strchr(v, '-') ||
	    strlen(v) >= 64)
		return err_set(err, EINVAL,
			       "hostfwd '%s': expected tcp:[HOSTADDR]:PORT-[GUESTADDR]:PORT", v);
	return 0;
}

/* A MAC in Xen's OUI 00:16:3e from the uuid (stable across restarts). */
static void derive_mac(const char *uuid, unsigned index, char *out)
{
	uint32_t h = 2166136261u;

	for (const char *p = uuid; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	h = (h ^ index) * 16777619u;
	snprintf(out, 18, "00:16:3e:%02x:%02x:%02x", (h >> 16) & 0x7f, (h >> 8) & 0xff, h & 0xff);
}

int vifspec_parse(const char *spec, const char *uuid, unsigned index, struct dom_vif *out,
		  struct err *err)
{
	char buf[512], *p, *save = NULL;
	int r;

	memset(out, 0, sizeof(*out));
	if (strlen(spec) >= sizeof(buf))
		return err_set(err, EINVAL, "vif entry too long");
	snprintf(buf, sizeof(buf), "%s", spec);
	for (p = strtok_r(buf, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
		while (isspace((unsigned char)*p))
			p++;
		char *end = p + strlen(p);
		while (end > p && isspace((unsigned char)end[-1]))
			*--end = '\0';
		if (*p == '\0')
			continue;
		char *eq = strchr(p, '=');
		if (eq == NULL) {
			if (strcmp(p, "nat") == 0 || strcmp(p, "user") == 0) {
				out->nat = true;
				continue;
			}
			return err_set(err, EINVAL, "unexpected '%s' (expected key=value, or nat)", p);
		}
		*eq = '\0';
		const char *k = p, *v = eq + 1;
		if (strcmp(k, "mac") == 0) {
			if ((r = check_mac(v, err)) < 0)
				return r;
			snprintf(out->mac, sizeof(out->mac), "%s", v);
		} else if (strcmp(k, "bridge") == 0) {
			if ((r = check_ifname("bridge", v, err)) < 0)
				return r;
			snprintf(out->bridge, sizeof(out->bridge), "%s", v);
		} else if (strcmp(k, "type") == 0) {
			if (strcmp(v, "nat") == 0 || strcmp(v, "user") == 0)
				out->nat = true;
			else if (strcmp(v, "ioemu") != 0 && strcmp(v, "vif") != 0)
				return err_set(err, EINVAL, "type '%s': expected ioemu, vif, nat or user", v);
		} else if (strcmp(k, "hostfwd") == 0) {
			if ((r = check_hostfwd(v, err)) < 0)
				return r;
			if (out->nr_hostfwd == ARRAY_SIZE(out->hostfwd))
				return err_set(err, EINVAL, "too many hostfwd rules (at most %zu)",
					       ARRAY_SIZE(out->hostfwd));
			snprintf(out->hostfwd[out->nr_hostfwd++], sizeof(out->hostfwd[0]), "%s", v);
		} else if (strcmp(k, "model") == 0 || strcmp(k, "script") == 0 ||
			   strcmp(k, "vifname") == 0 || strcmp(k, "ip") == 0 ||
			   strcmp(k, "rate") == 0 || strcmp(k, "backend") == 0 ||
			   strcmp(k, "gatewaydev") == 0 || strcmp(k, "devid") == 0 ||
			   strcmp(k, "mtu") == 0) {
			/* Xen plumbing; the NIC is always virtio-net here */
		} else {
			return err_set(err, EINVAL,
				       "unknown key '%s' (expected mac, bridge, type, hostfwd)", k);
		}
	}
	if (out->nat && out->bridge[0])
		return err_set(err, EINVAL, "both bridge= and NAT: choose one");
	if (out->nr_hostfwd && !out->nat)
		return err_set(err, EINVAL, "hostfwd= needs the NAT form (type=nat)");
	/* xl's default is a bridge named xenbr0; ours, with no bridge named,
	 * is NAT, which needs no host set-up */
	if (!out->bridge[0])
		out->nat = true;
	if (!out->mac[0])
		derive_mac(uuid ? uuid : "", index, out->mac);
	size_t n = (size_t)snprintf(out->spec, sizeof(out->spec), out->nat ? "user,mac=%s" :
									     "bridge=%s,mac=%s",
				    out->nat ? out->mac : out->bridge, out->mac);
	for (unsigned i = 0; i < out->nr_hostfwd && n < sizeof(out->spec); i++)
		n += (size_t)snprintf(out->spec + n, sizeof(out->spec) - n, ",hostfwd=%s",
				      out->hostfwd[i]);
	/* what the monitor will be given must be what `domus run --net` takes:
	 * checked by the same parser, so a bad rule fails at define, not start */
	struct net_opts no;
	struct err nerr = { 0 };
	if (net_args_parse(out->spec, &no, &nerr) < 0)
		return err_set(err, EINVAL, "%s", nerr.msg);
	return 0;
}
