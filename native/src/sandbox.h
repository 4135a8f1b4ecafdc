/*
 * berth-sandbox: the native half of berth's container runtime.
 *
 * Node decides everything (paths, ids, capabilities to keep, mount list, hosts file contents) and
 * sends it as a spec on fd 3; this program only performs the system calls, in three processes:
 *
 *   helper  (spawned by Node)  unshares the pid namespace, forks the init, forwards signals, exits
 *                              with the init's exit code.
 *   init    (PID 1 in the new pid namespace) unshares mount/uts/ipc/net, builds the rootfs,
 *                              pivots into it, forks the command, reaps, cleans up its mount stubs.
 *   command (child of init)    drops to the user and capabilities of the spec and execs.
 *
 * Setup failures exit 125 with a message; a missing executable exits 127, a non-executable one 126.
 */
#ifndef BERTH_SANDBOX_H
#define BERTH_SANDBOX_H

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

/* Mount attributes (linux/mount.h), which glibc 2.36's sys/mount.h does not always define. */
#ifndef MOUNT_ATTR_RDONLY
#define MOUNT_ATTR_RDONLY 0x00000001
#define MOUNT_ATTR_NOSUID 0x00000002
#define MOUNT_ATTR_NODEV 0x00000004
#define MOUNT_ATTR_NOEXEC 0x00000008
#endif

#define EXIT_SETUP 125
#define EXIT_CANNOT_EXEC 126
#define EXIT_NOT_FOUND 127

/* fd 3 carries the spec (read to EOF), fd 4, when open, receives status lines for Node. */
#define SPEC_FD 3
#define STATUS_FD 4

enum rootfs_kind { ROOTFS_OVERLAY, ROOTFS_DIR };
enum mount_kind { MOUNT_BIND, MOUNT_TMPFS, MOUNT_OVERLAY, MOUNT_FILE };
/*
 * NET_SANDBOX: a network namespace of its own whose outside link (user-mode networking) Node
 * attaches once the init reports "netns"; the command starts only after Node says "go".
 */
enum net_mode { NET_NONE, NET_HOST, NET_SANDBOX };

struct str_list {
	char **items;
	size_t len;
	size_t cap;
};

struct user_mount {
	enum mount_kind kind;
	const char *source; /* bind only: host path */
	const char *target; /* container path, absolute */
	int readonly;
	const char *data;   /* tmpfs only: mount(2) data, e.g. "size=65536,mode=1777" */
	const char *subpath; /* bind, overlay: what to mount, resolved inside the tree's own root */
	struct str_list lowers; /* overlay only: top first */
	const char *upper;      /* overlay only, optional (then also work): a writable overlay */
	const char *work;
	char *content;          /* file only: bytes (decoded from hex), content_len long */
	size_t content_len;
	mode_t file_mode;       /* file only */
	uid_t file_uid;
	gid_t file_gid;
	int keep_dirs; /* directories created for the mount point stay (Docker 20.10's BuildKit) */
	int tree_fd; /* bind, overlay: detached mount tree, made before pivot_root */
};

/* One seccomp rule: the action for these system calls when every argument condition holds. */
struct seccomp_arg {
	unsigned int index;
	const char *op; /* "ne", "lt", "le", "eq", "ge", "gt", "masked_eq" */
	unsigned long long value, value_two;
};

struct seccomp_rule {
	int errno_ret; /* -1: allow */
	struct str_list names;
	struct seccomp_arg args[6];
	size_t n_args;
};

struct seccomp_spec {
	int enabled;
	int default_errno;
	int newer_errno;            /* > 0: numbers above every one the rules name fail with it */
	struct str_list arches;     /* besides the native one */
	struct seccomp_rule *rules;
	size_t n_rules;
	void *prog;                 /* struct sock_fprog: built by seccomp_prepare or sent ready */
};

/* A lock file flock(2)ed before the container starts and held until the helper exits. */
struct lock_req {
	const char *path;
	int shared;
};

/* A resource cgroup (limits.c): made below `parent`, the "file=value" settings written in order. */
struct cgroup_req {
	const char *parent;
	struct str_list settings;
};

