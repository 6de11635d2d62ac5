/* Asking a person for a key: through systemd's ask-password protocol when
 * systemd runs the initrd (its console and plymouth agents answer), else
 * on the console (a shell initrd) or the terminal (by hand). */
#ifndef KCRYPT_PROMPT_H
#define KCRYPT_PROMPT_H

#include <stdbool.h>
#include <time.h>

#include "log.h"
#include "secret.h"

enum prompt_how { PROMPT_TTY, PROMPT_CONSOLE, PROMPT_AGENT };

struct prompt {
	enum prompt_how how;
	struct timespec deadline;	/* CLOCK_MONOTONIC: the whole prompting ends here */
	int timeout;			/* seconds, for messages */
	const struct logger *log;
};

/* initrd: the agent protocol when systemd is PID 1, else /dev/console;
 * otherwise the controlling terminal. */
void prompt_init(struct prompt *p, bool initrd, int timeout, const struct logger *log);
const char *prompt_how_name(enum prompt_how h);

/* Ask once; message is one line. Returns 0 with *answer (no newline),
 * -ETIMEDOUT when the deadline passed, -ECANCELED when the person gave up
 * (empty answer, end of input, the agent's cancel), -ENOTTY when there is
 * nobody to ask, other -errno. */
int prompt_ask(const struct prompt *p, const char *message, const char *id,
	       struct secret **answer);

#endif
