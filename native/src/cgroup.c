/*
 * The device cgroup (cgroup v1's devices controller): a cgroup per container below the helper's
 * own, `<own>/<parent>/<helper pid>-<helper start time>`, where every device is denied but the
 * spec's list (docker's defaults). The helper makes it and stays outside it (a cgroup with a task
 * in it cannot be removed); the init moves itself in before anything of the container runs, and
 * the helper removes it once the init is gone. A helper that was SIGKILLed cannot clean up, so
 * every helper first sweeps the empty cgroups whose owner (pid and start time) no longer runs.
 *
 * Hosts with only cgroup v2 have no devices controller file to write (there it is an eBPF program
 * attached to the cgroup); the nodev mounts (rootfs.c, devfs.c) are the protection there.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sandbox.h"

static char cgroup_dir[PATH_MAX]; /* ours, while it exists */

/* snprintf for paths: a path that does not fit is a setup failure, never a truncated path. */
static void __attribute__((format(printf, 3, 4))) path_printf(char *out, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out, size, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= size)
		fail("device cgroup: path too long");
}

/* Where the v1 devices hierarchy is mounted, from mountinfo ("... - cgroup cgroup rw,devices"). */
static int devices_mount(char *out, size_t size)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return -1;
	char line[4096];
	int found = -1;
	while (found < 0 && fgets(line, sizeof line, f)) {
		char *sep = strstr(line, " - cgroup ");
		if (!sep)
			continue;
		char *opts = strrchr(sep, ' ');
		int has = 0;
		for (char *save = NULL, *o = strtok_r(opts + 1, ",\n", &save); o; o = strtok_r(NULL, ",\n", &save))
			has |= !strcmp(o, "devices");
		char mountpoint[PATH_MAX];
		if (has && sscanf(line, "%*s %*s %*s %*s %4095s", mountpoint) == 1) {
			path_printf(out, size, "%s", mountpoint);
			found = 0;
		}
	}
	fclose(f);
	return found;
}

/* Our own place in the devices hierarchy, from /proc/self/cgroup ("5:devices:/path"). */
static int own_path(char *out, size_t size)
{
	FILE *f = fopen("/proc/self/cgroup", "re");
	if (!f)
		return -1;
	char line[4096];
	int found = -1;
	while (found < 0 && fgets(line, sizeof line, f)) {
		char *colon = strchr(line, ':');
		char *colon2 = colon ? strchr(colon + 1, ':') : NULL;
		if (!colon2)
			continue;
		*colon2 = '\0';
		int has = 0;
		for (char *save = NULL, *c = strtok_r(colon + 1, ",", &save); c; c = strtok_r(NULL, ",", &save))
			has |= !strcmp(c, "devices");
		if (has) {
			colon2[strcspn(colon2 + 1, "\n") + 1] = '\0';
			path_printf(out, size, "%s", strcmp(colon2 + 1, "/") ? colon2 + 1 : "");
			found = 0;
		}
	}
	fclose(f);
	return found;
}

/* Field 22 of /proc/PID/stat: when the process started, in clock ticks; 0 when it is gone. */
unsigned long long cgroup_start_time(pid_t pid)
{
	char path[64], buf[1024];
	path_printf(path, sizeof path, "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	if (!p)
		return 0;
	unsigned long long ticks = 0;
	/* after ")": state is field 3, start time field 22 */
	if (sscanf(p + 2, "%*c %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %llu", &ticks) != 1)
		return 0;
	return ticks;
}

/* Empty cgroups of helpers that are gone; a cgroup with tasks refuses rmdir and stays. */
void cgroup_sweep(const char *parent)
{
	DIR *dir = opendir(parent);
	if (!dir)
		return;
	struct dirent *e;
	while ((e = readdir(dir))) {
		int pid;
		unsigned long long ticks;
		char tail;
		if (sscanf(e->d_name, "%d-%llu%c", &pid, &ticks, &tail) != 2)
			continue;
		if (pid > 0 && cgroup_start_time(pid) == ticks)
			continue;
		char path[PATH_MAX];
		path_printf(path, sizeof path, "%s/%s", parent, e->d_name);
		rmdir(path);
	}
	closedir(dir);
}

static void write_rule(const char *file, const char *rule)
{
	char path[PATH_MAX];
	path_printf(path, sizeof path, "%s/%s", cgroup_dir, file);
	if (write_file_text(path, rule) < 0)
		fail("device cgroup: writing \"%s\" to %s: %s", rule, path, strerror(errno));
}

int devcg_create(struct spec *spec)
{
	char mount[PATH_MAX], own[PATH_MAX], parent[PATH_MAX];
	if (!spec->devcgroup)
		return -1;
	/* An absolute path is the parent itself (--cgroup-parent, which Node resolved). */
	if (spec->devcgroup[0] == '/') {
		path_printf(parent, sizeof parent, "%s", spec->devcgroup);
		cgroup_make_parents(parent);
	}
	else if (devices_mount(mount, sizeof mount) < 0 || own_path(own, sizeof own) < 0)
		return -1;
	else
		path_printf(parent, sizeof parent, "%s%s/%s", mount, own, spec->devcgroup);
	/* No writable devices hierarchy (e.g. berth itself confined): nodev still holds. */
	if (mkdir(parent, 0755) < 0 && errno != EEXIST)
		return -1;
	cgroup_sweep(parent);
	pid_t self = getpid();
	path_printf(cgroup_dir, sizeof cgroup_dir, "%s/%d-%llu", parent, (int)self, cgroup_start_time(self));
	if (mkdir(cgroup_dir, 0755) < 0) {
		cgroup_dir[0] = '\0';
		if (errno == EACCES || errno == EROFS || errno == EPERM)
			return -1;
		fail("device cgroup: mkdir %s/%d-...: %s", parent, (int)self, strerror(errno));
	}
	write_rule("devices.deny", "a");
	for (size_t i = 0; i < spec->dev_allow.len; i++)
		write_rule("devices.allow", spec->dev_allow.items[i]);
	/*
	 * "tasks", not "cgroup.procs": moving one thread (the init, single-threaded, moving itself)
	 * skips the kernel's global threadgroup lock, whose write side waits for an RCU grace period
	 * (about 7 ms here, on every container start). Its children are born inside.
	 */
	char tasks[PATH_MAX];
	path_printf(tasks, sizeof tasks, "%s/tasks", cgroup_dir);
	int fd = open(tasks, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		fail("device cgroup: opening %s: %s", tasks, strerror(errno));
	return fd;
}

/* In the init: "0" is the writer itself (its pid here is 1, not what the host calls it). */
void devcg_enter(int tasks_fd)
{
	if (tasks_fd < 0)
		return;
	if (write_all(tasks_fd, "0", 1) < 0)
		fail("entering the device cgroup: %s", strerror(errno));
	close(tasks_fd);
}

void devcg_remove(void)
{
	if (!cgroup_dir[0])
		return;
	/* The init's last children may still be on their way out for a moment. */
	for (int tries = 0; rmdir(cgroup_dir) < 0 && errno == EBUSY && tries < 200; tries++)
		nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
	cgroup_dir[0] = '\0';
}
