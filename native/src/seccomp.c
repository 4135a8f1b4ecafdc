/*
 * The container's seccomp filter. Node sends the rules (docker's default profile, decided for
 * this container: see src/exec/seccomp.ts); libseccomp turns them into a BPF program for the
 * native architecture and the extra ones asked for (x86 and x32 beside x86_64), checking the
 * architecture of every call itself. The program is built once (--compile-seccomp, or in the init
 * when Node sent rules instead of a program) and loaded by the command as its last step before
 * exec, after no_new_privs (which lets an unprivileged process load it).
 *
 * In front of libseccomp's program goes a short one of ours: a call whose number is above the
 * highest this filter names for its architecture fails with the spec's "newer" errno (ENOSYS)
 * instead of the default EPERM, as runc does for Docker 26, so that a libc trying a call newer
 * than the profile falls back to the old one.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox.h"

#define X32_SYSCALL_BIT 0x40000000U

static struct seccomp_rule *current_rule(struct spec *spec, const char *key)
{
	if (spec->seccomp.n_rules == 0)
		fail("spec: \"%s\" before any \"scrule\"", key);
	return &spec->seccomp.rules[spec->seccomp.n_rules - 1];
}

/* "INDEX OP VALUE VALUE_TWO" */
static void parse_arg(struct seccomp_rule *rule, char *text)
{
	if (rule->n_args == sizeof rule->args / sizeof rule->args[0])
		fail("spec: too many seccomp argument conditions");
	struct seccomp_arg *arg = &rule->args[rule->n_args++];
	char *save = NULL;
	char *index = strtok_r(text, " ", &save), *op = strtok_r(NULL, " ", &save);
	char *value = strtok_r(NULL, " ", &save), *two = strtok_r(NULL, " ", &save);
	if (!index || !op || !value || !two)
		fail("spec: bad seccomp argument condition");
	arg->index = (unsigned int)parse_long(index, "scarg index");
	if (arg->index > 5)
		fail("spec: seccomp argument index %u out of range", arg->index);
	arg->op = op;
	arg->value = strtoull(value, NULL, 10);
	arg->value_two = strtoull(two, NULL, 10);
}

int seccomp_spec_key(struct spec *spec, const char *key, char *value)
{
	struct seccomp_spec *sc = &spec->seccomp;
	if (!strcmp(key, "seccomp")) {
		sc->enabled = 1;
		sc->default_errno = (int)parse_long(value, key);
	} else if (!strcmp(key, "scnewer"))
		sc->newer_errno = (int)parse_long(value, key);
	else if (!strcmp(key, "scarch"))
		list_push(&sc->arches, value);
	else if (!strcmp(key, "scrule")) {
		sc->rules = xrealloc(sc->rules, (sc->n_rules + 1) * sizeof *sc->rules);
		struct seccomp_rule *rule = &sc->rules[sc->n_rules++];
		memset(rule, 0, sizeof *rule);
		if (!strcmp(value, "allow"))
			rule->errno_ret = -1;
		else if (!strncmp(value, "errno ", 6))
			rule->errno_ret = (int)parse_long(value + 6, key);
		else
			fail("spec: unknown seccomp action \"%s\"", value);
	} else if (!strcmp(key, "scprog")) {
		/* A program this helper compiled earlier (--compile-seccomp), as hex. */
		size_t len = hex_decode(value);
		if (len == 0 || len % sizeof(struct sock_filter) || len / sizeof(struct sock_filter) > BPF_MAXINSNS)
			fail("spec: bad seccomp program");
		struct sock_fprog *fprog = xmalloc(sizeof *fprog);
		fprog->len = (unsigned short)(len / sizeof(struct sock_filter));
		fprog->filter = (struct sock_filter *)(void *)value;
		sc->prog = fprog;
	} else if (!strcmp(key, "scname"))
		list_push(&current_rule(spec, key)->names, value);
	else if (!strcmp(key, "scarg"))
		parse_arg(current_rule(spec, key), value);
	else
		return 0;
	return 1;
}

