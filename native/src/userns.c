/*
 * `berth-sandbox --userns-exec PROGRAM ARGS...`: how berth runs without root (bin/berth calls
 * it for every non-root start). The process enters a new user namespace in which it is uid 0 and
 * then execs PROGRAM (Node with berth), so that everything berth does as "root" (overlay mounts,
 * chown of layer files, whiteout devices, the containers' namespaces) happens inside it, and
 * nothing needs a setuid program of our own.
 *
 * Mapping: the user's subordinate ranges from /etc/subuid and /etc/subgid through Debian's
 * setuid newuidmap/newgidmap (uid 0 = the user, 1..n = the range), as rootless Buildah and
 * Podman do; without a range, the user alone as uid 0 (written directly, which the kernel allows
 * for one's own id) and BERTH_USERNS=single, so berth can say why a file owned by anyone else
 * cannot be made. Real root execs PROGRAM unchanged.
 *
 * The mapping is written from outside the namespace (newuidmap must run in the parent user
 * namespace), so a child forked before unshare waits on a pipe, maps us, and exits; we exec
 * only after it succeeded. Node keeps this pid: no process is left waiting in between.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox.h"

struct id_range {
	unsigned long start, count;
};

static void __attribute__((noreturn, format(printf, 1, 2))) die(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	fprintf(stderr, "error: %s\n", msg);
	_exit(EXIT_SETUP);
}

/* The first range of /etc/sub[ug]id for the user (by name or by number), or count 0. */
static struct id_range sub_range(const char *file, const char *name, unsigned long id)
{
	struct id_range range = { 0, 0 };
	FILE *f = fopen(file, "re");
	if (!f)
		return range;
	char line[512], idtext[32];
	snprintf(idtext, sizeof idtext, "%lu", id);
	while (fgets(line, sizeof line, f)) {
		char *who = strtok(line, ":\n"), *start = strtok(NULL, ":\n"), *count = strtok(NULL, ":\n");
		if (!who || !start || !count)
			continue;
		if (strcmp(who, idtext) != 0 && (!name || strcmp(who, name) != 0))
			continue;
		range.start = strtoul(start, NULL, 10);
		range.count = strtoul(count, NULL, 10);
		break;
	}
	fclose(f);
	return range;
}

/* `path` must hold 256 bytes: `name` found on PATH (it is setuid: PATH is the user's choice). */
static const char *find_tool(const char *name, char *path)
{
	const char *dirs = getenv("PATH");
	if (!dirs || !*dirs)
		dirs = "/usr/bin:/bin:/usr/sbin:/sbin";
	for (const char *p = dirs;;) {
		const char *colon = strchrnul(p, ':');
		if (colon > p) {
			snprintf(path, 256, "%.*s/%s", (int)(colon - p), p, name);
			if (access(path, X_OK) == 0)
				return path;
		}
		if (!*colon)
			return NULL;
		p = colon + 1;
	}
}

