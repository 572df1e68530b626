/* SPDX-License-Identifier: MIT */
/* test_net_args.c: --net parsing, every form and every refusal. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cli/net_args.h"
#include "common/err.h"

static void ok(const char *spec, struct net_opts *o)
{
	struct err err = { 0 };

	if (net_args_parse(spec, o, &err) != 0)
		fail_msg("%s: %s", spec, err.msg);
}

static void bad(const char *spec, const char *needle)
{
	struct net_opts o;
	struct err err = { 0 };

	assert_int_equal(net_args_parse(spec, &o, &err), -EINVAL);
	if (strstr(err.msg, needle) == NULL)
		fail_msg("%s: message '%s' lacks '%s'", spec, err.msg, needle);
	assert_null(strchr(err.msg, '\n'));
}

static void test_forms(void **state)
{
	struct net_opts o;

	(void)state;
	ok("bridge=br0", &o);
	assert_int_equal(o.kind, NET_BRIDGE);
	assert_string_equal(o.ifname, "br0");
	assert_false(o.mac_given);
	ok("tap=tap7,mac=00:16:3E:aa:bb:cc", &o);
	assert_int_equal(o.kind, NET_TAP);
	assert_string_equal(o.ifname, "tap7");
	assert_true(o.mac_given);
	assert_memory_equal(o.mac, "\x00\x16\x3e\xaa\xbb\xcc", 6);
	ok("user", &o);
	assert_int_equal(o.kind, NET_USER);
	assert_int_equal(o.nr_fwd, 0);
}

static void test_hostfwd(void **state)
{
	struct net_opts o;

	(void)state;
	ok("user,hostfwd=tcp:127.0.0.1:2222-:22,hostfwd=udp::5353-10.0.2.15:53,hostfwd=::80-:8080",
	   &o);
	assert_int_equal(o.nr_fwd, 3);
	assert_false(o.fwd[0].udp);
	assert_int_equal(o.fwd[0].host_addr.s_addr, htonl(INADDR_LOOPBACK));
	assert_int_equal(o.fwd[0].host_port, 2222);
	assert_int_equal(o.fwd[0].guest_addr.s_addr, htonl(INADDR_ANY));
	assert_int_equal(o.fwd[0].guest_port, 22);
	assert_true(o.fwd[1].udp);
	assert_int_equal(o.fwd[1].host_addr.s_addr, htonl(INADDR_ANY));
	assert_int_equal(o.fwd[1].guest_addr.s_addr, htonl(0x0a00020f));
	assert_int_equal(o.fwd[1].guest_port, 53);
	assert_false(o.fwd[2].udp);
	assert_int_equal(o.fwd[2].host_port, 80);
}

static void test_refusals(void **state)
{
	(void)state;
	bad("", "empty value");
	bad("bridge", "expected bridge=NAME");
	bad("bridge=", "needs an interface name");
	bad("bridge=averyveryverylongname0", "longer than 15");
	bad("bridge=a/b", "not a valid interface name");
	bad("vde=/x", "expected bridge=NAME, tap=NAME or user");
	bad("mac=00:16:3e:00:00:01", "expected bridge=NAME");
	bad("bridge=br0,mac=00:16:3e:00:00", "bad MAC address");
	bad("bridge=br0,mac=00:16:3e:00:00:0g", "bad MAC address");
	bad("bridge=br0,mac=00-16-3e-00-00-01", "bad MAC address");
	bad("bridge=br0,mac=01:00:5e:00:00:01", "multicast");
	bad("bridge=br0,mac=ff:ff:ff:ff:ff:ff", "multicast");
	bad("bridge=br0,mac=00:00:00:00:00:00", "all-zero");
	bad("bridge=br0,mac=00:16:3e:00:00:01,mac=00:16:3e:00:00:02", "mac given twice");
	bad("bridge=br0,,mac=00:16:3e:00:00:01", "empty option");
	bad("bridge=br0,speed=10", "unknown option 'speed=10'");
	bad("tap=t0,hostfwd=tcp::1-:1", "user (NAT) mode only");
	bad("user,hostfwd=tcp:127.0.0.1:0-:22", "bad hostfwd");
	bad("user,hostfwd=tcp:127.0.0.1:70000-:22", "bad hostfwd");
	bad("user,hostfwd=sctp::22-:22", "bad hostfwd");
	bad("user,hostfwd=tcp:1.2.3:22-:22", "bad hostfwd");
	bad("user,hostfwd=tcp::22", "bad hostfwd");
	bad("user,hostfwd=tcp::22-:22,hostfwd=tcp::22-:23", "forwarded twice");
}

static void test_mac_parser(void **state)
{
	uint8_t mac[6];
	const char *why;

	(void)state;
	assert_int_equal(net_parse_mac("02:00:00:00:00:01", 17, mac, &why), 0);
	assert_int_equal(mac[0], 2);
	assert_int_equal(net_parse_mac("03:00:00:00:00:01", 17, mac, &why), -EINVAL);
	assert_non_null(strstr(why, "multicast"));
	/* the length is the caller's: a longer string is not read past it */
	assert_int_equal(net_parse_mac("02:00:00:00:00:01,x", 17, mac, &why), 0);
}

static void test_random_mac(void **state)
{
	uint8_t a[6], b[6];

	(void)state;
	net_random_mac(a);
	net_random_mac(b);
	assert_memory_equal(a, "\x00\x16\x3e", 3);
	assert_true(a[3] < 0x80);
	assert_false(a[0] & 1);
	/* 23 random bits: two in a row differ (a 1 in 8 million chance not) */
	assert_memory_not_equal(a, b, 6);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forms),
		cmocka_unit_test(test_hostfwd),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_mac_parser),
		cmocka_unit_test(test_random_mac),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
