import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { benchSandbox } from './sandbox.ts';
import { benchBigLayers } from './big-layers.ts';
import { startBenchRegistry } from './registry.ts';

/**
 * Build benchmarks, side by side with Docker's BuildKit on the same machine when a dockerd
 * answers: the figures are medians, reported as berth/BuildKit ratios (targets from issue 5).
 */
const REPO = path.resolve(import.meta.dirname, '..');
const BERTH = path.join(REPO, 'bin/berth');
const BASE = 'berth-bench/busybox:latest';
// Debian's docker 20.10 client has BuildKit built in; a newer client on PATH may need buildx.
const DOCKER = existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker';

/** `extra` flags go before the context; `fails`: the build is expected to fail (timed to its exit). */
interface Tool { name: string; build(ctx: string, tag: string, extra?: string[], fails?: boolean): void }

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function timed(fn: () => void): number {
  const t0 = performance.now();
  fn();
  return (performance.now() - t0) / 1000;
}

function must(result: ReturnType<typeof spawnSync>, what: string, fails = false): void {
  if (fails && result.status === 0) throw new Error(`${what} was expected to fail`);
  if (!fails && result.status !== 0) throw new Error(`${what} failed: ${String(result.stderr).slice(-800)}`);
}

function dockerAvailable(): boolean {
  return spawnSync(DOCKER, ['info'], { stdio: 'ignore' }).status === 0;
}

function makeSmallContext(dir: string): string {
  const ctx = path.join(dir, 'small');
  mkdirSync(ctx, { recursive: true });
  writeFileSync(path.join(ctx, 'Dockerfile'), `FROM ${BASE}\nWORKDIR /app\nCOPY . /app\nRUN cat /app/*.txt > /all.txt\nCMD ["cat", "/all.txt"]\n`);
  for (let i = 0; i < 10; i++) writeFileSync(path.join(ctx, `f${i}.txt`), `file ${i}\n`);
  return ctx;
}

/** 20,000 files of 10 kB in 100 directories: a 200 MB context. */
function makeBigContext(dir: string): string {
  const ctx = path.join(dir, 'big');
  for (let d = 0; d < 100; d++) {
    const sub = path.join(ctx, `d${d}`);
    mkdirSync(sub, { recursive: true });
    for (let f = 0; f < 200; f++) writeFileSync(path.join(sub, `f${f}.bin`), randomBytes(10_000));
  }
  writeFileSync(path.join(ctx, 'Dockerfile'), `FROM ${BASE}\nCOPY . /app\nRUN du -s /app > /du.txt\n`);
  return ctx;
}

/**
 * Runs each tool's build `runs` times, taking turns (berth, BuildKit, berth, ...), so that the
 * machine's drift (page cache, memory, other tenants of the VM) weighs on every tool alike.
 * `before` prepares each run outside the timing; the result is each tool's median.
 */
function interleaved(tools: Tool[], ctx: string, tag: string, runs: number, before?: (tool: Tool, i: number) => void): Map<string, number> {
  const times = new Map<string, number[]>(tools.map((t) => [t.name, []]));
  for (let i = 0; i < runs; i++) {
    for (const tool of tools) {
      before?.(tool, i);
      times.get(tool.name)!.push(timed(() => tool.build(ctx, tag)));
    }
  }
  return new Map([...times].map(([name, values]) => [name, median(values)]));
}

/** Like interleaved, with flags (and an expected failure) for every build. */
function interleavedWith(tools: Tool[], ctx: string, tag: string, runs: number, extra: string[], fails = false): Map<string, number> {
  const wrapped = tools.map((t) => ({ name: t.name, build: (c: string, g: string) => t.build(c, g, extra, fails) }));
  return interleaved(wrapped, ctx, tag, runs);
}

