/*
 * For the rootless error test: runs PROGRAM as UID:GID inside a user namespace (ids 0-65535
 * mapped to themselves) whose user.max_user_namespaces is 0, the way a host that forbids user
 * namespaces looks to berth. Needs root. Usage: userns-limit UID GID PROGRAM [ARGS...]
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

int main(int argc, char **argv)
{
	if (argc < 4)
		return 2;
	int pipe_fds[2];
	if (pipe(pipe_fds) < 0)
		return 1;
	pid_t parent = getpid();
	pid_t child = fork();
	if (child == 0) {
		char byte, path[64];
		if (read(pipe_fds[0], &byte, 1) != 1)
			_exit(1);
		snprintf(path, sizeof path, "/proc/%d/uid_map", (int)parent);
		if (write_file(path, "0 0 65536\n"))
			_exit(1);
		snprintf(path, sizeof path, "/proc/%d/gid_map", (int)parent);
		_exit(write_file(path, "0 0 65536\n") ? 1 : 0);
	}
	if (unshare(CLONE_NEWUSER) < 0) {
		perror("unshare");
		return 1;
	}
	if (write(pipe_fds[1], "x", 1) != 1)
		return 1;
	int status;
	waitpid(child, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || write_file("/proc/sys/user/max_user_namespaces", "0\n")) {
		fprintf(stderr, "userns-limit: setting up the namespace failed\n");
		return 1;
	}
	gid_t gid = (gid_t)atoi(argv[2]);
	if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 || setresuid((uid_t)atoi(argv[1]), (uid_t)atoi(argv[1]), (uid_t)atoi(argv[1])) < 0) {
		perror("dropping to the user");
		return 1;
	}
	execv(argv[3], argv + 3);
	perror("exec");
	return 127;
}
