/* SPDX-License-Identifier: MIT */
/* cli.h: the subcommands of the domus multi-call binary. Each returns the
 * process exit status. */
#ifndef DOMUS_CLI_H
#define DOMUS_CLI_H

int cmd_run(int argc, char **argv);
int cmd_migrate_receive(int argc, char **argv);
int cmd_save(int argc, char **argv);
int cmd_restore(int argc, char **argv);
int cmd_migrate(int argc, char **argv);

/* cli_self_dir: directory of the running binary (for the default guest). */
const char *cli_self_dir(void);

#endif
