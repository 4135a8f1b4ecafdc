import { execFileSync } from 'node:child_process';
import { createReadStream, createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import { Readable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { constants, createGzip, createZstdCompress } from 'node:zlib';
import { compressParallel, type OutputCompression } from '../src/layer/parallel-compress.ts';

/**
 * Layer compression: one zlib stream (what BuildKit's exporter does, single-threaded) against
 * berth's chunked compression on every core, over a compressible layer (a tar of /usr, cut to
 * `mib` MiB). Prints seconds, MB/s per core, and the size against `gzip -6`.
 */
export interface CompressFigure { compression: OutputCompression; singleS: number; parallelS: number; singleBytes: number; parallelBytes: number }

async function timed(run: () => Promise<void>): Promise<number> {
  const start = performance.now();
  await run();
  return (performance.now() - start) / 1000;
}

function single(compression: OutputCompression): Transform {
  return compression === 'gzip' ? createGzip({ level: 6 }) : createZstdCompress({ params: { [constants.ZSTD_c_compressionLevel]: 3 } });
}

export async function benchCompress(mib = 160): Promise<CompressFigure[]> {
  const dir = mkdtempSync(path.join(tmpdir(), 'berth-bench-compress-'));
  try {
    const input = path.join(dir, 'layer.tar');
    execFileSync('sh', ['-c', `tar -cf - -C / usr 2>/dev/null | head -c ${mib * 1024 * 1024} > '${input}'`]);
    const figures: CompressFigure[] = [];
    for (const compression of ['gzip', 'zstd'] as const) {
      const a = path.join(dir, `single.${compression}`);
      const b = path.join(dir, `parallel.${compression}`);
      const singleS = await timed(() => pipeline(createReadStream(input), single(compression), createWriteStream(a)));
      const parallelS = await timed(() => pipeline(Readable.from(compressParallel(createReadStream(input, { highWaterMark: 1 << 20 }), { compression })), createWriteStream(b)));
      figures.push({ compression, singleS, parallelS, singleBytes: statSync(a).size, parallelBytes: statSync(b).size });
    }
    const mb = statSync(input).size / 1e6;
    const gzip6 = Number(execFileSync('sh', ['-c', `gzip -6 -c '${input}' | wc -c`], { encoding: 'utf8' }).trim());
    console.log(`layer compression (${mb.toFixed(0)} MB of /usr, ${availableParallelism()} cores)`);
    for (const f of figures) {
      const perCore = mb / f.parallelS / availableParallelism();
      console.log(`  ${f.compression}: one stream ${f.singleS.toFixed(2)} s, parallel ${f.parallelS.toFixed(2)} s (${(f.singleS / f.parallelS).toFixed(2)}x, ${perCore.toFixed(0)} MB/s per core), `
        + `${(f.parallelBytes / 1e6).toFixed(1)} MB${f.compression === 'gzip' ? ` (${((f.parallelBytes / gzip6 - 1) * 100).toFixed(1)}% against gzip -6)` : ''}`);
    }
    return figures;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
