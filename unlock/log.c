#include "log.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
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

/* Newlines become spaces, other control bytes \xNN. */
static void sanitize(const char *in, char *out, size_t size)
{
	size_t o = 0;

	for (const unsigned char *p = (const unsigned char *)in; *p && o + 5 < size; p++) {
		if (*p == '\n' || *p == '\r' || *p == '\t')
			out[o++] = ' ';
		else if (*p < 0x20 || *p == 0x7f)
			o += (size_t)snprintf(out + o, size - o, "\\x%02x", *p);
		else
			out[o++] = (char)*p;
	}
	out[o] = '\0';
}

void log_msg(const struct logger *log, enum log_level level, const char *fmt, ...)
{
	char line[1024], clean[1024];
	va_list ap;
	int n;

	if (level > log->max)
		return;
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	/* one line per event: a message must never forge a second one, and a
	 * label off a disk must not drive the console (escape sequences) */
	sanitize(line, clean, sizeof(clean));

	/* with debug on, every line says when (the kernel's clock since boot,
	 * as dmesg shows it): the boot's time can then be read off the log */
	char stamp[32] = "";
	if (log->max == LOG_DEBUG) {
		struct timespec ts;
		clock_gettime(CLOCK_BOOTTIME, &ts);
		snprintf(stamp, sizeof(stamp), "[%5lld.%03ld] ", (long long)ts.tv_sec, ts.tv_nsec / 1000000);
	}
	if (!log->quiet || level <= LOG_ERR)
		fprintf(stderr, "kcrypt: %s%s%s\n",
			level == LOG_WARN ? "warning: " : level == LOG_DEBUG ? "debug: " : "", stamp, clean);
	if (log->kmsg_fd >= 0) {
		/* one write() per record: kmsg takes a record per write, and
		 * dprintf() gives up on it (kmsg refuses the lseek glibc tries) */
		char rec[1100];
		int len = snprintf(rec, sizeof(rec), "<%d>kcrypt: %s\n", (int)level, clean);
		if (len > 0)
			(void)!write(log->kmsg_fd, rec, (size_t)len < sizeof(rec) ? (size_t)len : sizeof(rec) - 1);
	}
}
