/* SPDX-License-Identifier: MIT */
/* test_domcfg.c: the xl.cfg syntax (xlcfg.c) and the domain keys
 * (domcfg.c): the Xen chapter's chef config as written, every value form,
 * and errors at file:line:col. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "common/err.h"
#include "domain/domcfg.h"
#include "domain/xlcfg.h"

static const char chef[] =
	"name = \"chef\"\n"
	"uuid = \"f4e2e3b4-7f3d-4b1b-8b3b-3b4b1b7f3d4b\"\n"
	"maxmem = 1024\n"
	"memory = 1024\n"
	"vcpus = 1\n"
	"bootloader = \"/usr/bin/pygrub\"\n"
	"on_poweroff = \"destroy\"\n"
	"on_reboot = \"restart\"\n"
	"on_crash = \"restart\"\n"
	"vfb = [ ]\n"
	"disk = [ \"file:/vm/chef.dsk,xvda,w\" ]\n"
	"vif = [ \"mac=00:16:3e:2b:2b:2b,bridge=xenbr0\" ]\n";

static struct domain_config cfg;
static char warnings[4096];

static void on_warn(void *ctx, const char *msg)
{
	(void)ctx;
	strncat(warnings, msg, sizeof(warnings) - strlen(warnings) - 2);
	strcat(warnings, "\n");
}

static int parse(const char *text, struct err *e)
{
	memset(e, 0, sizeof(*e));
	warnings[0] = '\0';
	return domcfg_parse(text, strlen(text), "t.cfg", &cfg, on_warn, NULL, e);
}

static void bad(const char *text, const char *needle)
{
	struct err e;

	assert_int_equal(parse(text, &e), -EINVAL);
	if (strstr(e.msg, needle) == NULL)
		fail_msg("message '%s' lacks '%s'", e.msg, needle);
	assert_null(strchr(e.msg, '\n'));
}

static void test_chef_as_written(void **state)
{
	struct err e;

	(void)state;
	assert_int_equal(parse(chef, &e), 0);
	assert_string_equal(cfg.name, "chef");
	assert_string_equal(cfg.uuid, "f4e2e3b4-7f3d-4b1b-8b3b-3b4b1b7f3d4b");
	assert_int_equal(cfg.memory_mib, 1024);
	assert_int_equal(cfg.maxmem_mib, 1024);
	assert_int_equal(cfg.vcpus, 1);
	assert_string_equal(cfg.bootloader, "/usr/bin/pygrub");
	assert_int_equal(cfg.on_poweroff, DOM_ACT_DESTROY);
	assert_int_equal(cfg.on_reboot, DOM_ACT_RESTART);
	assert_int_equal(cfg.on_crash, DOM_ACT_RESTART);
	assert_int_equal(cfg.nr_disks, 1);
	assert_string_equal(cfg.disks[0].target, "/vm/chef.dsk");
	assert_string_equal(cfg.disks[0].vdev, "xvda");
	assert_false(cfg.disks[0].readonly);
	assert_int_equal(cfg.nr_vifs, 1);
	assert_string_equal(cfg.vifs[0].mac, "00:16:3e:2b:2b:2b");
	assert_string_equal(cfg.vifs[0].bridge, "xenbr0");
	assert_string_equal(cfg.vifs[0].spec, "bridge=xenbr0,mac=00:16:3e:2b:2b:2b");
	/* vfb: one warning with its position, and parsing went on */
	assert_non_null(strstr(warnings, "t.cfg:10:1: vfb: ignored"));
	assert_int_equal(cfg.engine, ENGINE_AUTO);
}

static void test_syntax_forms(void **state)
{
	struct err e;

	(void)state;
	assert_int_equal(parse("# comment\n"
			       "name='web1'   # trailing comment\n"
			       "memory = 0x200; vcpus = 2\n"
			       "kernel = \"/k\\\"q\"\n"
			       "disk = [\n"
			       "   'phy:/dev/vg/lv,xvdb,r',   # the second\n"
			       "   \"file:/vm/a.img,xvda,w\",\n"
			       "]\n"
			       "disk += [ \"format=raw, vdev=hdc, access=ro, target=/x,y.img\" ]\n"
			       "root = \"/dev/vda1 ro\"\n"
			       "extra = \"quiet\"\n"
			       "frobnicate = 1\n",
			       &e),
			 0);
	assert_string_equal(cfg.name, "web1");
	assert_int_equal(cfg.memory_mib, 512);
	assert_int_equal(cfg.vcpus, 2);
	assert_string_equal(cfg.kernel, "/k\"q");
	assert_int_equal(cfg.nr_disks, 3);
	/* sorted by vdev letter: the guest's vda, vdb, vdc */
	assert_string_equal(cfg.disks[0].target, "/vm/a.img");
	assert_string_equal(cfg.disks[1].target, "/dev/vg/lv");
	assert_true(cfg.disks[1].readonly);
	assert_string_equal(cfg.disks[2].target, "/x,y.img");
	assert_true(cfg.disks[2].readonly);
	assert_string_equal(cfg.cmdline, "root=/dev/vda1 ro quiet");
	assert_non_null(strstr(warnings, "t.cfg:12:1: frobnicate: unknown key"));
	/* cmdline wins */
	assert_int_equal(parse("name=\"a\"\nkernel=\"/k\"\ncmdline=\"x=1\"\nextra=\"y\"\n"
			       "disk = [ \"/a,xvda,w\" ]\ndisk += [ ]\n", &e), 0);
	assert_int_equal(cfg.nr_disks, 1);
	assert_string_equal(cfg.cmdline, "x=1");
	/* defaults, as xl */
	assert_int_equal(parse("name=\"a\"\nkernel=\"/k\"\n", &e), 0);
	assert_int_equal(cfg.on_poweroff, DOM_ACT_DESTROY);
	assert_int_equal(cfg.on_reboot, DOM_ACT_RESTART);
	assert_int_equal(cfg.on_crash, DOM_ACT_DESTROY);
	assert_int_equal(cfg.memory_mib, 256);
}

