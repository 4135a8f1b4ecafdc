/*
 * berth_sys: the few file system calls Node's fs lacks, as a Node-API addon.
 * mknod (overlay whiteouts, device nodes, fifos), the l*xattr family (opaque
 * directories, file capabilities), and a directory read that stats every entry in
 * the same call (the build-context walk). Synchronous and decision-free: the
 * TypeScript side decides what to call; errors come back as exceptions carrying
 * errno's code.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <node_api.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/xattr.h>

#define PATH_BUF 4096

static const char *errno_code(int err) {
    switch (err) {
    case ENOENT: return "ENOENT";
    case EEXIST: return "EEXIST";
    case EPERM: return "EPERM";
    case EACCES: return "EACCES";
    case ENOTSUP: return "ENOTSUP";
    case ENODATA: return "ENODATA";
    case ENOTDIR: return "ENOTDIR";
    case EINVAL: return "EINVAL";
    case ERANGE: return "ERANGE";
    case ENOSPC: return "ENOSPC";
    case ELOOP: return "ELOOP";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case EMFILE: return "EMFILE";
    case ENFILE: return "ENFILE";
    case ENOMEM: return "ENOMEM";
    case EOVERFLOW: return "EOVERFLOW";
    case EBADF: return "EBADF";
    case ESTALE: return "ESTALE";
    default: return "EIO";
    }
}

static napi_value throw_errno(napi_env env, const char *call, const char *path) {
    char message[PATH_BUF + 128];
    int err = errno;
    snprintf(message, sizeof message, "%s: %s '%s'", errno_code(err), call, path);
    napi_throw_error(env, errno_code(err), message);
    return NULL;
}

static int get_string(napi_env env, napi_value value, char *buf, size_t size) {
    size_t len = 0;
    if (napi_get_value_string_utf8(env, value, buf, size, &len) != napi_ok) return -1;
    return len + 1 >= size ? -1 : 0;
}

static napi_value js_mknod(napi_env env, napi_callback_info info) {
    size_t argc = 4;
    napi_value argv[4];
    char path[PATH_BUF];
    uint32_t mode = 0, major = 0, minor = 0;
    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
    if (argc < 4 || get_string(env, argv[0], path, sizeof path) ||
        napi_get_value_uint32(env, argv[1], &mode) != napi_ok ||
        napi_get_value_uint32(env, argv[2], &major) != napi_ok ||
        napi_get_value_uint32(env, argv[3], &minor) != napi_ok) {
        napi_throw_type_error(env, NULL, "mknod(path, mode, major, minor)");
        return NULL;
    }
    if (mknod(path, (mode_t)mode, makedev(major, minor)) != 0) return throw_errno(env, "mknod", path);
    return NULL;
}

static napi_value js_lsetxattr(napi_env env, napi_callback_info info) {
    size_t argc = 3;
    napi_value argv[3];
    char path[PATH_BUF], name[256];
    void *data = NULL;
    size_t length = 0;
    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
    if (argc < 3 || get_string(env, argv[0], path, sizeof path) || get_string(env, argv[1], name, sizeof name) ||
        napi_get_buffer_info(env, argv[2], &data, &length) != napi_ok) {
        napi_throw_type_error(env, NULL, "lsetxattr(path, name, buffer)");
        return NULL;
    }
    if (lsetxattr(path, name, data, length, 0) != 0) return throw_errno(env, "lsetxattr", path);
    return NULL;
}

/* Returns the value as a Buffer, or null when the attribute is absent or unsupported. */
static napi_value js_lgetxattr(napi_env env, napi_callback_info info) {
    size_t argc = 2;
    napi_value argv[2], result;
    char path[PATH_BUF], name[256];
    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
    if (argc < 2 || get_string(env, argv[0], path, sizeof path) || get_string(env, argv[1], name, sizeof name)) {
        napi_throw_type_error(env, NULL, "lgetxattr(path, name)");
        return NULL;
    }
    ssize_t size = lgetxattr(path, name, NULL, 0);
    if (size < 0) {
        if (errno == ENODATA || errno == ENOTSUP) { napi_get_null(env, &result); return result; }
        return throw_errno(env, "lgetxattr", path);
    }
    void *copy = NULL;
    napi_create_buffer(env, (size_t)size, &copy, &result);
    if (size > 0 && lgetxattr(path, name, copy, (size_t)size) < 0) return throw_errno(env, "lgetxattr", path);
    return result;
}

