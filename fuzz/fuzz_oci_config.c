/* SPDX-License-Identifier: MIT */
/* fuzz_oci_config.c: libFuzzer target: arbitrary bytes as config.json and as
 * an exec process file. Parsing must succeed or fail with a message, never
 * crash or leak; what succeeds must be self-consistent. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/err.h"
#include "container/spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { if (!(c)) __builtin_trap(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct oci_spec *s = NULL;
	struct oci_process p;
	struct err e = { 0 };
	int r;

	r = spec_parse((const char *)data, size, "config.json", &s, &e);
	CHECK(r == 0 ? s != NULL && e.code == 0 : s == NULL && e.code == -r && e.msg[0] != '\0');
	if (r == 0) {
		CHECK(s->oci_version != NULL && s->root_path != NULL);
		if (s->has_process)
			CHECK(s->process.args != NULL && s->process.args[0] != NULL &&
			      s->process.cwd != NULL && s->process.cwd[0] == '/');
		for (size_t i = 0; i < s->n_mounts; i++)
			CHECK(s->mounts[i].destination[0] == '/');
		for (size_t i = 0; i < s->n_namespaces; i++)
			CHECK(spec_ns_name(s->namespaces[i].type)[0] != '?');
		if (s->seccomp)
			for (size_t i = 0; i < s->seccomp->n_rules; i++)
				CHECK(s->seccomp->rules[i].n_args <= 6);
		spec_free(s);
	}
	memset(&e, 0, sizeof(e));
	r = spec_parse_process((const char *)data, size, "process.json", &p, &e);
	CHECK(r == 0 ? e.code == 0 : e.code == -r);
	if (r == 0)
		spec_process_free(&p);
	return 0;
}
