/*
 * PID 1 of the container. It builds the container's world (namespaces, rootfs, kernel
 * filesystems), starts the command as its only direct child, reaps whatever gets reparented to it,
 * forwards the usual termination signals, and when the command exits kills the rest of the pid
 * namespace so that nothing outlives the RUN step (as docker does when a container's main process
 * exits). Only then, with no process left that could race it, it takes its mount stubs back out
 * of the rootfs and reports the command's exit status.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox.h"

static volatile pid_t command_pid;

static void forward(int sig)
{
	if (command_pid > 0)
		kill(command_pid, sig);
}

static const int forwarded[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };
#define N_FORWARDED (sizeof forwarded / sizeof forwarded[0])

/*
 * A new network namespace has only a loopback device, and it starts down. Bring it up with the
 * classic interface ioctl: no netlink needed for one flag.
 */
static void loopback_up(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		fail("socket: %s", strerror(errno));
	struct ifreq ifr;
	memset(&ifr, 0, sizeof ifr);
	strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
		fail("reading flags of lo: %s", strerror(errno));
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
		fail("bringing up lo: %s", strerror(errno));
	close(fd);
}

/* The helper may have died between our fork and the prctl; its end of the lifeline tells us. */
static void check_lifeline(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	if (poll(&p, 1, 0) > 0 && (p.revents & (POLLIN | POLLHUP)))
		_exit(EXIT_SETUP);
	close(fd);
}

static void enter_namespaces(struct spec *spec)
{
	int flags = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC;
	if (spec->net != NET_HOST)
		flags |= CLONE_NEWNET;
	if (unshare(flags) < 0)
		fail("unshare(mount, uts, ipc%s): %s", spec->net != NET_HOST ? ", net" : "",
		     strerror(errno));
	if (spec->net != NET_HOST)
		loopback_up();
	/* Node attaches the outside link to this namespace while we build the rootfs. */
	if (spec->net == NET_SANDBOX)
		status_line("netns");
	if (spec->hostname && sethostname(spec->hostname, strlen(spec->hostname)) < 0)
		fail("sethostname(\"%s\"): %s", spec->hostname, strerror(errno));
}

static pid_t start_command(struct spec *spec)
{
	sigset_t set;
	sigemptyset(&set);
	for (size_t i = 0; i < N_FORWARDED; i++)
		sigaddset(&set, forwarded[i]);
	sigprocmask(SIG_BLOCK, &set, NULL);

	pid_t pid = fork();
	if (pid < 0)
		fail("fork: %s", strerror(errno));
	if (pid == 0) {
		/* exec resets handlers but not the mask: the command starts with nothing blocked */
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		exec_command(spec);
	}
	command_pid = pid;

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = forward;
	sa.sa_flags = SA_RESTART;
	for (size_t i = 0; i < N_FORWARDED; i++)
		sigaction(forwarded[i], &sa, NULL);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	return pid;
}

/* Reap everything until the command itself exits; orphans reparented to us are reaped too. */
static int wait_command(pid_t pid)
{
	int status;
	for (;;) {
		pid_t got = waitpid(-1, &status, 0);
		if (got == pid)
			return status;
		if (got < 0 && errno != EINTR)
			fail("waitpid: %s", strerror(errno));
	}
}

/* Background processes the command left behind die with it, like in a docker container. */
static void kill_the_rest(void)
{
	command_pid = 0;
	kill(-1, SIGKILL);
	for (;;) {
		pid_t got = waitpid(-1, NULL, 0);
		if (got < 0 && errno != EINTR)
			break;
	}
}

int init_main(struct spec *spec, int lifeline_fd, int devcg_fd)
{
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		fail("prctl(PR_SET_PDEATHSIG): %s", strerror(errno));
	check_lifeline(lifeline_fd);
	/* Before anything of the container exists: every process it will ever have starts inside. */
	devcg_enter(devcg_fd);
	limits_enter();
	/* Device nodes and stubs get exactly the modes we ask for. */
	umask(0);

	enter_namespaces(spec);
	rootfs_prepare(spec);
	devfs_prepare(spec);
	rootfs_pivot(spec);
	devfs_mount_all(spec);
	rootfs_attach_user_mounts(spec);
	devfs_protect(spec);
	rootfs_finish(spec);
	/* Built here, once; the command only loads it, as its last step before exec. */
	seccomp_prepare(spec);
	if (spec->net == NET_SANDBOX)
		status_wait_go();

	pid_t pid = start_command(spec);
	int status = wait_command(pid);
	kill_the_rest();
	rootfs_cleanup(spec);

	if (WIFEXITED(status)) {
		status_line("exit %d", WEXITSTATUS(status));
		_exit(WEXITSTATUS(status));
	}
	status_line("killed %d", WTERMSIG(status));
	_exit(128 + WTERMSIG(status));
}
