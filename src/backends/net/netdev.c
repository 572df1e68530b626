/* SPDX-License-Identifier: MIT */
/* netdev.c: choosing the back end a --net asks for. */
#include "netdev.h"

#include <errno.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "common/err.h"

int netdev_open(const struct net_opts *opts, unsigned index, struct netdev **out,
		struct err *err)
{
	switch (opts->kind) {
	case NET_BRIDGE:
	case NET_TAP:
		return netdev_tap_open(opts, index, out, err);
	case NET_USER:
		return netdev_slirp_open(opts, out, err);
	}
	return err_set(err, EINVAL, "--net: unknown back end");
}

void netdev_close(struct netdev *nd)
{
	if (nd)
		nd->ops->close(nd);
}

void net_random_mac(uint8_t mac[6])
{
	uint8_t r[3];

	if (getrandom(r, sizeof(r), 0) != sizeof(r)) {
		/* no entropy yet (early boot): time and pid still differ per VM */
		unsigned v = (unsigned)time(NULL) ^ (unsigned)getpid() << 8;
		r[0] = (uint8_t)v;
		r[1] = (uint8_t)(v >> 8);
		r[2] = (uint8_t)(v >> 16);
	}
	mac[0] = 0x00;
	mac[1] = 0x16;
	mac[2] = 0x3e;
	/* Xen's tools keep the fourth byte below 0x80; so do we. */
	mac[3] = r[0] & 0x7f;
	mac[4] = r[1];
	mac[5] = r[2];
}
