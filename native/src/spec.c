/*
 * The spec Node sends on fd 3: a flat sequence of NUL-terminated strings, alternating key and
 * value ("arg\0/bin/sh\0arg\0-c\0..."). Repeated keys append to lists; "mount" starts a new entry
 * that the following mount keys ("src", "dst", "ro", "data", "keepdirs", "subpath", "mlower",
 * "mupper", "mwork", "content", "fmode", "fuid", "fgid") fill in; "scrule" likewise starts a
 * seccomp rule for the "scname" and "scarg" keys after it (seccomp.c). File contents travel as
 * hex, so any bytes fit the NUL-terminated framing. Unknown keys are an error so that a newer Node side never
 * silently loses a setting.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "sandbox.h"

static char *read_all(int fd, size_t *len_out)
{
	size_t cap = 65536, len = 0;
	char *buf = xmalloc(cap);
	for (;;) {
		if (len == cap) {
			cap *= 2;
			buf = xrealloc(buf, cap);
		}
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fail("reading spec from fd %d: %s", fd, strerror(errno));
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	*len_out = len;
	return buf;
}

static struct user_mount *current_mount(struct spec *spec, const char *key)
{
	if (spec->n_mounts == 0)
		fail("spec: \"%s\" before any \"mount\"", key);
	return &spec->mounts[spec->n_mounts - 1];
}

static void add_lock(struct spec *spec, const char *path, int shared)
{
	spec->locks = xrealloc(spec->locks, (spec->n_locks + 1) * sizeof *spec->locks);
	spec->locks[spec->n_locks].path = path;
	spec->locks[spec->n_locks].shared = shared;
	spec->n_locks++;
}

/* Keys that only make sense inside a "mount" entry; returns 0 when `key` is none of them. */
static int set_mount_key(struct spec *spec, const char *key, char *value)
{
	if (!strcmp(key, "src"))
		current_mount(spec, key)->source = value;
	else if (!strcmp(key, "dst"))
		current_mount(spec, key)->target = value;
	else if (!strcmp(key, "ro"))
		current_mount(spec, key)->readonly = parse_long(value, key) != 0;
	else if (!strcmp(key, "data"))
		current_mount(spec, key)->data = value;
	else if (!strcmp(key, "keepdirs"))
		current_mount(spec, key)->keep_dirs = parse_long(value, key) != 0;
	else if (!strcmp(key, "subpath"))
		current_mount(spec, key)->subpath = value;
	else if (!strcmp(key, "mlower"))
		list_push(&current_mount(spec, key)->lowers, value);
	else if (!strcmp(key, "mupper"))
		current_mount(spec, key)->upper = value;
	else if (!strcmp(key, "mwork"))
		current_mount(spec, key)->work = value;
	else if (!strcmp(key, "content")) {
		struct user_mount *m = current_mount(spec, key);
		m->content_len = hex_decode(value);
		m->content = value;
	} else if (!strcmp(key, "fmode"))
		current_mount(spec, key)->file_mode = (mode_t)parse_long(value, key);
	else if (!strcmp(key, "fuid"))
		current_mount(spec, key)->file_uid = (uid_t)parse_long(value, key);
	else if (!strcmp(key, "fgid"))
		current_mount(spec, key)->file_gid = (gid_t)parse_long(value, key);
	else
		return 0;
	return 1;
}

