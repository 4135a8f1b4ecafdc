/**
 * `berth info`: the protection a RUN step gets on this host, as a user can check it before
 * building someone else's Dockerfile. The container facts come from a real probe container
 * (src/exec/probe.ts); each line says what is active and, when something is missing, why.
 */
import type { Command } from 'commander';
import packageJson from '../../package.json' with { type: 'json' };
import { storeRoot } from './store.ts';
import { mappedUidCount } from '../sys/userns.ts';
import { defaultCapabilityMask, hostFacts, KERNEL_PATHS, probeContainer, type ContainerFacts, type HostFacts } from '../exec/probe.ts';

interface InfoFlags { format: string }

export interface ProtectionReport {
  version: string;
  store: string;
  host: HostFacts;
  container?: ContainerFacts;
  probeError?: string;
}

function yesNo(value: boolean): string {
  return value ? 'yes' : 'NO';
}

function seccompLine(c: ContainerFacts): string {
  if (c.seccompMode === 2) return `active (Docker's default profile; ${c.seccompFilters} filter${c.seccompFilters === 1 ? '' : 's'})`;
  return 'NOT ACTIVE (the sandbox helper was built without libseccomp, or the kernel lacks seccomp)';
}

function deviceLine(report: ProtectionReport, c: ContainerFacts): string {
  const nodev = c.rootOptions.includes('nodev') ? 'root file system nodev' : 'root file system NOT nodev';
  let cgroup: string;
  if (report.host.userns) cgroup = 'user namespace: the kernel opens no device node of its mounts';
  else if (c.deviceCgroup && /:devices:\/.+/.test(c.deviceCgroup)) cgroup = `device cgroup (v1) ${c.deviceCgroup.split(':')[2]}`;
  else if (report.host.cgroup === 'v2') cgroup = 'cgroup v2: no device controller applied, nodev mounts only';
  else cgroup = report.host.devicesController ? 'device cgroup NOT applied' : 'no device cgroup on this host, nodev mounts only';
  return `${nodev}; ${cgroup}`;
}

function networkLine(report: ProtectionReport, c: ContainerFacts | undefined): string {
  const slirp = report.host.slirp4netns;
  if (!slirp) return 'default network UNAVAILABLE: slirp4netns is not installed (apt-get install slirp4netns); --network none works';
  const own = c ? (c.interfaces.includes('eth0') ? 'own namespace, outbound through' : 'own namespace, NO outbound link from') : 'via';
  return `default: ${own} slirp4netns ${slirp.version} (${slirp.path}), host loopback unreachable; --network host needs --allow network.host`;
}

function userNamespaceLine(host: HostFacts): string {
  if (!host.userns) return 'not used (berth runs as root; containers keep Docker\'s capabilities in the host\'s user namespace)';
  const ranges = host.userns.uids.map((r) => `${r.inside}-${r.inside + r.count - 1} -> ${r.outside}-${r.outside + r.count - 1}`).join(', ');
  const single = mappedUidCount({ rootless: true, ...host.userns }) <= 1;
  return `rootless: uids ${ranges}${single ? ' (only your own id: no subordinate ids in /etc/subuid, so no other owner can be made)' : ''}`;
}

export function formatReport(report: ProtectionReport): string {
  const { host } = report;
  const lines: Array<[string, string]> = [
    ['berth', report.version],
    ['store', report.store],
    ['kernel', host.kernel],
    ['running as', host.uid === 0 ? 'root' : `uid ${host.uid}`],
    ['cgroups', host.cgroup === 'hybrid' ? 'v1 and v2 (hybrid)' : host.cgroup],
    ['user namespace', userNamespaceLine(host)],
  ];
  const c = report.container;
  if (c) {
    lines.push(
      ['seccomp', seccompLine(c)],
      ['no_new_privs', yesNo(c.noNewPrivs)],
      ['capabilities', c.capEff === defaultCapabilityMask() ? `Docker's default set (${c.capEff})` : `${c.capEff} (NOT Docker's default ${defaultCapabilityMask()})`],
      ['devices', deviceLine(report, c)],
    );
  } else {
    lines.push(['container probe', `FAILED: ${report.probeError}`]);
  }
  lines.push(
    ['network', networkLine(report, c)],
    ['kernel paths', `${KERNEL_PATHS.masked} masked, ${KERNEL_PATHS.readonly} read-only (/proc, /sys)`],
  );
  const width = Math.max(...lines.map(([k]) => k.length));
  return lines.map(([k, v]) => `${`${k}:`.padEnd(width + 2)}${v}`).join('\n') + '\n';
}

async function runInfo(flags: InfoFlags, command: Command): Promise<void> {
  const report: ProtectionReport = { version: packageJson.version, store: storeRoot(command), host: hostFacts() };
  try {
    report.container = await probeContainer();
  } catch (error) {
    report.probeError = (error as Error).message;
    process.exitCode = 1;
  }
  process.stdout.write(flags.format === 'json' ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
}

export function register(program: Command): void {
  program.command('info').description('show the protection RUN steps get on this host (from a probe container)')
    .option('--format <format>', 'text or json', 'text')
    .action((flags: InfoFlags, command: Command) => runInfo(flags, command));
}
