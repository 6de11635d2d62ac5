#include "log.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

void log_init(struct logger *log, bool debug, bool quiet)
{
	log->max = debug ? LOG_DEBUG : LOG_INFO;
	log->quiet = quiet;
	log->kmsg_fd = -1;
	if (access("/etc/initrd-release", F_OK) == 0 && getppid() == 1)
		log->kmsg_fd = open("/dev/kmsg", O_WRONLY | O_CLOEXEC | O_NOCTTY);
}

void log_close(struct logger *log)
{
	if (log->kmsg_fd >= 0)
		close(log->kmsg_fd);
	log->kmsg_fd = -1;
}

void log_msg(const struct logger *log, enum log_level level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	if (level > log->max)
		return;
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	/* one line per event: a message must never forge a second one */
	for (char *p = line; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';

	if (!log->quiet || level <= LOG_ERR)
		fprintf(stderr, "kcrypt: %s%s\n",
			level == LOG_WARN ? "warning: " : level == LOG_DEBUG ? "debug: " : "", line);
	if (log->kmsg_fd >= 0) {
		/* one write() per record: kmsg takes a record per write, and
		 * dprintf() gives up on it (kmsg refuses the lseek glibc tries) */
		char rec[1100];
		int len = snprintf(rec, sizeof(rec), "<%d>kcrypt: %s\n", (int)level, line);
		if (len > 0)
			(void)!write(log->kmsg_fd, rec, (size_t)len < sizeof(rec) ? (size_t)len : sizeof(rec) - 1);
	}
}
