#include "prompt.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#define ANSWER_MAX 1024
#define ASK_DIR "/run/systemd/ask-password"

void prompt_init(struct prompt *p, bool initrd, int timeout, const struct logger *log)
{
	memset(p, 0, sizeof(*p));
	p->log = log;
	p->timeout = timeout;
	if (!initrd)
		p->how = PROMPT_TTY;
	else if (access("/run/systemd/system", F_OK) == 0)
		p->how = PROMPT_AGENT;
	else
		p->how = PROMPT_CONSOLE;
	clock_gettime(CLOCK_MONOTONIC, &p->deadline);
	p->deadline.tv_sec += timeout;
}

const char *prompt_how_name(enum prompt_how h)
{
	return h == PROMPT_AGENT ? "systemd's ask-password agents" :
	       h == PROMPT_CONSOLE ? "the console" : "the terminal";
}

/* milliseconds left, 0 when the deadline passed */
static int left_ms(const struct prompt *p)
{
	struct timespec now;
	long long ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (p->deadline.tv_sec - now.tv_sec) * 1000LL +
	     (p->deadline.tv_nsec - now.tv_nsec) / 1000000LL;
	return ms <= 0 ? 0 : ms > 0x7fffffff ? 0x7fffffff : (int)ms;
}

static struct secret *take(const char *buf, size_t len)
{
	struct secret *s;

	while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--;
	s = secret_new(len + 1);
	if (!s)
		return NULL;
	memcpy(s->buf, buf, len);
	s->buf[len] = '\0';
	s->len = len;
	return s;
}

static int ask_terminal(const struct prompt *p, const char *path, const char *message,
			struct secret **answer)
{
	struct secret *line = secret_new(ANSWER_MAX);
	struct termios old, quiet;
	bool restore = false;
	size_t n = 0;
	int fd, r = 0;

	if (!line)
		return -ENOMEM;
	fd = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		secret_free(line);
		return -ENOTTY;
	}
	/* no echo: the key must not appear on the screen or the serial log */
	if (tcgetattr(fd, &old) == 0) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK | ECHONL);
		quiet.c_lflag |= ICANON;
		restore = tcsetattr(fd, TCSAFLUSH, &quiet) == 0;
	}
	dprintf(fd, "%s: ", message);
	while (n < line->cap) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int ms = left_ms(p);
		ssize_t got;

		if (!ms || (r = poll(&pfd, 1, ms)) == 0) {
			r = -ETIMEDOUT;
			break;
		}
		if (r < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		got = read(fd, line->buf + n, line->cap - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			r = got < 0 ? -errno : -ECANCELED;
			break;
		}
		n += (size_t)got;
		if (memchr(line->buf + n - (size_t)got, '\n', (size_t)got) ||
		    memchr(line->buf + n - (size_t)got, '\r', (size_t)got)) {
			r = 0;
			break;
		}
	}
	if (restore)
		(void)tcsetattr(fd, TCSAFLUSH, &old);
	dprintf(fd, "\n");
	close(fd);
	if (r == 0) {
		*answer = take((const char *)line->buf, n);
		r = !*answer ? -ENOMEM : (*answer)->len ? 0 : -ECANCELED;
		if (r == -ECANCELED) {
			secret_free(*answer);
			*answer = NULL;
		}
	}
	secret_free(line);
	return r;
}

static void rand_hex(char out[17])
{
	unsigned char b[8] = { 0 };

	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
		memset(b, 0x5a, sizeof(b));
	for (int i = 0; i < 8; i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
}

/* The ask file, written under a temporary name and renamed: the agents
 * act on a complete file only. */
static int write_ask(const char *ask, const char *sock, const char *message, const char *id,
		     const struct prompt *p)
{
	char tmp[160];
	FILE *f;
	int fd;

	snprintf(tmp, sizeof(tmp), "%s.tmp", ask);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		unlink(tmp);
		return -ENOMEM;
	}
	/* NotAfter: CLOCK_MONOTONIC in microseconds, as systemd counts */
	fprintf(f, "[Ask]\nPID=%d\nSocket=%s\nAcceptCached=0\nEcho=0\nNotAfter=%llu\n"
		   "Message=%s\nIcon=drive-harddisk\nId=%s\n",
		(int)getpid(), sock,
		(unsigned long long)p->deadline.tv_sec * 1000000ULL +
			(unsigned long long)p->deadline.tv_nsec / 1000ULL,
		message, id);
	if (fclose(f) != 0 || rename(tmp, ask) < 0) {
		unlink(tmp);
		return -EIO;
	}
	return 0;
}

/* One datagram from a root agent: "+KEY" or "-" (cancel). */
static int agent_reply(const struct prompt *p, int fd, struct secret **answer)
{
	struct secret *buf = secret_new(ANSWER_MAX + 1);
	int r;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		union {
			struct cmsghdr h;
			char b[CMSG_SPACE(sizeof(struct ucred))];
		} ctl;
		struct iovec iov = { .iov_base = buf->buf, .iov_len = buf->cap };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &ctl,
				    .msg_controllen = sizeof(ctl) };
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		struct cmsghdr *c;
		const struct ucred *cred = NULL;
		int ms = left_ms(p);
		ssize_t n;

		if (!ms || (r = poll(&pfd, 1, ms)) == 0) {
			r = -ETIMEDOUT;
			break;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			r = -errno;
			break;
		}
		n = recvmsg(fd, &m, MSG_DONTWAIT);
		if (n <= 0)
			continue;
		for (c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
			if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS)
				cred = (const struct ucred *)(void *)CMSG_DATA(c);
		/* only root may answer: anyone can send to the socket */
		if (!cred || cred->uid != 0)
			continue;
		if (buf->buf[0] == '-') {
			r = -ECANCELED;
			break;
		}
		if (buf->buf[0] != '+')
			continue;
		/* several answers are NUL-separated: the first is the key */
		*answer = take((const char *)buf->buf + 1, strnlen((const char *)buf->buf + 1,
								    (size_t)n - 1));
		r = !*answer ? -ENOMEM : (*answer)->len ? 0 : -ECANCELED;
		if (r == -ECANCELED) {
			secret_free(*answer);
			*answer = NULL;
		}
		break;
	}
	secret_free(buf);
	return r;
}

static int ask_agent(const struct prompt *p, const char *message, const char *id,
		     struct secret **answer)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char rnd[17], ask[128];
	int fd, one = 1, r;

	(void)mkdir("/run/systemd", 0755);
	(void)mkdir(ASK_DIR, 0755);
	rand_hex(rnd);
	snprintf(sa.sun_path, sizeof(sa.sun_path), ASK_DIR "/sck.%s", rnd);
	snprintf(ask, sizeof(ask), ASK_DIR "/ask.%s", rnd);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	r = write_ask(ask, sa.sun_path, message, id, p);
	if (r == 0)
		r = agent_reply(p, fd, answer);
	unlink(ask);
	unlink(sa.sun_path);
	close(fd);
	return r;
}

int prompt_ask(const struct prompt *p, const char *message, const char *id,
	       struct secret **answer)
{
	*answer = NULL;
	if (!left_ms(p))
		return -ETIMEDOUT;
	switch (p->how) {
	case PROMPT_AGENT:
		return ask_agent(p, message, id, answer);
	case PROMPT_CONSOLE:
		return ask_terminal(p, "/dev/console", message, answer);
	default:
		return ask_terminal(p, "/dev/tty", message, answer);
	}
}