static void test_errors_have_positions(void **state)
{
	(void)state;
	bad("name = \"a\"\nmemory = \"lots\"\n", "t.cfg:2:10: memory: expected a number MiB");
	bad("name = \"a\"\nvcpus = 0\n", "t.cfg:2:9: vcpus: 0 is out of range (expected 1-254)");
	bad("name = \"a\"\nmemory = 12abc\n", "t.cfg:2:10: malformed number");
	bad("name = \"a\"\nkernel = \"/k\n", "t.cfg:2:10: unterminated string");
	bad("name = \"a\"\ndisk = [ \"x,xvda,w\"\n", "t.cfg:2:8: list not closed (expected ']')");
	bad("name = \"a\"\ndisk = [ \"x,xvda,w\" \"y\" ]\n", "t.cfg:2:21: unexpected character in a list");
	bad("name \"a\"\n", "t.cfg:1:6: expected '=' after name");
	bad("name = \"a\" x\n", "t.cfg:1:12: unexpected text after the value");
	bad("= 3\n", "t.cfg:1:1: unexpected character");
	bad("name = \"a\"\nkernel=\"/k\"\non_crash = \"coredump-destroy\"\n",
	    "t.cfg:3:12: on_crash: 'coredump-destroy' is not supported");
	bad("name = \"a\"\nkernel=\"/k\"\non_reboot = \"sometimes\"\n",
	    "expected destroy, restart, preserve or rename-restart");
	bad("name = \"a b\"\n", "t.cfg:1:8: name: 'a b': expected");
	/* a newline inside a value stays out of the one-line message */
	bad("name = \"a\\nb\"\n", "name: 'a?b': expected");
	bad("name = \"a\"\nuuid = \"nope\"\n", "t.cfg:2:8: uuid: 'nope': expected 8-4-4-4-12");
	bad("memory = 256\n", "name: missing");
	bad("name = \"a\"\n", "kernel: missing");
	bad("name = \"a\"\nbootloader = \"pygrub\"\n", "bootloader: needs a disk");
	bad("name = \"a\"\nkernel = \"/k\"\nmemory = 512\nmaxmem = 256\n",
	    "t.cfg:4:10: maxmem: 256 is less than memory");
	bad("name = \"a\"\nkernel=\"/k\"\ndisk = [ \"/a,xvda,w\",\n \"/b,hda,w\" ]\n",
	    "t.cfg:4:2: disk: xvda and hda are the same disk slot");
	bad("name = \"a\"\nkernel=\"/k\"\nvif = [ \"mac=01:00:00:00:00:01\" ]\n",
	    "t.cfg:3:9: vif: mac '01:00:00:00:00:01': a multicast address");
	bad("name = \"a\"\nkernel=\"/k\"\nengine = \"xen\"\n", "engine: 'xen': expected kvm, qemu or auto");
	bad("name = \"a\"\nkernel=\"/k\"\nserial = \"/dev/ttyS1\"\n", "serial: '/dev/ttyS1': expected pty");
	bad("name = \"a\"\nvif += \"x\"\n", "'+=' needs a list");
	bad("name = \"a\"\nkernel = \"\\q\"\n", "unknown escape");
}

