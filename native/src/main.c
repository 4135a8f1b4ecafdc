/*
 * The helper process Node spawns. It only exists so that the container's init can be PID 1 of a
 * fresh pid namespace (unshare(CLONE_NEWPID) affects children, not the caller) while Node keeps a
 * direct child whose death takes everything with it:
 *
 *   Node --SIGKILL--> helper --PDEATHSIG--> init (PID 1) --kernel--> every process in the namespace
 *
 * and because the init owns the only reference to the private mount namespace besides its
 * children, all mounts vanish with it. Nothing here touches the filesystem but lock files and
 * the container's device cgroup, which it makes, stays out of and removes (cgroup.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox.h"

static volatile pid_t init_pid;

/* Signals Node (or a terminal) sends to the helper go to the init, which passes them on. */
static void forward(int sig)
{
	if (init_pid > 0)
		kill(init_pid, sig);
}

static const int forwarded[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };
#define N_FORWARDED (sizeof forwarded / sizeof forwarded[0])

static void block_forwarded(int how, sigset_t *set)
{
	sigemptyset(set);
	for (size_t i = 0; i < N_FORWARDED; i++)
		sigaddset(set, forwarded[i]);
	sigprocmask(how, set, NULL);
}

/*
 * Lock files Node asked for (cache mounts with sharing=locked or shared), taken in the order given
 * and held until we exit: the fds stay open here and in the init, and the kernel drops the locks
 * when the last of them closes, however the run ends.
 */
static void take_locks(struct spec *spec)
{
	for (size_t i = 0; i < spec->n_locks; i++) {
		const struct lock_req *lock = &spec->locks[i];
		int fd = open(lock->path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0)
			fail("opening lock %s: %s", lock->path, strerror(errno));
		while (flock(fd, lock->shared ? LOCK_SH : LOCK_EX) < 0)
			if (errno != EINTR)
				fail("locking %s: %s", lock->path, strerror(errno));
	}
}

int main(int argc, char **argv)
{
	struct spec spec;
	sigset_t set;

	if (argc > 1 && !strcmp(argv[1], "--userns-exec"))
		userns_exec(argc - 2, argv + 2);
	/*
	 * `--pdeathsig-exec PROGRAM ARGS...`: PROGRAM dies with the process that started us. berth's
	 * snapshot uses it to hand a run over to its TypeScript sources in a child Node, which must
	 * not outlive a berth that is killed outright (a build's containers die with that child).
	 */
	if (argc > 2 && !strcmp(argv[1], "--pdeathsig-exec")) {
		pid_t parent = getppid();
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
			return EXIT_SETUP;
		execv(argv[2], argv + 2);
		return EXIT_CANNOT_EXEC;
	}

	/* Decide now whether fd 4 is Node's status pipe, before anything could be opened there. */
	status_init();
	if (argc == 2 && !strcmp(argv[1], "--compile-seccomp"))
		return seccomp_compile_main();
	spec_read(SPEC_FD, &spec);

	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		fail("prctl(PR_SET_PDEATHSIG): %s", strerror(errno));
	/* Node may already be gone (then the death signal was never armed for it). */
	if (spec.node_pid > 0 && getppid() != spec.node_pid)
		fail("berth exited before the container started");
	take_locks(&spec);
	/* Made before the fork so that the init can enter it before anything else. */
	int devcg_fd = devcg_create(&spec);
	limits_create(&spec);

	/*
	 * The lifeline lets the init notice that we died before it armed its own death signal: we
	 * hold the write end until we exit, so EOF on the read end means we are gone.
	 */
	int lifeline[2];
	if (pipe2(lifeline, O_CLOEXEC) < 0)
		fail("pipe: %s", strerror(errno));

	if (unshare(CLONE_NEWPID) < 0)
		fail("unshare(CLONE_NEWPID): %s", strerror(errno));

	block_forwarded(SIG_BLOCK, &set);
	pid_t pid = fork();
	if (pid < 0)
		fail("fork: %s", strerror(errno));
	if (pid == 0) {
		close(lifeline[1]);
		sigprocmask(SIG_UNBLOCK, &set, NULL);
		init_main(&spec, lifeline[0], devcg_fd);
	}
	close(lifeline[0]);
	if (devcg_fd >= 0)
		close(devcg_fd);
	limits_close_files();
	init_pid = pid;
	status_line("pid %d", (int)pid);

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = forward;
	sa.sa_flags = SA_RESTART;
	for (size_t i = 0; i < N_FORWARDED; i++)
		sigaction(forwarded[i], &sa, NULL);
	sigprocmask(SIG_UNBLOCK, &set, NULL);

	int status;
	for (;;) {
		pid_t got = waitpid(pid, &status, 0);
		if (got == pid)
			break;
		if (got < 0 && errno != EINTR)
			fail("waitpid: %s", strerror(errno));
	}
	/* The init was the pid namespace's last process: the device cgroup is empty now. */
	devcg_remove();
	limits_remove();
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	/* The init died from a signal (only SIGKILL can do that to a PID 1): report it shell-style. */
	return 128 + WTERMSIG(status);
}
