/* SPDX-License-Identifier: MIT */
/* fuzz_xlcfg.c: libFuzzer target: arbitrary domain config files through the
 * xl.cfg parser and the domain keys (disk and vif specs included), and the
 * grub.cfg reader of the bootloader. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "domain/bootloader.h"
#include "domain/domcfg.h"
#include "domain/xlcfg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { if (!(c)) __builtin_trap(); } while (0)

static void no_warn(void *ctx, const char *msg)
{
	(void)ctx;
	CHECK(msg[0] != '\0');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct domain_config cfg;
	struct xlcfg x;
	struct err e = { 0 };
	int r;

	r = xlcfg_parse((const char *)data, size, "f", &x, &e);
	CHECK(r == 0 ? e.code == 0 : (e.code == -r && strncmp(e.msg, "f:", 2) == 0));
	if (r == 0) {
		for (size_t i = 0; i < x.nr; i++) {
			CHECK(x.entries[i].key[0] != '\0');
			CHECK(xlcfg_get(&x, x.entries[i].key) != NULL);
		}
		xlcfg_free(&x);
	}
	memset(&e, 0, sizeof(e));
	r = domcfg_parse((const char *)data, size, "f", &cfg, no_warn, NULL, &e);
	CHECK(r == 0 ? e.code == 0 : (e.code != 0 && strchr(e.msg, '\n') == NULL));
	if (r == 0) {
		CHECK(domcfg_valid_name(cfg.name));
		CHECK(cfg.vcpus >= 1 && cfg.memory_mib >= 32);
		CHECK(cfg.nr_disks <= 16 && cfg.nr_vifs <= DOM_VIFS_MAX);
		for (unsigned i = 1; i < cfg.nr_disks; i++)
			CHECK(cfg.disks[i - 1].index < cfg.disks[i].index);
	}
	/* the same bytes as a grub.cfg */
	char *text = malloc(size + 1), k[256], in[256], a[256];
	if (text) {
		memcpy(text, data, size);
		text[size] = '\0';
		if (bootloader_grub_default(text, k, sizeof(k), in, sizeof(in), a, sizeof(a)) == 0)
			CHECK(k[0] != '\0' && strlen(a) < sizeof(a));
		free(text);
	}
	return 0;
}