static void test_disk_specs(void **state)
{
	struct dom_disk d;
	struct err e = { 0 };

	(void)state;
	assert_int_equal(diskspec_parse("file:/vm/chef.dsk,xvda,w", &d, &e), 0);
	assert_string_equal(d.target, "/vm/chef.dsk");
	assert_int_equal(d.index, 0);
	assert_int_equal(diskspec_parse("phy:/dev/vg/lv,xvdb,r", &d, &e), 0);
	assert_string_equal(d.target, "/dev/vg/lv");
	assert_true(d.readonly);
	assert_int_equal(d.index, 1);
	assert_int_equal(diskspec_parse("format=raw, vdev=xvda, access=rw, target=/vm/disk.img", &d, &e), 0);
	assert_string_equal(d.target, "/vm/disk.img");
	assert_false(d.readonly);
	assert_int_equal(diskspec_parse("/vm/d.img,raw,sdc,ro", &d, &e), 0);
	assert_int_equal(d.index, 2);
	assert_true(d.readonly);
	assert_int_equal(diskspec_parse("tap:aio:/vm/e.img,vdd,w!", &d, &e), 0);
	assert_string_equal(d.target, "/vm/e.img");
	assert_true(d.shareable);
	assert_int_equal(diskspec_parse("/vm/f.img,xvde", &d, &e), 0);
	assert_false(d.readonly);
	static const struct {
		const char *spec, *needle;
	} bads[] = {
		{ "/vm/a.img,xvda,x", "access 'x'" },
		{ "/vm/a.img,xvda1,w", "vdev 'xvda1'" },
		{ "/vm/a.img,qcow2,xvda,w", "format 'qcow2' is not supported" },
		{ ",xvda,r,devtype=cdrom", "devtype 'cdrom' is not supported" },
		{ "/a.iso,xvdc,r,cdrom", "CD-ROM" },
		{ "vdev=xvda,access=rw", "no target" },
		{ "target=/x", "no vdev" },
		{ "colour=red,target=/x", "unknown parameter 'colour'" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(bads); i++) {
		memset(&e, 0, sizeof(e));
		assert_true(diskspec_parse(bads[i].spec, &d, &e) < 0);
		if (strstr(e.msg, bads[i].needle) == NULL)
			fail_msg("'%s': '%s' lacks '%s'", bads[i].spec, e.msg, bads[i].needle);
	}
}

static void test_vif_specs(void **state)
{
	struct dom_vif v, w;
	struct err e = { 0 };

	(void)state;
	assert_int_equal(vifspec_parse("mac=00:16:3e:2b:2b:2b,bridge=xenbr0", "u", 0, &v, &e), 0);
	assert_string_equal(v.spec, "bridge=xenbr0,mac=00:16:3e:2b:2b:2b");
	assert_int_equal(vifspec_parse("type=nat,hostfwd=tcp::2222-:22", "u", 0, &v, &e), 0);
	assert_true(v.nat);
	assert_non_null(strstr(v.spec, "user,mac=00:16:3e:"));
	assert_non_null(strstr(v.spec, ",hostfwd=tcp::2222-:22"));
	/* no MAC: derived from the uuid, stable, different per NIC */
	assert_int_equal(vifspec_parse("nat", "uuid-1", 0, &v, &e), 0);
	assert_int_equal(vifspec_parse("nat", "uuid-1", 0, &w, &e), 0);
	assert_string_equal(v.mac, w.mac);
	assert_int_equal(vifspec_parse("nat", "uuid-1", 1, &w, &e), 0);
	assert_string_not_equal(v.mac, w.mac);
	assert_int_equal(vifspec_parse("", "uuid-1", 0, &v, &e), 0);	/* default: NAT */
	assert_true(v.nat);
	static const struct {
		const char *spec, *needle;
	} bads[] = {
		{ "mac=00:16:3e:2b:2b", "expected six hex bytes" },
		{ "mac=00:16:3e:2b:2b:zz", "expected" },
		{ "mac=00:00:00:00:00:00", "all zeros" },
		{ "bridge=this-name-is-far-too-long", "bridge" },
		{ "bridge=br0,nat", "choose one" },
		{ "bridge=br0,hostfwd=tcp::1-:2", "needs the NAT form" },
		{ "type=vde", "type 'vde'" },
		{ "speed=fast", "unknown key 'speed'" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(bads); i++) {
		memset(&e, 0, sizeof(e));
		assert_true(vifspec_parse(bads[i].spec, "u", 0, &v, &e) < 0);
		if (strstr(e.msg, bads[i].needle) == NULL)
			fail_msg("'%s': '%s' lacks '%s'", bads[i].spec, e.msg, bads[i].needle);
	}
}

static void test_xlcfg_quote_roundtrip(void **state)
{
	char q[128];
	struct xlcfg x;
	struct err e = { 0 };
	char text[256];

	(void)state;
	assert_true(xlcfg_quote("a \"b\" \\ c\td", q, sizeof(q)));
	snprintf(text, sizeof(text), "k = %s\n", q);
	assert_int_equal(xlcfg_parse(text, strlen(text), "q", &x, &e), 0);
	assert_string_equal(xlcfg_get(&x, "k")->val.str, "a \"b\" \\ c\td");
	xlcfg_free(&x);
	assert_false(xlcfg_quote("too long for this", q, 8));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chef_as_written),
		cmocka_unit_test(test_syntax_forms),
		cmocka_unit_test(test_errors_have_positions),
		cmocka_unit_test(test_disk_specs),
		cmocka_unit_test(test_vif_specs),
		cmocka_unit_test(test_xlcfg_quote_roundtrip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
