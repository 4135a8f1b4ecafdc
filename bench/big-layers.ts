/**
 * Issue 15's large-layer scenarios, berth and Docker's BuildKit side by side (ratios of medians):
 * - a 512 MiB random (incompressible) file COPYed into a layer, then the image saved to an
 *   archive: `berth build` + `berth save` against `docker build` + `docker save`;
 * - a 512 MiB compressible layer (copies of /usr) built and pushed gzip to a registry on
 *   loopback: `berth build -o type=registry,compression=gzip` against `docker build` + `docker
 *   push` (Docker compresses gzip on push); the compressed size against `gzip -6` of the layer;
 * - a cold three-stage build (each stage makes files, the last copies them together);
 * - berth's peak RSS while it writes and compresses the 512 MiB layer.
 * Every timed run starts from new content (a fresh random file, a new stamp) so that no builder
 * finds the layer in a cache, and after `sync`, so that no run waits for another's writeback.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { startBenchRegistry } from './registry.ts';

const MIB = 1024 * 1024;
const LAYER_MIB = 512;

interface Scenario {
  /** Outside the timing: new content for run `i`. */
  prepare(i: number): void;
  /** The timed part for one tool. */
  timed(tool: string, i: number): void;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function must(command: string, args: string[], env?: NodeJS.ProcessEnv): void {
  const r = spawnSync(command, args, { env, encoding: 'utf8', maxBuffer: 64 * MIB });
  if (r.status !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${String(r.stderr).slice(-800)}`);
}

/** Each tool `runs` times, taking turns, each run on content of its own; medians in seconds. */
function interleave(tools: readonly string[], runs: number, scenario: Scenario): Map<string, number> {
  const times = new Map<string, number[]>(tools.map((t) => [t, []]));
  let i = 0;
  for (let r = 0; r < runs; r++) {
    for (const tool of tools) {
      scenario.prepare(i);
      spawnSync('sync');
      const start = performance.now();
      scenario.timed(tool, i++);
      times.get(tool)!.push((performance.now() - start) / 1000);
    }
  }
  return new Map([...times].map(([t, v]) => [t, median(v)]));
}

/**
 * `mib` MiB of /usr's files (text and binaries, as real layers hold) in /usr's own layout: files
 * copied one by one, in directory order, until the size is reached (a whole /usr/lib can be GBs).
 */
function compressibleTree(dir: string, mib: number): void {
  let total = 0;
  let limit = 0;
  const walk = (from: string, to: string): void => {
    let entries;
    try {
      entries = readdirSync(from, { withFileTypes: true });
    } catch {
      return; // unreadable: the rest of /usr is enough
    }
    mkdirSync(to, { recursive: true });
    for (const entry of entries) {
      if (total >= limit) return;
      const source = path.join(from, entry.name);
      if (entry.isDirectory()) walk(source, path.join(to, entry.name));
      else if (entry.isFile()) {
        copyFileSync(source, path.join(to, entry.name));
        total += statSync(source).size;
      }
    }
  };
  // A third each of programs, libraries and data (text, docs, locales).
  for (const [i, sub] of ['bin', 'lib', 'share'].entries()) {
    limit = (mib * MIB * (i + 1)) / 3;
    walk(path.join('/usr', sub), path.join(dir, sub));
  }
}

/** The layer's tar size and `gzip -6` of it: what a single-stream gzip of the same layer gives. */
function gzip6Of(dir: string): { tarBytes: number; gzipBytes: number } {
  const tarBytes = Number(execFileSync('sh', ['-c', `tar -cf - -C '${dir}' . | wc -c`], { encoding: 'utf8' }).trim());
  const gzipBytes = Number(execFileSync('sh', ['-c', `tar -cf - -C '${dir}' . | gzip -6 | wc -c`], { encoding: 'utf8' }).trim());
  return { tarBytes, gzipBytes };
}

/** The largest resident set of `berth args` and everything it waited for, in MB (GNU time's %M). */
function peakRssMb(berth: string, args: string[], env: NodeJS.ProcessEnv): number {
  const r = spawnSync('/usr/bin/time', ['-f', '%M', berth, ...args], { env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`berth ${args.join(' ')} failed: ${r.stderr.slice(-800)}`);
  return Number(r.stderr.trim().split('\n').at(-1)) / 1024;
}

export interface BigLayerSetup {
  dir: string;
  berth: string;
  docker?: string;
  env: NodeJS.ProcessEnv;
  base: string;
}

function randomLayer(s: BigLayerSetup, tools: string[]): Map<string, number> {
  const ctx = path.join(s.dir, 'random-layer');
  mkdirSync(ctx, { recursive: true });
  writeFileSync(path.join(ctx, 'Dockerfile'), `FROM ${s.base}\nCOPY blob /blob\n`);
  const archive = path.join(s.dir, 'random-layer.tar');
  return interleave(tools, 3, {
    prepare: () => execFileSync('sh', ['-c', `head -c ${LAYER_MIB}m /dev/urandom > '${path.join(ctx, 'blob')}'; rm -f '${archive}'`]),
    timed: (tool) => {
      if (tool === 'berth') {
        must(s.berth, ['build', '-q', '-t', 'bench/random-layer', ctx], s.env);
        must(s.berth, ['save', '-o', archive, 'bench/random-layer'], s.env);
      } else {
        must(s.docker!, ['build', '-q', '-t', 'bench/random-layer', ctx], { ...process.env, DOCKER_BUILDKIT: '1' });
        must(s.docker!, ['save', '-o', archive, 'bench/random-layer']);
      }
    },
  });
}

function compressibleLayer(s: BigLayerSetup, tools: string[], registry: string): { medians: Map<string, number>; berthBytes: number; gzip6: { tarBytes: number; gzipBytes: number } } {
  const ctx = path.join(s.dir, 'usr-layer');
  compressibleTree(path.join(ctx, 'tree'), LAYER_MIB);
  writeFileSync(path.join(ctx, 'Dockerfile'), `FROM ${s.base}\nCOPY tree /tree\n`);
  const gzip6 = gzip6Of(path.join(ctx, 'tree'));
  let berthBytes = 0;
  const medians = interleave(tools, 3, {
    // A new stamp file: a new layer digest, so that neither builder nor the registry has it.
    prepare: (i) => writeFileSync(path.join(ctx, 'tree', 'stamp'), `run ${i} ${Date.now()}\n`),
    timed: (tool, i) => {
      const name = `${registry}/bench/usr-layer:${tool}-${i}`;
      if (tool === 'berth') {
        must(s.berth, ['build', '-q', '-o', `type=registry,name=${name},compression=gzip`, ctx], s.env);
        const manifest = JSON.parse(execFileSync('curl', ['-sf', '-H', 'Accept: application/vnd.oci.image.manifest.v1+json', `http://${registry}/v2/bench/usr-layer/manifests/${tool}-${i}`], { encoding: 'utf8' }));
        berthBytes = manifest.layers.at(-1).size;
      } else {
        must(s.docker!, ['build', '-q', '-t', name, ctx], { ...process.env, DOCKER_BUILDKIT: '1' });
        must(s.docker!, ['push', '-q', name]);
        spawnSync(s.docker!, ['rmi', '-f', name], { stdio: 'ignore' });
      }
    },
  });
  return { medians, berthBytes, gzip6 };
}