static uint32_t arch_token(const char *name)
{
	static const struct {
		const char *name;
		uint32_t token;
	} arches[] = {
		{ "x86", SCMP_ARCH_X86 }, { "x32", SCMP_ARCH_X32 }, { "x86_64", SCMP_ARCH_X86_64 },
		{ "arm", SCMP_ARCH_ARM }, { "aarch64", SCMP_ARCH_AARCH64 },
	};
	for (size_t i = 0; i < sizeof arches / sizeof arches[0]; i++)
		if (!strcmp(arches[i].name, name))
			return arches[i].token;
	fail("spec: unknown seccomp architecture \"%s\"", name);
}

static enum scmp_compare compare_op(const char *op)
{
	static const struct {
		const char *name;
		enum scmp_compare op;
	} ops[] = {
		{ "ne", SCMP_CMP_NE }, { "lt", SCMP_CMP_LT }, { "le", SCMP_CMP_LE }, { "eq", SCMP_CMP_EQ },
		{ "ge", SCMP_CMP_GE }, { "gt", SCMP_CMP_GT }, { "masked_eq", SCMP_CMP_MASKED_EQ },
	};
	for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
		if (!strcmp(ops[i].name, op))
			return ops[i].op;
	fail("spec: unknown seccomp comparison \"%s\"", op);
}

/* The architectures of the filter and, per architecture, the highest call number it names. */
struct arch_max {
	uint32_t token, audit;
	int max;
};

static void add_rule(scmp_filter_ctx ctx, struct seccomp_rule *rule, struct arch_max *arches, size_t n_arches)
{
	struct scmp_arg_cmp cmp[6];
	for (size_t i = 0; i < rule->n_args; i++) {
		struct seccomp_arg *a = &rule->args[i];
		cmp[i] = (struct scmp_arg_cmp){ a->index, compare_op(a->op), a->value, a->value_two };
	}
	uint32_t action = rule->errno_ret < 0 ? SCMP_ACT_ALLOW : SCMP_ACT_ERRNO((uint32_t)rule->errno_ret);
	for (size_t i = 0; i < rule->names.len; i++) {
		const char *name = rule->names.items[i];
		/* Names this libseccomp does not know (or no architecture has) are skipped, as runc does. */
		int nr = seccomp_syscall_resolve_name(name);
		if (nr == __NR_SCMP_ERROR)
			continue;
		int rc = seccomp_rule_add_array(ctx, action, nr, (unsigned int)rule->n_args, cmp);
		if (rc < 0)
			fail("seccomp rule for %s: %s", name, strerror(-rc));
		for (size_t j = 0; j < n_arches; j++) {
			int arch_nr = seccomp_syscall_resolve_name_arch(arches[j].token, name);
			if (arch_nr >= 0 && arch_nr > arches[j].max)
				arches[j].max = arch_nr;
		}
	}
}

/* libseccomp 2.5 exports to an fd only: a memfd gives the program back as bytes. */
static struct sock_filter *export_program(scmp_filter_ctx ctx, size_t *len)
{
	int fd = (int)syscall(SYS_memfd_create, "berth-seccomp", MFD_CLOEXEC);
	if (fd < 0)
		fail("memfd_create: %s", strerror(errno));
	int rc = seccomp_export_bpf(ctx, fd);
	if (rc < 0)
		fail("building the seccomp filter: %s", strerror(-rc));
	struct stat st;
	if (fstat(fd, &st) < 0)
		fail("fstat: %s", strerror(errno));
	size_t size = (size_t)st.st_size;
	struct sock_filter *prog = xmalloc(size);
	if (pread(fd, prog, size, 0) != (ssize_t)size)
		fail("reading the seccomp filter back: %s", strerror(errno));
	close(fd);
	*len = size / sizeof *prog;
	return prog;
}

#define STMT(code, k) ((struct sock_filter)BPF_STMT(code, k))
#define JUMP(code, k, jt, jf) ((struct sock_filter)BPF_JUMP(code, k, jt, jf))

/*
 * Our prefix, for x86_64 (with x32 calls told apart by their number bit) and i386; any other
 * architecture goes straight to libseccomp's program. `pass` is the prefix's length, so jumping
 * to index `pass` enters libseccomp's program, which loads the architecture again itself.
 */