/** Three stages of `RUN sleep 1`; and a stage that fails after 0.5 s beside one of `sleep 30`. */
function makeStagesContext(dir: string): { parallel: string; failing: string } {
  const write = (name: string, dockerfile: string[]): string => {
    const ctx = path.join(dir, name);
    mkdirSync(ctx, { recursive: true });
    writeFileSync(path.join(ctx, 'Dockerfile'), `${dockerfile.join('\n')}\n`);
    return ctx;
  };
  const parallel = write('parallel', [
    ...['a', 'b', 'c'].flatMap((s) => [`FROM ${BASE} AS ${s}`, `RUN sleep 1 && echo ${s} > /${s}`]),
    `FROM ${BASE}`, 'COPY --from=a /a /a', 'COPY --from=b /b /b', 'COPY --from=c /c /c',
  ]);
  const failing = write('failing', [
    `FROM ${BASE} AS slow`, 'RUN sleep 30 && echo s > /s', `FROM ${BASE} AS bad`, 'RUN sleep 0.5; exit 1',
    `FROM ${BASE}`, 'COPY --from=slow /s /s', 'COPY --from=bad /b /b',
  ]);
  return { parallel, failing };
}

/**
 * The start-up snapshot must be the code being measured: built from an older tree, it hands over
 * to the TypeScript sources at every run (src/cli/freshness.ts) and the bench would time that.
 * Bundled afresh here rather than judged fresh by a second, different check; said which ran.
 */
export function freshSnapshot(): string {
  execFileSync(process.execPath, [path.join(REPO, 'scripts/bundle.ts')], { stdio: 'ignore' });
  return existsSync(path.join(REPO, 'dist/snapshot/berth.blob')) ? 'its start-up snapshot' : 'its bundle or sources (no start-up snapshot could be built)';
}

/** The busybox base as BASE in berth's store (and Docker's, when a dockerd answers); its tarball. */
function importBase(dir: string, env: NodeJS.ProcessEnv): string {
  const rootfs = path.join(dir, 'busybox.tar');
  const config = 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
  execFileSync(path.join(REPO, 'scripts/busybox-rootfs.sh'), [rootfs]);
  must(spawnSync(BERTH, ['import', '-c', config, rootfs, BASE], { env }), 'berth import');
  if (dockerAvailable()) must(spawnSync(DOCKER, ['import', '-c', config, rootfs, BASE]), 'docker import');
  return rootfs;
}

/** `npm run bench layers`: the large-layer scenarios alone. */
export async function benchLayers(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-bench-'));
  const env = { ...process.env, BERTH_ROOT: path.join(dir, 'store') };
  const launcher = freshSnapshot();
  try {
    importBase(dir, env);
    console.log(`berth runs from ${launcher}`);
    await benchBigLayers({ dir, berth: BERTH, docker: dockerAvailable() ? DOCKER : undefined, env, base: BASE });
  } finally {
    rmSync(dir, { recursive: true, force: true });
    if (dockerAvailable()) spawnSync(DOCKER, ['rmi', '-f', BASE], { stdio: 'ignore' });
  }
}