function threeStages(s: BigLayerSetup, tools: string[]): Map<string, number> {
  const ctx = path.join(s.dir, 'three-stages');
  mkdirSync(ctx, { recursive: true });
  const stage = (name: string) => [
    `FROM ${s.base} AS ${name}`, 'ARG STAMP',
    `RUN mkdir -p /out/${name} && cd /out/${name} && for i in $(seq 400); do echo "$STAMP $i" > f$i; done && head -c 30m /dev/urandom > /out/${name}/blob`,
  ];
  writeFileSync(path.join(ctx, 'Dockerfile'), [...['a', 'b', 'c'].flatMap(stage), `FROM ${s.base}`, ...['a', 'b', 'c'].map((n) => `COPY --from=${n} /out/${n} /${n}`), ''].join('\n'));
  return interleave(tools, 3, {
    prepare: () => undefined,
    timed: (tool, i) => {
      const args = ['build', '-q', '--network', 'none', '--build-arg', `STAMP=${i}-${Date.now()}`, '-t', 'bench/three-stages', ctx];
      if (tool === 'berth') must(s.berth, args, s.env);
      else must(s.docker!, args, { ...process.env, DOCKER_BUILDKIT: '1' });
    },
  });
}

function ratio(m: Map<string, number>, target: number): string {
  const b = m.get('berth')!;
  const k = m.get('buildkit');
  return `berth ${b.toFixed(2)}s${k !== undefined ? `  buildkit ${k.toFixed(2)}s  ratio ${(b / k).toFixed(2)}x (target <= ${target}x)` : ''}`;
}