struct spec {
	pid_t node_pid;
	enum rootfs_kind rootfs;
	struct str_list lowers; /* top first */
	const char *upper;
	const char *work;
	struct str_list overlay_opts; /* "key=value" or "flag" */
	const char *path;             /* ROOTFS_DIR */
	int readonly;                 /* ROOTFS_DIR */
	struct str_list args;
	struct str_list env;
	const char *cwd;
	uid_t uid;
	gid_t gid;
	struct str_list groups;
	const char *hostname;
	enum net_mode net;
	const char *hosts;
	const char *resolv;
	struct user_mount *mounts;
	size_t n_mounts;
	struct str_list masked;   /* paths hidden behind /dev/null or an empty read-only tmpfs */
	struct str_list readonly_paths;
	struct str_list keep_caps; /* capability numbers kept in the bounding set */
	int privileged;            /* every capability, no no_new_privs, writable /sys */
	int userns;                /* berth itself runs in a user namespace (rootless): no mknod, no cgroups */
	int build_step;            /* a build's RUN: no /etc/hostname; /dev, /proc, /sys made here stay */
	int proc_fd, sys_fd;       /* proc and sysfs, made before pivot_root (see devfs_prepare) */
	int dev_fds[6];            /* userns: the host's device nodes, cloned before pivot_root */
	struct lock_req *locks;    /* taken in this order (Node sorts them) */
	size_t n_locks;
	int nodev;                 /* no device nodes but /dev's own open anywhere */
	int overlay_legacy;        /* mount overlays through mount(2), as on kernels before 6.8 */
	const char *shm_size;      /* /dev/shm's size in bytes (docker's default 64 MiB when absent) */
	struct str_list rlimits;   /* "resource=soft:hard", set before capabilities are dropped */
	const char *devcgroup;     /* parent name of the per-container device cgroup (v1) */
	struct str_list dev_allow; /* devices.allow lines */
	struct cgroup_req *cgroups; /* --cgroup-parent and resource limits */
	size_t n_cgroups;
	struct seccomp_spec seccomp;
};

/* spec.c */
void spec_parse(int fd, struct spec *spec); /* keys only, no checks of what a container needs */
void spec_read(int fd, struct spec *spec);

/* util.c */
void fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
void warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void status_init(void);
void status_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void *xmalloc(size_t size);
void *xrealloc(void *ptr, size_t size);
void list_push(struct str_list *list, char *item);
long parse_long(const char *text, const char *what);
int write_all(int fd, const char *buf, size_t len);
int write_file_text(const char *path, const char *text);
void status_wait_go(void);
size_t hex_decode(char *text); /* in place; returns the byte count */

/* rootfs.c: everything that changes the container's filesystem tree and must be undone */
void rootfs_prepare(struct spec *spec);  /* before pivot_root: overlay/bind, clone bind sources */
void rootfs_pivot(struct spec *spec);
void rootfs_make_stub(const char *target, int is_dir, int keep_dirs);
void rootfs_record_mount(const char *target);
void rootfs_attach_user_mounts(struct spec *spec);
void rootfs_finish(struct spec *spec);   /* last step before exec: read-only root */
void rootfs_cleanup(struct spec *spec);  /* after every process is gone: unmount, remove stubs */

/* devfs.c: the kernel filesystems and generated files every container gets */
void devfs_prepare(struct spec *spec); /* before pivot_root, while the host's /proc is visible */
void devfs_mount_all(struct spec *spec);
void devfs_protect(struct spec *spec); /* masked and read-only paths, applied last */

/* seccomp.c */
int seccomp_spec_key(struct spec *spec, const char *key, char *value); /* 0: not a seccomp key */
void seccomp_prepare(struct spec *spec); /* build the BPF program (before forking the command) */
void seccomp_install(struct spec *spec); /* load it: the last step before exec */
int seccomp_compile_main(void);          /* berth-sandbox --compile-seccomp */

/* cgroup.c: the device cgroup, made and removed by the helper, entered by the init */
int devcg_create(struct spec *spec); /* fd of its tasks file, or -1 when the host has none */
unsigned long long cgroup_start_time(pid_t pid); /* 0 when the process is gone */
void cgroup_sweep(const char *parent);           /* empty cgroups of helpers that are gone */

/* limits.c: the resource cgroups, made and removed by the helper, entered by the init */
void cgroup_make_parents(const char *dir); /* mkdir -p, cpusets filled in; fails the helper */
void limits_create(struct spec *spec);
void limits_enter(void);
void limits_close_files(void);
void limits_remove(void);
void devcg_enter(int tasks_fd);
void devcg_remove(void);

/* exec.c */
void exec_command(struct spec *spec) __attribute__((noreturn));

/* userns.c: `--userns-exec`, how berth itself runs without root */
int userns_exec(int argc, char **argv) __attribute__((noreturn));

/* init.c */
int init_main(struct spec *spec, int lifeline_fd, int devcg_fd) __attribute__((noreturn));

#endif
