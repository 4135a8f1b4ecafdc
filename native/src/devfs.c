/*
 * What every container sees besides its image: /proc for its own pid namespace, a small /dev on
 * tmpfs, a read-only /sys, the /etc files Node generated, and docker's masked and read-only
 * kernel paths. All of it is mounted after pivot_root, at container paths, through the stub log
 * in rootfs.c so that none of it ends up in the layer; only for a build's RUN (`build_step`), the
 * empty /dev, /proc and /sys made for an image that lacked them stay, as they do in BuildKit's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "sandbox.h"

/* Scratch space for the generated /etc files, inside the /dev tmpfs; removed once bound. */
#define ETC_SCRATCH "/dev/.berth-etc"

struct device {
	const char *name;
	unsigned int major, minor;
};

static const struct device devices[] = {
	{ "null", 1, 3 }, { "zero", 1, 5 }, { "full", 1, 7 },
	{ "random", 1, 8 }, { "urandom", 1, 9 }, { "tty", 5, 0 },
};

static const struct {
	const char *target, *link;
} dev_links[] = {
	/* No /dev/core -> /proc/kcore: Docker 26's runc no longer makes it (20.10's did). */
	{ "/dev/fd", "/proc/self/fd" },       { "/dev/stdin", "/proc/self/fd/0" },
	{ "/dev/stdout", "/proc/self/fd/1" }, { "/dev/stderr", "/proc/self/fd/2" },
	{ "/dev/ptmx", "pts/ptmx" },
};

static void mount_at(const char *source, const char *target, const char *type, unsigned long flags,
		     const char *data)
{
	if (mount(source, target, type, flags, data) < 0)
		fail("mounting %s on %s: %s", type ? type : source, target, strerror(errno));
}

/* A detached mount of a fresh `type` file system, or -1 with errno set. */
static int detached_fs(const char *type, unsigned int attrs)
{
	int fsfd = fsopen(type, FSOPEN_CLOEXEC);
	if (fsfd < 0)
		return -1;
	int mfd = -1;
	if (fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) == 0)
		mfd = fsmount(fsfd, FSMOUNT_CLOEXEC, attrs);
	int saved = errno;
	close(fsfd);
	errno = saved;
	return mfd;
}

/*
 * proc and sysfs are made before pivot_root and attached after it. In a user namespace the kernel
 * lets a process mount them only while a full view of the same file system is visible in its
 * mount namespace (mount_too_revealing): the host's /proc and /sys, which pivot_root detaches.
 * proc takes the pid namespace of its maker (we are PID 1 of the new one), sysfs the network
 * namespace (unshared already). Rootless, the device nodes are the host's, bound in: a user
 * namespace cannot mknod them.
 */