/* Runs newuidmap/newgidmap PID 0 ID 1 1 START COUNT and reports whether it succeeded. */
static int run_map_tool(const char *tool, pid_t pid, unsigned long id, struct id_range range)
{
	char spid[32], sid[32], sstart[32], scount[32];
	snprintf(spid, sizeof spid, "%d", (int)pid);
	snprintf(sid, sizeof sid, "%lu", id);
	snprintf(sstart, sizeof sstart, "%lu", range.start);
	snprintf(scount, sizeof scount, "%lu", range.count);
	pid_t child = fork();
	if (child < 0)
		return 0;
	if (child == 0) {
		execl(tool, tool, spid, "0", sid, "1", "1", sstart, scount, (char *)NULL);
		_exit(127);
	}
	int status;
	while (waitpid(child, &status, 0) < 0)
		if (errno != EINTR)
			return 0;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static void write_proc(const char *path, const char *text)
{
	if (write_file_text(path, text) < 0)
		die("writing %s: %s", path, strerror(errno));
}

/* The single mapping: the user as uid 0, no other ids, setgroups denied (the kernel's rule). */
static void map_self(uid_t uid, gid_t gid)
{
	char map[64];
	snprintf(map, sizeof map, "0 %u 1\n", (unsigned)uid);
	write_proc("/proc/self/uid_map", map);
	write_proc("/proc/self/setgroups", "deny");
	snprintf(map, sizeof map, "0 %u 1\n", (unsigned)gid);
	write_proc("/proc/self/gid_map", map);
}

/* The forked mapper: waits until the parent has unshared, then maps it from outside. */
static void __attribute__((noreturn)) mapper(int ready_fd, pid_t parent, uid_t uid, gid_t gid,
					       struct id_range uids, struct id_range gids)
{
	char byte;
	if (read(ready_fd, &byte, 1) != 1)
		_exit(1);
	if (uid == 0) {
		/*
		 * Root without CAP_SYS_ADMIN (an unprivileged container's root) maps its own ids whole:
		 * it has CAP_SETUID and CAP_SETGID here, in the parent namespace, which is what the
		 * kernel asks of whoever writes a map of more than one id.
		 */
		char path[64], map[64];
		snprintf(map, sizeof map, "0 0 %lu\n", uids.count);
		snprintf(path, sizeof path, "/proc/%d/uid_map", (int)parent);
		write_proc(path, map);
		snprintf(map, sizeof map, "0 0 %lu\n", gids.count);
		snprintf(path, sizeof path, "/proc/%d/gid_map", (int)parent);
		write_proc(path, map);
		_exit(0);
	}
	char uidtool[256], gidtool[256];
	const char *newuidmap = find_tool("newuidmap", uidtool), *newgidmap = find_tool("newgidmap", gidtool);
	if (!newuidmap || !newgidmap)
		_exit(4);
	if (!run_map_tool(newgidmap, parent, gid, gids))
		_exit(3);
	if (!run_map_tool(newuidmap, parent, uid, uids))
		_exit(2);
	_exit(0);
}

static void explain_unshare_failure(int err)
{
	die("without root's privileges berth runs inside a user namespace, and this system refuses one: "
	    "unshare(CLONE_NEWUSER): %s. Allow them (sysctl -w user.max_user_namespaces=15000; on "
	    "Debian before 11 also kernel.unprivileged_userns_clone=1); inside a container, start it "
	    "with --security-opt seccomp=unconfined --security-opt apparmor=unconfined "
	    "--security-opt systempaths=unconfined",
	    strerror(err));
}

static int has_sys_admin(void)
{
	struct __user_cap_header_struct header = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct data[2];
	if (syscall(SYS_capget, &header, data) < 0)
		return 0;
	return (data[0].effective >> CAP_SYS_ADMIN) & 1;
}

int userns_exec(int argc, char **argv)
{
	if (argc < 1)
		die("usage: berth-sandbox --userns-exec PROGRAM [ARGS...]");
	uid_t uid = getuid();
	gid_t gid = getgid();
	if (getenv("BERTH_USERNS") || (uid == 0 && has_sys_admin())) {
		/* Real root (or already inside): marked, so that a launcher calling us never loops. */
		if (!getenv("BERTH_USERNS"))
			setenv("BERTH_USERNS", "host", 1);
		execv(argv[0], argv);
		die("exec %s: %s", argv[0], strerror(errno));
	}
	struct passwd *pw = getpwuid(uid);
	const char *name = pw ? pw->pw_name : NULL;
	struct id_range uids = sub_range("/etc/subuid", name, uid);
	struct id_range gids = sub_range("/etc/subgid", name, gid);
	/* Root maps the ids a container (or Debian's default range) has: 0-65535. */
	if (uid == 0)
		uids = gids = (struct id_range){ 0, 65536 };
	int ranged = uids.count > 0 && gids.count > 0;
	char tool[256];
	if (ranged && uid != 0 && (!find_tool("newuidmap", tool) || !find_tool("newgidmap", tool)))
		die("%s has subordinate ids in /etc/subuid and /etc/subgid, but newuidmap and newgidmap are "
		    "missing: install them (Debian: apt-get install uidmap)", name ? name : "this user");

	int pipe_fds[2];
	pid_t child = -1;
	if (ranged) {
		if (pipe2(pipe_fds, O_CLOEXEC) < 0)
			die("pipe: %s", strerror(errno));
		pid_t parent = getpid();
		child = fork();
		if (child < 0)
			die("fork: %s", strerror(errno));
		if (child == 0) {
			close(pipe_fds[1]);
			mapper(pipe_fds[0], parent, uid, gid, uids, gids);
		}
		close(pipe_fds[0]);
	}
	if (unshare(CLONE_NEWUSER) < 0)
		explain_unshare_failure(errno);
	if (ranged) {
		if (write(pipe_fds[1], "x", 1) != 1)
			die("waking the id mapper: %s", strerror(errno));
		close(pipe_fds[1]);
		int status;
		while (waitpid(child, &status, 0) < 0)
			if (errno != EINTR)
				die("waitpid: %s", strerror(errno));
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			die("newuidmap/newgidmap could not map %lu ids from %lu (uids) and %lu from %lu (gids) "
			    "for %s: check /etc/subuid and /etc/subgid", uids.count, uids.start, gids.count,
			    gids.start, name ? name : "this user");
	} else {
		map_self(uid, gid);
	}
	setenv("BERTH_USERNS", ranged ? "ranged" : "single", 1);
	execv(argv[0], argv);
	die("exec %s: %s", argv[0], strerror(errno));
}