export async function benchBuild(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-bench-'));
  const root = path.join(dir, 'store');
  const env = { ...process.env, BERTH_ROOT: root };
  const launcher = freshSnapshot();
  try {
    const rootfs = importBase(dir, env);
    const tools: Tool[] = [{
      name: 'berth',
      build: (ctx, tag, extra = [], fails = false) => must(spawnSync(BERTH, ['build', '-q', '--network', 'none', ...extra, '-t', tag, ctx], { env }), 'berth build', fails),
    }];
    if (dockerAvailable()) {
      tools.push({
        name: 'buildkit',
        build: (ctx, tag, extra = [], fails = false) => must(spawnSync(DOCKER, ['build', '-q', '--network', 'none', ...extra, '-t', tag, ctx], { env: { ...process.env, DOCKER_BUILDKIT: '1' } }), 'docker build', fails),
      });
    } else {
      console.log('build: no dockerd answers; berth figures only (start one with `dockerd --iptables=false --bridge=none`)');
    }
    const small = makeSmallContext(dir);
    const big = makeBigContext(dir);
    const results: Record<string, Record<string, number>> = Object.fromEntries(tools.map((t) => [t.name, {}]));
    const record = (key: string, medians: Map<string, number>): void => {
      for (const [name, value] of medians) results[name][key] = value;
    };
    // Cold builds one tool at a time, each starting with nothing left to write back (the contexts
    // were just written): otherwise one tool's fsyncs would wait for the other's data.
    const coldBuilds = (ctx: string, tag: string): Map<string, number> =>
      new Map(tools.map((tool) => {
        spawnSync('sync');
        return [tool.name, timed(() => tool.build(ctx, tag))];
      }));
    record('cold small', coldBuilds(small, 'bench/small'));
    record('no-op small', interleaved(tools, small, 'bench/small', 15));
    record('cold big', coldBuilds(big, 'bench/big'));
    record('no-op big', interleaved(tools, big, 'bench/big', 7));
    let n = 0;
    record('one-file change big', interleaved(tools, big, 'bench/big', 3, (tool) => {
      appendFileSync(path.join(big, 'd7', 'f7.bin'), `change ${tool.name} ${n++}\n`);
      spawnSync('sync');
    }));
    // Issue 17's scheduling scenarios: independent stages at once, and a failure stopping the rest.
    const stages = makeStagesContext(dir);
    record('3 parallel sleep 1', interleavedWith(tools, stages.parallel, 'bench/parallel', 3, ['--no-cache']));
    record('fail beside sleep 30', interleavedWith(tools, stages.failing, 'bench/failing', 3, ['--no-cache'], true));
    results.berth['shared cache: original build'] = 0;
    Object.assign(results.berth, await benchSharedCache(dir, rootfs));
    const targets: Record<string, number> = { 'no-op small': 1.0, 'no-op big': 0.5, 'one-file change big': 0.7, '3 parallel sleep 1': 1.0, 'fail beside sleep 30': 1.0 };
    console.log(`build (median seconds; ratio = berth / BuildKit; berth ran from ${launcher})`);
    for (const key of Object.keys(results.berth).filter((k) => !k.startsWith('shared cache'))) {
      const b = results.berth[key];
      const k = results.buildkit?.[key];
      const ratio = k ? ` ratio ${(b / k).toFixed(2)}x${targets[key] !== undefined ? ` (target <= ${targets[key]}x)` : ''}` : '';
      console.log(`  ${key.padEnd(20)} berth ${b.toFixed(3)}s${k !== undefined ? `  buildkit ${k.toFixed(3)}s` : ''}${ratio}`);
    }
    const original = results.berth['shared cache: original build'];
    const cold = results.berth['shared cache: empty store with --cache-from'];
    console.log(`shared cache through a registry: original build ${original.toFixed(3)}s, empty store with --cache-from ${cold.toFixed(3)}s (${(cold / original).toFixed(2)}x)`);
    await benchSandbox(dir, rootfs, small, env, BASE);
    await benchBigLayers({ dir, berth: BERTH, docker: dockerAvailable() ? DOCKER : undefined, env, base: BASE });
  } finally {
    rmSync(dir, { recursive: true, force: true });
    if (dockerAvailable()) spawnSync(DOCKER, ['rmi', '-f', 'bench/small', 'bench/big', 'bench/parallel', BASE], { stdio: 'ignore' });
  }
}

/**
 * Issue 6's scenario: a build exporting its cache to a registry on loopback, then the same build
 * on an empty store importing it (every step CACHED). Both timed once, cold.
 */
async function benchSharedCache(dir: string, rootfs: string): Promise<Record<string, number>> {
  const registry = await startBenchRegistry(dir);
  const host = registry.host;
  try {
    const envA = { ...process.env, BERTH_ROOT: path.join(dir, 'store-a') };
    const envB = { ...process.env, BERTH_ROOT: path.join(dir, 'store-b') };
    const base = `${host}/bench/busybox:1`;
    must(spawnSync(BERTH, ['import', '-c', 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', rootfs, base], { env: envA }), 'import');
    must(spawnSync(BERTH, ['push', base], { env: envA }), 'push base');
    const ctx = path.join(dir, 'shared');
    mkdirSync(ctx);
    writeFileSync(path.join(ctx, 'Dockerfile'), `FROM ${base} AS build\nRUN dd if=/dev/urandom of=/blob bs=1M count=20 2>/dev/null && sleep 2\nFROM ${base}\nCOPY --from=build /blob /blob\nRUN sha256sum /blob > /sum\n`);
    const cache = `type=registry,ref=${host}/bench/cache:1,mode=max`;
    const original = timed(() => must(spawnSync(BERTH, ['build', '-q', '-t', 'shared', '--cache-to', cache, ctx], { env: envA }), 'build A'));
    const cold = timed(() => must(spawnSync(BERTH, ['build', '-q', '-t', 'shared', '--cache-from', cache, ctx], { env: envB }), 'build B'));
    return { 'shared cache: original build': original, 'shared cache: empty store with --cache-from': cold };
  } finally {
    registry.stop();
  }
}
