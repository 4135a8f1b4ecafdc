import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BERTH, makeSandbox, mountsMentioning, sandboxProcesses, type Sandbox } from './harness.ts';

// Real builds through the CLI: namespaces, overlay mounts and the sandbox helper (needs root).
let sb: Sandbox;
beforeAll(async () => { sb = await makeSandbox(); }, 120_000);
afterAll(() => sb?.cleanup());

function tmpEntries(): string[] {
  const dir = path.join(sb.root, 'tmp');
  return existsSync(dir) ? readdirSync(dir) : [];
}

function expectNothingLeft(): void {
  expect(mountsMentioning(sb.root)).toEqual([]);
  expect(sandboxProcesses(sb.root)).toEqual([]);
  expect(tmpEntries()).toEqual([]);
}

describe('berth build end to end', () => {
  it('builds and runs a multi-stage image', async () => {
    const ctx = sb.context({
      'Dockerfile': 'FROM busybox:local AS b\nWORKDIR /w\nCOPY in.txt .\nRUN tr a-z A-Z < in.txt > out.txt\nFROM busybox:local\nCOPY --from=b /w/out.txt /out.txt\nCMD ["cat", "/out.txt"]\n',
      'in.txt': 'hello\n',
    });
    const built = await sb.berth(['build', '--progress', 'plain', '-t', 'e2e/multi', ctx]);
    expect(built.stderr).toContain('[b 4/4] RUN tr a-z A-Z');
    expect(built.code).toBe(0);
    const ran = await sb.berth(['run', '--rm', 'e2e/multi']);
    expect(ran.stdout).toBe('HELLO\n');
    expectNothingLeft();
  });

  it('reports a failing RUN with its exit code and location, and leaves nothing behind', async () => {
    const ctx = sb.context({ 'Dockerfile': 'FROM busybox:local\nRUN echo to-stdout; echo to-stderr >&2; exit 3\n' });
    const built = await sb.berth(['build', '--progress', 'plain', ctx]);
    expect(built.code).not.toBe(0);
    expect(built.stderr).toContain('to-stdout');
    expect(built.stderr).toContain('to-stderr');
    expect(built.stderr).toMatch(/Dockerfile:2:1: process .* did not complete successfully: exit code: 3/);
    // The engine's errors carry a range only; the CLI shows the code frame for them all the same.
    expect(built.stderr).toContain('> 2 | RUN echo to-stdout; echo to-stderr >&2; exit 3');
    expectNothingLeft();
  });

  it('lists the build checks\' findings after the build, and fails before any step with check=error=true', async () => {
    const dockerfile = 'FROM busybox:local AS Build\nMAINTAINER someone\nRUN echo built > /b\n';
    const warned = await sb.berth(['build', '--progress', 'plain', sb.context({ Dockerfile: dockerfile })]);
    expect(warned.code, warned.stderr).toBe(0);
    expect(warned.stderr).toMatch(/2 warnings found/);
    expect(warned.stderr).toContain('StageNameCasing');
    expect(warned.stderr).toContain('MaintainerDeprecated');
    const strict = await sb.berth(['build', '--progress', 'plain', sb.context({ Dockerfile: `# check=error=true\n${dockerfile}` })]);
    expect(strict.code).not.toBe(0);
    expect(strict.stderr).toContain('lint violation found for rules: ');
    expect(strict.stderr).not.toContain('RUN echo built');
  });

  it('isolates RUN like docker: own pid, net and mount namespaces, default caps, no_new_privs', async () => {
    const ctx = sb.context({
      'Dockerfile': [
        'FROM busybox:local',
        'RUN ps -o pid,comm > /ps.txt; cat /proc/net/dev > /netdev.txt; grep -E "^(CapEff|NoNewPrivs)" /proc/self/status > /status.txt; ls / > /root-list.txt; hostname > /hostname.txt',
        '',
      ].join('\n'),
    });
    expect((await sb.berth(['build', '--network', 'none', '-t', 'e2e/iso', ctx])).code).toBe(0);
    const read = async (file: string) => (await sb.berth(['run', '--rm', 'e2e/iso', 'cat', file])).stdout;
    const ps = await read('/ps.txt');
    // Only the sandbox's init, the shell and ps itself: no host process is visible.
    expect(ps.trim().split('\n').length).toBeLessThanOrEqual(4);
    const interfaces = (await read('/netdev.txt')).split('\n').slice(2).filter(Boolean).map((l) => l.trim().split(':')[0]);
    expect(interfaces).toEqual(['lo']);
    const status = await read('/status.txt');
    expect(status).toMatch(/CapEff:\s+00000000a80425fb/);
    expect(status).toMatch(/NoNewPrivs:\s+1/);
    expect(await read('/root-list.txt')).not.toContain('work');
    expect((await read('/hostname.txt')).trim()).toBe('buildkitsandbox');
  });

  it('cleans up after an interrupted build (SIGINT)', async () => {
    const ctx = sb.context({ 'Dockerfile': 'FROM busybox:local\nRUN echo run""ning && sleep 60\n' });
    const child = sb.spawnBerth(['build', '--progress', 'plain', ctx]);
    let output = '';
    await new Promise<void>((resolve) => {
      child.stderr!.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('running')) resolve();
      });
    });
    // The helper is found while it runs: the leftover checks below are not vacuous.
    expect(sandboxProcesses(sb.root).length).toBeGreaterThan(0);
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    expect(code).not.toBe(0);
    expectNothingLeft();
  });

  it('keeps the store usable after the build process is killed outright', async () => {
    const ctx = sb.context({ 'Dockerfile': 'FROM busybox:local\nRUN echo run""ning && sleep 60\n' });
    const child = sb.spawnBerth(['build', '--progress', 'plain', ctx]);
    await new Promise<void>((resolve) => {
      let output = '';
      child.stderr!.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('running')) resolve();
      });
    });
    child.kill('SIGKILL');
    await new Promise((resolve) => child.on('exit', resolve));
    // The sandbox dies with its parent (PDEATHSIG); give the kernel a moment to reap it.
    for (let i = 0; i < 50 && sandboxProcesses(sb.root).length; i++) await new Promise((r) => setTimeout(r, 100));
    expect(sandboxProcesses(sb.root)).toEqual([]);
    expect(mountsMentioning(sb.root)).toEqual([]);
    const next = sb.context({ 'Dockerfile': 'FROM busybox:local\nRUN echo fine > /f\n' });
    const again = await sb.berth(['build', '-t', 'e2e/after-kill', next]);
    expect(again.code).toBe(0);
    expect((await sb.berth(['run', '--rm', 'e2e/after-kill', 'cat', '/f'])).stdout).toBe('fine\n');
    // The next build swept the killed build's temp dirs.
    expect(tmpEntries()).toEqual([]);
  });

  it('builds 80 layers', async () => {
    const lines = ['FROM busybox:local'];
    for (let i = 0; i < 80; i++) lines.push(`RUN echo ${i} > /layer-${i}`);
    const ctx = sb.context({ Dockerfile: `${lines.join('\n')}\n` });
    const built = await sb.berth(['build', '-t', 'e2e/deep', ctx]);
    expect(built.stderr).toBe(built.code === 0 ? built.stderr : '');
    expect(built.code).toBe(0);
    const inspect = JSON.parse((await sb.berth(['inspect', 'e2e/deep'])).stdout);
    expect(inspect[0].RootFS.Layers.length).toBe(81);
    const ls = await sb.berth(['run', '--rm', 'e2e/deep', 'sh', '-c', 'ls / | grep -c layer- && cat /layer-0 /layer-79']);
    expect(ls.stdout).toBe('80\n0\n79\n');
  }, 240_000);

  it('reads the Dockerfile from stdin with no context', async () => {
    const built = await sb.berth(['build', '-t', 'e2e/stdin', '-'], { input: 'FROM busybox:local\nRUN echo piped > /p\n' });
    expect(built.code).toBe(0);
    expect((await sb.berth(['run', '--rm', 'e2e/stdin', 'cat', '/p'])).stdout).toBe('piped\n');
  });

  it('takes a tar of the context on stdin, plain or gzipped, as docker build - does', async () => {
    const ctx = sb.context({ Dockerfile: 'FROM busybox:local\nCOPY hello.txt /hello.txt\n', 'hello.txt': 'from the tar\n' });
    for (const [flag, tag] of [['-c', 'e2e/tar'], ['-cz', 'e2e/tgz']]) {
      const archive = path.join(sb.dir, `${tag.replace('/', '-')}.archive`);
      execFileSync('tar', [flag, '-f', archive, '-C', ctx, '.']);
      const out = execFileSync('sh', ['-c', `"$0" build -q -t ${tag} - < "$1"`, BERTH, archive], { env: { ...process.env, BERTH_ROOT: sb.root }, encoding: 'utf8' });
      expect(out).toMatch(/^sha256:/);
      expect((await sb.berth(['run', '--rm', tag, 'cat', '/hello.txt'])).stdout).toBe('from the tar\n');
    }
    expect(tmpEntries()).toEqual([]);
  });

  it('drops unflushed snapshots after a reboot and unpacks them again from their blobs', async () => {
    const ctx = sb.context({ Dockerfile: 'FROM busybox:local\nRUN echo kept > /k\n' });
    expect((await sb.berth(['build', '-t', 'e2e/reboot', ctx])).code).toBe(0);
    const snapshots = path.join(sb.root, 'snapshots');
    const before = readdirSync(snapshots).filter((n) => !n.startsWith('.') && n !== 'empty');
    expect(before.length).toBeGreaterThan(0);
    // A probe in each snapshot: it is gone once the snapshot has been dropped and unpacked again.
    for (const name of before) writeFileSync(path.join(snapshots, name, '.probe'), '');
    // Pretend the store was last used in another boot (possibly ended by a power loss).
    writeFileSync(path.join(snapshots, '.boot-id'), 'an-earlier-boot\n');
    const ran = await sb.berth(['run', '--rm', 'e2e/reboot', 'cat', '/k']);
    for (const name of before) expect(existsSync(path.join(snapshots, name, '.probe'))).toBe(false);
    expect(ran.stdout).toBe('kept\n');
    expect(readFileSync(path.join(snapshots, '.boot-id'), 'utf8').trim()).toBe(readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim());
    const again = await sb.berth(['build', '--progress', 'plain', '-t', 'e2e/reboot', ctx]);
    expect(again.stderr).toContain('CACHED');
  });

  it('runs independent stages at the same time', async () => {
    const ctx = sb.context({
      Dockerfile: [
        'FROM busybox:local AS left', 'RUN sleep 1 && echo l > /l',
        'FROM busybox:local AS right', 'RUN sleep 1 && echo r > /r',
        'FROM busybox:local', 'COPY --from=left /l /l', 'COPY --from=right /r /r', '',
      ].join('\n'),
    });
    const built = await sb.berth(['build', '--progress', 'rawjson', '--jobs', '2', '-t', 'e2e/parallel', ctx]);
    expect(built.code, built.stderr).toBe(0);
    // BuildKit's SolveStatus: a vertex is reported when it starts and again, completed, when it ends.
    const vertexes = built.stderr.trimEnd().split('\n').flatMap((l) => (JSON.parse(l) as { vertexes?: Array<{ name: string; completed?: string }> }).vertexes ?? []);
    const runs = vertexes.filter((v) => v.name.includes('RUN sleep'));
    expect(new Set(runs.map((v) => v.name)).size).toBe(2);
    // Both RUNs started before either finished.
    const order = runs.map((v) => (v.completed ? 'done' : 'start'));
    expect(order).toEqual(['start', 'start', 'done', 'done']);
  });

  it('stops a sleep 30 stage within 2 s when a stage beside it fails, and leaves nothing behind', async () => {
    const ctx = sb.context({
      Dockerfile: [
        'FROM busybox:local AS slow', 'RUN sleep 30 && echo never > /n',
        'FROM busybox:local AS bad', 'RUN sleep 0.3; exit 7',
        'FROM busybox:local', 'COPY --from=slow /n /n', 'COPY --from=bad /b /b', '',
      ].join('\n'),
    });
    const started = Date.now();
    const built = await sb.berth(['build', '--progress', 'plain', ctx]);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(built.code).not.toBe(0);
    expect(built.stderr).toMatch(/#(\d+) \[slow 2\/2\] RUN sleep 30[\s\S]*#\1 CANCELED/);
    expect(built.stderr).toContain('exit code: 7');
    // The summary names the failing step; the cancelled one gets no box of its own.
    expect(built.stderr).toContain(' > [bad 2/2] RUN sleep 0.3; exit 7:');
    expect(built.stderr).not.toContain(' > [slow 2/2]');
    expectNothingLeft();
  });

  // A quiet build writes its one line without making process.stdout (src/cli/build.ts), and
  // standard output's EPIPE handler is only attached when the stream is made (src/cli/program.ts).
  it('prints only the image id with -q, and takes an early-closed pipe as the reader\'s choice', async () => {
    const ctx = sb.context({ 'Dockerfile': 'FROM busybox:local\nCOPY a.txt /a.txt\n', 'a.txt': 'a\n' });
    for (const round of ['built', 'cached']) {
      const built = await sb.berth(['build', '-q', '-t', 'e2e/quiet', ctx]);
      expect(built.code, round).toBe(0);
      expect(built.stderr, round).toBe('');
      const inspected = JSON.parse((await sb.berth(['inspect', 'e2e/quiet'])).stdout) as Array<{ Id: string }>;
      expect(built.stdout, round).toBe(`${inspected[0].Id}\n`);
    }
    // More than a pipe holds (64 kB), read a little, then closed.
    const big = sb.context({ 'Dockerfile': `FROM scratch\n${'LABEL a=b\n'.repeat(20_000)}` });
    const child = sb.spawnBerth(['parse', '-f', path.join(big, 'Dockerfile')]);
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    child.stdout!.once('data', () => child.stdout!.destroy());
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(stderr).toBe('');
    expect(code).toBe(0);
  });
});
