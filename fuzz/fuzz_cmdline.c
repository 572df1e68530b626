/* SPDX-License-Identifier: MIT */
/* fuzz_cmdline.c: libFuzzer target: arbitrary command lines against arbitrary limits. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "boot/bzimage.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { if (!(c)) __builtin_trap(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bzimage_info bi = { .protocol = 0x020f };
	struct err e = { 0 };
	const char *line;
	char *str;
	size_t len, max;
	int r;

	/* First 2 bytes: the kernel's cmdline_size (small, so limits are hit);
	 * the 3rd picks a huge one instead. The rest is the command line. */
	if (size < 3)
		return 0;
	bi.cmdline_size = (uint32_t)data[0] | (uint32_t)data[1] << 8;
	if (data[2] == 0xff)
		bi.cmdline_size = UINT32_MAX - data[1];
	line = (const char *)data + 3;
	len = size - 3;
	max = bzimage_cmdline_max(&bi);
	CHECK(max <= bi.cmdline_size);

	r = bzimage_check_cmdline_buf(&bi, line, len, &e);
	CHECK((r == 0) == (len <= max && memchr(line, '\0', len) == NULL));
	CHECK(r == 0 ? e.code == 0 : (e.code == -r && e.msg[0] != '\0'));

	str = malloc(len + 1);
	if (str == NULL)
		return 0;
	memcpy(str, line, len);
	str[len] = '\0';
	memset(&e, 0, sizeof(e));
	r = bzimage_check_cmdline(&bi, str, &e);
	CHECK((r == 0) == (strlen(str) <= max));
	CHECK(r == 0 ? e.code == 0 : (e.code == -r && e.msg[0] != '\0'));
	free(str);
	return 0;
}
