/*
 * The command process: the last steps before exec, in the order that keeps them possible.
 * chdir (as root, so a directory only the target user cannot search is still reached, as in
 * docker), drop capabilities from the bounding set (needs CAP_SETPCAP), switch groups and ids,
 * set the remaining capability sets, forbid privilege gain, load the seccomp filter, close every
 * fd but 0-2, and exec with a PATH search done inside the container using the container's PATH.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox.h"

#ifndef CLOSE_RANGE_UNSHARE
#define CLOSE_RANGE_UNSHARE (1U << 1)
#endif

/* Used when the container's environment has no PATH at all (docker's default). */
static const char default_path[] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

static int last_cap(void)
{
	/* /proc is the container's own by now, but cap_last_cap is global. */
	int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
	char buf[16];
	if (fd >= 0) {
		ssize_t n = read(fd, buf, sizeof buf - 1);
		close(fd);
		if (n > 0) {
			buf[n] = '\0';
			return atoi(buf);
		}
	}
	return CAP_LAST_CAP;
}

static unsigned long long kept_mask(struct spec *spec)
{
	unsigned long long mask = 0;
	for (size_t i = 0; i < spec->keep_caps.len; i++) {
		long cap = parse_long(spec->keep_caps.items[i], "cap");
		if (cap < 0 || cap > 63)
			fail("spec: capability %ld out of range", cap);
		mask |= 1ULL << cap;
	}
	return mask;
}

/* Every capability we hold ourselves: what "all" can mean when berth itself runs confined. */
static unsigned long long all_caps(void)
{
	struct __user_cap_header_struct header = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct data[2];
	if (syscall(SYS_capget, &header, data) < 0)
		fail("capget: %s", strerror(errno));
	return (unsigned long long)data[0].permitted | ((unsigned long long)data[1].permitted << 32);
}

static void drop_bounding(unsigned long long keep)
{
	int last = last_cap();
	for (int cap = 0; cap <= last; cap++) {
		if (keep & (1ULL << cap))
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
			fail("dropping capability %d from the bounding set: %s", cap, strerror(errno));
	}
}

static void set_caps(unsigned long long mask)
{
	struct __user_cap_header_struct header = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct data[2];
	memset(data, 0, sizeof data);
	for (int i = 0; i < 2; i++) {
		__u32 word = (__u32)(mask >> (32 * i));
		data[i].effective = word;
		data[i].permitted = word;
		data[i].inheritable = word;
	}
	if (syscall(SYS_capset, &header, data) < 0)
		fail("capset: %s", strerror(errno));
}

