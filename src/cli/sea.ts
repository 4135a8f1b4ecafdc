/**
 * Entry of the single executable (`npm run dist`, scripts/sea.ts): like snapshot.ts, the CLI is
 * evaluated and its command tree built when the executable's start-up snapshot is made. At run
 * time the native files come out of the executable (sea-native.ts), and a user without root's
 * privilege enters berth's user namespace through the helper first, as bin/berth does.
 */
import { startupSnapshot } from 'node:v8';
import { setNativeResolver, nativeFile } from '../sys/native-files.ts';
import { standIn } from './freshness.ts';
import { createProgram, run } from './program.ts';
import { nativeResolver, needsUserNamespace } from './sea-native.ts';

const program = createProgram();

startupSnapshot.setDeserializeMainFunction(() => {
  // A single executable's argv is [executable, executable, ...arguments].
  const args = process.argv.slice(2);
  try {
    setNativeResolver(nativeResolver());
    if (needsUserNamespace()) {
      void standIn(nativeFile('berth-sandbox'), ['--userns-exec', process.execPath, ...args]).then((status) => {
        process.exitCode = status;
      });
      return;
    }
  } catch (error) {
    process.stderr.write(`error: ${(error as Error).message}\n`);
    process.exitCode = 1;
    return;
  }
  void run([process.argv[0], 'berth', ...args], program);
});
