/* Exit codes, documented in kcrypt(8) under EXIT STATUS. */
#ifndef KCRYPT_EXITCODE_H
#define KCRYPT_EXITCODE_H

enum {
	EXIT_OK = 0,		/* done: every expected volume is open (or verified) */
	EXIT_FAIL = 1,		/* an expected volume is not open; internal error */
	EXIT_USAGE = 2,		/* bad command line */
	EXIT_DEVICE = 3,	/* device missing, not LUKS, LUKS1, header damaged */
	EXIT_KEY = 4,		/* key file unusable, or no key opened the volume */
	EXIT_AMBIGUOUS = 5,	/* two volumes claim one label or mapper name */
	EXIT_CONFIG = 6,	/* done, but some configuration was ignored */
	EXIT_TRUST = 7,		/* refused: plaintext downgrade, volume not in the set,
				 * measurement failed; nothing left open */
};

#endif