static int setgroups_denied(void)
{
	char buf[16] = { 0 };
	int fd = open("/proc/self/setgroups", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	return n > 0 && !strncmp(buf, "deny", 4);
}

static void switch_user(struct spec *spec)
{
	size_t n = spec->groups.len;
	gid_t *groups = xmalloc((n ? n : 1) * sizeof *groups);
	for (size_t i = 0; i < n; i++)
		groups[i] = (gid_t)parse_long(spec->groups.items[i], "group");
	/* raw syscalls: one thread, and no libc setxid broadcasting needed */
	/*
	 * A user namespace with only the user's own id mapped has setgroups denied (the kernel's
	 * rule for such maps); no other group could be mapped there anyway.
	 */
	if (syscall(SYS_setgroups, n, groups) < 0 && !(errno == EPERM && spec->userns && setgroups_denied()))
		fail("setgroups: %s", strerror(errno));
	if (syscall(SYS_setresgid, spec->gid, spec->gid, spec->gid) < 0)
		fail("setgid %u: %s", (unsigned)spec->gid, strerror(errno));
	if (syscall(SYS_setresuid, spec->uid, spec->uid, spec->uid) < 0)
		fail("setuid %u: %s", (unsigned)spec->uid, strerror(errno));
	free(groups);
}

static const char *env_path(struct spec *spec)
{
	for (size_t i = 0; i < spec->env.len; i++)
		if (!strncmp(spec->env.items[i], "PATH=", 5))
			return spec->env.items[i] + 5;
	return default_path;
}

/* Messages in the words docker (runc) uses, so build logs read the same. */
static void __attribute__((noreturn)) exec_failed(const char *name, const char *path, int err)
{
	char msg[PATH_MAX + 256];
	int code = err == ENOENT || err == ENOTDIR ? EXIT_NOT_FOUND : EXIT_CANNOT_EXEC;
	if (path)
		snprintf(msg, sizeof msg, "exec %s: %s\n", path, strerror(err));
	else
		snprintf(msg, sizeof msg, "exec: \"%s\": executable file not found in $PATH\n", name);
	write_all(STDERR_FILENO, msg, strlen(msg));
	_exit(code);
}

static void __attribute__((noreturn)) exec_search(struct spec *spec)
{
	char *const *argv = spec->args.items;
	char *const *envp = spec->env.items;
	const char *name = argv[0];

	if (name[0] == '\0')
		exec_failed(name, NULL, ENOENT);
	if (strchr(name, '/')) {
		execve(name, argv, envp);
		exec_failed(name, name, errno);
	}

	const char *dirs = env_path(spec);
	char full[PATH_MAX];
	int denied = 0, other = 0;
	const char *other_path = NULL;
	char other_buf[PATH_MAX];
	for (const char *p = dirs;;) {
		const char *colon = strchrnul(p, ':');
		size_t dlen = (size_t)(colon - p);
		/* an empty PATH element means the working directory, as in execvp */
		if (dlen == 0)
			snprintf(full, sizeof full, "%s", name);
		else
			snprintf(full, sizeof full, "%.*s/%s", (int)dlen, p, name);
		struct stat st;
		if (stat(full, &st) == 0 && !S_ISDIR(st.st_mode)) {
			execve(full, argv, envp);
			if (errno == EACCES)
				denied = 1;
			else if (!other) {
				other = errno;
				snprintf(other_buf, sizeof other_buf, "%s", full);
				other_path = other_buf;
			}
		}
		if (*colon == '\0')
			break;
		p = colon + 1;
	}
	if (other)
		exec_failed(name, other_path, other);
	if (denied)
		exec_failed(name, name, EACCES);
	exec_failed(name, NULL, ENOENT);
}

static const struct { const char *name; int resource; } RLIMITS[] = {
	{ "as", RLIMIT_AS }, { "core", RLIMIT_CORE }, { "cpu", RLIMIT_CPU }, { "data", RLIMIT_DATA },
	{ "fsize", RLIMIT_FSIZE }, { "locks", RLIMIT_LOCKS }, { "memlock", RLIMIT_MEMLOCK },
	{ "msgqueue", RLIMIT_MSGQUEUE }, { "nice", RLIMIT_NICE }, { "nofile", RLIMIT_NOFILE },
	{ "nproc", RLIMIT_NPROC }, { "rss", RLIMIT_RSS }, { "rtprio", RLIMIT_RTPRIO },
	{ "rttime", RLIMIT_RTTIME }, { "sigpending", RLIMIT_SIGPENDING }, { "stack", RLIMIT_STACK },
};

/* `--ulimit`s, as runc sets them: before the capabilities go, so a hard limit may be raised. */
static void apply_rlimits(struct spec *spec)
{
	for (size_t i = 0; i < spec->rlimits.len; i++) {
		const char *item = spec->rlimits.items[i];
		const char *eq = strchr(item, '=');
		unsigned long long soft, hard;
		if (!eq || sscanf(eq + 1, "%llu:%llu", &soft, &hard) != 2)
			fail("spec: bad rlimit \"%s\"", item);
		int resource = -1;
		for (size_t r = 0; r < sizeof RLIMITS / sizeof RLIMITS[0]; r++)
			if (strlen(RLIMITS[r].name) == (size_t)(eq - item) && !strncmp(RLIMITS[r].name, item, (size_t)(eq - item)))
				resource = RLIMITS[r].resource;
		if (resource < 0)
			fail("spec: unknown rlimit \"%s\"", item);
		struct rlimit limit = { .rlim_cur = soft, .rlim_max = hard };
		if (setrlimit(resource, &limit) < 0)
			fail("--ulimit %s: %s", item, strerror(errno));
	}
}

void exec_command(struct spec *spec)
{
	/* Whatever Node or the helper ignored, the command starts with default dispositions. */
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);
	umask(022);

	if (chdir(spec->cwd) < 0)
		fail("chdir to working directory %s: %s", spec->cwd, strerror(errno));
	apply_rlimits(spec);

	/* Privileged (RUN --security=insecure): every capability the kernel has, like --privileged. */
	unsigned long long keep = spec->privileged ? all_caps() : kept_mask(spec);
	drop_bounding(keep);
	switch_user(spec);
	/* Like docker: root keeps the default set; any other uid starts with no capabilities. */
	set_caps(spec->uid == 0 ? keep : 0);
	if (!spec->privileged && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		fail("prctl(PR_SET_NO_NEW_PRIVS): %s", strerror(errno));
	/* Last: from here on only what docker's profile allows (close_range, stat, execve are in it). */
	if (!spec->privileged)
		seccomp_install(spec);

	/* Only stdin, stdout and stderr reach the command (not the spec or status pipes). */
	if (syscall(SYS_close_range, 3U, ~0U, 0U) < 0) {
		for (int fd = 3; fd < 1024; fd++)
			close(fd);
	}
	exec_search(spec);
}
