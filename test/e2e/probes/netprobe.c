/*
 * Network probe for the sandbox network tests, run inside a RUN step (static, no libc needed in
 * the image). Prints one line per probe:
 *   netprobe http IP PORT HOST PATH   GET http://HOST/PATH from IP:PORT (numeric, no resolver in
 *                               a static binary), print the response, or "unreachable: errno"
 *   netprobe abstract NAME      connect to the abstract unix socket NAME: "connected" or errno
 *   netprobe sniff MARKER MS    read every packet an AF_PACKET socket sees for MS milliseconds:
 *                               "seen" when one contains MARKER, else "not seen" (or errno)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static int abstract(const char *name)
{
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0) {
		printf("socket: %s\n", strerror(errno));
		return 1;
	}
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	size_t len = strlen(name);
	if (len + 1 > sizeof addr.sun_path)
		return 2;
	memcpy(addr.sun_path + 1, name, len);
	if (connect(fd, (struct sockaddr *)&addr, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len)) < 0) {
		printf("connect: %s\n", strerror(errno));
		return 1;
	}
	printf("connected\n");
	return 0;
}

static int http(const char *ip, const char *port, const char *host, const char *path)
{
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(port)) };
	if (inet_pton(AF_INET, ip, &addr.sin_addr) != 1)
		return 2;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct timeval tv = { .tv_sec = 5 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
		printf("unreachable: %s\n", strerror(errno));
		return 1;
	}
	char req[1024];
	int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path, host);
	if (write(fd, req, (size_t)n) != n) {
		printf("unreachable: %s\n", strerror(errno));
		return 1;
	}
	char buf[4096];
	ssize_t got;
	while ((got = read(fd, buf, sizeof buf)) > 0)
		fwrite(buf, 1, (size_t)got, stdout);
	printf("\n");
	return 0;
}

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int sniff(const char *marker, long ms)
{
	int fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
	if (fd < 0) {
		printf("socket: %s\n", strerror(errno));
		return 1;
	}
	char buf[65536];
	long end = now_ms() + ms;
	size_t mlen = strlen(marker);
	for (long left; (left = end - now_ms()) > 0;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, (int)left) <= 0)
			continue;
		ssize_t n = recv(fd, buf, sizeof buf, 0);
		if (n > 0 && memmem(buf, (size_t)n, marker, mlen)) {
			printf("seen\n");
			return 0;
		}
	}
	printf("not seen\n");
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc == 6 && !strcmp(argv[1], "http"))
		return http(argv[2], argv[3], argv[4], argv[5]);
	if (argc == 3 && !strcmp(argv[1], "abstract"))
		return abstract(argv[2]);
	if (argc == 4 && !strcmp(argv[1], "sniff"))
		return sniff(argv[2], atol(argv[3]));
	fprintf(stderr, "usage: netprobe http IP PORT HOST PATH | abstract NAME | sniff MARKER MS\n");
	return 2;
}
