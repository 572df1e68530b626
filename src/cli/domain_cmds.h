/* SPDX-License-Identifier: MIT */
/* domain_cmds.h: the verbs of domain management, named and behaving as
 * virsh's (docs/cli.md). Each returns the process exit status: 0, or 1 with
 * one line on stderr. */
#ifndef DOMUS_DOMAIN_CMDS_H
#define DOMUS_DOMAIN_CMDS_H

int cmd_list(int argc, char **argv);
int cmd_define(int argc, char **argv);
int cmd_undefine(int argc, char **argv);
int cmd_start(int argc, char **argv);
int cmd_create(int argc, char **argv);
int cmd_shutdown(int argc, char **argv);
int cmd_reboot(int argc, char **argv);
int cmd_reset(int argc, char **argv);
int cmd_destroy(int argc, char **argv);
int cmd_suspend(int argc, char **argv);
int cmd_resume(int argc, char **argv);
int cmd_dominfo(int argc, char **argv);
int cmd_domstats(int argc, char **argv);
int cmd_domstate(int argc, char **argv);
int cmd_domid(int argc, char **argv);
int cmd_domuuid(int argc, char **argv);
int cmd_autostart(int argc, char **argv);
int cmd_console(int argc, char **argv);
int cmd_install(int argc, char **argv);

/* console_attach: the domain's console on this terminal until Ctrl-] (or
 * the domain ends). 0 or 1 with a message. */
int console_attach(const char *name);

/* domain_names: every domain name known (defined or running), for the
 * shell's completion; malloc'd array of malloc'd strings, NULL-terminated. */
char **domain_names(void);

/* shell_main: the interactive shell (`domus` with no arguments). */
int shell_main(void);

/* cli_dispatch: run one verb (argv[0]) as `domus VERB ...` would. */
int cli_dispatch(int argc, char **argv);
/* cli_verb_name: the (i)th verb's name, NULL past the end (completion). */
const char *cli_verb_name(unsigned i);

#endif
