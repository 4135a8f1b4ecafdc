/*
 * The container's root filesystem: mounting it, pivoting into it, and keeping the rootfs (for an
 * overlay: the upper dir, i.e. the next layer) free of anything the runtime itself put there.
 *
 * Every mount point that did not exist in the image is created as a stub just for this run and
 * logged here; the log is replayed backwards after the last container process is gone, unmounting,
 * removing the stubs we created (never anything that was there before, never a directory the
 * command filled) and restoring the timestamps of the directories we touched, so that `RUN true`
 * leaves an empty upper dir the way BuildKit does.
 *
 * Host paths are only resolved before pivot_root (overlay layers, bind sources as detached mount
 * trees); everything after it is resolved inside the container root, so a symlink in an image
 * can never point a mount at the host.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/openat2.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "sandbox.h"

/* glibc 2.36 has fsopen & co but not always mount_setattr's struct; define what we use. */
struct berth_mount_attr {
	unsigned long long attr_set, attr_clr, propagation, userns_fd;
};

/* fsconfig(2) copies string values with a 256-byte limit (strndup_user). */
#define FSCONFIG_MAX_STRING 255

enum log_kind { LOG_MOUNT, LOG_DIR, LOG_FILE, LOG_TIMES };

struct log_entry {
	enum log_kind kind;
	char *path;
	struct timespec times[2]; /* LOG_TIMES: atime, mtime to put back */
};

static struct log_entry *undo_log;
static size_t undo_len, undo_cap;
static const char *root_path; /* host path the rootfs is attached at, before pivot_root */

static void log_push(enum log_kind kind, const char *path, const struct stat *st)
{
	if (undo_len == undo_cap) {
		undo_cap = undo_cap ? undo_cap * 2 : 32;
		undo_log = xrealloc(undo_log, undo_cap * sizeof *undo_log);
	}
	struct log_entry *e = &undo_log[undo_len++];
	memset(e, 0, sizeof *e);
	e->kind = kind;
	e->path = strdup(path);
	if (!e->path)
		fail("out of memory");
	if (st) {
		e->times[0] = st->st_atim;
		e->times[1] = st->st_mtim;
	}
}

static int mount_setattr_raw(int dfd, const char *path, unsigned int flags, struct berth_mount_attr *attr)
{
	return (int)syscall(SYS_mount_setattr, dfd, path, flags, attr, sizeof *attr);
}

/* The kernel explains overlay failures in the fs context's log; relay it instead of just EINVAL. */
static void fail_fs(int fsfd, const char *what, const char *arg)
{
	int saved = errno;
	char msg[512];
	ssize_t n = read(fsfd, msg, sizeof msg - 1);
	if (n > 2) {
		msg[n] = '\0';
		if (msg[n - 1] == '\n')
			msg[n - 1] = '\0';
		fail("overlay: %s %s: %s (%s)", what, arg, msg + 2, strerror(saved));
	}
	fail("overlay: %s %s: %s", what, arg, strerror(saved));
}

/*
 * Layer paths are resolved when fsconfig is called, relative to our cwd. A path too long for
 * fsconfig's string limit is given relative to its parent directory instead, which is what makes
 * deep chains of long paths possible (the old mount(2) option page limit is gone entirely).
 */
static void config_path(int fsfd, const char *key, const char *path)
{
	const char *arg = path;
	char *dir = NULL;
	if (strlen(path) > FSCONFIG_MAX_STRING) {
		const char *slash = strrchr(path, '/');
		if (!slash || strlen(slash + 1) > FSCONFIG_MAX_STRING)
			fail("overlay: %s path too long: %s", key, path);
		dir = strndup(path, (size_t)(slash - path) + 1);
		if (!dir || chdir(dir) < 0)
			fail("overlay: %s %s: %s", key, path, strerror(errno));
		arg = slash + 1;
	}
	if (fsconfig(fsfd, FSCONFIG_SET_STRING, key, arg, 0) < 0)
		fail_fs(fsfd, key, path);
	if (dir) {
		free(dir);
		if (chdir("/") < 0)
			fail("chdir /: %s", strerror(errno));
	}
}

