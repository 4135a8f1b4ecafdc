/* Error reporting, status lines for Node, and the few allocation helpers the C side needs. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sandbox.h"

/* Whether Node gave us a status pipe; decided once in main before any other fd is opened. */
int status_enabled = -1;

void status_init(void)
{
	status_enabled = fcntl(STATUS_FD, F_GETFD) >= 0;
}

static int status_open(void)
{
	if (status_enabled < 0)
		status_init();
	return status_enabled;
}

/* Writes `text` to the existing file `path` (proc and cgroup files); -1 with errno on failure. */
int write_file_text(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = write_all(fd, text, strlen(text));
	int saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * One line per write(2) so that lines from the helper and the init never interleave (pipe writes
 * under PIPE_BUF are atomic).
 */
static void vline(int fd, const char *prefix, const char *fmt, va_list ap)
{
	char buf[2048];
	int n = snprintf(buf, sizeof buf, "%s", prefix);
	if (n < 0)
		return;
	int m = vsnprintf(buf + n, sizeof buf - (size_t)n - 1, fmt, ap);
	if (m < 0)
		return;
	size_t len = (size_t)n + (size_t)m;
	if (len > sizeof buf - 2)
		len = sizeof buf - 2;
	/* Status lines are line-oriented: a message must never span two of them. */
	for (size_t i = (size_t)n; i < len; i++)
		if (buf[i] == '\n')
			buf[i] = ' ';
	buf[len++] = '\n';
	write_all(fd, buf, len);
}

void status_line(const char *fmt, ...)
{
	if (!status_open())
		return;
	va_list ap;
	va_start(ap, fmt);
	vline(STATUS_FD, "", fmt, ap);
	va_end(ap);
}

/*
 * Blocks until Node writes "go" on the status socket (it is a socketpair, so it reads both ways):
 * the sandbox network is attached from outside, and the command must not start before it is.
 * EOF or anything else means Node gave up (or died): nothing of the command has run yet.
 */
void status_wait_go(void)
{
	if (!status_open())
		fail("the sandbox network needs berth's status pipe");
	char buf[8];
	size_t got = 0;
	while (got < 3) {
		ssize_t n = read(STATUS_FD, buf + got, 3 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			fail("berth stopped before the network was attached");
		got += (size_t)n;
	}
	if (memcmp(buf, "go\n", 3) != 0)
		fail("unexpected message from berth while waiting for the network");
}

/* Setup failed: tell Node on the status pipe (or the user on stderr) and exit 125 like docker. */
void fail(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;
	va_start(ap, fmt);
	errno = saved;
	if (status_open())
		vline(STATUS_FD, "error ", fmt, ap);
	else
		vline(STDERR_FILENO, "berth-sandbox: ", fmt, ap);
	va_end(ap);
	_exit(EXIT_SETUP);
}

/* Something could not be undone or was optional; the run goes on. */
void warn(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;
	va_start(ap, fmt);
	errno = saved;
	if (status_open())
		vline(STATUS_FD, "warning ", fmt, ap);
	else
		vline(STDERR_FILENO, "berth-sandbox: warning: ", fmt, ap);
	va_end(ap);
}

void *xmalloc(size_t size)
{
	void *p = malloc(size ? size : 1);
	if (!p)
		fail("out of memory");
	return p;
}

void *xrealloc(void *ptr, size_t size)
{
	void *p = realloc(ptr, size ? size : 1);
	if (!p)
		fail("out of memory");
	return p;
}

void list_push(struct str_list *list, char *item)
{
	if (list->len + 1 >= list->cap) {
		list->cap = list->cap ? list->cap * 2 : 8;
		list->items = xrealloc(list->items, list->cap * sizeof *list->items);
	}
	list->items[list->len++] = item;
	list->items[list->len] = NULL; /* argv/envp style */
}

long parse_long(const char *text, const char *what)
{
	char *end;
	errno = 0;
	long value = strtol(text, &end, 10);
	if (errno || end == text || *end)
		fail("spec: %s is not a number: \"%s\"", what, text);
	return value;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes in place: the bytes are never longer than their hex. */
size_t hex_decode(char *text)
{
	size_t len = strlen(text);
	if (len % 2)
		fail("spec: value is not hex (odd length)");
	for (size_t i = 0; i < len; i += 2) {
		int hi = hex_digit(text[i]), lo = hex_digit(text[i + 1]);
		if (hi < 0 || lo < 0)
			fail("spec: value is not hex");
		text[i / 2] = (char)(hi * 16 + lo);
	}
	return len / 2;
}
