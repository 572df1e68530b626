/* SPDX-License-Identifier: MIT */
/* net_args.h: the value of --net, parsed into struct net_opts as a pure function (no
 * system access), so every error is unit-testable:
 *
 *   bridge=NAME[,mac=MAC]     a TAP created by domus on the existing Linux bridge NAME
 *   tap=NAME[,mac=MAC]        the existing TAP device NAME
 *   user[,mac=MAC][,hostfwd=RULE]...   NAT through libslirp (no root, no bridge)
 *
 * RULE is QEMU's: [tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT. */
#ifndef DOMUS_NET_ARGS_H
#define DOMUS_NET_ARGS_H

#include "backends/net/netdev.h"

/* net_args_parse: parse (spec) into (out). Returns 0, or -EINVAL with a one-line message
 * in (err) naming the bad part. Without mac=, out->mac_given is false and the caller
 * picks one (net_random_mac). */
int net_args_parse(const char *spec, struct net_opts *out, struct err *err);

/* net_parse_mac: "aa:bb:cc:dd:ee:ff" (hex digits, either case) into (mac). Refuses
 * multicast (and broadcast) and all-zero addresses: a NIC cannot own them. Returns 0 or
 * -EINVAL with (why) set to a short reason. */
int net_parse_mac(const char *s, size_t len, uint8_t mac[6], const char **why);

#endif