/* Returns the attribute names as an array of strings (empty when unsupported). */
static napi_value js_llistxattr(napi_env env, napi_callback_info info) {
    size_t argc = 1;
    napi_value argv[1], result;
    char path[PATH_BUF];
    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
    if (argc < 1 || get_string(env, argv[0], path, sizeof path)) {
        napi_throw_type_error(env, NULL, "llistxattr(path)");
        return NULL;
    }
    napi_create_array(env, &result);
    ssize_t size = llistxattr(path, NULL, 0);
    if (size < 0) {
        if (errno == ENOTSUP) return result;
        return throw_errno(env, "llistxattr", path);
    }
    if (size == 0) return result;
    char *names = malloc((size_t)size);
    if (!names) { napi_throw_error(env, "ENOMEM", "out of memory"); return NULL; }
    size = llistxattr(path, names, (size_t)size);
    if (size < 0) { free(names); return throw_errno(env, "llistxattr", path); }
    uint32_t index = 0;
    for (char *p = names; p < names + size; p += strlen(p) + 1) {
        napi_value s;
        napi_create_string_utf8(env, p, NAPI_AUTO_LENGTH, &s);
        napi_set_element(env, result, index++, s);
    }
    free(names);
    return result;
}

/* flock(fd, op) with LOCK_NB forced on: returns false when the lock is held elsewhere. */
static napi_value js_flock(napi_env env, napi_callback_info info) {
    size_t argc = 2;
    napi_value argv[2], result;
    int32_t fd = -1, op = 0;
    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
    if (argc < 2 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || napi_get_value_int32(env, argv[1], &op) != napi_ok) {
        napi_throw_type_error(env, NULL, "flock(fd, operation)");
        return NULL;
    }
    if (flock(fd, op | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK) { napi_get_boolean(env, false, &result); return result; }
        return throw_errno(env, "flock", "fd");
    }
    napi_get_boolean(env, true, &result);
    return result;
}

/* syncfs(fd): flushes the file system holding fd (a snapshot before it is committed). */
static napi_value js_syncfs(napi_env env, napi_callback_info info) {
    size_t argc = 1;
    napi_value argv[1];
    int32_t fd = -1;
    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
    if (argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok) {
        napi_throw_type_error(env, NULL, "syncfs(fd)");
        return NULL;
    }
    if (syncfs(fd) != 0) return throw_errno(env, "syncfs", "fd");
    return NULL;
}

/*
 * Reading a directory for the build-context walk. Node's readdirSync plus one
 * lstatSync({bigint: true}) per entry costs a binding call and a BigIntStats of
 * 18 BigInts per file, which dominated a no-op build of a large context. Here one
 * call lists a directory, stats every entry relative to its fd and packs the stat
 * data of all entries into one ArrayBuffer.
 *
 * Records: STAT_SLOTS int64 slots per entry (src/context/stats.ts reads them):
 *   0 dev, 1 ino, 2 mode, 3 uid, 4 gid, 5 size, 6-7 mtime sec/nsec, 8-9 ctime sec/nsec,
 *   10 nlink, 11 rdev, 12 blksize, 13 blocks, 14-15 atime, 16-17 birthtime.
 * Slots 0-9 are what the context fingerprint covers, so a directory's buffer holds them
 * for all its entries first (FRONT_SLOTS each), then the other slots (BACK_SLOTS each):
 * a fingerprint then hashes one directory's stat data in a single piece.
 * The values are the ones Node's lstat reports: libuv uses statx the same way, and
 * falls back to fstatat (birthtime = ctime) where statx is unavailable.
 */
#define STAT_SLOTS 18
#define FRONT_SLOTS 10
#define BACK_SLOTS (STAT_SLOTS - FRONT_SLOTS)

