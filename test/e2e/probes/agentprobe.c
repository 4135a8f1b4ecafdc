/* Asks the SSH agent at $SSH_AUTH_SOCK for its identities and prints "<count> <first comment>". */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int read_full(int fd, unsigned char *buf, size_t len)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = read(fd, buf + got, len - got);
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return 0;
}

static uint32_t be32(const unsigned char *p) { return ((uint32_t)p[0] << 24) | (p[1] << 16) | (p[2] << 8) | p[3]; }

int main(void)
{
	const char *path = getenv("SSH_AUTH_SOCK");
	if (!path) { puts("no SSH_AUTH_SOCK"); return 2; }
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	strncpy(addr.sun_path, path, sizeof addr.sun_path - 1);
	if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) { perror("connect"); return 3; }
	unsigned char request[5] = { 0, 0, 0, 1, 11 }; /* SSH_AGENTC_REQUEST_IDENTITIES */
	if (write(fd, request, sizeof request) != sizeof request) return 4;
	unsigned char head[4];
	if (read_full(fd, head, 4) < 0) return 5;
	uint32_t len = be32(head);
	unsigned char *body = malloc(len);
	if (!body || read_full(fd, body, len) < 0 || body[0] != 12) return 6; /* SSH_AGENT_IDENTITIES_ANSWER */
	uint32_t count = be32(body + 1);
	size_t at = 5;
	if (count > 0) {
		uint32_t blob = be32(body + at);
		at += 4 + blob;
		uint32_t clen = be32(body + at);
		printf("%u %.*s\n", count, (int)clen, (const char *)body + at + 4);
	} else {
		printf("0\n");
	}
	return 0;
}