static size_t newer_prefix(struct sock_filter *out, const struct arch_max *x64, const struct arch_max *x32,
			   const struct arch_max *x86, int err)
{
	enum { PASS = 10, NEWER = 9 };
	size_t n = 0;
	out[n++] = STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));           /* 0 */
	out[n++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, 6 - 2);                  /* 1 */
	out[n++] = STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));             /* 2 */
	out[n++] = JUMP(BPF_JMP | BPF_JSET | BPF_K, X32_SYSCALL_BIT, 5 - 4, 0);                   /* 3 */
	out[n++] = JUMP(BPF_JMP | BPF_JGT | BPF_K, x64 ? (uint32_t)x64->max : ~0U, NEWER - 5, PASS - 5); /* 4 */
	out[n++] = JUMP(BPF_JMP | BPF_JGT | BPF_K, x32 ? (uint32_t)x32->max : ~0U, NEWER - 6, PASS - 6); /* 5 */
	out[n++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_I386, 0, PASS - 7);                 /* 6 */
	out[n++] = STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));             /* 7 */
	out[n++] = JUMP(BPF_JMP | BPF_JGT | BPF_K, x86 ? (uint32_t)x86->max : ~0U, NEWER - 9, PASS - 9); /* 8 */
	out[n++] = STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ((uint32_t)err & SECCOMP_RET_DATA)); /* 9 */
	return n;
}

static const struct arch_max *find_arch(const struct arch_max *arches, size_t n, uint32_t token)
{
	for (size_t i = 0; i < n; i++)
		if (arches[i].token == token && arches[i].max >= 0)
			return &arches[i];
	return NULL;
}

void seccomp_prepare(struct spec *spec)
{
	struct seccomp_spec *sc = &spec->seccomp;
	if (!sc->enabled || sc->prog)
		return;
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO((uint32_t)sc->default_errno));
	if (!ctx)
		fail("seccomp_init failed");
	struct arch_max arches[8];
	size_t n_arches = 0;
	arches[n_arches++] = (struct arch_max){ seccomp_arch_native(), 0, -1 };
	for (size_t i = 0; i < sc->arches.len && n_arches < 8; i++) {
		uint32_t token = arch_token(sc->arches.items[i]);
		int rc = seccomp_arch_add(ctx, token);
		if (rc < 0 && rc != -EEXIST)
			fail("seccomp: adding architecture %s: %s", sc->arches.items[i], strerror(-rc));
		arches[n_arches++] = (struct arch_max){ token, 0, -1 };
	}
	/* A binary search tree instead of a linear list of comparisons: fewer per call. */
	seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	for (size_t i = 0; i < sc->n_rules; i++)
		add_rule(ctx, &sc->rules[i], arches, n_arches);

	size_t len;
	struct sock_filter *body = export_program(ctx, &len);
	seccomp_release(ctx);

	struct sock_filter *prog = xmalloc((len + 16) * sizeof *prog);
	size_t n = 0;
	if (sc->newer_errno > 0 && seccomp_arch_native() == SCMP_ARCH_X86_64)
		n = newer_prefix(prog, find_arch(arches, n_arches, SCMP_ARCH_X86_64),
				 find_arch(arches, n_arches, SCMP_ARCH_X32), find_arch(arches, n_arches, SCMP_ARCH_X86),
				 sc->newer_errno);
	memcpy(prog + n, body, len * sizeof *body);
	free(body);
	if (n + len > BPF_MAXINSNS)
		fail("seccomp filter too long (%zu instructions)", n + len);

	struct sock_fprog *fprog = xmalloc(sizeof *fprog);
	fprog->len = (unsigned short)(n + len);
	fprog->filter = prog;
	sc->prog = fprog;
}

void seccomp_install(struct spec *spec)
{
	if (!spec->seccomp.prog)
		return;
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, spec->seccomp.prog) < 0)
		fail("loading the seccomp filter: %s", strerror(errno));
}

/*
 * Building the program costs about 10 ms (libseccomp's tree for three architectures), the same
 * every time for the same rules: Node has it built once this way (rules on stdin, the program's
 * bytes on stdout) and sends the bytes with every container instead of the rules.
 */
int seccomp_compile_main(void)
{
	struct spec spec;
	spec_parse(STDIN_FILENO, &spec);
	if (!spec.seccomp.enabled)
		fail("--compile-seccomp: no \"seccomp\" key on stdin");
	seccomp_prepare(&spec);
	struct sock_fprog *fprog = spec.seccomp.prog;
	if (write_all(STDOUT_FILENO, (const char *)fprog->filter, fprog->len * sizeof *fprog->filter) < 0)
		fail("--compile-seccomp: writing the program: %s", strerror(errno));
	return 0;
}
