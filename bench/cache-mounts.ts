import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { freshSnapshot } from './build.ts';
import { startBenchRegistry } from './registry.ts';

/**
 * Issue 18's "empty CI machine": a store builds and exports its cache with its cache mounts; then
 * a source file changes and two empty stores build it (the COPY and the RUN miss the layer cache),
 * one importing the cache with its cache mounts, one without (`cache-mounts=false`). The RUN is
 * a stand-in for a compiler with a cache dir: each of four objects costs a busy loop (about a
 * second each) unless the cache mount holds it. Each figure is one cold build.
 */
const REPO = path.resolve(import.meta.dirname, '..');
const BERTH = path.join(REPO, 'bin/berth');
const ENV_PATH = 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

const WORK = 'for n in 1 2 3 4; do [ -f /cache/obj$n ] || { i=0; while [ $i -lt 1500000 ]; do i=$((i+1)); done; echo obj$n > /cache/obj$n; }; done; cat /src/main /cache/obj* > /app';

function build(env: NodeJS.ProcessEnv, args: string[]): number {
  spawnSync('sync');
  const start = performance.now();
  const r = spawnSync(BERTH, ['build', '-q', ...args], { env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`berth build ${args.join(' ')} failed: ${r.stderr}`);
  return (performance.now() - start) / 1000;
}

export interface CacheMountFigures { original: number; withMounts: number; withoutMounts: number }

export async function benchCacheMounts(): Promise<CacheMountFigures> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-bench-ci-'));
  const registry = await startBenchRegistry(dir);
  try {
    const store = (name: string) => ({ ...process.env, BERTH_ROOT: path.join(dir, name) });
    const rootfs = path.join(dir, 'busybox.tar');
    execFileSync(path.join(REPO, 'scripts/busybox-rootfs.sh'), [rootfs]);
    const base = `${registry.host}/bench/busybox:1`;
    execFileSync(BERTH, ['import', '-c', ENV_PATH, rootfs, base], { env: store('a'), stdio: 'ignore' });
    execFileSync(BERTH, ['push', base], { env: store('a'), stdio: 'ignore' });
    const ctx = path.join(dir, 'ctx');
    mkdirSync(path.join(ctx, 'src'), { recursive: true });
    writeFileSync(path.join(ctx, 'Dockerfile'), `FROM ${base}\nCOPY src /src\nRUN --mount=type=cache,target=/cache sh -c '${WORK}'\n`);
    writeFileSync(path.join(ctx, 'src/main'), 'version 1\n');
    const ref = `type=registry,ref=${registry.host}/bench/ci-cache:1,mode=max`;
    const original = build(store('a'), ['-t', 'ci', '--cache-to', `${ref},cache-mounts=true`, ctx]);
    // The commit a CI run builds: a source change, so COPY and RUN miss the layer cache.
    writeFileSync(path.join(ctx, 'src/main'), 'version 2\n');
    const withMounts = build(store('b'), ['-t', 'ci', '--cache-from', ref, ctx]);
    const withoutMounts = build(store('c'), ['-t', 'ci', '--cache-from', `${ref},cache-mounts=false`, ctx]);
    return { original, withMounts, withoutMounts };
  } finally {
    registry.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function reportCacheMounts(bundle = true): Promise<void> {
  const launcher = bundle ? freshSnapshot() : 'as bundled';
  const f = await benchCacheMounts();
  console.log(`empty CI machine (cache mounts through a registry; seconds, one cold build each; berth ran from ${launcher})`);
  console.log(`  original build with --cache-to cache-mounts=true  ${f.original.toFixed(3)}s`);
  console.log(`  empty store, --cache-from with cache mounts      ${f.withMounts.toFixed(3)}s`);
  console.log(`  empty store, --cache-from cache-mounts=false     ${f.withoutMounts.toFixed(3)}s (${(f.withoutMounts / f.withMounts).toFixed(2)}x the time with them)`);
}
