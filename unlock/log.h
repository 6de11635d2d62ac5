/* Logging: one line per event, "kcrypt: ...", to stderr and, inside an
 * initrd when our parent is PID 1, also to /dev/kmsg so the message survives
 * into the journal / dmesg of the booted system. */
#ifndef KCRYPT_LOG_H
#define KCRYPT_LOG_H

#include <stdarg.h>
#include <stdbool.h>

enum log_level { LOG_ERR = 3, LOG_WARN = 4, LOG_INFO = 6, LOG_DEBUG = 7 };

struct logger {
	enum log_level max;	/* messages above this level are dropped */
	int kmsg_fd;		/* -1 when not logging to the kernel */
	bool quiet;		/* only errors on stderr */
};

/* Decide the sinks: kmsg only in an initrd and as a child of PID 1. */
void log_init(struct logger *log, bool debug, bool quiet);
void log_close(struct logger *log);

void log_msg(const struct logger *log, enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define log_err(l, ...)   log_msg((l), LOG_ERR, __VA_ARGS__)
#define log_warn(l, ...)  log_msg((l), LOG_WARN, __VA_ARGS__)
#define log_info(l, ...)  log_msg((l), LOG_INFO, __VA_ARGS__)
#define log_debug(l, ...) log_msg((l), LOG_DEBUG, __VA_ARGS__)

#endif