static void pack_stat(const struct stat *st, int64_t *rec) {
    rec[0] = (int64_t)st->st_dev; rec[1] = (int64_t)st->st_ino; rec[2] = st->st_mode;
    rec[3] = st->st_uid; rec[4] = st->st_gid; rec[5] = st->st_size;
    rec[6] = st->st_mtim.tv_sec; rec[7] = st->st_mtim.tv_nsec;
    rec[8] = st->st_ctim.tv_sec; rec[9] = st->st_ctim.tv_nsec;
    rec[10] = (int64_t)st->st_nlink; rec[11] = (int64_t)st->st_rdev; rec[12] = st->st_blksize;
    rec[13] = st->st_blocks; rec[14] = st->st_atim.tv_sec; rec[15] = st->st_atim.tv_nsec;
    rec[16] = st->st_ctim.tv_sec; rec[17] = st->st_ctim.tv_nsec;
}

static int stat_packed(int dirfd, const char *name, int64_t *rec) {
    static int no_statx = 0;
    if (!no_statx) {
        struct statx sx;
        if (statx(dirfd, name, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS | STATX_BTIME, &sx) == 0) {
            rec[0] = (int64_t)makedev(sx.stx_dev_major, sx.stx_dev_minor); rec[1] = (int64_t)sx.stx_ino;
            rec[2] = sx.stx_mode; rec[3] = sx.stx_uid; rec[4] = sx.stx_gid; rec[5] = (int64_t)sx.stx_size;
            rec[6] = sx.stx_mtime.tv_sec; rec[7] = sx.stx_mtime.tv_nsec;
            rec[8] = sx.stx_ctime.tv_sec; rec[9] = sx.stx_ctime.tv_nsec;
            rec[10] = sx.stx_nlink; rec[11] = (int64_t)makedev(sx.stx_rdev_major, sx.stx_rdev_minor);
            rec[12] = sx.stx_blksize; rec[13] = (int64_t)sx.stx_blocks;
            rec[14] = sx.stx_atime.tv_sec; rec[15] = sx.stx_atime.tv_nsec;
            rec[16] = sx.stx_btime.tv_sec; rec[17] = sx.stx_btime.tv_nsec;
            return 0;
        }
        /* As libuv: EPERM is a seccomp filter refusing statx, not the file. */
        if (errno != ENOSYS && errno != EPERM && errno != EOPNOTSUPP && errno != EINVAL) return -1;
        no_statx = 1;
    }
    struct stat st;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) return -1;
    pack_stat(&st, rec);
    return 0;
}

/* Throws an Error shaped like Node's fs errors: code, errno, syscall, path. */
static napi_value throw_fs_error(napi_env env, int err, const char *syscall, const char *dir, const char *name) {
    size_t size = strlen(dir) + (name ? strlen(name) + 1 : 0) + 1;
    char *file = malloc(size), *message = malloc(size + 256);
    napi_value error, code, text, value;
    if (!file || !message) { free(file); free(message); napi_throw_error(env, "ENOMEM", "out of memory"); return NULL; }
    if (name) snprintf(file, size, "%s%s%s", dir, dir[0] && dir[strlen(dir) - 1] == '/' ? "" : "/", name);
    else snprintf(file, size, "%s", dir);
    char description[128];
    snprintf(description, sizeof description, "%s", strerror(err));
    if (description[0] >= 'A' && description[0] <= 'Z') description[0] += 'a' - 'A';
    snprintf(message, size + 256, "%s: %s, %s '%s'", errno_code(err), description, syscall, file);
    napi_create_string_utf8(env, errno_code(err), NAPI_AUTO_LENGTH, &code);
    napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &text);
    napi_create_error(env, code, text, &error);
    napi_create_int32(env, -err, &value);
    napi_set_named_property(env, error, "errno", value);
    napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &value);
    napi_set_named_property(env, error, "syscall", value);
    napi_create_string_utf8(env, file, NAPI_AUTO_LENGTH, &value);
    napi_set_named_property(env, error, "path", value);
    napi_throw(env, error);
    free(file);
    free(message);
    return NULL;
}

