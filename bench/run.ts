import { benchFrontend } from './frontend.ts';

/**
 * `npm run bench`: speed figures, printed as a table. Build benchmarks run side by side with
 * Docker's BuildKit when a dockerd answers and are reported as ratios of medians.
 */
const only = process.argv[2];

if (!only || only === 'frontend') {
  const f = await benchFrontend();
  console.log('front end');
  console.log(`  corpus parse: ${f.corpusFiles} files in ${f.corpusMs.toFixed(1)} ms (${f.corpusFilesPerSec.toFixed(0)} files/s, ${f.corpusMBPerSec.toFixed(2)} MB/s)`);
  console.log(`  parse + plan of 10,000 instructions: ${f.parsePlan10kMs.toFixed(1)} ms (target < 100 ms)`);
}
if (!only || only === 'build') {
  const { benchBuild } = await import('./build.ts');
  await benchBuild();
}
if (only === 'layers') {
  const { benchLayers } = await import('./build.ts');
  await benchLayers();
}
if (!only || only === 'ci') {
  const { reportCacheMounts } = await import('./cache-mounts.ts');
  // The build bench just bundled afresh.
  await reportCacheMounts(only === 'ci');
}
if (!only || only === 'compress') {
  const { benchCompress } = await import('./compress.ts');
  await benchCompress();
}
if (!only || only === 'install') {
  const { benchInstalled } = await import('./install.ts');
  benchInstalled();
}
