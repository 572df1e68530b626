/* SPDX-License-Identifier: MIT */
/* console.h: the guest console on the user's terminal or pipes, for both
 * engines. On a terminal: raw mode (restored on every exit path) and QEMU's
 * escapes (Ctrl-A x quits, Ctrl-A h helps, Ctrl-A Ctrl-A sends Ctrl-A). On a
 * pipe or file: every byte goes to the guest, in order, none dropped. */
#ifndef DOMUS_CONSOLE_H
#define DOMUS_CONSOLE_H

#include <stdbool.h>

struct ev_loop;
struct err;
struct chardev;
struct console;

/* console_new: a console reading (in_fd) and writing (out_fd), served by (loop).
 * A terminal on (in_fd) is switched to raw mode. */
struct console *console_new(struct ev_loop *loop, int in_fd, int out_fd, struct err *err);
void console_free(struct console *con);

/* console_chardev: the guest-facing end, for the serial device (or the QEMU pipe). */
struct chardev *console_chardev(struct console *con);

/* console_on_quit: (fn) runs in the loop thread when the user types Ctrl-A x. */
void console_on_quit(struct console *con, void (*fn)(void *arg), void *arg);

/* console_is_tty: whether input is an interactive terminal. */
bool console_is_tty(const struct console *con);

/* console_restore_terminal: put the terminal back as we found it. Idempotent,
 * async-signal-safe; also installed for exit() and fatal signals. */
void console_restore_terminal(void);

#endif
