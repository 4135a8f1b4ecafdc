/**
 * Entry of berth's V8 start-up snapshot (scripts/bundle.ts builds it; bin/berth runs it): the
 * whole CLI is evaluated, and its command tree built, when the snapshot is made; each run only
 * parses its arguments. Nothing here or at any module's top level may read run-time state
 * (environment, arguments, working directory, standard streams): it would be frozen into the
 * snapshot (the bundle's guards refuse to build one that does).
 */
import { startupSnapshot } from 'node:v8';
import { createProgram, run } from './program.ts';
import { BAKED_SOURCES, runFromSources, sourcesChanged } from './freshness.ts';

const program = createProgram();

startupSnapshot.setDeserializeMainFunction(() => {
  // From a snapshot, process.argv is [node, ...arguments]: no script path in between.
  const args = process.argv.slice(1);
  if (BAKED_SOURCES && sourcesChanged(BAKED_SOURCES)) {
    void runFromSources(BAKED_SOURCES.root, args).then((status) => {
      process.exitCode = status;
    });
    return;
  }
  void run([process.argv[0], 'berth', ...args], program);
});
