/**
 * Bundles the CLI into dist/cli (rolldown, a dev dependency): one module graph instead of a
 * hundred files to resolve and strip, so every berth command starts about twice as fast. bin/berth
 * uses the bundle only while it is newer than every source file; without rolldown (a production
 * install) this does nothing and berth runs from the TypeScript sources.
 */
import { existsSync, rmSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const out = path.join(root, 'dist', 'cli');

let rolldown: typeof import('rolldown').rolldown;
try {
  ({ rolldown } = await import('rolldown'));
} catch {
  console.log('bundle: rolldown is not installed; berth will run from its sources');
  process.exit(0);
}

// The bundle must sit two levels below the root, like src/<module>/: modules find native/ that way.
rmSync(out, { recursive: true, force: true });
const bundle = await rolldown({ input: path.join(root, 'src/cli/main.ts'), platform: 'node', logLevel: 'warn' });
await bundle.write({ dir: out, format: 'esm' });
await bundle.close();
if (!existsSync(path.join(out, 'main.js'))) throw new Error('bundle: dist/cli/main.js was not written');
console.log('bundle: dist/cli/main.js');
