/*
 * A static probe run inside test containers: each argument names one system call attempt, made
 * in a child process of its own (so that a call that succeeds, such as unshare(CLONE_NEWUSER),
 * cannot change what the next one sees), and one line "name errno" is printed for it, 0 meaning
 * the call succeeded. Arguments are harmless: a call that gets through fails on bad arguments or
 * missing capabilities, or changes nothing outside the probe's own child.
 *
 * Extra arguments use "name:value": keyread:ID reads key ID, open:PATH opens PATH read-only and
 * reads a byte, openw:PATH opens for writing (writes nothing), addkey:DESC adds a key to the
 * user keyring.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <linux/bpf.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define KEY_SPEC_USER_KEYRING -4
#define KEYCTL_GET_KEYRING_ID 0
#define KEYCTL_READ 11

static long r(long rc)
{
	return rc < 0 ? -errno : 0;
}

static long userns_mount(void)
{
	if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
		return -errno;
	/* Only reached when user namespaces are open: show that mounting works in it. */
	if (mount("none", "/dev", "tmpfs", 0, NULL) < 0)
		return -1000 - errno;
	return 0;
}

static long perf(void)
{
	struct perf_event_attr attr;
	memset(&attr, 0, sizeof attr);
	attr.size = sizeof attr;
	attr.type = PERF_TYPE_SOFTWARE;
	attr.config = PERF_COUNT_SW_TASK_CLOCK;
	attr.exclude_kernel = 1;
	attr.exclude_hv = 1;
	return r(syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0));
}

static long bpf_map(void)
{
	union bpf_attr attr;
	memset(&attr, 0, sizeof attr);
	attr.map_type = BPF_MAP_TYPE_ARRAY;
	attr.key_size = 4;
	attr.value_size = 4;
	attr.max_entries = 1;
	return r(syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof attr));
}

static long clone_flags(unsigned long flags)
{
	long pid = syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);
	if (pid < 0)
		return -errno;
	if (pid == 0)
		_exit(0);
	waitpid((pid_t)pid, NULL, 0);
	return 0;
}

static long open_read(const char *path, int flags)
{
	int fd = open(path, flags);
	if (fd < 0)
		return -errno;
	char c;
	if ((flags & O_ACCMODE) == O_RDONLY && read(fd, &c, 1) < 0)
		return -2000 - errno;
	return 0;
}

static long key_read(const char *id)
{
	char buf[256];
	long n = syscall(SYS_keyctl, KEYCTL_READ, atol(id), buf, sizeof buf - 1);
	if (n < 0)
		return -errno;
	buf[n < (long)sizeof buf - 1 ? n : (long)sizeof buf - 1] = '\0';
	fprintf(stderr, "key content: %s\n", buf);
	return 0;
}

