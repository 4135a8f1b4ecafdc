import { Command, CommanderError } from 'commander';
import { BuildError, formatBuildError } from '../source/index.ts';
import { explainUnmappedOwner } from '../sys/userns.ts';
import { registerCheck } from './check.ts';
import { registerParse } from './parse.ts';
import { registerPlan } from './plan.ts';
import { register as registerBuild } from './build.ts';
import { register as registerImages } from './images.ts';
import { register as registerRun } from './run.ts';
import { register as registerCache } from './cache.ts';
import { register as registerRegistry } from './registry.ts';
import { register as registerInfo } from './info.ts';
import { register as registerUnshare } from './unshare.ts';
import { register as registerVersion, versionLine } from './version.ts';

/**
 * The berth command line, without the side effects of an entry point: main.ts (the ES module
 * entry) and snapshot.ts (the V8 start-up snapshot entry) both run it.
 */

/** Each command lives in its own module and registers itself here. */
const REGISTRARS: Array<(program: Command) => void> = [
  registerParse, registerPlan, registerCheck, registerBuild, registerImages, registerRun, registerCache, registerRegistry, registerInfo, registerUnshare, registerVersion,
];

export function reportError(error: unknown): number {
  if (error instanceof BuildError) {
    process.stderr.write(`error: ${formatBuildError(error)}\n`);
    return 1;
  }
  if (error instanceof CommanderError) return error.exitCode;
  const message = explainUnmappedOwner(error) ?? (error instanceof Error ? error.message : String(error));
  process.stderr.write(`error: ${message}\n`);
  if (process.env.BERTH_DEBUG && error instanceof Error) process.stderr.write(`${error.stack}\n`);
  return 1;
}

/** The command tree. Building it reads no run-time state, so the start-up snapshot holds it ready-made. */
export function createProgram(): Command {
  const program = new Command('berth')
    .description('A daemonless Dockerfile builder')
    .version(versionLine(), '--version', 'print the version and the build')
    .option('--root <dir>', 'store root (default $BERTH_ROOT or /var/lib/berth)')
    .exitOverride()
    .enablePositionalOptions()
    .showHelpAfterError();
  for (const register of REGISTRARS) register(program);
  // Commander makes each command's help option when a parse first asks for it: made here, it is
  // part of the snapshot instead of the work of every run (same flags and text as its default).
  const withHelp = (command: Command): void => {
    command.helpOption('-h, --help', 'display help for command');
    command.commands.forEach(withHelp);
  };
  withHelp(program);
  return program;
}

/** Parses `argv` (node, script, args...) with a fresh (or the given, unused) program; the exit code. */
/** `--debug-on-error=CMD` as its own option: a bare `--debug-on-error` must never take the next argument. */
function splitOptionalValues(argv: string[]): string[] {
  return argv.flatMap((arg) => (arg.startsWith('--debug-on-error=') ? ['--debug-on-error-command', arg.slice('--debug-on-error='.length)] : [arg]));
}

export async function main(argv: string[], program: Command = createProgram()): Promise<number> {
  try {
    await program.parseAsync(splitOptionalValues(argv));
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (error) {
    return reportError(error);
  }
}

/**
 * Calls `setup` with process.stdout when something first uses it. Node makes the stream on first
 * access; a quiet no-op build never needs it (see printLine in build.ts), and making it costs
 * that build more than anything it writes.
 */
function onStdoutMade(setup: (stdout: NodeJS.WriteStream) => void): void {
  const descriptor = Object.getOwnPropertyDescriptor(process, 'stdout');
  if (!descriptor?.get || !descriptor.configurable) {
    setup(process.stdout);
    return;
  }
  const make = descriptor.get;
  Object.defineProperty(process, 'stdout', {
    configurable: true,
    enumerable: descriptor.enumerable,
    get() {
      const stdout = make.call(process) as NodeJS.WriteStream;
      Object.defineProperty(process, 'stdout', { configurable: true, enumerable: descriptor.enumerable, writable: true, value: stdout });
      setup(stdout);
      return stdout;
    },
  });
}

/** Runs berth with `argv` and sets the exit code. */
export async function run(argv: string[], program?: Command): Promise<void> {
  onStdoutMade((stdout) => stdout.on('error', (error: NodeJS.ErrnoException) => {
    // `berth images | head` closes the pipe early: that is the reader's choice, not an error.
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw error;
  }));
  process.exitCode = await main(argv, program);
}