void devfs_prepare(struct spec *spec)
{
	spec->proc_fd = detached_fs("proc", MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
	if (spec->proc_fd < 0 && errno == EPERM && spec->userns)
		fail("mounting proc: %s: a user namespace may mount proc only where a full /proc is visible, "
		     "and this one has paths masked (in a Docker container: --security-opt systempaths=unconfined)",
		     strerror(errno));
	if (spec->proc_fd < 0)
		fail("mounting proc: %s", strerror(errno));
	unsigned int ro = spec->privileged ? 0 : MOUNT_ATTR_RDONLY; /* --privileged gets a writable /sys */
	spec->sys_fd = detached_fs("sysfs", ro | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
	/* sysfs shows the network devices of our net namespace; the kernel may refuse it (e.g. the
	 * host's network in a user namespace). A container without /sys contents still runs. */
	if (spec->sys_fd < 0)
		warn("mounting sysfs on /sys: %s (continuing without it)", strerror(errno));
	for (size_t i = 0; spec->userns && i < sizeof devices / sizeof devices[0]; i++) {
		char path[64];
		snprintf(path, sizeof path, "/dev/%s", devices[i].name);
		spec->dev_fds[i] = open_tree(AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
		if (spec->dev_fds[i] < 0)
			fail("cloning the host's %s: %s", path, strerror(errno));
	}
}

static void attach_fd(int *fd, const char *target)
{
	if (move_mount(*fd, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		fail("mounting on %s: %s", target, strerror(errno));
	close(*fd);
	*fd = -1;
}

static void mount_proc(struct spec *spec)
{
	rootfs_make_stub("/proc", 1, spec->build_step);
	/* We are PID 1 of the new pid namespace, so this proc shows only the container. */
	attach_fd(&spec->proc_fd, "/proc");
	rootfs_record_mount("/proc");
}

/* Device nodes are made here, on a tmpfs of their own that allows them, and bound into /dev. */
#define DEV_SCRATCH "/dev/.berth-dev"

/*
 * With `nodev`, the /dev tmpfs itself is nodev, like every other mount: a node a RUN makes there
 * (container root keeps CAP_MKNOD, as in docker) cannot be opened, even on a host without a
 * device cgroup. The six usual nodes are bind mounts of nodes on a scratch tmpfs that is detached
 * again at once, so they are the only device nodes that open outside /dev/pts; the command cannot
 * replace them (they are mount points) nor unmount them (no CAP_SYS_ADMIN). In a user namespace
 * (rootless) no node can be made at all: the host's own, cloned before pivot_root, are bound.
 */
static void make_devices(struct spec *spec)
{
	char node[64], path[64];
	if (!spec->userns) {
		if (mkdir(DEV_SCRATCH, 0700) < 0)
			fail("mkdir %s: %s", DEV_SCRATCH, strerror(errno));
		mount_at("tmpfs", DEV_SCRATCH, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=700,size=4k");
	}
	for (size_t i = 0; i < sizeof devices / sizeof devices[0]; i++) {
		snprintf(node, sizeof node, "%s/%s", DEV_SCRATCH, devices[i].name);
		snprintf(path, sizeof path, "/dev/%s", devices[i].name);
		if (!spec->userns && mknod(node, S_IFCHR | 0666, makedev(devices[i].major, devices[i].minor)) < 0)
			fail("mknod %s: %s", node, strerror(errno));
		int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0666);
		if (fd < 0)
			fail("creating %s: %s", path, strerror(errno));
		close(fd);
		if (spec->userns)
			attach_fd(&spec->dev_fds[i], path);
		else
			mount_at(node, path, NULL, MS_BIND, NULL);
	}
	if (spec->userns)
		return;
	if (umount2(DEV_SCRATCH, MNT_DETACH) < 0)
		fail("detaching %s: %s", DEV_SCRATCH, strerror(errno));
	rmdir(DEV_SCRATCH);
}

static void mount_dev(struct spec *spec)
{
	rootfs_make_stub("/dev", 1, spec->build_step);
	unsigned long nodev = spec->nodev ? MS_NODEV : 0;
	mount_at("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_STRICTATIME | nodev, "mode=755,size=65536k");
	rootfs_record_mount("/dev");
	make_devices(spec);

	if (mkdir("/dev/pts", 0755) < 0)
		fail("mkdir /dev/pts: %s", strerror(errno));
	/* A private devpts instance: the container's ptys are invisible to the host and back. */
	/* gid 5 (tty) may have no mapping in a user namespace: then the ptys stay the opener's group. */
	if (mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5") < 0)
		mount_at("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620");

	if (mkdir("/dev/shm", 01777) < 0)
		fail("mkdir /dev/shm: %s", strerror(errno));
	char shm_opts[64];
	snprintf(shm_opts, sizeof shm_opts, "mode=1777,size=%s", spec->shm_size ? spec->shm_size : "65536k");
	mount_at("shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, shm_opts);

	/* POSIX message queues of our own ipc namespace; optional, like in docker. */
	if (mkdir("/dev/mqueue", 0755) == 0 &&
	    mount("mqueue", "/dev/mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		rmdir("/dev/mqueue");

	for (size_t i = 0; i < sizeof dev_links / sizeof dev_links[0]; i++)
		if (symlink(dev_links[i].link, dev_links[i].target) < 0)
			fail("symlink %s: %s", dev_links[i].target, strerror(errno));
}

static void mount_sys(struct spec *spec)
{
	rootfs_make_stub("/sys", 1, spec->build_step);
	if (spec->sys_fd < 0)
		return;
	attach_fd(&spec->sys_fd, "/sys");
	rootfs_record_mount("/sys");
}

static void write_file(const char *path, const char *content)
{
	int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
	if (fd < 0)
		fail("creating %s: %s", path, strerror(errno));
	if (write_all(fd, content, strlen(content)) < 0)
		fail("writing %s: %s", path, strerror(errno));
	close(fd);
}

/*
 * /etc/hosts, /etc/hostname and /etc/resolv.conf are bind mounts of files that live only in this
 * mount namespace: they are written to the /dev tmpfs, bound into /etc, and unlinked again (the
 * bind mount keeps the inode), so no host temp file is ever needed and none can leak.
 */
static void bind_generated(const char *name, const char *target, const char *content)
{
	char source[128];
	snprintf(source, sizeof source, "%s/%s", ETC_SCRATCH, name);
	write_file(source, content);
	rootfs_make_stub(target, 0, 0);
	if (mount(source, target, NULL, MS_BIND, NULL) < 0) {
		/* e.g. an image whose /etc/resolv.conf is a dangling symlink: docker warns too */
		warn("bind mounting %s: %s", target, strerror(errno));
	} else {
		rootfs_record_mount(target);
	}
	unlink(source);
}

static void mount_etc_files(struct spec *spec)
{
	if (mkdir(ETC_SCRATCH, 0755) < 0)
		fail("mkdir %s: %s", ETC_SCRATCH, strerror(errno));
	if (spec->hosts)
		bind_generated("hosts", "/etc/hosts", spec->hosts);
	/* BuildKit gives a RUN no /etc/hostname (only the uts name); `berth run` has one, as docker run. */
	if (spec->hostname && !spec->build_step) {
		size_t len = strlen(spec->hostname);
		char *content = xmalloc(len + 2);
		memcpy(content, spec->hostname, len);
		memcpy(content + len, "\n", 2);
		bind_generated("hostname", "/etc/hostname", content);
		free(content);
	}
	if (spec->resolv)
		bind_generated("resolv.conf", "/etc/resolv.conf", spec->resolv);
	rmdir(ETC_SCRATCH);
}

void devfs_mount_all(struct spec *spec)
{
	mount_proc(spec);
	mount_dev(spec);
	mount_sys(spec);
	mount_etc_files(spec);
}

/*
 * docker hides some kernel interfaces (masked: /dev/null over files, an empty read-only tmpfs
 * over directories) and makes others read-only. Paths that do not exist are skipped; these are
 * all under /proc and /sys, so nothing is created for them.
 */
void devfs_protect(struct spec *spec)
{
	struct stat st;
	for (size_t i = 0; i < spec->masked.len; i++) {
		const char *path = spec->masked.items[i];
		if (lstat(path, &st) < 0)
			continue;
		int rc = S_ISDIR(st.st_mode)
				 ? mount("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0")
				 : mount("/dev/null", path, NULL, MS_BIND, NULL);
		if (rc < 0)
			fail("masking %s: %s", path, strerror(errno));
		rootfs_record_mount(path);
	}
	for (size_t i = 0; i < spec->readonly_paths.len; i++) {
		const char *path = spec->readonly_paths.items[i];
		if (lstat(path, &st) < 0)
			continue;
		if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) < 0)
			fail("binding %s: %s", path, strerror(errno));
		rootfs_record_mount(path);
		if (mount(NULL, path, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
			  NULL) < 0)
			fail("making %s read-only: %s", path, strerror(errno));
	}
}
