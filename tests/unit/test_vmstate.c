/* SPDX-License-Identifier: MIT */
/* test_vmstate.c: the pure parts of VM state: the machine configuration
 * section round trip and its refusals, and the CPUID compatibility check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/err.h"
#include "migration/kvmstate.h"
#include "migration/vmstate.h"

static void test_config_round_trip(void **state)
{
	struct disk_opts d[2] = { 0 };
	struct net_opts n[2] = {
		{ .kind = NET_BRIDGE, .ifname = "xenbr0", .mac = { 0, 0x16, 0x3e, 1, 2, 3 } },
		{ .kind = NET_USER, .mac = { 0, 0x16, 0x3e, 1, 2, 4 }, .nr_fwd = 1,
		  .fwd = { { .udp = true, .host_port = 2222, .guest_port = 22 } } },
	};
	struct vm_config cfg = { .memory_mib = 512, .vcpus = 2, .disk_opts = d, .nr_disks = 2,
				 .vconsole_path = "/tmp/vc.sock", .cmdline = "console=ttyS0",
				 .net_opts = n, .nr_nets = 2 };
	static struct vmconfig out;
	struct err e = { 0 };
	struct buf b;
	(void)state;

	strcpy(d[0].path, "/var/lib/a.img");
	d[0].readonly = true;
	strcpy(d[0].serial, "SER1");
	strcpy(d[1].path, "/dev/vg/b");
	d[1].direct = true;
	buf_init(&b);
	assert_int_equal(vmconfig_save(&cfg, &b), 0);
	assert_int_equal(vmconfig_load(b.data, b.len, VMCONFIG_VERSION, &out, &e), 0);
	assert_int_equal(out.cfg.memory_mib, 512);
	assert_int_equal(out.cfg.vcpus, 2);
	assert_int_equal(out.cfg.nr_disks, 2);
	assert_string_equal(out.disks[0].path, "/var/lib/a.img");
	assert_true(out.disks[0].readonly);
	assert_false(out.disks[0].direct);
	assert_string_equal(out.disks[0].serial, "SER1");
	assert_true(out.disks[1].direct);
	assert_string_equal(out.cfg.vconsole_path, "/tmp/vc.sock");
	assert_int_equal(out.cfg.engine, ENGINE_KVM);
	assert_int_equal(out.cfg.nr_nets, 2);
	assert_int_equal(out.nets[0].kind, NET_BRIDGE);
	assert_string_equal(out.nets[0].ifname, "xenbr0");
	assert_memory_equal(out.nets[0].mac, n[0].mac, 6);
	assert_true(out.nets[0].mac_given);
	assert_int_equal(out.nets[1].kind, NET_USER);
	assert_int_equal(out.nets[1].nr_fwd, 1);
	assert_true(out.nets[1].fwd[0].udp);
	assert_int_equal(out.nets[1].fwd[0].host_port, 2222);
	assert_int_equal(out.nets[1].fwd[0].guest_port, 22);

	/* every truncation and a trailing byte are refused, with a message */
	for (size_t k = 0; k < b.len; k++) {
		memset(&e, 0, sizeof(e));
		assert_int_equal(vmconfig_load(b.data, k, VMCONFIG_VERSION, &out, &e), -EINVAL);
		assert_non_null(strstr(e.msg, "configuration"));
	}
	buf_put_u8(&b, 0);
	assert_int_equal(vmconfig_load(b.data, b.len, VMCONFIG_VERSION, &out, &e), -EINVAL);
	assert_int_equal(vmconfig_load(b.data, b.len - 1, 3, &out, &e), -ENOTSUP);
	/* two NICs with one MAC: refused */
	buf_free(&b);
	memcpy(n[1].mac, n[0].mac, 6);
	buf_init(&b);
	assert_int_equal(vmconfig_save(&cfg, &b), 0);
	assert_int_equal(vmconfig_load(b.data, b.len, VMCONFIG_VERSION, &out, &e), -EINVAL);
	buf_free(&b);
}

