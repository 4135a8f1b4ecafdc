/**
 * The seccomp filter every non-privileged container gets: docker's default profile (moby's
 * profiles/seccomp/default.json, its data transcribed here) decided for this machine the way
 * docker decides it (the kept capabilities, the architecture, the kernel version), as a list of
 * rules the native helper turns into a BPF program with libseccomp.
 *
 * What the profile does not allow fails with EPERM (its defaultErrnoRet). System calls newer than
 * every one the profile names fail with ENOSYS instead, as in Docker 26 (runc): a libc probing
 * for a new call (fchmodat2, clone3, ...) then falls back to the old one instead of giving up.
 */
import { release } from 'node:os';

type Op = 'ne' | 'lt' | 'le' | 'eq' | 'ge' | 'gt' | 'masked_eq';

export interface SeccompArg {
  index: number;
  op: Op;
  value: bigint;
  /** The mask's comparison value for masked_eq (docker's valueTwo); 0 otherwise. */
  valueTwo?: bigint;
}

interface Conditions {
  caps?: string[];
  arches?: string[];
  minKernel?: string;
}

interface ProfileGroup {
  names: string[];
  /** undefined: allow; a number: fail with that errno. */
  errno?: number;
  args?: SeccompArg[];
  includes?: Conditions;
  excludes?: Conditions;
}

/** One rule for the helper: these calls get this action when every arg condition holds. */
export interface SeccompRule {
  names: string[];
  errno?: number;
  args: SeccompArg[];
}

export interface SeccompFilter {
  /** errno of everything not allowed (the profile's default action). */
  defaultErrno: number;
  /** errno for system call numbers above the highest the filter knows, per architecture. */
  newerErrno: number;
  /** Architectures besides the native one (x86_64) whose system calls are filtered, not killed. */
  extraArches: string[];
  rules: SeccompRule[];
}

const EPERM = 1;
const ENOSYS = 38;
const AF_VSOCK = 40n;

const names = (text: string): string[] => text.trim().split(/\s+/);

/** The profile's one big unconditional allow list. */
const ALLOWED = names(`
  accept accept4 access adjtimex alarm bind brk capget capset chdir chmod chown chown32
  clock_adjtime clock_adjtime64 clock_getres clock_getres_time64 clock_gettime clock_gettime64
  clock_nanosleep clock_nanosleep_time64 close close_range connect copy_file_range creat dup dup2
  dup3 epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait
  epoll_wait_old eventfd eventfd2 execve execveat exit exit_group faccessat faccessat2 fadvise64
  fadvise64_64 fallocate fanotify_mark fchdir fchmod fchmodat fchown fchown32 fchownat fcntl
  fcntl64 fdatasync fgetxattr flistxattr flock fork fremovexattr fsetxattr fstat fstat64 fstatat64
  fstatfs fstatfs64 fsync ftruncate ftruncate64 futex futex_time64 futex_waitv futimesat getcpu
  getcwd getdents getdents64 getegid getegid32 geteuid geteuid32 getgid getgid32 getgroups
  getgroups32 getitimer getpeername getpgid getpgrp getpid getppid getpriority getrandom
  getresgid getresgid32 getresuid getresuid32 getrlimit get_robust_list getrusage getsid
  getsockname getsockopt get_thread_area gettid gettimeofday getuid getuid32 getxattr
  inotify_add_watch inotify_init inotify_init1 inotify_rm_watch io_cancel ioctl io_destroy
  io_getevents io_pgetevents io_pgetevents_time64 ioprio_get ioprio_set io_setup io_submit
  io_uring_enter io_uring_register io_uring_setup ipc kill landlock_add_rule
  landlock_create_ruleset landlock_restrict_self lchown lchown32 lgetxattr link linkat listen
  listxattr llistxattr _llseek lremovexattr lseek lsetxattr lstat lstat64 madvise membarrier
  memfd_create memfd_secret mincore mkdir mkdirat mknod mknodat mlock mlock2 mlockall mmap mmap2
  mprotect mq_getsetattr mq_notify mq_open mq_timedreceive mq_timedreceive_time64 mq_timedsend
  mq_timedsend_time64 mq_unlink mremap msgctl msgget msgrcv msgsnd msync munlock munlockall
  munmap name_to_handle_at nanosleep newfstatat _newselect open openat openat2 pause pidfd_open
  pidfd_send_signal pipe pipe2 pkey_alloc pkey_free pkey_mprotect poll ppoll ppoll_time64 prctl
  pread64 preadv preadv2 prlimit64 process_mrelease pselect6 pselect6_time64 pwrite64 pwritev
  pwritev2 read readahead readlink readlinkat readv recv recvfrom recvmmsg recvmmsg_time64
  recvmsg remap_file_pages removexattr rename renameat renameat2 restart_syscall rmdir rseq
  rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend
  rt_sigtimedwait rt_sigtimedwait_time64 rt_tgsigqueueinfo sched_getaffinity sched_getattr
  sched_getparam sched_get_priority_max sched_get_priority_min sched_getscheduler
  sched_rr_get_interval sched_rr_get_interval_time64 sched_setaffinity sched_setattr
  sched_setparam sched_setscheduler sched_yield seccomp select semctl semget semop semtimedop
  semtimedop_time64 send sendfile sendfile64 sendmmsg sendmsg sendto setfsgid setfsgid32
  setfsuid setfsuid32 setgid setgid32 setgroups setgroups32 setitimer setpgid setpriority
  setregid setregid32 setresgid setresgid32 setresuid setresuid32 setreuid setreuid32 setrlimit
  set_robust_list setsid setsockopt set_thread_area set_tid_address setuid setuid32 setxattr
  shmat shmctl shmdt shmget shutdown sigaltstack signalfd signalfd4 sigprocmask sigreturn
  socketcall socketpair splice stat stat64 statfs statfs64 statx symlink symlinkat sync
  sync_file_range syncfs sysinfo tee tgkill time timer_create timer_delete timer_getoverrun
  timer_gettime timer_gettime64 timer_settime timer_settime64 timerfd_create timerfd_gettime
  timerfd_gettime64 timerfd_settime timerfd_settime64 times tkill truncate truncate64 ugetrlimit
  umask uname unlink unlinkat utime utimensat utimensat_time64 utimes vfork vmsplice wait4
  waitid waitpid write writev
`);

