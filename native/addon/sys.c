/*
 * berth_sys: the few file system calls Node's fs lacks, as a Node-API addon.
 * mknod (overlay whiteouts, device nodes, fifos) and the l*xattr family (opaque
 * directories, file capabilities). Synchronous and decision-free: the TypeScript
 * side decides what to call; errors come back as exceptions carrying errno's code.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <node_api.h>
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

static napi_value init(napi_env env, napi_value exports) {
    napi_property_descriptor props[] = {
        {"mknod", NULL, js_mknod, NULL, NULL, NULL, napi_default, NULL},
        {"lsetxattr", NULL, js_lsetxattr, NULL, NULL, NULL, napi_default, NULL},
        {"lgetxattr", NULL, js_lgetxattr, NULL, NULL, NULL, napi_default, NULL},
        {"llistxattr", NULL, js_llistxattr, NULL, NULL, NULL, napi_default, NULL},
        {"flock", NULL, js_flock, NULL, NULL, NULL, napi_default, NULL},
        {"syncfs", NULL, js_syncfs, NULL, NULL, NULL, napi_default, NULL},
    };
    napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
    return exports;
}

NAPI_MODULE(berth_sys, init)