/* A JS string argument as a malloc'd UTF-8 string (any length). */
static char *get_path(napi_env env, napi_value value) {
    size_t len = 0;
    if (napi_get_value_string_utf8(env, value, NULL, 0, &len) != napi_ok) return NULL;
    char *buf = malloc(len + 1);
    if (buf && napi_get_value_string_utf8(env, value, buf, len + 1, &len) != napi_ok) { free(buf); return NULL; }
    return buf;
}

struct name_list {
    char *bytes;       /* the names, each NUL-terminated */
    size_t used, cap;
    uint32_t *offsets; /* start of each name in bytes */
    size_t count, slots;
};

static int add_name(struct name_list *list, const char *name) {
    size_t len = strlen(name) + 1;
    if (list->used + len > list->cap) {
        size_t cap = list->cap ? list->cap * 2 : 8192;
        while (cap < list->used + len) cap *= 2;
        char *bytes = realloc(list->bytes, cap);
        if (!bytes) return -1;
        list->bytes = bytes;
        list->cap = cap;
    }
    if (list->count == list->slots) {
        size_t slots = list->slots ? list->slots * 2 : 256;
        uint32_t *offsets = realloc(list->offsets, slots * sizeof *offsets);
        if (!offsets) return -1;
        list->offsets = offsets;
        list->slots = slots;
    }
    memcpy(list->bytes + list->used, name, len);
    list->offsets[list->count++] = (uint32_t)list->used;
    list->used += len;
    return 0;
}

/*
 * The order of JavaScript's default sort (UTF-16 code units), on UTF-8 names. UTF-8
 * byte order is code point order, which differs from it only where a character
 * above U+FFFF (lead byte F0-F4; surrogates in UTF-16) meets one in U+E000-U+FFFF
 * (lead byte EE or EF): UTF-16 puts the surrogates first.
 */
static int js_name_order(const void *a, const void *b, void *arg) {
    const char *bytes = arg;
    const unsigned char *x = (const unsigned char *)bytes + *(const uint32_t *)a;
    const unsigned char *y = (const unsigned char *)bytes + *(const uint32_t *)b;
    while (*x && *x == *y) x++, y++;
    if (*x >= 0xF0 && (*y == 0xEE || *y == 0xEF)) return -1;
    if (*y >= 0xF0 && (*x == 0xEE || *x == 0xEF)) return 1;
    return (int)*x - (int)*y;
}

/*
 * readdirStat(dir, prefix) -> [names, stats]: the entries of `dir` (without . and ..)
 * sorted as JavaScript sorts strings, each with `prefix` in front (the walk passes the
 * directory's path in the context, so the strings it gets are the ones it keeps), joined
 * with NULs, and an ArrayBuffer of the entries' own (lstat) data in the same order:
 * FRONT_SLOTS of each entry, then BACK_SLOTS of each.
 * Errors: opening or reading the directory throws with syscall 'scandir', an entry that
 * cannot be stat'ed (removed meanwhile) with syscall 'lstat' and the entry's path.
 */