static long run(const char *name, const char *arg)
{
	if (!strcmp(name, "getpid"))
		return r(getpid());
	if (!strcmp(name, "fork"))
		return clone_flags(0);
	if (!strcmp(name, "clone_newuser"))
		return clone_flags(CLONE_NEWUSER);
	if (!strcmp(name, "clone3"))
		return r(syscall(SYS_clone3, NULL, 0));
	if (!strcmp(name, "unshare_newuser"))
		return r(unshare(CLONE_NEWUSER));
	if (!strcmp(name, "userns_mount"))
		return userns_mount();
	if (!strcmp(name, "personality_linux"))
		return r(personality(PER_LINUX));
	if (!strcmp(name, "personality_query"))
		return r(personality(0xffffffff));
	if (!strcmp(name, "personality_odd"))
		return r(personality(ADDR_NO_RANDOMIZE));
	if (!strcmp(name, "socket_inet"))
		return r(socket(AF_INET, SOCK_DGRAM, 0));
	if (!strcmp(name, "socket_vsock"))
		return r(socket(40, SOCK_STREAM, 0));
	if (!strcmp(name, "keyctl"))
		return r(syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_USER_KEYRING, 0));
	if (!strcmp(name, "keyread"))
		return key_read(arg);
	if (!strcmp(name, "addkey"))
		return r(syscall(SYS_add_key, "user", arg, "planted", 7, KEY_SPEC_USER_KEYRING));
	if (!strcmp(name, "add_key"))
		return r(syscall(SYS_add_key, "user", "", "", 0, 0));
	if (!strcmp(name, "request_key"))
		return r(syscall(SYS_request_key, "user", "berth-no-such-key", NULL, 0));
	if (!strcmp(name, "bpf"))
		return bpf_map();
	if (!strcmp(name, "perf_event_open"))
		return perf();
	if (!strcmp(name, "ptrace_init"))
		return r(ptrace(PTRACE_ATTACH, 1, 0, 0));
	if (!strcmp(name, "mount"))
		return r(mount("none", "/berth-no-such-dir", "tmpfs", 0, NULL));
	if (!strcmp(name, "umount2"))
		return r(umount2("/berth-no-such-dir", 0));
	if (!strcmp(name, "pivot_root"))
		return r(syscall(SYS_pivot_root, "/berth-no-such-dir", "/berth-no-such-dir"));
	if (!strcmp(name, "kexec_load"))
		return r(syscall(SYS_kexec_load, 0, 0, NULL, 0));
	if (!strcmp(name, "init_module"))
		return r(syscall(SYS_init_module, NULL, 0, ""));
	if (!strcmp(name, "finit_module"))
		return r(syscall(SYS_finit_module, -1, "", 0));
	if (!strcmp(name, "delete_module"))
		return r(syscall(SYS_delete_module, "berth_no_such_module", O_NONBLOCK));
	if (!strcmp(name, "open_by_handle_at"))
		return r(syscall(SYS_open_by_handle_at, -1, NULL, 0));
	if (!strcmp(name, "userfaultfd"))
		return r(syscall(SYS_userfaultfd, 0));
	if (!strcmp(name, "swapon"))
		return r(syscall(SYS_swapon, "/berth-no-such-file", 0));
	if (!strcmp(name, "swapoff"))
		return r(syscall(SYS_swapoff, "/berth-no-such-file"));
	if (!strcmp(name, "reboot"))
		return r(syscall(SYS_reboot, 0, 0, 0, NULL)); /* bad magic: EINVAL at most */
	if (!strcmp(name, "settimeofday"))
		return r(syscall(SYS_settimeofday, NULL, NULL));
	if (!strcmp(name, "clock_settime"))
		return r(syscall(SYS_clock_settime, 0, NULL));
	if (!strcmp(name, "acct"))
		return r(syscall(SYS_acct, NULL));
	if (!strcmp(name, "iopl"))
		return r(syscall(SYS_iopl, 0));
	if (!strcmp(name, "ioperm"))
		return r(syscall(SYS_ioperm, 0, 0, 0));
	if (!strcmp(name, "quotactl"))
		return r(syscall(SYS_quotactl, 0, NULL, 0, NULL));
	if (!strcmp(name, "lookup_dcookie"))
		return r(syscall(SYS_lookup_dcookie, 0, NULL, 0));
	if (!strcmp(name, "fsopen"))
		return r(syscall(SYS_fsopen, "tmpfs", 0));
	if (!strcmp(name, "fsmount"))
		return r(syscall(SYS_fsmount, -1, 0, 0));
	if (!strcmp(name, "move_mount"))
		return r(syscall(SYS_move_mount, -1, "", -1, "", 0));
	if (!strcmp(name, "open_tree"))
		return r(syscall(SYS_open_tree, -1, "/berth-no-such-dir", 0));
	if (!strcmp(name, "setns"))
		return r(syscall(SYS_setns, -1, 0));
	if (!strcmp(name, "syslog"))
		return r(syscall(SYS_syslog, 10, NULL, 0)); /* SYSLOG_ACTION_SIZE_BUFFER */
	if (!strcmp(name, "vhangup"))
		return r(syscall(SYS_vhangup));
	if (!strcmp(name, "unshare_newns"))
		return r(unshare(CLONE_NEWNS));
	if (!strcmp(name, "chroot"))
		return r(chroot("/"));
	if (!strcmp(name, "name_to_handle_at"))
		return r(syscall(SYS_name_to_handle_at, AT_FDCWD, "", NULL, NULL, 0));
	if (!strcmp(name, "open"))
		return open_read(arg, O_RDONLY);
	if (!strcmp(name, "openw"))
		return open_read(arg, O_WRONLY);
	if (!strcmp(name, "x32_getpid"))
		return r(syscall(39 | 0x40000000)); /* x32 ABI getpid */
	if (!strcmp(name, "fchmodat2")) /* Linux 6.6, newer than the profile */
		return r(syscall(452, AT_FDCWD, "/berth-no-such-file", 0755, 0));
	if (!strcmp(name, "nr_1000"))
		return r(syscall(1000)); /* newer than any profile knows */
	fprintf(stderr, "probe: unknown test %s\n", name);
	exit(2);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	for (int i = 1; i < argc; i++) {
		char name[64];
		const char *colon = strchr(argv[i], ':');
		size_t len = colon ? (size_t)(colon - argv[i]) : strlen(argv[i]);
		snprintf(name, sizeof name, "%.*s", (int)len, argv[i]);
		int pipefd[2];
		if (pipe(pipefd) < 0)
			return 3;
		pid_t pid = fork();
		if (pid < 0)
			return 3;
		if (pid == 0) {
			close(pipefd[0]);
			long rc = run(name, colon ? colon + 1 : "");
			if (write(pipefd[1], &rc, sizeof rc) != sizeof rc)
				_exit(4);
			_exit(0);
		}
		close(pipefd[1]);
		long rc = -9999;
		if (read(pipefd[0], &rc, sizeof rc) != sizeof rc)
			rc = -9999;
		close(pipefd[0]);
		waitpid(pid, NULL, 0);
		printf("%s %ld\n", name, -rc);
	}
	return 0;
}