/* Appends `text` to buf, a backslash before each of `special` (overlay's option escapes). */
static void append_escaped(char *buf, size_t cap, size_t *len, const char *text, const char *special)
{
	for (const char *c = text; *c; c++) {
		if (strchr(special, *c) && *len + 1 < cap)
			buf[(*len)++] = '\\';
		if (*len + 1 >= cap)
			fail("overlay: options longer than a page (%zu bytes): too many layers for this kernel", cap);
		buf[(*len)++] = *c;
	}
	buf[*len] = '\0';
}

/*
 * Linux before 6.8 has no "lowerdir+" for fsconfig, and fsconfig strings stop at 256 bytes: the
 * options go through mount(2) instead, one page at most. Lower dirs that share a directory (the
 * store's snapshots) are named relative to it, so about 60 layers fit. The overlay is mounted over
 * the top lower dir for a moment (in the sandbox's own mount namespace), cloned as a detached tree
 * and unmounted again, so callers get the same kind of mount fd as from fsmount.
 */
static int make_overlay_legacy(struct spec *spec, struct str_list *lowers, const char *upper, const char *work, const char *what)
{
	static char opts[4096];
	size_t len = 0;
	opts[0] = '\0';
	const char *first = lowers->items[0];
	const char *slash = strrchr(first, '/');
	size_t dir_len = slash ? (size_t)(slash - first) : 0;
	int relative = dir_len > 0;
	for (size_t i = 0; i < lowers->len && relative; i++)
		relative = strncmp(lowers->items[i], first, dir_len) == 0 && lowers->items[i][dir_len] == '/' &&
			   !strchr(lowers->items[i] + dir_len + 1, '/');
	char *dir = relative ? strndup(first, dir_len) : NULL;
	if (relative && (!dir || chdir(dir) < 0))
		fail("overlay: %s: %s", first, strerror(errno));
	append_escaped(opts, sizeof opts, &len, "lowerdir=", "");
	for (size_t i = 0; i < lowers->len; i++) {
		if (i)
			append_escaped(opts, sizeof opts, &len, ":", "");
		append_escaped(opts, sizeof opts, &len, relative ? lowers->items[i] + dir_len + 1 : lowers->items[i], ",:\\");
	}
	if (upper) {
		append_escaped(opts, sizeof opts, &len, ",upperdir=", "");
		append_escaped(opts, sizeof opts, &len, upper, ",:\\");
		append_escaped(opts, sizeof opts, &len, ",workdir=", "");
		append_escaped(opts, sizeof opts, &len, work, ",:\\");
	}
	for (size_t i = 0; i < spec->overlay_opts.len; i++) {
		append_escaped(opts, sizeof opts, &len, ",", "");
		append_escaped(opts, sizeof opts, &len, spec->overlay_opts.items[i], "");
	}
	unsigned long flags = (upper ? 0 : MS_RDONLY) | (spec->nodev ? MS_NODEV : 0);
	if (mount("overlay", first, "overlay", flags, opts) < 0) {
		struct utsname u;
		if (errno == EPERM && spec->userns && uname(&u) == 0)
			fail("overlay: %s: %s: rootless berth needs a kernel that lets a user namespace mount "
			     "overlay (Linux 5.11 or later; this is %s)", what, strerror(errno), u.release);
		fail("overlay: mounting %s: %s", what, strerror(errno));
	}
	int fd = open_tree(AT_FDCWD, first, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	int saved = errno;
	if (umount2(first, MNT_DETACH) < 0)
		fail("overlay: unmounting the staging mount on %s: %s", first, strerror(errno));
	if (fd < 0)
		fail("overlay: cloning %s: %s", what, strerror(saved));
	if (dir) {
		free(dir);
		if (chdir("/") < 0)
			fail("chdir /: %s", strerror(errno));
	}
	return fd;
}

/*
 * Whether this kernel's overlay takes "lowerdir+" (Linux 6.8). Asked by version: before 6.5
 * overlay had no fs_context of its own, and the legacy one accepts any key until the mount fails.
 * The spec's `ovllegacy` says no, so the older way is tested on new kernels too.
 */
static int has_lowerdir_plus(const struct spec *spec)
{
	static int known = -1;
	struct utsname u;
	int major = 0, minor = 0;
	if (spec->overlay_legacy)
		return 0;
	if (known < 0)
		known = uname(&u) != 0 || sscanf(u.release, "%d.%d", &major, &minor) != 2 || major > 6 || (major == 6 && minor >= 8);
	return known;
}

/* An overlay of `lowers` (top first); writable when `upper` and `work` are given. */
static int make_overlay(struct spec *spec, struct str_list *lowers, const char *upper, const char *work)
{
	const char *what = upper ? upper : lowers->items[0];
	if (!has_lowerdir_plus(spec))
		return make_overlay_legacy(spec, lowers, upper, work, what);
	int fsfd = fsopen("overlay", FSOPEN_CLOEXEC);
	if (fsfd < 0)
		fail("fsopen(overlay): %s", strerror(errno));
	for (size_t i = 0; i < spec->overlay_opts.len; i++) {
		char *opt = spec->overlay_opts.items[i];
		char *eq = strchr(opt, '=');
		int rc;
		if (eq) {
			*eq = '\0';
			rc = fsconfig(fsfd, FSCONFIG_SET_STRING, opt, eq + 1, 0);
			*eq = '=';
		} else {
			rc = fsconfig(fsfd, FSCONFIG_SET_FLAG, opt, NULL, 0);
		}
		if (rc < 0)
			fail_fs(fsfd, "option", opt);
	}
	/* One "lowerdir+" per layer (Linux >= 6.8), top first, like the lowerdir= list. */
	for (size_t i = 0; i < lowers->len; i++)
		config_path(fsfd, "lowerdir+", lowers->items[i]);
	if (upper) {
		config_path(fsfd, "upperdir", upper);
		config_path(fsfd, "workdir", work);
	}
	if (fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) {
		/* Overlay became mountable in a user namespace in Linux 5.11: say so, not just EPERM. */
		struct utsname u;
		if (errno == EPERM && spec->userns && uname(&u) == 0)
			fail("overlay: %s: %s: rootless berth needs a kernel that lets a user namespace mount "
			     "overlay (Linux 5.11 or later; this is %s)", what, strerror(errno), u.release);
		fail_fs(fsfd, "creating mount with", what);
	}
	unsigned int attrs = (upper ? 0 : MOUNT_ATTR_RDONLY) | (spec->nodev ? MOUNT_ATTR_NODEV : 0);
	int mfd = fsmount(fsfd, FSMOUNT_CLOEXEC, attrs);
	if (mfd < 0)
		fail_fs(fsfd, "fsmount", what);
	close(fsfd);
	return mfd;
}

/* With `nodev`, device nodes in the tree (an image's, a context's, the host's) cannot be opened. */
static int clone_tree(const char *path, int nodev)
{
	int fd = open_tree(AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
	if (fd < 0)
		fail("bind source %s: %s", path, strerror(errno));
	struct berth_mount_attr attr = { .attr_set = MOUNT_ATTR_NODEV };
	if (nodev && mount_setattr_raw(fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr) < 0)
		fail("making %s nodev: %s", path, strerror(errno));
	return fd;
}

void rootfs_prepare(struct spec *spec)
{
	/* Nothing we mount may propagate back to the host, whatever the host's propagation is. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		fail("making / private: %s", strerror(errno));

	int mfd;
	if (spec->rootfs == ROOTFS_OVERLAY) {
		mfd = make_overlay(spec, &spec->lowers, spec->upper, spec->work);
		/*
		 * The merged tree needs a place in our (private) namespace to pivot into; the work dir
		 * is ours alone and the overlay already holds its own reference to it.
		 */
		root_path = spec->work;
	} else {
		mfd = clone_tree(spec->path, spec->nodev);
		root_path = spec->path;
	}
	if (move_mount(mfd, "", AT_FDCWD, root_path, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		fail("attaching rootfs at %s: %s", root_path, strerror(errno));
	close(mfd);

	/*
	 * Bind sources and overlay layers are host paths: make their trees now, attach them after
	 * pivot_root (read-only is applied there, after a subpath has been cut out).
	 */
	for (size_t i = 0; i < spec->n_mounts; i++) {
		struct user_mount *m = &spec->mounts[i];
		if (m->kind == MOUNT_BIND)
			m->tree_fd = clone_tree(m->source, spec->nodev);
		else if (m->kind == MOUNT_OVERLAY)
			m->tree_fd = make_overlay(spec, &m->lowers, m->upper, m->work);
	}
}

void rootfs_pivot(struct spec *spec)
{
	(void)spec;
	if (chdir(root_path) < 0)
		fail("chdir %s: %s", root_path, strerror(errno));
	/* pivot_root(".", ".") stacks the old root on the new one; detaching it leaves only ours. */
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		fail("pivot_root: %s", strerror(errno));
	if (umount2(".", MNT_DETACH) < 0)
		fail("detaching the host root: %s", strerror(errno));
	if (chdir("/") < 0)
		fail("chdir /: %s", strerror(errno));
}

void rootfs_record_mount(const char *target)
{
	log_push(LOG_MOUNT, target, NULL);
}

/*
 * Make `target` exist (as a directory or an empty file) so something can be mounted on it,
 * logging every entry we create and the times of the existing directory we created it in.
 * With `keep_dirs`, directories we create are not logged: they stay in the layer, as Docker
 * 20.10's BuildKit leaves the mount points of RUN --mount (an empty file stub still goes, and
 * the times of the parent are then only restored when nothing new stays in it).
 */
void rootfs_make_stub(const char *target, int is_dir, int keep_dirs)
{
	char path[PATH_MAX], parent[PATH_MAX];
	struct stat st;
	if (strlen(target) >= sizeof path || target[0] != '/')
		fail("bad mount target %s", target);
	if (lstat(target, &st) == 0)
		return;

	size_t len = strlen(target);
	memcpy(path, target, len + 1);
	while (len > 1 && path[len - 1] == '/')
		path[--len] = '\0';

	/* Walk up to the deepest existing ancestor: path[0..cut) exists, path[cut] is a '/'. */
	size_t cut = len;
	for (;;) {
		char *slash = memrchr(path, '/', cut);
		cut = (size_t)(slash - path);
		if (cut == 0)
			break;
		path[cut] = '\0';
		int exists = stat(path, &st) == 0;
		path[cut] = '/';
		if (exists)
			break;
	}
	if (cut == 0)
		strcpy(parent, "/");
	else {
		memcpy(parent, path, cut);
		parent[cut] = '\0';
	}
	if (stat(parent, &st) < 0)
		fail("mount target %s: %s: %s", target, parent, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		fail("mount target %s: %s is not a directory", target, parent);
	/* Does a directory of ours stay in `parent`? Only a lone file stub leaves it as it was. */
	int dir_stays = keep_dirs && (is_dir || memchr(path + cut + 1, '/', len - cut - 1) != NULL);
	if (!dir_stays)
		log_push(LOG_TIMES, parent, &st);

	/* Create each missing component below it; only the last one may be a file. */
	for (size_t i = cut + 1;; i++) {
		if (path[i] != '/' && path[i] != '\0')
			continue;
		int last = path[i] == '\0';
		path[i] = '\0';
		if (last && !is_dir) {
			int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
			if (fd < 0)
				fail("creating mount point %s: %s", path, strerror(errno));
			close(fd);
			log_push(LOG_FILE, path, NULL);
		} else {
			if (mkdir(path, 0755) < 0)
				fail("creating mount point %s: %s", path, strerror(errno));
			if (!keep_dirs)
				log_push(LOG_DIR, path, NULL);
		}
		if (last)
			break;
		path[i] = '/';
	}
}

/*
 * Scratch mount point inside the container's own /dev tmpfs: a detached tree is attached here
 * just long enough to clone a path out of it (cloning needs a mount of our namespace), and file
 * mounts are written here and unlinked once bound. Nothing of it is left when the command starts.
 */
#define MOUNT_SCRATCH "/dev/.berth-mnt"

static void scratch_dir(void)
{
	if (mkdir(MOUNT_SCRATCH, 0700) < 0 && errno != EEXIST)
		fail("mkdir %s: %s", MOUNT_SCRATCH, strerror(errno));
}

/*
 * Replaces the mount's tree by a clone of `subpath` inside it, resolved as if the tree's root
 * were "/" (symlinks and ".." never leave it), so neither a context nor a stage can point a
 * mount at anything outside itself.
 */
static void cut_subpath(struct user_mount *m)
{
	scratch_dir();
	if (move_mount(m->tree_fd, "", AT_FDCWD, MOUNT_SCRATCH, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		fail("attaching the tree for %s: %s", m->target, strerror(errno));
	close(m->tree_fd);
	int root = open(MOUNT_SCRATCH, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		fail("opening %s: %s", MOUNT_SCRATCH, strerror(errno));
	struct open_how how = { .flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
	/*
	 * With RESOLVE_IN_ROOT, a ".." walked while anything on the machine renames or mounts fails
	 * with EAGAIN (the kernel cannot prove the walk stayed inside); openat2(2) says to retry.
	 * Parallel builds rename and mount all the time.
	 */
	int at;
	int tries = 0;
	do
		at = (int)syscall(SYS_openat2, root, m->subpath, &how, sizeof how);
	while (at < 0 && errno == EAGAIN && ++tries < 1000);
	if (at < 0)
		fail("mount source %s for %s: %s", m->subpath, m->target, strerror(errno));
	m->tree_fd = open_tree(at, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE);
	if (m->tree_fd < 0)
		fail("cloning %s for %s: %s", m->subpath, m->target, strerror(errno));
	close(at);
	close(root);
	if (umount2(MOUNT_SCRATCH, MNT_DETACH) < 0)
		fail("detaching %s: %s", MOUNT_SCRATCH, strerror(errno));
	rmdir(MOUNT_SCRATCH);
}

#define SCRATCH_FILE MOUNT_SCRATCH "/file"

/*
 * A file with the spec's bytes, owner and mode, as a detached mount of its own (secrets). Its
 * name is removed once the mount is attached (the mount keeps the inode; a detached mount of an
 * unlinked file cannot be attached).
 */
static int file_tree(struct user_mount *m)
{
	const char *source = SCRATCH_FILE;
	scratch_dir();
	int fd = open(source, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		fail("creating the file for %s: %s", m->target, strerror(errno));
	if (write_all(fd, m->content, m->content_len) < 0)
		fail("writing the file for %s: %s", m->target, strerror(errno));
	/* chown first: it clears set-id bits that fchmod would have set */
	if (fchown(fd, m->file_uid, m->file_gid) < 0 || fchmod(fd, m->file_mode & 07777) < 0)
		fail("setting owner and mode of the file for %s: %s", m->target, strerror(errno));
	close(fd);
	int tree = open_tree(AT_FDCWD, source, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	if (tree < 0)
		fail("cloning the file for %s: %s", m->target, strerror(errno));
	return tree;
}

static void attach_tree(struct spec *spec, struct user_mount *m)
{
	unsigned long long set = m->readonly ? MOUNT_ATTR_RDONLY : 0;
	/* Cache mounts, overlays, secrets too: only /dev's own nodes open (devfs.c). */
	if (spec->nodev)
		set |= MOUNT_ATTR_NODEV;
	if (m->kind == MOUNT_FILE)
		set |= MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;
	if (set) {
		struct berth_mount_attr attr = { .attr_set = set };
		if (mount_setattr_raw(m->tree_fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr) < 0)
			fail("setting mount attributes for %s: %s", m->target, strerror(errno));
	}
	struct stat st;
	if (fstat(m->tree_fd, &st) < 0)
		fail("mount source for %s: %s", m->target, strerror(errno));
	rootfs_make_stub(m->target, S_ISDIR(st.st_mode), m->keep_dirs);
	if (move_mount(m->tree_fd, "", AT_FDCWD, m->target, MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_SYMLINKS) < 0)
		fail("mounting on %s: %s", m->target, strerror(errno));
	close(m->tree_fd);
	m->tree_fd = -1;
}

void rootfs_attach_user_mounts(struct spec *spec)
{
	for (size_t i = 0; i < spec->n_mounts; i++) {
		struct user_mount *m = &spec->mounts[i];
		if (m->kind == MOUNT_TMPFS) {
			rootfs_make_stub(m->target, 1, m->keep_dirs);
			unsigned long flags = MS_NOSUID | MS_NODEV | (m->readonly ? MS_RDONLY : 0);
			if (mount("tmpfs", m->target, "tmpfs", flags, m->data) < 0)
				fail("tmpfs mount on %s: %s", m->target, strerror(errno));
		} else {
			if (m->kind == MOUNT_FILE)
				m->tree_fd = file_tree(m);
			else if (m->subpath && m->subpath[0])
				cut_subpath(m);
			attach_tree(spec, m);
			if (m->kind == MOUNT_FILE) {
				if (unlink(SCRATCH_FILE) < 0)
					fail("removing %s: %s", SCRATCH_FILE, strerror(errno));
				rmdir(MOUNT_SCRATCH);
			}
		}
		rootfs_record_mount(m->target);
	}
}

void rootfs_finish(struct spec *spec)
{
	if (spec->rootfs == ROOTFS_DIR && spec->readonly) {
		struct berth_mount_attr attr = { .attr_set = MOUNT_ATTR_RDONLY };
		if (mount_setattr_raw(AT_FDCWD, "/", 0, &attr) < 0)
			fail("making the rootfs read-only: %s", strerror(errno));
	}
}

void rootfs_cleanup(struct spec *spec)
{
	if (spec->rootfs == ROOTFS_DIR && spec->readonly) {
		struct berth_mount_attr attr = { .attr_clr = MOUNT_ATTR_RDONLY };
		if (mount_setattr_raw(AT_FDCWD, "/", 0, &attr) < 0)
			warn("making the rootfs writable for cleanup: %s", strerror(errno));
	}
	for (size_t i = undo_len; i-- > 0;) {
		struct log_entry *e = &undo_log[i];
		switch (e->kind) {
		case LOG_MOUNT:
			/* EINVAL: already gone with an enclosing mount (e.g. masks under /proc) */
			if (umount2(e->path, MNT_DETACH | UMOUNT_NOFOLLOW) < 0 && errno != EINVAL &&
			    errno != ENOENT)
				warn("unmounting %s: %s", e->path, strerror(errno));
			break;
		case LOG_FILE:
			if (unlink(e->path) < 0 && errno != ENOENT)
				warn("removing mount point %s: %s", e->path, strerror(errno));
			break;
		case LOG_DIR:
			/* A stub the command put files into is the command's change: keep it. */
			if (rmdir(e->path) < 0 && errno != ENOENT && errno != ENOTEMPTY && errno != EEXIST)
				warn("removing mount point %s: %s", e->path, strerror(errno));
			break;
		case LOG_TIMES:
			if (utimensat(AT_FDCWD, e->path, e->times, 0) < 0 && errno != ENOENT)
				warn("restoring times of %s: %s", e->path, strerror(errno));
			break;
		}
	}
}
