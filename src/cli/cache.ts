import type { Command } from 'commander';
import { BuildError } from '../source/index.ts';
import { prune, storeUsage } from '../store/gc.ts';
import { formatSize, parseDuration, parseSize } from '../text/units.ts';
import { openStores, withLockedStores } from './store.ts';

export function register(program: Command): void {
  program.command('du').description('show what the store and build cache hold')
    .action(async (_o: unknown, command: Command) => {
      const { layout, content, images } = openStores(command);
      const u = await storeUsage(layout, content, images);
      const rows = [
        ['images', String(u.images), ''],
        ['cache entries', String(u.cacheRecords), ''],
        ['blobs', String(u.blobs.count), `${formatSize(u.blobs.bytes)} (${formatSize(u.blobs.reclaimable)} not needed by images)`],
        ['snapshots', String(u.snapshots.count), formatSize(u.snapshots.bytes)],
        ['cache mounts', String(u.cacheMounts.count), formatSize(u.cacheMounts.bytes)],
        ['metadata', String(u.metadata.count), `${formatSize(u.metadata.bytes)} (stat caches, COPY lineage, parsed Dockerfiles)`],
      ];
      process.stdout.write(`${'WHAT'.padEnd(15)}${'COUNT'.padEnd(8)}SIZE\n`);
      for (const [what, count, size] of rows) process.stdout.write(`${what.padEnd(15)}${count.padEnd(8)}${size}\n`);
    });

  program.command('prune').description('remove build cache (never what a stored image needs)')
    .option('-a, --all', 'also remove cache that images use, cache mounts, and unpacked layers of anything but stored images')
    .option('--filter <until=DURATION>', 'only entries older than this, e.g. until=24h')
    .option('--keep-storage <size>', 'keep this much cache, removing the oldest first (e.g. 5GB)')
    .action(async (opts: { all?: boolean; filter?: string; keepStorage?: string }, command: Command) => {
      let untilMs: number | undefined;
      if (opts.filter) {
        const m = /^until=(.+)$/.exec(opts.filter);
        untilMs = m ? parseDuration(m[1]) : undefined;
        if (untilMs === undefined) throw new BuildError(`invalid --filter "${opts.filter}" (until=DURATION, e.g. until=24h)`);
      }
      const keepBytes = opts.keepStorage === undefined ? undefined : parseSize(opts.keepStorage);
      if (opts.keepStorage !== undefined && keepBytes === undefined) throw new BuildError(`invalid --keep-storage "${opts.keepStorage}"`);
      const r = await withLockedStores(command, 'collect', ({ layout, content, images }) => prune(layout, content, images, {
        all: opts.all === true, untilMs, keepBytes,
      }), () => process.stderr.write('waiting for running builds to finish...\n'));
      process.stdout.write(`removed ${r.records} cache entries, ${r.blobs} blobs, ${r.snapshots} snapshots, ${r.cacheMounts} cache mounts\nTotal reclaimed space: ${formatSize(r.bytes)}\n`);
    });
}