static void test_config_limits(void **state)
{
	struct vm_config cfg = { .memory_mib = 8, .vcpus = 1, .cmdline = "" };
	static struct vmconfig out;
	struct err e = { 0 };
	struct buf b;
	(void)state;

	/* too little memory, too many vCPUs: a corrupt stream, not a machine */
	buf_init(&b);
	vmconfig_save(&cfg, &b);
	assert_int_equal(vmconfig_load(b.data, b.len, VMCONFIG_VERSION, &out, &e), -EINVAL);
	buf_free(&b);
	cfg.memory_mib = 256;
	cfg.vcpus = 1000;
	buf_init(&b);
	vmconfig_save(&cfg, &b);
	assert_int_equal(vmconfig_load(b.data, b.len, VMCONFIG_VERSION, &out, &e), -EINVAL);
	buf_free(&b);
}

static struct kvm_cpuid2 *table(uint32_t ecx1, uint32_t ebx7)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + 2 * sizeof(struct kvm_cpuid_entry2));
	c->nent = 2;
	c->entries[0] = (struct kvm_cpuid_entry2){ .function = 1, .ecx = ecx1, .edx = 0xff };
	c->entries[1] = (struct kvm_cpuid_entry2){ .function = 7, .index = 0,
						   .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
						   .ebx = ebx7 };
	return c;
}

static void test_cpuid_check(void **state)
{
	struct kvm_cpuid2 *guest = table(0x00100001, 0x20), *host, *out = NULL;
	struct err e = { 0 };
	struct buf b;
	(void)state;

	buf_init(&b);
	assert_int_equal(kvmstate_save_cpuid(guest, &b), 0);
	/* a host with more: accepted, and the guest keeps its own table */
	host = table(0xffffffff, 0xffffffff);
	assert_int_equal(kvmstate_check_cpuid(b.data, b.len, 1, host, &out, &e), 0);
	assert_non_null(out);
	assert_int_equal(out->nent, 2);
	assert_int_equal(out->entries[0].ecx, 0x00100001);
	free(out);
	free(host);
	/* a host without SSE4.2 (1.ecx bit 20) and without AVX2 (7.ebx bit 5) */
	host = table(0x00000001, 0);
	out = NULL;
	assert_int_equal(kvmstate_check_cpuid(b.data, b.len, 1, host, &out, &e), -ENOTSUP);
	assert_null(out);
	assert_non_null(strstr(e.msg, "leaf 0x1.0 ecx bits 0x00100000"));
	assert_non_null(strstr(e.msg, "leaf 0x7.0 ebx bits 0x00000020"));
	free(host);
	/* malformed sections */
	memset(&e, 0, sizeof(e));
	assert_int_equal(kvmstate_check_cpuid(b.data, b.len - 1, 1, guest, &out, &e), -EINVAL);
	assert_int_equal(kvmstate_check_cpuid(b.data, 3, 1, guest, &out, &e), -EINVAL);
	assert_int_equal(kvmstate_check_cpuid(b.data, b.len, 2, guest, &out, &e), -EINVAL);
	uint32_t huge = 100000;
	memcpy(b.data, &huge, 4);
	assert_int_equal(kvmstate_check_cpuid(b.data, b.len, 1, guest, &out, &e), -EINVAL);
	buf_free(&b);
	free(guest);
}

static void test_vcpu_records_refused(void **state)
{
	struct err e = { 0 };
	uint8_t rec[16] = { 0 };
	uint32_t id = 1, len = 7;	/* registers with the wrong size */
	(void)state;

	memcpy(rec, &id, 4);
	memcpy(rec + 4, &len, 4);
	/* checked before any ioctl: fd -1 is never used */
	assert_int_equal(kvmstate_load_vcpu(-1, 0, rec, 15, 1, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "registers record has 7 bytes"));
	memset(&e, 0, sizeof(e));
	assert_int_equal(kvmstate_load_vcpu(-1, 0, rec, 6, 1, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "truncated"));
	memset(&e, 0, sizeof(e));
	id = 99;
	memcpy(rec, &id, 4);
	len = 0;
	memcpy(rec + 4, &len, 4);
	assert_int_equal(kvmstate_load_vcpu(-1, 0, rec, 8, 1, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "unknown"));
	memset(&e, 0, sizeof(e));
	assert_int_equal(kvmstate_load_vcpu(-1, 0, rec, 0, 1, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "missing"));
	assert_int_equal(kvmstate_load_vcpu(-1, 0, rec, 0, 7, &e), -ENOTSUP);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_round_trip),
		cmocka_unit_test(test_config_limits),
		cmocka_unit_test(test_cpuid_check),
		cmocka_unit_test(test_vcpu_records_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