/** personality(2) values the profile allows: PER_LINUX, PER_LINUX32, UNAME26 with each, query. */
const PERSONALITIES = [0x0n, 0x8n, 0x20000n, 0x20008n, 0xffffffffn];

/** clone(2) flags that make namespaces (CLONE_NEWNS|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET|NEWCGROUP). */
const CLONE_NAMESPACE_FLAGS = 0x7e020000n;

const caps = (...list: string[]): Conditions => ({ caps: list });

export const DOCKER_DEFAULT_PROFILE: { defaultErrno: number; groups: ProfileGroup[] } = {
  defaultErrno: EPERM,
  groups: [
    { names: ALLOWED },
    { names: ['process_vm_readv', 'process_vm_writev', 'ptrace'], includes: { minKernel: '4.8' } },
    { names: ['socket'], args: [{ index: 0, op: 'ne', value: AF_VSOCK }] },
    ...PERSONALITIES.map((value): ProfileGroup => ({ names: ['personality'], args: [{ index: 0, op: 'eq', value }] })),
    { names: ['sync_file_range2', 'swapcontext'], includes: { arches: ['ppc64le'] } },
    {
      names: ['arm_fadvise64_64', 'arm_sync_file_range', 'sync_file_range2', 'breakpoint', 'cacheflush', 'set_tls'],
      includes: { arches: ['arm', 'arm64'] },
    },
    { names: ['arch_prctl'], includes: { arches: ['amd64', 'x32'] } },
    { names: ['modify_ldt'], includes: { arches: ['amd64', 'x32', 'x86'] } },
    { names: ['s390_pci_mmio_read', 's390_pci_mmio_write', 's390_runtime_instr'], includes: { arches: ['s390', 's390x'] } },
    { names: ['riscv_flush_icache'], includes: { arches: ['riscv64'] } },
    { names: ['open_by_handle_at'], includes: caps('CAP_DAC_READ_SEARCH') },
    {
      names: names(`bpf clone clone3 fanotify_init fsconfig fsmount fsopen fspick lookup_dcookie mount
        mount_setattr move_mount open_tree perf_event_open quotactl quotactl_fd setdomainname
        sethostname setns syslog umount umount2 unshare`),
      includes: caps('CAP_SYS_ADMIN'),
    },
    {
      names: ['clone'],
      args: [{ index: 0, op: 'masked_eq', value: CLONE_NAMESPACE_FLAGS, valueTwo: 0n }],
      excludes: { caps: ['CAP_SYS_ADMIN'], arches: ['s390', 's390x'] },
    },
    {
      names: ['clone'],
      args: [{ index: 1, op: 'masked_eq', value: CLONE_NAMESPACE_FLAGS, valueTwo: 0n }],
      includes: { arches: ['s390', 's390x'] },
      excludes: caps('CAP_SYS_ADMIN'),
    },
    { names: ['clone3'], errno: ENOSYS, excludes: caps('CAP_SYS_ADMIN') },
    { names: ['reboot'], includes: caps('CAP_SYS_BOOT') },
    { names: ['chroot'], includes: caps('CAP_SYS_CHROOT') },
    { names: ['delete_module', 'init_module', 'finit_module'], includes: caps('CAP_SYS_MODULE') },
    { names: ['acct'], includes: caps('CAP_SYS_PACCT') },
    {
      names: ['kcmp', 'pidfd_getfd', 'process_madvise', 'process_vm_readv', 'process_vm_writev', 'ptrace'],
      includes: caps('CAP_SYS_PTRACE'),
    },
    { names: ['iopl', 'ioperm'], includes: caps('CAP_SYS_RAWIO') },
    { names: ['settimeofday', 'stime', 'clock_settime', 'clock_settime64'], includes: caps('CAP_SYS_TIME') },
    { names: ['vhangup'], includes: caps('CAP_SYS_TTY_CONFIG') },
    { names: ['get_mempolicy', 'mbind', 'set_mempolicy', 'set_mempolicy_home_node'], includes: caps('CAP_SYS_NICE') },
    { names: ['syslog'], includes: caps('CAP_SYSLOG') },
    { names: ['bpf'], includes: caps('CAP_BPF') },
    { names: ['perf_event_open'], includes: caps('CAP_PERFMON') },
  ],
};