static void set_key(struct spec *spec, const char *key, char *value)
{
	if (!strcmp(key, "ppid"))
		spec->node_pid = (pid_t)parse_long(value, key);
	else if (!strcmp(key, "rootfs")) {
		if (!strcmp(value, "overlay"))
			spec->rootfs = ROOTFS_OVERLAY;
		else if (!strcmp(value, "dir"))
			spec->rootfs = ROOTFS_DIR;
		else
			fail("spec: unknown rootfs kind \"%s\"", value);
	} else if (!strcmp(key, "lower"))
		list_push(&spec->lowers, value);
	else if (!strcmp(key, "upper"))
		spec->upper = value;
	else if (!strcmp(key, "work"))
		spec->work = value;
	else if (!strcmp(key, "ovlopt"))
		list_push(&spec->overlay_opts, value);
	else if (!strcmp(key, "path"))
		spec->path = value;
	else if (!strcmp(key, "readonly"))
		spec->readonly = parse_long(value, key) != 0;
	else if (!strcmp(key, "arg"))
		list_push(&spec->args, value);
	else if (!strcmp(key, "env"))
		list_push(&spec->env, value);
	else if (!strcmp(key, "cwd"))
		spec->cwd = value;
	else if (!strcmp(key, "uid"))
		spec->uid = (uid_t)parse_long(value, key);
	else if (!strcmp(key, "gid"))
		spec->gid = (gid_t)parse_long(value, key);
	else if (!strcmp(key, "group"))
		list_push(&spec->groups, value);
	else if (!strcmp(key, "buildstep"))
		spec->build_step = parse_long(value, key) != 0;
	else if (!strcmp(key, "hostname"))
		spec->hostname = value;
	else if (!strcmp(key, "net")) {
		if (!strcmp(value, "none"))
			spec->net = NET_NONE;
		else if (!strcmp(value, "host"))
			spec->net = NET_HOST;
		else if (!strcmp(value, "sandbox"))
			spec->net = NET_SANDBOX;
		else
			fail("spec: unknown network mode \"%s\"", value);
	} else if (!strcmp(key, "hosts"))
		spec->hosts = value;
	else if (!strcmp(key, "resolv"))
		spec->resolv = value;
	else if (!strcmp(key, "mask"))
		list_push(&spec->masked, value);
	else if (!strcmp(key, "ropath"))
		list_push(&spec->readonly_paths, value);
	else if (!strcmp(key, "cap"))
		list_push(&spec->keep_caps, value);
	else if (!strcmp(key, "privileged"))
		spec->privileged = parse_long(value, key) != 0;
	else if (!strcmp(key, "userns"))
		spec->userns = parse_long(value, key) != 0;
	else if (!strcmp(key, "nodev"))
		spec->nodev = parse_long(value, key) != 0;
	else if (!strcmp(key, "shmsize"))
		spec->shm_size = value;
	else if (!strcmp(key, "rlimit"))
		list_push(&spec->rlimits, value);
	else if (!strcmp(key, "ovllegacy"))
		spec->overlay_legacy = parse_long(value, key) != 0;
	else if (!strcmp(key, "devcgroup"))
		spec->devcgroup = value;
	else if (!strcmp(key, "devallow"))
		list_push(&spec->dev_allow, value);
	else if (!strcmp(key, "cgroup")) {
		spec->cgroups = xrealloc(spec->cgroups, (spec->n_cgroups + 1) * sizeof *spec->cgroups);
		memset(&spec->cgroups[spec->n_cgroups], 0, sizeof *spec->cgroups);
		spec->cgroups[spec->n_cgroups++].parent = value;
	} else if (!strcmp(key, "cgset")) {
		if (spec->n_cgroups == 0)
			fail("spec: \"cgset\" before any \"cgroup\"");
		list_push(&spec->cgroups[spec->n_cgroups - 1].settings, value);
	}
	else if (!strcmp(key, "lock"))
		add_lock(spec, value, 0);
	else if (!strcmp(key, "lockshared"))
		add_lock(spec, value, 1);
	else if (!strcmp(key, "mount")) {
		spec->mounts = xrealloc(spec->mounts, (spec->n_mounts + 1) * sizeof *spec->mounts);
		struct user_mount *m = &spec->mounts[spec->n_mounts++];
		memset(m, 0, sizeof *m);
		m->tree_fd = -1;
		if (!strcmp(value, "bind"))
			m->kind = MOUNT_BIND;
		else if (!strcmp(value, "tmpfs"))
			m->kind = MOUNT_TMPFS;
		else if (!strcmp(value, "overlay"))
			m->kind = MOUNT_OVERLAY;
		else if (!strcmp(value, "file")) {
			m->kind = MOUNT_FILE;
			m->file_mode = 0400;
		} else
			fail("spec: unknown mount kind \"%s\"", value);
	} else if (!set_mount_key(spec, key, value) && !seccomp_spec_key(spec, key, value))
		fail("spec: unknown key \"%s\"", key);
}

static void require(const void *value, const char *key)
{
	if (!value)
		fail("spec: missing \"%s\"", key);
}

void spec_parse(int fd, struct spec *spec)
{
	size_t len;
	char *buf = read_all(fd, &len);
	close(fd);
	if (len == 0)
		fail("no spec on fd %d (berth-sandbox is started by berth, not by hand)", fd);
	if (buf[len - 1] != '\0')
		fail("spec: truncated (does not end in NUL)");

	memset(spec, 0, sizeof *spec);
	spec->uid = 0;
	spec->gid = 0;
	char *p = buf, *end = buf + len;
	while (p < end) {
		char *key = p;
		p += strlen(p) + 1;
		if (p >= end)
			fail("spec: key \"%s\" has no value", key);
		char *value = p;
		p += strlen(p) + 1;
		set_key(spec, key, value);
	}
}

void spec_read(int fd, struct spec *spec)
{
	spec_parse(fd, spec);
	require(spec->args.items, "arg");
	require(spec->cwd, "cwd");
	if (spec->cwd[0] != '/')
		fail("spec: cwd \"%s\" is not absolute", spec->cwd);
	if (spec->rootfs == ROOTFS_OVERLAY) {
		require(spec->lowers.items, "lower");
		require(spec->upper, "upper");
		require(spec->work, "work");
	} else {
		require(spec->path, "path");
	}
	for (size_t i = 0; i < spec->n_mounts; i++) {
		struct user_mount *m = &spec->mounts[i];
		require(m->target, "dst");
		if (m->target[0] != '/')
			fail("spec: mount target \"%s\" is not absolute", m->target);
		if (m->kind == MOUNT_BIND)
			require(m->source, "src");
		if (m->kind == MOUNT_OVERLAY) {
			require(m->lowers.items, "mlower");
			if (!m->upper != !m->work)
				fail("spec: overlay mount on %s needs both mupper and mwork, or neither", m->target);
			if (!m->upper && m->lowers.len < 2)
				fail("spec: read-only overlay mount on %s needs two lower dirs", m->target);
		}
		if (m->kind == MOUNT_FILE)
			require(m->content, "content");
		if (m->subpath && m->kind != MOUNT_BIND && m->kind != MOUNT_OVERLAY)
			fail("spec: subpath is only for bind and overlay mounts");
	}
	/* argv/envp-style lists must exist even when empty */
	if (!spec->env.items) {
		spec->env.items = xmalloc(sizeof *spec->env.items);
		spec->env.items[0] = NULL;
	}
}
