/*
 * Resource cgroups: --cgroup-parent and the memory, cpu and cpuset limits (cgroup v1). Node
 * (src/exec/cgroups.ts) says which parent directories, in which hierarchies, and what to write;
 * here the helper makes `<parent>/<its pid>-<its start time>` in each, writes the settings, and
 * keeps the tasks files open for the init, which moves itself in before anything of the
 * container exists. The helper removes them once the init is gone, as it does the device cgroup
 * (cgroup.c); a SIGKILLed helper's empty cgroups are swept by the next helper to use the parent.
 * Unlike the device cgroup, a limit the kernel refuses fails the container: it was asked for.
 */
#define _GNU_SOURCE
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

#define MAX_CGROUPS 16

static struct {
	char dir[PATH_MAX];
	int tasks_fd;
} made[MAX_CGROUPS];
static size_t n_made;

static void remove_made(void)
{
	while (n_made > 0) {
		n_made--;
		if (made[n_made].tasks_fd >= 0)
			close(made[n_made].tasks_fd);
		/* The init's last children may still be on their way out for a moment. */
		for (int tries = 0; rmdir(made[n_made].dir) < 0 && errno == EBUSY && tries < 200; tries++)
			nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
	}
}

static void __attribute__((noreturn, format(printf, 1, 2))) limits_fail(const char *fmt, ...)
{
	char message[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(message, sizeof message, fmt, ap);
	va_end(ap);
	remove_made();
	fail("%s", message);
}

static void join_path(char *out, const char *dir, const char *name)
{
	int n = snprintf(out, PATH_MAX, "%s/%s", dir, name);
	if (n < 0 || n >= PATH_MAX)
		limits_fail("cgroup: path too long: %s/%s", dir, name);
}

/* A v1 cpuset cgroup starts with no cpus and no mems, and takes no task until it has both. */
static void inherit_cpuset(const char *dir, const char *from)
{
	char probe[PATH_MAX];
	join_path(probe, dir, "cgroup.clone_children");
	if (access(probe, F_OK) < 0)
		return; /* v2: an empty cpuset file means "the parent's" */
	static const char *const files[] = { "cpuset.cpus", "cpuset.mems" };
	for (size_t i = 0; i < 2; i++) {
		char mine[PATH_MAX], theirs[PATH_MAX], value[4096] = "";
		join_path(mine, dir, files[i]);
		join_path(theirs, from, files[i]);
		FILE *f = fopen(theirs, "re");
		if (!f)
			return; /* not a cpuset hierarchy */
		size_t n = fread(value, 1, sizeof value - 1, f);
		fclose(f);
		value[n] = '\0';
		if (value[0] == '\0' || value[0] == '\n')
			continue;
		if (write_file_text(mine, value) < 0)
			limits_fail("cgroup: writing %s: %s", mine, strerror(errno));
	}
}

/* mkdir -p for a cgroup directory, each new level given its parent's cpuset. */
void cgroup_make_parents(const char *dir)
{
	struct stat st;
	if (stat(dir, &st) == 0)
		return;
	char up[PATH_MAX];
	snprintf(up, sizeof up, "%s", dir);
	char *slash = strrchr(up, '/');
	if (!slash || slash == up)
		limits_fail("cgroup: %s: no such hierarchy", dir);
	*slash = '\0';
	cgroup_make_parents(up);
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		limits_fail("cgroup: mkdir %s: %s", dir, strerror(errno));
	inherit_cpuset(dir, up);
}

static void make_one(const struct cgroup_req *req, pid_t self, unsigned long long started)
{
	if (n_made == MAX_CGROUPS)
		limits_fail("cgroup: more than %d hierarchies", MAX_CGROUPS);
	cgroup_make_parents(req->parent);
	cgroup_sweep(req->parent);
	char name[64];
	snprintf(name, sizeof name, "%d-%llu", (int)self, started);
	char *dir = made[n_made].dir;
	join_path(dir, req->parent, name);
	if (mkdir(dir, 0755) < 0)
		limits_fail("cgroup: mkdir %s: %s", dir, strerror(errno));
	made[n_made].tasks_fd = -1;
	n_made++;
	inherit_cpuset(dir, req->parent);
	for (size_t i = 0; i < req->settings.len; i++) {
		char *setting = req->settings.items[i];
		char *eq = strchr(setting, '=');
		if (!eq)
			limits_fail("spec: bad cgroup setting \"%s\"", setting);
		*eq = '\0';
		char file[PATH_MAX];
		join_path(file, dir, setting);
		int rc = write_file_text(file, eq + 1);
		int saved = errno;
		*eq = '=';
		if (rc < 0)
			limits_fail("cgroup: writing \"%s\" to %s: %s", eq + 1, file, strerror(saved));
	}
	char tasks[PATH_MAX];
	join_path(tasks, dir, "tasks");
	if (access(tasks, F_OK) < 0)
		join_path(tasks, dir, "cgroup.procs");
	made[n_made - 1].tasks_fd = open(tasks, O_WRONLY | O_CLOEXEC);
	if (made[n_made - 1].tasks_fd < 0)
		limits_fail("cgroup: opening %s: %s", tasks, strerror(errno));
}

void limits_create(struct spec *spec)
{
	pid_t self = getpid();
	unsigned long long started = cgroup_start_time(self);
	for (size_t i = 0; i < spec->n_cgroups; i++)
		make_one(&spec->cgroups[i], self, started);
}

/* In the init, before anything else: "0" is the writer itself (see devcg_enter). */
void limits_enter(void)
{
	for (size_t i = 0; i < n_made; i++) {
		if (write_all(made[i].tasks_fd, "0", 1) < 0)
			fail("entering cgroup %s: %s", made[i].dir, strerror(errno));
		close(made[i].tasks_fd);
		made[i].tasks_fd = -1;
	}
}

/* In the helper once the init runs: the tasks files are the init's business. */
void limits_close_files(void)
{
	for (size_t i = 0; i < n_made; i++) {
		if (made[i].tasks_fd >= 0)
			close(made[i].tasks_fd);
		made[i].tasks_fd = -1;
	}
}

void limits_remove(void)
{
	remove_made();
}