/** "6.18.44-fc" >= "4.8", comparing major and minor. */
function kernelAtLeast(kernel: string, min: string): boolean {
  const [major, minor] = kernel.split(/[.-]/).map(Number);
  const [wantMajor, wantMinor] = min.split('.').map(Number);
  return major !== wantMajor ? major > wantMajor : (minor || 0) >= (wantMinor || 0);
}

function applies(group: ProfileGroup, keptCaps: ReadonlySet<string>, arch: string, kernel: string): boolean {
  const { includes: inc, excludes: exc } = group;
  // As docker: included capabilities must all be kept, any excluded one kept rules the group out.
  if (inc?.caps && !inc.caps.every((cap) => keptCaps.has(cap))) return false;
  if (inc?.arches && !inc.arches.includes(arch)) return false;
  if (inc?.minKernel && !kernelAtLeast(kernel, inc.minKernel)) return false;
  if (exc?.caps?.some((cap) => keptCaps.has(cap))) return false;
  if (exc?.arches?.includes(arch)) return false;
  return true;
}

/**
 * Conditions on different arguments are ANDed in one rule; several on the same argument become
 * one rule each (ORed), which is how runc reads a profile (libseccomp cannot AND them).
 */
function splitArgs(args: SeccompArg[]): SeccompArg[][] {
  const indexes = args.map((arg) => arg.index);
  if (new Set(indexes).size === indexes.length) return [args];
  return args.map((arg) => [arg]);
}

/** The filter for a container keeping `keptCaps` (capability names), on x86_64. */
export function seccompFilter(keptCaps: readonly string[], kernel: string = release()): SeccompFilter {
  const kept = new Set(keptCaps);
  const rules: SeccompRule[] = [];
  for (const group of DOCKER_DEFAULT_PROFILE.groups) {
    if (!applies(group, kept, 'amd64', kernel)) continue;
    for (const args of splitArgs(group.args ?? [])) rules.push({ names: group.names, errno: group.errno, args });
  }
  // The profile's archMap for x86_64: i386 and x32 programs are filtered by the same rules.
  return { defaultErrno: DOCKER_DEFAULT_PROFILE.defaultErrno, newerErrno: ENOSYS, extraArches: ['x86', 'x32'], rules };
}

/** Wire format (see native/src/seccomp.c): one "scrule" per rule, then its names and args. */
export function encodeSeccomp(filter: SeccompFilter, add: (key: string, value: string | number) => void): void {
  add('seccomp', filter.defaultErrno);
  add('scnewer', filter.newerErrno);
  for (const arch of filter.extraArches) add('scarch', arch);
  for (const rule of filter.rules) {
    add('scrule', rule.errno === undefined ? 'allow' : `errno ${rule.errno}`);
    for (const name of rule.names) add('scname', name);
    for (const arg of rule.args) add('scarg', `${arg.index} ${arg.op} ${arg.value} ${arg.valueTwo ?? 0n}`);
  }
}
