/* SPDX-License-Identifier: MIT */
/* shell.c: `domus` with no arguments: an interactive shell like virsh's,
 * prompt "domus # ", with history (kept across sessions) and tab completion
 * of verbs and domain names, through libedit's readline interface. */
#include <editline/readline.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/file.h"
#include "common/log.h"
#include "domain/paths.h"
#include "domain_cmds.h"
#include "engine/engine.h"

#define SHELL_ARGS_MAX	64
#define HISTORY_MAX	1000

static char **comp_names;

static char *complete_verb(const char *text, int state)
{
	static unsigned i;
	const char *v;

	if (state == 0)
		i = 0;
	while ((v = cli_verb_name(i++)) != NULL)
		if (strncmp(v, text, strlen(text)) == 0)
			return strdup(v);
	return NULL;
}

static char *complete_domain(const char *text, int state)
{
	static unsigned i;

	if (state == 0) {
		i = 0;
		if (comp_names) {
			for (char **p = comp_names; *p; p++)
				free(*p);
			free(comp_names);
		}
		comp_names = domain_names();
	}
	while (comp_names && comp_names[i]) {
		const char *n = comp_names[i++];
		if (strncmp(n, text, strlen(text)) == 0)
			return strdup(n);
	}
	return NULL;
}

/* The first word is a verb; later words are domain names (or files, for
 * define and create: readline's filename completion). */
static char **complete(const char *text, int start, int end)
{
	(void)end;
	int first = 1;
	for (int i = 0; i < start; i++)
		if (rl_line_buffer[i] != ' ' && rl_line_buffer[i] != '\t')
			first = 0;
	if (first)
		return rl_completion_matches(text, complete_verb);
	if (strncmp(rl_line_buffer, "define", 6) == 0 || strncmp(rl_line_buffer, "create", 6) == 0)
		return NULL;	/* file names */
	return rl_completion_matches(text, complete_domain);
}

/* Split (line) into words: blanks separate, '...' and "..." quote, a
 * backslash escapes the next character. -1 on an unterminated quote. */
static int split(char *line, char **argv, int max)
{
	int argc = 0;
	char *r = line, *w = line;

	for (;;) {
		while (*r == ' ' || *r == '\t')
			r++;
		if (*r == '\0' || *r == '#')
			return argc;
		if (argc == max)
			return -1;
		argv[argc++] = w;
		while (*r && *r != ' ' && *r != '\t') {
			if (*r == '\'' || *r == '"') {
				char q = *r++;
				while (*r && *r != q)
					*w++ = *r++;
				if (*r != q)
					return -1;
				r++;
			} else if (*r == '\\' && r[1]) {
				r++;
				*w++ = *r++;
			} else {
				*w++ = *r++;
			}
		}
		if (*r)
			r++;
		*w++ = '\0';
	}
}

int shell_main(void)
{
	struct dom_paths p;
	char hist[DOM_DIR_MAX + 32] = "";
	char *line;

	rl_readline_name = "domus";
	rl_attempted_completion_function = complete;
	using_history();
	stifle_history(HISTORY_MAX);
	if (dom_paths_get(&p, NULL) == 0) {
		snprintf(hist, sizeof(hist), "%s/history", p.lib);
		read_history(hist);
	}
	if (isatty(STDIN_FILENO))
		printf("Welcome to domus %s, the domain shell.\n\n"
		       "Type:  'help' for help with commands\n"
		       "       'quit' to quit\n\n", DOMUS_VERSION);
	while ((line = readline("domus # ")) != NULL) {
		char *argv[SHELL_ARGS_MAX + 1];
		int argc;

		if (*line)
			add_history(line);
		argc = split(line, argv, SHELL_ARGS_MAX);
		if (argc < 0) {
			log_error("unterminated quote or too many words");
		} else if (argc > 0) {
			argv[argc] = NULL;
			if (strcmp(argv[0], "quit") == 0 || strcmp(argv[0], "exit") == 0) {
				free(line);
				break;
			}
			fflush(stdout);
			cli_dispatch(argc, argv);
			fflush(stdout);
		}
		free(line);
	}
	if (hist[0] && file_mkdir_p(p.lib, 0755, NULL) == 0)
		write_history(hist);
	return 0;
}