/** Runs one scenario and prints its lines at once; a failure is printed, and the rest go on. */
function scenario(name: string, run: () => string[]): void {
  // BENCH_SCENARIOS=stages,rss runs only the scenarios whose names contain one of the words.
  const only = process.env.BENCH_SCENARIOS?.split(',');
  if (only && !only.some((word) => name.includes(word))) return;
  const start = performance.now();
  try {
    for (const line of run()) console.log(`  ${line}`);
  } catch (error) {
    console.log(`  ${name}: FAILED ${(error as Error).message.split('\n').slice(0, 6).join(' | ')}`);
  }
  console.log(`    (${name} took ${((performance.now() - start) / 1000).toFixed(0)} s)`);
}

export async function benchBigLayers(s: BigLayerSetup): Promise<void> {
  const tools = s.docker ? ['berth', 'buildkit'] : ['berth'];
  const registry = await startBenchRegistry(path.join(s.dir, 'big-layers'));
  const cores = availableParallelism();
  const usrCtx = path.join(s.dir, 'usr-layer');
  console.log(`large layers (${LAYER_MIB} MiB; median of 3 each, taking turns; ${cores} cores)`);
  try {
    scenario('random layer', () => [`random layer, build + save        ${ratio(randomLayer(s, tools), 0.5)}`]);
    scenario('/usr layer', () => {
      const usr = compressibleLayer(s, tools, registry.host);
      const berthUsr = usr.medians.get('berth')!;
      return [
        `/usr layer, build + gzip push     ${ratio(usr.medians, 0.5)}`,
        `  layer ${(usr.gzip6.tarBytes / 1e6).toFixed(0)} MB as tar: berth gzip ${(usr.berthBytes / 1e6).toFixed(1)} MB, gzip -6 ${(usr.gzip6.gzipBytes / 1e6).toFixed(1)} MB `
          + `(${((usr.berthBytes / usr.gzip6.gzipBytes - 1) * 100).toFixed(1)}%, target within 5%); ${(usr.gzip6.tarBytes / 1e6 / berthUsr / cores).toFixed(0)} MB/s per core over the whole build + push`,
      ];
    });
    scenario('cold 3-stage build', () => [`cold 3-stage build                ${ratio(threeStages(s, tools), 0.8)}`]);
    scenario('peak RSS', () => {
      writeFileSync(path.join(usrCtx, 'tree', 'stamp'), `rss ${Date.now()}\n`);
      const rss = peakRssMb(s.berth, ['build', '-q', '-o', `type=registry,name=${registry.host}/bench/usr-layer:rss,compression=gzip`, usrCtx], s.env);
      return [`peak RSS, build + gzip push of the ${LAYER_MIB} MiB layer: ${rss.toFixed(0)} MB (target <= 150 MB)`];
    });
  } finally {
    registry.stop();
    if (s.docker) {
      spawnSync(s.docker, ['rmi', '-f', 'bench/random-layer', 'bench/three-stages'], { stdio: 'ignore' });
      // What these builds leave in BuildKit's cache is GBs a run, and nothing will use it again.
      spawnSync(s.docker, ['builder', 'prune', '-f'], { stdio: 'ignore' });
    }
  }
}
