/* SPDX-License-Identifier: MIT */
/* spec_default.c: the config.json that `domus-oci spec` writes and that
 * `domus container run` starts from. */
#include "spec.h"
#include "state.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char default_json[] =
	"{\n"
	"  \"ociVersion\": \"1.0.2\",\n"
	"  \"process\": {\n"
	"    \"terminal\": true,\n"
	"    \"user\": { \"uid\": 0, \"gid\": 0 },\n"
	"    \"args\": [ \"sh\" ],\n"
	"    \"env\": [ \"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\",\n"
	"             \"TERM=xterm\" ],\n"
	"    \"cwd\": \"/\",\n"
	"    \"capabilities\": {\n"
	"      \"bounding\": [ \"CAP_AUDIT_WRITE\", \"CAP_KILL\", \"CAP_NET_BIND_SERVICE\" ],\n"
	"      \"effective\": [ \"CAP_AUDIT_WRITE\", \"CAP_KILL\", \"CAP_NET_BIND_SERVICE\" ],\n"
	"      \"permitted\": [ \"CAP_AUDIT_WRITE\", \"CAP_KILL\", \"CAP_NET_BIND_SERVICE\" ]\n"
	"    },\n"
	"    \"rlimits\": [ { \"type\": \"RLIMIT_NOFILE\", \"hard\": 1024, \"soft\": 1024 } ],\n"
	"    \"noNewPrivileges\": true\n"
	"  },\n"
	"  \"root\": { \"path\": \"rootfs\", \"readonly\": true },\n"
	"  \"hostname\": \"domus\",\n"
	"  \"mounts\": [\n"
	"    { \"destination\": \"/proc\", \"type\": \"proc\", \"source\": \"proc\" },\n"
	"    { \"destination\": \"/dev\", \"type\": \"tmpfs\", \"source\": \"tmpfs\",\n"
	"      \"options\": [ \"nosuid\", \"strictatime\", \"mode=755\", \"size=65536k\" ] },\n"
	"    { \"destination\": \"/dev/pts\", \"type\": \"devpts\", \"source\": \"devpts\",\n"
	"      \"options\": [ \"nosuid\", \"noexec\", \"newinstance\", \"ptmxmode=0666\",\n"
	"                   \"mode=0620\", \"gid=5\" ] },\n"
	"    { \"destination\": \"/dev/shm\", \"type\": \"tmpfs\", \"source\": \"shm\",\n"
	"      \"options\": [ \"nosuid\", \"noexec\", \"nodev\", \"mode=1777\",\n"
	"                   \"size=65536k\" ] },\n"
	"    { \"destination\": \"/dev/mqueue\", \"type\": \"mqueue\", \"source\": \"mqueue\",\n"
	"      \"options\": [ \"nosuid\", \"noexec\", \"nodev\" ] },\n"
	"    { \"destination\": \"/sys\", \"type\": \"sysfs\", \"source\": \"sysfs\",\n"
	"      \"options\": [ \"nosuid\", \"noexec\", \"nodev\", \"ro\" ] },\n"
	"    { \"destination\": \"/sys/fs/cgroup\", \"type\": \"cgroup\", \"source\": \"cgroup\",\n"
	"      \"options\": [ \"nosuid\", \"noexec\", \"nodev\", \"relatime\", \"ro\" ] }\n"
	"  ],\n"
	"  \"linux\": {\n"
	"    \"resources\": { \"devices\": [ { \"allow\": false, \"access\": \"rwm\" } ] },\n"
	"    \"namespaces\": [ { \"type\": \"pid\" }, { \"type\": \"network\" },\n"
	"                    { \"type\": \"ipc\" }, { \"type\": \"uts\" },\n"
	"                    { \"type\": \"mount\" }, { \"type\": \"cgroup\" } ],\n"
	"    \"maskedPaths\": [ \"/proc/acpi\", \"/proc/asound\", \"/proc/kcore\",\n"
	"      \"/proc/keys\",\n"
	"      \"/proc/latency_stats\", \"/proc/timer_list\", \"/proc/timer_stats\",\n"
	"      \"/proc/sched_debug\", \"/sys/firmware\", \"/proc/scsi\" ],\n"
	"    \"readonlyPaths\": [ \"/proc/bus\", \"/proc/fs\", \"/proc/irq\", \"/proc/sys\",\n"
	"      \"/proc/sysrq-trigger\" ]\n"
	"  }\n"
	"}\n";

char *spec_default_json(bool rootless)
{
	struct json_object *root, *lx, *ns, *maps;
	char *out;

	if (!rootless)
		return strdup(default_json);
	root = json_tokener_parse(default_json);
	if (root == NULL)
		return NULL;
	/* rootless: a user namespace mapping the caller to root, no cgroup limits */
	json_object_object_get_ex(root, "linux", &lx);
	json_object_object_get_ex(lx, "namespaces", &ns);
	json_object_array_add(ns, json_tokener_parse("{\"type\": \"user\"}"));
	json_object_object_del(lx, "resources");
	for (int g = 0; g < 2; g++) {
		char m[128];
		xsnprintf(m, sizeof(m), "[{\"containerID\": 0, \"hostID\": %u, \"size\": 1}]",
			 g ? (unsigned)getegid() : (unsigned)geteuid());
		maps = json_tokener_parse(m);
		json_object_object_add(lx, g ? "gidMappings" : "uidMappings", maps);
	}
	out = strdup(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
								  JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(root);
	return out;
}