static napi_value js_readdir_stat(napi_env env, napi_callback_info info) {
    size_t argc = 2;
    napi_value argv[2], result = NULL, names_value, stats_value;
    struct name_list list = {0};
    char *joined = NULL, *prefix = NULL;
    DIR *dir = NULL;
    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
    char *path = argc < 2 ? NULL : get_path(env, argv[0]);
    if (path) prefix = get_path(env, argv[1]);
    if (!path || !prefix) {
        free(path);
        napi_throw_type_error(env, NULL, "readdirStat(path, prefix)");
        return NULL;
    }
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || !(dir = fdopendir(fd))) {
        int err = errno;
        if (fd >= 0) close(fd);
        throw_fs_error(env, err, "scandir", path, NULL);
        goto done;
    }
    for (;;) {
        errno = 0;
        struct dirent *entry = readdir(dir);
        if (!entry) {
            if (errno != 0) { throw_fs_error(env, errno, "scandir", path, NULL); goto done; }
            break;
        }
        const char *name = entry->d_name;
        if (name[0] == '.' && (name[1] == 0 || (name[1] == '.' && name[2] == 0))) continue;
        if (add_name(&list, name) != 0) { napi_throw_error(env, "ENOMEM", "out of memory"); goto done; }
    }
    qsort_r(list.offsets, list.count, sizeof *list.offsets, js_name_order, list.bytes);

    void *data = NULL;
    if (napi_create_arraybuffer(env, list.count * STAT_SLOTS * sizeof(int64_t), &data, &stats_value) != napi_ok) goto done;
    /* Stat'ing from helper threads was tried: on a 2-CPU VM statx did not get faster in parallel. */
    for (size_t i = 0; i < list.count; i++) {
        const char *name = list.bytes + list.offsets[i];
        int64_t rec[STAT_SLOTS];
        if (stat_packed(dirfd(dir), name, rec) != 0) {
            throw_fs_error(env, errno, "lstat", path, name);
            goto done;
        }
        memcpy((int64_t *)data + i * FRONT_SLOTS, rec, FRONT_SLOTS * sizeof *rec);
        memcpy((int64_t *)data + list.count * FRONT_SLOTS + i * BACK_SLOTS, rec + FRONT_SLOTS, BACK_SLOTS * sizeof *rec);
    }
    size_t prefix_len = strlen(prefix), at = 0;
    joined = malloc(list.used + list.count * prefix_len + 1);
    if (!joined) { napi_throw_error(env, "ENOMEM", "out of memory"); goto done; }
    for (size_t i = 0; i < list.count; i++) {
        const char *name = list.bytes + list.offsets[i];
        size_t len = strlen(name);
        if (i > 0) joined[at++] = 0;
        memcpy(joined + at, prefix, prefix_len);
        memcpy(joined + at + prefix_len, name, len);
        at += prefix_len + len;
    }
    if (napi_create_string_utf8(env, joined, at, &names_value) != napi_ok) goto done;
    napi_create_array_with_length(env, 2, &result);
    napi_set_element(env, result, 0, names_value);
    napi_set_element(env, result, 1, stats_value);
done:
    if (dir) closedir(dir);
    free(joined);
    free(list.bytes);
    free(list.offsets);
    free(prefix);
    free(path);
    return result;
}

/* lstatPacked(path) -> ArrayBuffer of one entry as readdirStat packs them (simply slots 0-17 in order). */
static napi_value js_lstat_packed(napi_env env, napi_callback_info info) {
    size_t argc = 1;
    napi_value argv[1], result = NULL;
    void *data = NULL;
    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
    char *path = argc < 1 ? NULL : get_path(env, argv[0]);
    if (!path) {
        napi_throw_type_error(env, NULL, "lstatPacked(path)");
        return NULL;
    }
    int64_t rec[STAT_SLOTS];
    if (stat_packed(AT_FDCWD, path, rec) != 0) throw_fs_error(env, errno, "lstat", path, NULL);
    else if (napi_create_arraybuffer(env, sizeof rec, &data, &result) == napi_ok) memcpy(data, rec, sizeof rec);
    free(path);
    return result;
}

static napi_value init(napi_env env, napi_value exports) {
    napi_property_descriptor props[] = {
        {"mknod", NULL, js_mknod, NULL, NULL, NULL, napi_default, NULL},
        {"lsetxattr", NULL, js_lsetxattr, NULL, NULL, NULL, napi_default, NULL},
        {"lgetxattr", NULL, js_lgetxattr, NULL, NULL, NULL, napi_default, NULL},
        {"llistxattr", NULL, js_llistxattr, NULL, NULL, NULL, napi_default, NULL},
        {"flock", NULL, js_flock, NULL, NULL, NULL, napi_default, NULL},
        {"syncfs", NULL, js_syncfs, NULL, NULL, NULL, napi_default, NULL},
        {"readdirStat", NULL, js_readdir_stat, NULL, NULL, NULL, napi_default, NULL},
        {"lstatPacked", NULL, js_lstat_packed, NULL, NULL, NULL, napi_default, NULL},
    };
    napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
    return exports;
}

NAPI_MODULE(berth_sys, init)
